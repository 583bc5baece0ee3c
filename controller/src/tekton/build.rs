//! The PipelineRun the controller creates for a WFE (DESIGN §4.4): bundle resolver, params, runner, timeout, labels.

use super::*;

/// API group of Tekton.
pub const TEKTON_GROUP: &str = "tekton.dev";

/// Tekton API version the controller speaks.
pub const TEKTON_VERSION: &str = "v1";

/// `tekton.dev/v1` PipelineRun as a dynamic resource.
pub fn pipeline_run_resource() -> ApiResource {
    ApiResource {
        group: TEKTON_GROUP.to_owned(),
        version: TEKTON_VERSION.to_owned(),
        api_version: format!("{TEKTON_GROUP}/{TEKTON_VERSION}"),
        kind: "PipelineRun".to_owned(),
        plural: "pipelineruns".to_owned(),
    }
}

/// `tekton.dev/v1` TaskRun as a dynamic resource.
pub fn task_run_resource() -> ApiResource {
    ApiResource {
        group: TEKTON_GROUP.to_owned(),
        version: TEKTON_VERSION.to_owned(),
        api_version: format!("{TEKTON_GROUP}/{TEKTON_VERSION}"),
        kind: "TaskRun".to_owned(),
        plural: "taskruns".to_owned(),
    }
}

/// Why a PipelineRun could not be built from a WFE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The WFE has no namespace, name or UID (it was never persisted).
    #[error("WorkflowExecution is missing metadata.{0}")]
    MissingMetadata(&'static str),
    /// `spec.executionConfig.timeout` is not a Go duration.
    #[error("spec.executionConfig.timeout: {0}")]
    Timeout(String),
}

/// The pipeline timeout for a WFE: its own, or the configured default.
pub fn pipeline_timeout(
    wfe: &WorkflowExecution,
    settings: &Settings,
) -> Result<Duration, BuildError> {
    match wfe
        .spec
        .execution_config
        .as_ref()
        .and_then(|c| c.timeout.as_deref())
    {
        Some(raw) => wfe_api::duration::parse(raw).map_err(|e| BuildError::Timeout(e.to_string())),
        None => Ok(settings.default_timeout),
    }
}

/// The service account the workflow's TaskRuns run as.
pub fn task_service_account<'a>(wfe: &'a WorkflowExecution, settings: &'a Settings) -> &'a str {
    match wfe
        .spec
        .execution_config
        .as_ref()
        .and_then(|c| c.service_account_name.as_deref())
    {
        Some(sa) if settings.allowed_service_accounts.iter().any(|a| a == sa) => sa,
        _ => &settings.runner_service_account,
    }
}

/// The lock PipelineRun for `wfe` (DESIGN §4.4), named after its target.
pub fn build_pipeline_run(
    wfe: &WorkflowExecution,
    settings: &Settings,
) -> Result<DynamicObject, BuildError> {
    let name = wfe
        .metadata
        .name
        .as_deref()
        .ok_or(BuildError::MissingMetadata("name"))?;
    let namespace = wfe
        .metadata
        .namespace
        .as_deref()
        .ok_or(BuildError::MissingMetadata("namespace"))?;
    let uid = wfe
        .metadata
        .uid
        .as_deref()
        .ok_or(BuildError::MissingMetadata("uid"))?;
    let spec = &wfe.spec;
    let timeout = pipeline_timeout(wfe, settings)?;

    // Parameters iterate in name order, the order DESIGN §4.4 asks for.
    let mut params: Vec<Value> = spec
        .parameters
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    params.push(json!({"name": keys::PARAM_TARGET_RESOURCE, "value": spec.target_resource}));

    let labels = BTreeMap::from([
        (
            keys::LABEL_WORKFLOW_EXECUTION.to_owned(),
            naming::label_value(name),
        ),
        (
            keys::LABEL_SOURCE_NAMESPACE.to_owned(),
            naming::label_value(namespace),
        ),
        (
            keys::LABEL_WORKFLOW_ID.to_owned(),
            naming::label_value(&spec.workflow_ref.workflow_id),
        ),
        (
            keys::LABEL_WORKFLOW_EXECUTION_UID.to_owned(),
            naming::label_value(uid),
        ),
    ]);
    let annotations = BTreeMap::from([
        (
            keys::ANNOTATION_TARGET_RESOURCE.to_owned(),
            spec.target_resource.clone(),
        ),
        (
            keys::ANNOTATION_WORKFLOW_EXECUTION.to_owned(),
            format!("{namespace}/{name}"),
        ),
    ]);
    let ar = pipeline_run_resource();
    Ok(DynamicObject {
        types: Some(TypeMeta {
            api_version: ar.api_version,
            kind: ar.kind,
        }),
        metadata: ObjectMeta {
            name: Some(naming::pipeline_run_name(&spec.target_resource)),
            namespace: Some(settings.execution_namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: json!({
            "spec": {
                "pipelineRef": {
                    "resolver": "bundles",
                    "params": [
                        {"name": "bundle", "value": spec.workflow_ref.container_image},
                        {"name": "name", "value": "workflow"},
                        {"name": "kind", "value": "pipeline"},
                    ],
                },
                "params": params,
                "taskRunTemplate": {"serviceAccountName": task_service_account(wfe, settings)},
                "timeouts": {"pipeline": wfe_api::duration::format(timeout)},
            }
        }),
    })
}
