//! Deletion (DESIGN §4.5): cancel our run, let pending audit drain (bounded), announce.

use super::*;

/// Cancels our run, delivers pending audit through the one delivery path (waiting at most
/// `audit.deleteTimeout`), then announces the deletion.
pub(super) async fn cleanup(wfe: &WorkflowExecution, ctx: &Context) -> Result<Action, Error> {
    let now = ctx.clock.now();
    let uid = wfe
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingMetadata("uid"))?;
    let run_name = naming::pipeline_run_name(&wfe.spec.target_resource);
    // Cancels a workflow still running; never touches a run someone else owns.
    if let Some(run) = get_run(ctx, &run_name).await?
        && run.is_owned_by(&uid)
        && !run.deleting
        && let Some(run_uid) = run.uid.clone()
    {
        let deletion = RunDeletion {
            name: run_name.clone(),
            uid: run_uid,
        };
        delete_run(ctx, &deletion).await?;
    }
    let policy = &ctx.settings.block;
    let due = wfe
        .status
        .as_ref()
        .map(|s| due_events(s, policy))
        .unwrap_or_default();
    if !due.is_empty() {
        let since = wfe
            .metadata
            .deletion_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        let waited = Duration::try_from(now.duration_since(since)).unwrap_or_default();
        if waited < ctx.settings.audit_delete_timeout {
            let (written, result) = deliver_and_record(ctx, wfe, &due, now, false).await?;
            if let Err(e) = &result {
                warn!(wfe = %wfe.name_any(), error = %e, "audit delivery failed during deletion; will retry");
            }
            let pending = written
                .status
                .as_ref()
                .map(|s| due_events(s, policy))
                .unwrap_or_default();
            if !pending.is_empty() {
                return Err(Error::AuditPending(wfe.name_any()));
            }
        } else {
            let names: Vec<&str> = due.iter().map(|e| e.as_str()).collect();
            warn!(wfe = %wfe.name_any(), pending = ?names, "audit events still undelivered after the deletion timeout; deleting anyway");
        }
    }
    let notice = Notice {
        kind: NoticeKind::WorkflowExecutionDeleted,
        note: format!(
            "cleaned up WorkflowExecution {} (target {})",
            wfe.name_any(),
            wfe.spec.target_resource
        ),
    };
    announce(ctx, wfe, &notice).await;
    Ok(Action::await_change())
}
