//! The plain-English `naturalLanguageSummary` of a failure, with a recommendation.

use super::*;

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
