//! The fields of a spec that the rules of DESIGN §3.1 read, borrowed: from a decoded
//! [`WorkflowExecutionSpec`], or by the webhook straight from the text of an admission request
//! (DESIGN §10: an admission decision copies none of the text of a spec it only reads).

use std::borrow::Cow;

use crate::parameters::sort_last_wins;
use crate::resource::WorkflowExecutionSpec;

/// A spec as the validation reads it. Text is borrowed where it can be, owned where JSON
/// escapes had to be decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpecView<'a> {
    /// `spec.remediationRequestRef.name`.
    pub remediation_request_name: Cow<'a, str>,
    /// `spec.workflowRef.workflowId`.
    pub workflow_id: Cow<'a, str>,
    /// `spec.workflowRef.version`.
    pub version: Cow<'a, str>,
    /// `spec.workflowRef.containerImage`.
    pub container_image: Cow<'a, str>,
    /// `spec.workflowRef.containerDigest`.
    pub container_digest: Option<Cow<'a, str>>,
    /// `spec.targetResource`.
    pub target_resource: Cow<'a, str>,
    /// `spec.parameters`, by name, each name once.
    parameters: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// `spec.confidence`.
    pub confidence: Option<f64>,
    /// `spec.rationale`.
    pub rationale: Option<Cow<'a, str>>,
    /// `spec.executionConfig.timeout`.
    pub timeout: Option<Cow<'a, str>>,
    /// `spec.executionConfig.serviceAccountName`.
    pub service_account_name: Option<Cow<'a, str>>,
}

impl<'a> SpecView<'a> {
    /// `spec.parameters` as name/value pairs in name order.
    pub fn parameters(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        &self.parameters
    }

    /// Sets `spec.parameters` from pairs in the order the JSON object gave them: sorted by
    /// name, the last of a repeated name kept, as the decoded [`crate::Parameters`] keeps it.
    pub fn set_parameters(&mut self, mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>) {
        sort_last_wins(&mut pairs);
        self.parameters = pairs;
    }
}

impl<'a> From<&'a WorkflowExecutionSpec> for SpecView<'a> {
    fn from(spec: &'a WorkflowExecutionSpec) -> Self {
        let text = |s: &'a String| Cow::Borrowed(s.as_str());
        let wf = &spec.workflow_ref;
        let cfg = spec.execution_config.as_ref();
        SpecView {
            remediation_request_name: text(&spec.remediation_request_ref.name),
            workflow_id: text(&wf.workflow_id),
            version: text(&wf.version),
            container_image: text(&wf.container_image),
            container_digest: wf.container_digest.as_ref().map(text),
            target_resource: text(&spec.target_resource),
            // Already sorted with names unique.
            parameters: spec
                .parameters
                .iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect(),
            confidence: spec.confidence,
            rationale: spec.rationale.as_ref().map(text),
            timeout: cfg.and_then(|c| c.timeout.as_ref()).map(text),
            service_account_name: cfg.and_then(|c| c.service_account_name.as_ref()).map(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_kept_in_name_order_with_the_last_duplicate() {
        let mut view = SpecView::default();
        view.set_parameters(vec![
            ("B".into(), "b".into()),
            ("A".into(), "first".into()),
            ("A".into(), "last".into()),
        ]);
        assert_eq!(
            view.parameters(),
            [("A".into(), "last".into()), ("B".into(), "b".into())]
        );
    }

    #[test]
    fn a_decoded_spec_is_viewed_field_for_field() {
        let spec: WorkflowExecutionSpec = serde_json::from_value(serde_json::json!({
            "remediationRequestRef": {"name": "rr"},
            "workflowRef": {"workflowId": "w", "version": "v1", "containerImage": "img",
                            "containerDigest": "d"},
            "targetResource": "ns/Kind/n",
            "parameters": {"Z": "1", "A": "2"},
            "confidence": 0.5,
            "rationale": "r",
            "executionConfig": {"timeout": "1m", "serviceAccountName": "sa"}
        }))
        .expect("decodes");
        let view = SpecView::from(&spec);
        assert_eq!(
            (
                &*view.remediation_request_name,
                &*view.workflow_id,
                &*view.version,
                &*view.container_image,
                view.container_digest.as_deref(),
                &*view.target_resource,
            ),
            ("rr", "w", "v1", "img", Some("d"), "ns/Kind/n")
        );
        assert_eq!(
            view.parameters(),
            [("A".into(), "2".into()), ("Z".into(), "1".into())]
        );
        assert_eq!(
            (
                view.confidence,
                view.rationale.as_deref(),
                view.timeout.as_deref(),
                view.service_account_name.as_deref()
            ),
            (Some(0.5), Some("r"), Some("1m"), Some("sa"))
        );
    }
}
