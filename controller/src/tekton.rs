//! Tekton (DESIGN §4.4): the PipelineRun we create, what we read back from PipelineRuns and
//! TaskRuns, failure classification and the operator summary. Pure: no I/O here.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, ObjectMeta, TypeMeta};
use serde_json::{Value, json};
use wfe_api::{FailureReason, WorkflowExecution, keys, naming};

use crate::settings::Settings;

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

    // BTreeMap iteration is sorted by name, which is the order DESIGN §4.4 asks for.
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

/// The WFE a PipelineRun belongs to, read from its labels and annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOwner {
    /// Namespace of the owning WFE.
    pub namespace: String,
    /// Name of the owning WFE.
    pub name: String,
    /// UID of the owning WFE.
    pub uid: String,
}

/// Tekton's `Succeeded` condition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SucceededCondition {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Tekton's reason.
    pub reason: Option<String>,
    /// Tekton's message.
    pub message: Option<String>,
}

impl SucceededCondition {
    /// The run finished successfully.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
    /// The run finished unsuccessfully.
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// What the controller needs to know about a PipelineRun.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunView {
    /// PipelineRun name.
    pub name: String,
    /// PipelineRun UID (used as the delete precondition).
    pub uid: Option<String>,
    /// The WFE it belongs to; `None` when the labels do not say (never ours to delete).
    pub owner: Option<RunOwner>,
    /// Tekton's `Succeeded` condition, once Tekton reported one.
    pub succeeded: Option<SucceededCondition>,
    /// Child TaskRun names in `status.childReferences` order, with their pipeline task names.
    pub task_runs: Vec<ChildTaskRun>,
    /// `status.startTime`.
    pub start_time: Option<Timestamp>,
    /// `status.completionTime`.
    pub completion_time: Option<Timestamp>,
    /// Whether the PipelineRun is being deleted.
    pub deleting: bool,
}

/// One entry of `status.childReferences` that is a TaskRun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildTaskRun {
    /// TaskRun name.
    pub name: String,
    /// The pipeline task it runs.
    pub pipeline_task_name: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
}

fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    str_at(v, path).and_then(|s| s.parse().ok())
}

fn succeeded_condition(status: Option<&Value>) -> Option<SucceededCondition> {
    let conditions = status?.get("conditions")?.as_array()?;
    let c = conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Succeeded"))?;
    Some(SucceededCondition {
        status: c
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned(),
        reason: c.get("reason").and_then(Value::as_str).map(str::to_owned),
        message: c.get("message").and_then(Value::as_str).map(str::to_owned),
    })
}

