//! One reconcile of a live WFE: observe, decide, take the lock action, persist and announce.

use super::*;

/// How many times one reconcile tries to take over an expired lock before giving up for now.
pub(super) const MAX_LOCK_ATTEMPTS: usize = 3;

/// Observe, decide, act on the lock, persist and announce.
pub(super) async fn apply(wfe: &WorkflowExecution, ctx: &Context) -> Result<Action, Error> {
    let now = ctx.clock.now();
    let (lock, failed_task) = observe_lock(wfe, ctx).await?;
    let neighbours = ctx.neighbours(wfe, lock.as_ref());
    let others: Vec<&Neighbour> = neighbours.iter().map(AsRef::as_ref).collect();
    let world = World {
        lock: lock.as_ref(),
        others: &others,
        failed_task: failed_task.as_ref(),
        now,
    };
    let mut d = decision::decide(wfe, &world, &ctx.settings);
    if matches!(d.step, Step::Start { .. }) {
        if moved_on(wfe, ctx) {
            // The copy being reconciled is older than what the watch has since delivered (our
            // own Skipped or Failed write, say): a PipelineRun created from it would run a
            // remediation for a WFE that is over. The create is the one write without a
            // resourceVersion to refuse it, so it is held back here; the newer copy's event has
            // already queued the next reconcile.
            debug!(wfe = %wfe.name_any(), "cached copy is still Pending but the watch saw it move on; not starting a run from it");
            return Ok(Action::await_change());
        }
        d = acquire_lock(wfe, d, &world, ctx).await?;
    }
    if let Step::ReleaseLock(run) = &d.step {
        delete_run(ctx, run).await?;
    }
    persist_and_announce(wfe, d, ctx, now).await
}

/// Whether the watch has reported this WFE (the same UID) in a phase past Pending, while the
/// copy being reconciled is still Pending. Phases never go back to Pending.
fn moved_on(wfe: &WorkflowExecution, ctx: &Context) -> bool {
    let (Some(namespace), Some(name), Some(uid)) = (
        wfe.metadata.namespace.as_deref(),
        wfe.metadata.name.as_deref(),
        wfe.metadata.uid.as_deref(),
    ) else {
        return false;
    };
    wfe.phase() == Phase::Pending
        && ctx
            .index
            .observed_phase(namespace, name, &naming::label_value(uid))
            .is_some_and(|observed| observed != Phase::Pending)
}

/// The lock PipelineRun as the decision must see it, and its failed TaskRun when needed.
async fn observe_lock(
    wfe: &WorkflowExecution,
    ctx: &Context,
) -> Result<(Option<RunView>, Option<FailedTask>), Error> {
    let uid = wfe
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingMetadata("uid"))?;
    let run_name = naming::pipeline_run_name(&wfe.spec.target_resource);
    let mut lock = ctx.cached_run(&run_name);
    // The run cache can lag behind our own create: confirm before concluding it is gone.
    if wfe.phase() == Phase::Running && !lock.as_ref().is_some_and(|r| r.is_owned_by(uid)) {
        lock = get_run(ctx, &run_name).await?;
    }
    let failed_task = match &lock {
        Some(run) if decision::needs_failed_task(wfe, Some(run)) => {
            find_failed_task(ctx, run).await?
        }
        _ => None,
    };
    Ok((lock, failed_task))
}

/// Creates the lock PipelineRun (after removing an expired one) and decides on the outcome.
/// The AlreadyExists rules of DESIGN §4.2 may send it round again: bounded, so two replicas
/// racing over an expiring lock cannot spin.
async fn acquire_lock(
    wfe: &WorkflowExecution,
    mut d: Decision,
    world: &World<'_>,
    ctx: &Context,
) -> Result<Decision, Error> {
    let run_name = naming::pipeline_run_name(&wfe.spec.target_resource);
    let mut attempts = 0;
    while let Step::Start { expired_lock } = d.step.clone() {
        attempts += 1;
        if attempts > MAX_LOCK_ATTEMPTS {
            return Err(Error::LockContended(run_name));
        }
        if let Some(expired) = expired_lock {
            delete_run(ctx, &expired).await?;
        }
        let outcome_run;
        let outcome = match create_run(ctx, wfe).await? {
            Created::Yes(run) => {
                ctx.metrics.pipelinerun_creations.inc();
                outcome_run = *run;
                CreateOutcome::Created(&outcome_run)
            }
            Created::AlreadyExists => match get_run(ctx, &run_name).await? {
                Some(run) => {
                    outcome_run = run;
                    CreateOutcome::AlreadyExists(&outcome_run)
                }
                // Deleted between our create and our read: simply try again.
                None => {
                    d.step = Step::Start { expired_lock: None };
                    continue;
                }
            },
            Created::Rejected { code, message } => {
                let outcome = CreateOutcome::Rejected {
                    code,
                    message: &message,
                };
                let world = World {
                    lock: None,
                    ..*world
                };
                return Ok(decision::decide_after_create(
                    wfe,
                    outcome,
                    &world,
                    &ctx.settings,
                ));
            }
        };
        // A run read back after AlreadyExists may belong to a WFE the first look at the
        // neighbours did not include (it was not the cached lock's owner): look again with it.
        let neighbours;
        let others: Vec<&Neighbour>;
        let world = match outcome {
            CreateOutcome::AlreadyExists(run) => {
                neighbours = ctx.neighbours(wfe, Some(run));
                others = neighbours.iter().map(AsRef::as_ref).collect();
                World {
                    others: &others,
                    ..*world
                }
            }
            _ => *world,
        };
        d = decision::decide_after_create(wfe, outcome, &world, &ctx.settings);
    }
    Ok(d)
}

/// Writes the decided status (if it changed), then emits its notices and delivers audit.
pub(super) async fn persist_and_announce(
    wfe: &WorkflowExecution,
    d: Decision,
    ctx: &Context,
    now: Timestamp,
) -> Result<Action, Error> {
    let (persisted, from_cache) = if Some(&d.status) != wfe.status.as_ref() {
        (write_status(ctx, wfe, &d.status).await?, false)
    } else {
        (wfe.clone(), true)
    };
    // Only now is the state these notices describe persisted; a conflict above emits nothing.
    for notice in &d.notices {
        announce(ctx, &persisted, notice).await;
    }
    let audit_requeue = deliver_audit(ctx, &persisted, from_cache, now).await?;
    let resync = (persisted.phase() == Phase::Running).then_some(RUNNING_RESYNC);
    let next = [d.requeue_after, audit_requeue, resync]
        .into_iter()
        .flatten()
        .min();
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}
