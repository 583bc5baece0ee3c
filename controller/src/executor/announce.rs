//! Metrics and Kubernetes events from a decision's notices, in one place.

use super::*;

/// Counts `notice` in the metrics and publishes it as a Kubernetes event.
pub(super) async fn announce(ctx: &Context, wfe: &WorkflowExecution, notice: &Notice) {
    count(&ctx.metrics, wfe, notice);
    publish(ctx, wfe, notice).await;
}

/// The metrics a notice moves (DESIGN §4.6).
fn count(m: &Metrics, wfe: &WorkflowExecution, notice: &Notice) {
    let status = wfe.status.as_ref();
    match notice.kind {
        NoticeKind::WorkflowCompleted | NoticeKind::WorkflowFailed => {
            let outcome = if notice.kind == NoticeKind::WorkflowCompleted {
                "Completed"
            } else {
                "Failed"
            };
            m.total.with_label_values(&[outcome]).inc();
            if let Some((start, end)) =
                status.and_then(|s| Some((s.start_time.as_ref()?.0, s.completion_time.as_ref()?.0)))
            {
                let secs = end.duration_since(start).as_secs_f64();
                m.duration
                    .with_label_values(&[outcome])
                    .observe(secs.max(0.0));
            }
        }
        NoticeKind::Skipped => {
            m.total.with_label_values(&["Skipped"]).inc();
            if let Some(reason) = status.and_then(|s| s.skip_details.as_deref()) {
                m.skips.with_label_values(&[reason.reason.as_str()]).inc();
            }
        }
        NoticeKind::BlockCleared => m.block_clearances.inc(),
        NoticeKind::ForgedClearance => {
            m.forged_clearances.inc();
            warn!(wfe = %wfe.name_any(), note = %notice.note, "a blockClearance failed the block rules; the block stays");
        }
        _ => {}
    }
}

/// The notice as an events.k8s.io event; best effort.
async fn publish(ctx: &Context, wfe: &WorkflowExecution, notice: &Notice) {
    let event = KubeEvent {
        type_: if notice.kind.is_warning() {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: notice.kind.reason().to_owned(),
        note: Some(notice.note.chars().take(1000).collect()),
        action: notice.kind.reason().to_owned(),
        secondary: None,
    };
    // Events are best-effort diagnostics; the status is the record, so never fail on them.
    if let Err(e) = ctx.recorder.publish(&event, &wfe.object_ref(&())).await {
        warn!(wfe = %wfe.name_any(), reason = notice.kind.reason(), error = %e, "could not publish event");
    }
}
