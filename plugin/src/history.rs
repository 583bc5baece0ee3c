//! `kubectl wfe history TARGET`: the remediations of one target, oldest first.

use serde::Serialize;
use wfe_api::{PhaseReason, WorkflowExecution, duration};

use crate::render::{self, or_dash};

/// One remediation of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    /// Namespace of the WFE.
    pub namespace: String,
    /// WFE name.
    pub name: String,
    /// `spec.workflowRef.workflowId`.
    pub workflow: String,
    /// Phase (`Pending` when it has none yet).
    pub outcome: String,
    /// When its PipelineRun was created, else when the WFE was created; RFC 3339.
    pub started: Option<String>,
    /// Run time, rounded for people.
    pub duration: Option<String>,
    /// Failure or skip reason.
    pub reason: Option<String>,
    /// Who cleared its block and when, if anyone did.
    pub cleared: Option<Clearance>,
}

/// A clearance, as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Clearance {
    /// `clearedBy`.
    pub by: String,
    /// `clearedAt`, RFC 3339.
    pub at: String,
    /// `clearReason`.
    pub reason: String,
}

fn started(w: &WorkflowExecution) -> Option<jiff::Timestamp> {
    w.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(w.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
}

/// The WFEs on `target` among `wfes`, oldest first (creation time, then name).
pub fn history_rows(wfes: &[WorkflowExecution], target: &str) -> Vec<HistoryRow> {
    let mut on_target: Vec<&WorkflowExecution> = wfes
        .iter()
        .filter(|w| w.spec.target_resource == target)
        .collect();
    on_target.sort_by_key(|w| {
        (
            w.metadata.creation_timestamp.as_ref().map(|t| t.0),
            started(w),
            w.metadata.name.clone(),
        )
    });
    on_target.into_iter().map(row).collect()
}

fn row(w: &WorkflowExecution) -> HistoryRow {
    let status = w.status.as_ref();
    let duration = status.and_then(|s| s.duration.as_deref()).map(|d| {
        // The status keeps Go's format for machines; show it rounded, or as written if odd.
        duration::parse(d).map_or_else(|_| d.to_owned(), duration::human)
    });
    HistoryRow {
        namespace: w.metadata.namespace.clone().unwrap_or_default(),
        name: w.metadata.name.clone().unwrap_or_default(),
        workflow: w.spec.workflow_ref.workflow_id.clone(),
        outcome: w.phase().as_str().to_owned(),
        started: started(w).map(render::time),
        duration,
        reason: status
            .and_then(|s| s.reason)
            .map(PhaseReason::as_str)
            .map(str::to_owned),
        cleared: status
            .and_then(|s| s.block_clearance.as_deref())
            .map(|c| Clearance {
                by: c.cleared_by.clone(),
                at: render::time(c.cleared_at.0),
                reason: c.clear_reason.clone(),
            }),
    }
}

/// The rows as a table, or a sentence when the target has no remediations here.
pub fn render_table(rows: &[HistoryRow], target: &str, scope: &str) -> String {
    if rows.is_empty() {
        return format!("No WorkflowExecutions on {target} {scope}.\n");
    }
    let several_namespaces = rows.iter().any(|r| r.namespace != rows[0].namespace);
    let mut header = vec![
        "WFE", "WORKFLOW", "OUTCOME", "STARTED", "DURATION", "REASON", "CLEARED",
    ];
    if several_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.workflow.clone(),
                r.outcome.clone(),
                or_dash(r.started.clone()),
                or_dash(r.duration.clone()),
                or_dash(r.reason.clone()),
                or_dash(
                    r.cleared
                        .as_ref()
                        .map(|c| format!("by {} at {}", c.by, c.at)),
                ),
            ];
            if several_namespaces {
                row.insert(0, r.namespace.clone());
            }
            row
        })
        .collect();
    render::table(&header, &cells)
}

#[cfg(test)]
mod tests;
