//! Failure classification from Tekton's reasons and messages (whole words, not substrings).

use super::*;

/// Lower-case words of `text`, splitting on non-alphanumerics and CamelCase boundaries
/// (`PipelineRunTimeout` → pipeline run timeout, `OOMKilled` → oom killed).
pub(super) fn words(text: &str) -> Vec<String> {
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

pub(super) fn has_phrase(words: &[String], phrase: &[&str]) -> bool {
    words
        .windows(phrase.len())
        .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

pub(super) fn has_any(words: &[String], any: &[&str]) -> bool {
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