impl RunView {
    /// Reads a PipelineRun; fields it does not have stay empty (never an error: the run may be
    /// someone else's or half-initialised).
    pub fn from_object(obj: &DynamicObject) -> RunView {
        let meta = &obj.metadata;
        let label = |k: &str| meta.labels.as_ref().and_then(|l| l.get(k)).cloned();
        let uid_label = label(keys::LABEL_WORKFLOW_EXECUTION_UID);
        let exact = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::ANNOTATION_WORKFLOW_EXECUTION))
            .and_then(|v| v.split_once('/'))
            .map(|(ns, n)| (ns.to_owned(), n.to_owned()));
        let owner = match (uid_label, exact) {
            (Some(uid), Some((namespace, name))) => Some(RunOwner {
                namespace,
                name,
                uid,
            }),
            (Some(uid), None) => match (
                label(keys::LABEL_SOURCE_NAMESPACE),
                label(keys::LABEL_WORKFLOW_EXECUTION),
            ) {
                (Some(namespace), Some(name)) => Some(RunOwner {
                    namespace,
                    name,
                    uid,
                }),
                _ => None,
            },
            _ => None,
        };
        let status = obj.data.get("status");
        let task_runs = status
            .and_then(|s| s.get("childReferences"))
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter(|r| {
                        r.get("kind")
                            .and_then(Value::as_str)
                            .is_none_or(|k| k == "TaskRun")
                    })
                    .filter_map(|r| {
                        Some(ChildTaskRun {
                            name: r.get("name")?.as_str()?.to_owned(),
                            pipeline_task_name: r
                                .get("pipelineTaskName")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        RunView {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            owner,
            succeeded: succeeded_condition(status),
            task_runs,
            start_time: time_at(&obj.data, &["status", "startTime"]),
            completion_time: time_at(&obj.data, &["status", "completionTime"]),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// Whether this run belongs to the WFE with `uid`.
    pub fn is_owned_by(&self, uid: &str) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.uid == naming::label_value(uid))
    }

    /// `(completedTasks, totalTasks)`: total from `childReferences`; completed from Tekton's
    /// "Tasks Completed: N" message when present (child references carry no status in v1).
    pub fn task_progress(&self) -> (i32, i32) {
        let total = i32::try_from(self.task_runs.len()).unwrap_or(i32::MAX);
        let from_message = self
            .succeeded
            .as_ref()
            .and_then(|c| c.message.as_deref())
            .and_then(parse_tasks_completed);
        let completed = match (from_message, &self.succeeded) {
            (Some(n), _) => n,
            (None, Some(c)) if c.is_true() => total,
            _ => 0,
        };
        // Tekton may report completions before the child references catch up.
        (completed, total.max(completed))
    }
}

/// Tekton reports progress as "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0".
fn parse_tasks_completed(message: &str) -> Option<i32> {
    let rest = message.split("Tasks Completed:").nth(1)?;
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// What the controller needs to know about a failed TaskRun.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskRunView {
    /// TaskRun name.
    pub name: String,
    /// `Succeeded` condition.
    pub succeeded: Option<SucceededCondition>,
    /// Whether it started (`status.startTime` set).
    pub started: bool,
    /// First non-zero `status.steps[].terminated.exitCode`.
    pub exit_code: Option<i32>,
    /// `terminated.reason` of that step (e.g. `OOMKilled`).
    pub step_reason: Option<String>,
}

impl TaskRunView {
    /// Reads a TaskRun (`tekton.dev/v1`).
    pub fn from_object(obj: &DynamicObject) -> TaskRunView {
        let status = obj.data.get("status");
        let failing_step = status
            .and_then(|s| s.get("steps"))
            .and_then(Value::as_array)
            .and_then(|steps| {
                steps.iter().filter_map(|s| s.get("terminated")).find(|t| {
                    t.get("exitCode")
                        .and_then(Value::as_i64)
                        .is_some_and(|c| c != 0)
                })
            });
        TaskRunView {
            name: obj.metadata.name.clone().unwrap_or_default(),
            succeeded: succeeded_condition(status),
            started: status.and_then(|s| s.get("startTime")).is_some(),
            exit_code: failing_step
                .and_then(|t| t.get("exitCode"))
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok()),
            step_reason: failing_step
                .and_then(|t| t.get("reason"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    /// Whether it finished unsuccessfully.
    pub fn failed(&self) -> bool {
        self.succeeded
            .as_ref()
            .is_some_and(SucceededCondition::is_false)
    }
}

/// The first failed TaskRun of a run, located by its position in `childReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTask {
    /// Pipeline task name (falls back to the TaskRun name).
    pub task_name: String,
    /// Zero-based position among the run's child TaskRuns.
    pub index: i32,
    /// What the TaskRun said.
    pub task_run: TaskRunView,
}

/// Lower-case words of `text`, splitting on non-alphanumerics and CamelCase boundaries
/// (`PipelineRunTimeout` → pipeline run timeout, `OOMKilled` → oom killed).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in text.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        let chunk = chunk.replace('\'', "");
        let chars: Vec<char> = chunk.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = c.is_uppercase()
                && prev.is_some_and(|p| {
                    p.is_lowercase() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
                });
            if boundary && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.extend(c.to_lowercase());
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

fn has_phrase(words: &[String], phrase: &[&str]) -> bool {
    words
        .windows(phrase.len())
        .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

fn has_any(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.contains(&w.as_str()))
}

/// Classifies a failure from Tekton's texts and the failed TaskRun, matching whole words.
pub fn classify_failure(
    succeeded: Option<&SucceededCondition>,
    failed_task: Option<&FailedTask>,
) -> FailureReason {
    let mut text = String::new();
    for part in [
        succeeded.and_then(|c| c.reason.as_deref()),
        succeeded.and_then(|c| c.message.as_deref()),
        failed_task.and_then(|t| t.task_run.step_reason.as_deref()),
        failed_task
            .and_then(|t| t.task_run.succeeded.as_ref())
            .and_then(|c| c.reason.as_deref()),
        failed_task
            .and_then(|t| t.task_run.succeeded.as_ref())
            .and_then(|c| c.message.as_deref()),
    ]
    .into_iter()
    .flatten()
    {
        text.push_str(part);
        text.push('\n');
    }
    classify_text(&text, failed_task.is_some())
}

/// Whole-word classification of a failure text; `task_failed` says a failed TaskRun was found.
pub fn classify_text(text: &str, task_failed: bool) -> FailureReason {
    let w = words(text);
    if has_any(&w, &["oom", "oomkilled"]) || has_phrase(&w, &["out", "of", "memory"]) {
        FailureReason::OomKilled
    } else if has_any(&w, &["timeout", "timeouts", "deadline"]) || has_phrase(&w, &["timed", "out"])
    {
        FailureReason::DeadlineExceeded
    } else if has_any(&w, &["forbidden", "rbac", "unauthorized"]) {
        FailureReason::Forbidden
    } else if has_any(&w, &["quota", "insufficient"]) || has_phrase(&w, &["resource", "exhausted"])
    {
        FailureReason::ResourceExhausted
    } else if has_any(&w, &["imagepullbackoff", "errimagepull"])
        || has_phrase(&w, &["image", "pull"])
        || has_phrase(&w, &["pull", "image"])
        || has_phrase(&w, &["pulling", "image"])
    {
        FailureReason::ImagePullBackOff
    } else if has_any(
        &w,
        &[
            "invalid",
            "validation",
            "configuration",
            "misconfigured",
            "couldnt",
        ],
    ) {
        FailureReason::ConfigurationError
    } else if task_failed
        || has_any(&w, &["exited"])
        || has_phrase(&w, &["exit", "code"])
        || has_phrase(&w, &["task", "failed"])
    {
        FailureReason::TaskFailed
    } else {
        FailureReason::Unknown
    }
}

/// Whether a failure happened after the workflow started changing the target (DESIGN §4.4):
/// a TaskRun started, and the reason is not one that prevents any step from running.
pub fn was_execution_failure(reason: FailureReason, any_task_started: bool) -> bool {
    any_task_started
        && !matches!(
            reason,
            FailureReason::ImagePullBackOff
                | FailureReason::ConfigurationError
                | FailureReason::ResourceExhausted
        )
}

/// End of the failure message of a run deleted before it finished (the decision core writes it,
/// the summary recognises it).
pub const RUN_DELETED_EXTERNALLY: &str = "was deleted externally before it finished";

/// Plain-English explanation of a failure for operators.
pub fn natural_language_summary(
    wfe: &WorkflowExecution,
    reason: FailureReason,
    message: &str,
    failed_task: Option<&FailedTask>,
    ran_for: Option<Duration>,
) -> String {
    let target = match wfe_api::target::TargetResource::parse(&wfe.spec.target_resource) {
        Ok(t) => t.to_string(),
        Err(_) => wfe.spec.target_resource.clone(),
    };
    let mut s = format!(
        "Workflow '{}' failed on {}",
        wfe.spec.workflow_ref.workflow_id, target
    );
    if let Some(d) = ran_for {
        s.push_str(&format!(
            " after running for {}",
            wfe_api::duration::human(d)
        ));
    }
    if reason == FailureReason::Unknown && message.trim_end().ends_with(RUN_DELETED_EXTERNALLY) {
        // Not a Tekton failure: the run, its TaskRuns and their logs are gone, so advising to
        // inspect them would send the operator after something that no longer exists.
        s.push_str(&format!(
            " because its PipelineRun was deleted by someone other than the controller before it \
             finished ({}). Recommendation: the PipelineRun and its logs no longer exist; check \
             the state of {target} by hand and find out who deleted the run (the API server audit \
             log records it) before clearing this failure or retrying.",
            message.trim()
        ));
        return s;
    }
    if let Some(t) = failed_task {
        s.push_str(&format!(" in task '{}'", t.task_name));
        if let Some(code) = t.task_run.exit_code {
            s.push_str(&format!(" (exit code {code})"));
        }
    }
    let why = match reason {
        FailureReason::OomKilled => "a step ran out of memory",
        FailureReason::DeadlineExceeded => "it did not finish within its timeout",
        FailureReason::Forbidden => "the runner service account lacks permission",
        FailureReason::ResourceExhausted => {
            "a resource quota or cluster capacity prevented it from running"
        }
        FailureReason::ConfigurationError => {
            "the workflow definition or its parameters are invalid"
        }
        FailureReason::ImagePullBackOff => {
            "the workflow bundle or a task image could not be pulled"
        }
        FailureReason::TaskFailed => "a task exited unsuccessfully",
        FailureReason::Unknown => "of an unclassified error",
    };
    s.push_str(&format!(" because {why}."));
    let message = message.trim();
    if !message.is_empty() {
        let short: String = message.chars().take(300).collect();
        s.push_str(&format!(" Tekton reported: {short}."));
    }
    let advice = match reason {
        FailureReason::OomKilled => {
            " Recommendation: raise the task's memory limit or reduce its working set."
        }
        FailureReason::DeadlineExceeded => {
            " Recommendation: check why the workflow is slow, or raise executionConfig.timeout within the allowed maximum."
        }
        FailureReason::Forbidden => {
            " Recommendation: grant the runner service account the RBAC the workflow needs."
        }
        FailureReason::ResourceExhausted => {
            " Recommendation: free quota or capacity in the execution namespace."
        }
        FailureReason::ConfigurationError => {
            " Recommendation: fix the workflow bundle or the WFE parameters."
        }
        FailureReason::ImagePullBackOff => {
            " Recommendation: check the image reference and registry credentials."
        }
        FailureReason::TaskFailed => {
            " Recommendation: read the failed task's logs before retrying."
        }
        FailureReason::Unknown => " Recommendation: inspect the PipelineRun and its TaskRuns.",
    };
    s.push_str(advice);
    s
}

#[cfg(test)]
mod tests;
