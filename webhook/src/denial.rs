//! Evidence of refused clearances: logged with the identity and handed to an optional sink.

use std::collections::BTreeMap;

use serde::Serialize;

/// The rule a refusal names; defined with the refusal it belongs to.
pub use crate::clearance::ClearanceStep;

/// One refused clearance, with the authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearanceDenial {
    /// `userInfo.username`.
    pub user: String,
    /// `userInfo.uid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `userInfo.groups`.
    pub groups: Vec<String>,
    /// `userInfo.extra`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// WFE namespace.
    pub namespace: String,
    /// WFE name.
    pub name: String,
    /// Admission request uid (links to the API server audit log).
    pub request_uid: String,
    /// Whether the request was a dry run.
    pub dry_run: bool,
    /// The rule that refused it.
    pub step: ClearanceStep,
    /// The message returned to the user.
    pub message: String,
    /// Server time of the decision.
    pub time: jiff::Timestamp,
}

/// Receives refused clearances (the audit crate provides one). Must be cheap and non-blocking.
pub trait DenialSink: Send + Sync {
    /// Records one denial.
    fn record(&self, denial: &ClearanceDenial);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_the_identity_and_context_for_audit() {
        let denial = ClearanceDenial {
            user: "bob".into(),
            uid: Some("uid-bob".into()),
            groups: vec!["dev-team".into()],
            extra: BTreeMap::new(),
            namespace: "team-a".into(),
            name: "wfe-1".into(),
            request_uid: "r-1".into(),
            dry_run: false,
            step: ClearanceStep::Authorization,
            message: "block clearance denied: no".into(),
            time: "2026-11-22T02:12:00Z".parse().expect("ts"),
        };
        assert_eq!(
            serde_json::to_value(&denial).expect("json"),
            serde_json::json!({
                "user": "bob", "uid": "uid-bob", "groups": ["dev-team"], "namespace": "team-a", "name": "wfe-1",
                "requestUid": "r-1", "dryRun": false, "step": "authorization",
                "message": "block clearance denied: no", "time": "2026-11-22T02:12:00Z"
            })
        );
    }
}
