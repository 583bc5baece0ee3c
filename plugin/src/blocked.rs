//! `kubectl wfe blocked`: from the WFEs of a namespace (or the cluster) to one row per blocked
//! target. Whether a WFE blocks, and which block outranks which, is `wfe_api::block`'s to say.

use std::collections::BTreeMap;

use serde::Serialize;
use wfe_api::block::{BlockFacts, BlockKind, BlockPolicy, RunMark, last_reset};
use wfe_api::commands;
use wfe_api::{FailureDetails, WorkflowExecution, WorkflowExecutionStatus};

use crate::render::{self, one_line, or_dash};

/// One blocked target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedRow {
    /// Namespace of the blocking WFE.
    pub namespace: String,
    /// The blocked target (spec.targetResource).
    pub target: String,
    /// The WFE to clear: the outranking block (an execution failure before exhausted retries),
    /// then the most recent failure.
    pub blocking_workflow_execution: String,
    /// `PreviousExecutionFailed` or `ExhaustedRetries`.
    pub kind: String,
    /// `failureDetails.failedAt`, RFC 3339.
    pub failed_at: Option<String>,
    /// One line about the failure.
    pub failure: String,
    /// Other uncleared blocking WFEs on the same target. Each execution failure needs its own
    /// clearance; clearing one exhausted-retries failure ends its whole run of failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_blocking: Vec<String>,
    /// The command that clears the block (its reason is a placeholder the rules refuse).
    pub clear_command: String,
}

/// One line about a failure: reason, task, exit code, message.
pub fn failure_line(f: &FailureDetails) -> String {
    let mut line = f.reason.as_str().to_owned();
    if let Some(task) = &f.failed_task_name {
        line.push_str(&format!(" in task {task}"));
    }
    if let Some(code) = f.exit_code {
        line.push_str(&format!(" (exit code {code})"));
    }
    if !f.message.trim().is_empty() {
        line.push_str(": ");
        line.push_str(&f.message);
    }
    one_line(&line, 100)
}

/// The blocked targets among `wfes`, sorted by namespace and target.
pub fn blocked_rows(wfes: &[WorkflowExecution], policy: &BlockPolicy) -> Vec<BlockedRow> {
    type Key = (String, String);
    let marks: Vec<(&WorkflowExecution, &WorkflowExecutionStatus, RunMark)> = wfes
        .iter()
        .filter_map(|w| {
            let status = w.status.as_ref()?;
            Some((w, status, RunMark::of(status, policy)))
        })
        .collect();
    // The run of failures is the target's, whatever namespace its WFEs are in (the
    // controller's target index spans namespaces): a success or clearance anywhere among the
    // listed WFEs ends it.
    let mut since: BTreeMap<&str, Option<jiff::Timestamp>> = BTreeMap::new();
    for (w, _, mark) in &marks {
        let latest = since.entry(w.spec.target_resource.as_str()).or_default();
        *latest = last_reset([*latest, mark.reset_at]);
    }
    let mut by_target: BTreeMap<Key, Vec<(BlockKind, &WorkflowExecution)>> = BTreeMap::new();
    for (w, status, mark) in &marks {
        let Some(kind) = BlockFacts::from(*status).active_block(policy) else {
            continue;
        };
        // Exhausted retries block only from the current run of failures.
        let in_run = mark.in_run(since[w.spec.target_resource.as_str()]);
        if kind == BlockKind::PreviousExecutionFailed || in_run {
            let key = (
                w.metadata.namespace.clone().unwrap_or_default(),
                w.spec.target_resource.clone(),
            );
            by_target.entry(key).or_default().push((kind, *w));
        }
    }
    by_target
        .into_iter()
        .map(|((namespace, target), mut blockers)| {
            // Outranking kind first, then the most recent failure, then by name for stability.
            blockers.sort_by_key(|(kind, w)| {
                std::cmp::Reverse((*kind, failed_at(w), w.metadata.name.clone()))
            });
            let (kind, first) = blockers[0];
            let name = first.metadata.name.clone().unwrap_or_default();
            let details = first
                .status
                .as_ref()
                .and_then(|s| s.failure_details.as_deref());
            BlockedRow {
                clear_command: commands::plugin_clear_command(&name, &namespace),
                blocking_workflow_execution: name,
                namespace,
                target,
                kind: kind.as_str().to_owned(),
                failed_at: details.map(|d| render::time(d.failed_at.0)),
                failure: details.map_or_else(|| "-".to_owned(), failure_line),
                also_blocking: blockers[1..]
                    .iter()
                    .filter_map(|(_, w)| w.metadata.name.clone())
                    .collect(),
            }
        })
        .collect()
}

fn failed_at(w: &WorkflowExecution) -> Option<jiff::Timestamp> {
    w.status
        .as_ref()?
        .failure_details
        .as_ref()
        .map(|f| f.failed_at.0)
}

/// The rows as a table (with a NAMESPACE column when several namespaces were searched), or the
/// sentence saying nothing is blocked.
pub fn render_table(rows: &[BlockedRow], all_namespaces: bool, scope: &str) -> String {
    if rows.is_empty() {
        return format!("No blocked targets {scope}.\n");
    }
    let mut header = vec![
        "TARGET",
        "BLOCKING WFE",
        "KIND",
        "FAILED AT",
        "FAILURE",
        "CLEAR WITH",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut blocking = r.blocking_workflow_execution.clone();
            if !r.also_blocking.is_empty() {
                blocking.push_str(&format!(" (+ {})", r.also_blocking.join(", ")));
            }
            let mut row = vec![
                r.target.clone(),
                blocking,
                r.kind.clone(),
                or_dash(r.failed_at.clone()),
                r.failure.clone(),
                r.clear_command.clone(),
            ];
            if all_namespaces {
                row.insert(0, r.namespace.clone());
            }
            row
        })
        .collect();
    render::table(&header, &cells)
}

#[cfg(test)]
mod tests;
