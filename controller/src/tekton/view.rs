//! What the controller reads back from PipelineRuns and TaskRuns, as typed views of the dynamic objects.

use super::*;

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

pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
}

pub(super) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    str_at(v, path).and_then(|s| s.parse().ok())
}

pub(super) fn succeeded_condition(status: Option<&Value>) -> Option<SucceededCondition> {
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
pub(super) fn parse_tasks_completed(message: &str) -> Option<i32> {
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
