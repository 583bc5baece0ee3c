//! Block clearance (BR-WE-013, DESIGN §3.3 and §5): the authorised flow and every denial.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use wfe_api::{BlockClearance, Phase, WorkflowExecution, keys};

use crate::cluster;
use crate::harness::{CLEARER_GROUP, CLEARER_USER, Ctx, e2e};
use crate::lifecycle::{self, skip_reason};
use crate::wfe::{self, Behaviour};

/// A clear reason that passes the default rules (at least 10 words and 20 characters).
pub const REASON: &str = "Root cause fixed: the memory limit was raised and on-call verified the deployment is healthy again";

fn status_patch(body: Value) -> Patch<Value> {
    Patch::Merge(json!({ "status": body }))
}

fn request(reason: &str) -> Patch<Value> {
    status_patch(json!({"blockClearanceRequest": {"clearReason": reason}}))
}

/// Patches `name`'s status as `client` (what `kubectl patch --subresource=status --type=merge` does).
async fn patch_as(
    client: &Client,
    ctx: &Ctx,
    name: &str,
    patch: &Patch<Value>,
    dry_run: bool,
) -> Result<WorkflowExecution, kube::Error> {
    let api: Api<WorkflowExecution> = Api::namespaced(client.clone(), &ctx.ns);
    let params = PatchParams {
        dry_run,
        ..Default::default()
    };
    api.patch_status(name, &params, patch).await
}

/// Clears the block of failed WFE `name` as the authorised clearer and returns the stamped record.
pub async fn clear(ctx: &Ctx, name: &str) -> BlockClearance {
    let cleared = patch_as(&ctx.clearer, ctx, name, &request(REASON), false)
        .await
        .unwrap_or_else(|e| panic!("the authorised clearer could not clear {name}: {e}"));
    let status = cleared.status.clone().unwrap_or_default();
    assert!(
        status.block_clearance_request.is_none(),
        "the webhook removes the request: {}",
        wfe::summary(&cleared)
    );
    status
        .block_clearance
        .map(|c| *c)
        .unwrap_or_else(|| panic!("no blockClearance stamped: {}", wfe::summary(&cleared)))
}

/// A failed, blocking WFE named `name` on `target`.
async fn blocked_wfe(ctx: &Ctx, name: &str, target: &str) -> WorkflowExecution {
    wfe::create(
        ctx,
        &wfe::new(ctx, name, target, Behaviour::FailInTask { code: 2 }),
    )
    .await;
    wfe::wait(ctx, name, "to fail and block its target", |w| {
        w.phase() == Phase::Failed
            && wfe::condition(w, keys::CONDITION_TARGET_BLOCKED).is_some_and(|c| c.status == "True")
    })
    .await
}

fn stored_clearance(w: &WorkflowExecution) -> Option<BlockClearance> {
    w.status.as_ref()?.block_clearance.as_deref().cloned()
}

#[test]
fn authorised_clearance_is_stamped_releases_the_block_and_the_next_wfe_runs() {
    e2e("clearance-flow", |ctx| async move {
        let target = ctx.target("ledger");
        let failed = blocked_wfe(&ctx, "failed", &target).await;
        let record = clear(&ctx, "failed").await;
        assert_eq!(record.cleared_by, CLEARER_USER);
        assert!(
            record.cleared_by_groups.iter().any(|g| g == CLEARER_GROUP),
            "{record:?}"
        );
        assert_eq!(record.clear_reason, REASON);
        assert_eq!(record.clear_method, keys::CLEAR_METHOD_WEBHOOK);
        assert!(!record.admission_request_uid.is_empty());
        assert_eq!(
            record.cleared_failure_at.as_ref().map(|t| t.0.to_string()),
            wfe::failed_at(&failed),
            "bound to this failure"
        );
        let age = jiff::Timestamp::now().duration_since(record.cleared_at.0);
        assert!(
            age.as_secs().abs() < 600,
            "clearedAt is server time now-ish: {:?}",
            record.cleared_at
        );

        let released = wfe::wait(&ctx, "failed", "to report BlockCleared", |w| {
            wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                .is_some_and(|c| c.status == "False" && c.reason == "BlockCleared")
        })
        .await;
        lifecycle::wait_event(&ctx, "failed", "BlockCleared").await;
        // Evidence stays: the failure and the clearance.
        let status = released.status.clone().unwrap_or_default();
        assert!(
            status
                .failure_details
                .as_ref()
                .is_some_and(|d| d.was_execution_failure)
        );
        assert_eq!(status.block_clearance.as_deref(), Some(&record));

        let next = lifecycle::create_when_allowed(
            &ctx,
            "next",
            &target,
            Behaviour::Succeed { seconds: 0 },
        )
        .await;
        assert_ne!(
            skip_reason(&next),
            Some(wfe_api::SkipReason::PreviousExecutionFailed),
            "{}",
            wfe::summary(&next)
        );
        wfe::wait_phase(
            &ctx,
            &next.metadata.name.clone().unwrap_or_default(),
            Phase::Completed,
        )
        .await;
    });
}

fn assert_clearance_denied(what: &str, message: &str) {
    assert!(
        message.contains("block clearance denied"),
        "{what}: expected the webhook's clearance denial, got: {message}"
    );
}

#[test]
fn every_unauthorised_or_malformed_clearance_is_denied() {
    e2e("clearance-denials", |ctx| async move {
        let target = ctx.target("vault");
        blocked_wfe(&ctx, "blocked", &target).await;

        // Authenticated, may write status, lacks update on workflowexecutions/blockclearance.
        let m = cluster::denial(
            "bystander clearance",
            patch_as(&ctx.bystander, &ctx, "blocked", &request(REASON), false).await,
        );
        assert_clearance_denied("unauthorised user", &m);
        // A service account, even one bound to the clearer role.
        let m = cluster::denial(
            "service-account clearance",
            patch_as(&ctx.bot, &ctx, "blocked", &request(REASON), false).await,
        );
        assert_clearance_denied("service account", &m);
        // A reason too short to be an explanation.
        let m = cluster::denial(
            "short reason",
            patch_as(
                &ctx.clearer,
                &ctx,
                "blocked",
                &request("looks fine now"),
                false,
            )
            .await,
        );
        assert_clearance_denied("short reason", &m);
        assert!(m.contains("at least 10 words"), "{m}");
        // A clearance record written by hand, attributed to someone else.
        let forged = json!({"blockClearance": {
            "clearedBy": "someone-else", "clearedAt": "2026-01-01T00:00:00.000000Z", "clearReason": REASON,
            "clearMethod": keys::CLEAR_METHOD_WEBHOOK, "admissionRequestUID": "forged"}});
        let m = cluster::denial(
            "forged clearedBy",
            patch_as(&ctx.clearer, &ctx, "blocked", &status_patch(forged), false).await,
        );
        assert!(
            m.contains("blockClearance") || m.contains("clearedBy"),
            "forged record: {m}"
        );
        // Status fields other than the clearance belong to the controller.
        let m = cluster::denial(
            "phase change",
            patch_as(
                &ctx.bystander,
                &ctx,
                "blocked",
                &status_patch(json!({"phase": "Completed"})),
                false,
            )
            .await,
        );
        assert!(m.contains("phase"), "status ownership: {m}");
        let m = cluster::denial(
            "phase change as admin",
            patch_as(
                &ctx.admin,
                &ctx,
                "blocked",
                &status_patch(json!({"phase": "Completed"})),
                false,
            )
            .await,
        );
        assert!(
            m.contains("phase"),
            "status ownership applies to every identity but the controller: {m}"
        );

        // Dry run: the same decision, nothing persisted.
        let preview = patch_as(&ctx.clearer, &ctx, "blocked", &request(REASON), true)
            .await
            .expect("dry-run clearance by the clearer is allowed");
        assert_eq!(
            stored_clearance(&preview).map(|c| c.cleared_by).as_deref(),
            Some(CLEARER_USER),
            "dry run shows the stamped record"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after_dry_run = wfe::api(&ctx).get("blocked").await.expect("get");
        let status = after_dry_run.status.clone().unwrap_or_default();
        assert!(
            status.block_clearance.is_none() && status.block_clearance_request.is_none(),
            "dry run left something: {}",
            wfe::summary(&after_dry_run)
        );
        assert!(
            wfe::condition(&after_dry_run, keys::CONDITION_TARGET_BLOCKED)
                .is_some_and(|c| c.status == "True")
        );

        // Nothing above changed the object: the real clearance still works.
        let record = clear(&ctx, "blocked").await;

        // Write-once: no tampering, no removal, no second request, by anyone.
        let tamper = status_patch(
            json!({"blockClearance": {"clearReason": "edited afterwards to say something else entirely, which must be refused"}}),
        );
        let m = cluster::denial(
            "tamper by clearer",
            patch_as(&ctx.clearer, &ctx, "blocked", &tamper, false).await,
        );
        assert!(m.contains("blockClearance"), "{m}");
        let m = cluster::denial(
            "tamper by admin",
            patch_as(&ctx.admin, &ctx, "blocked", &tamper, false).await,
        );
        assert!(m.contains("blockClearance"), "{m}");
        let m = cluster::denial(
            "removal",
            patch_as(
                &ctx.admin,
                &ctx,
                "blocked",
                &status_patch(json!({"blockClearance": null})),
                false,
            )
            .await,
        );
        assert!(m.contains("blockClearance"), "{m}");
        let m = cluster::denial(
            "leftover request",
            patch_as(&ctx.clearer, &ctx, "blocked", &request(REASON), false).await,
        );
        assert_clearance_denied("request after clearance", &m);
        let stored = wfe::api(&ctx).get("blocked").await.expect("get");
        assert_eq!(
            stored_clearance(&stored),
            Some(record),
            "the clearance record never changes"
        );

        // A WFE that is not blocking cannot be cleared.
        let ok_target = ctx.target("vault-ok");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "fine", &ok_target, Behaviour::Succeed { seconds: 0 }),
        )
        .await;
        wfe::wait_phase(&ctx, "fine", Phase::Completed).await;
        let m = cluster::denial(
            "clearing a completed WFE",
            patch_as(&ctx.clearer, &ctx, "fine", &request(REASON), false).await,
        );
        assert_clearance_denied("not blocked", &m);
    });
}

#[test]
fn a_clearance_written_with_the_controllers_identity_is_denied_by_the_api_server() {
    e2e("clearance-provenance", |ctx| async move {
        let target = ctx.target("ledger");
        blocked_wfe(&ctx, "blocked", &target).await;

        // The attack of issue 11: the controller's token writes a record in the clearer's name.
        // The status webhooks skip the controller; the ValidatingAdmissionPolicy refuses it.
        let forged = json!({"blockClearance": {
            "clearedBy": CLEARER_USER, "clearedAt": "2026-01-01T00:00:00.000000Z", "clearReason": REASON,
            "clearMethod": keys::CLEAR_METHOD_WEBHOOK, "admissionRequestUID": "forged"}});
        let m = cluster::denial(
            "clearance written with the controller's token",
            patch_as(
                &ctx.controller,
                &ctx,
                "blocked",
                &status_patch(forged),
                false,
            )
            .await,
        );
        assert!(
            m.contains("workflowexecution-clearance-provenance")
                && m.contains(&format!(
                    "clearedBy is {CLEARER_USER} but the request was made by"
                )),
            "expected the provenance policy's denial: {m}"
        );
        // The controller cannot ask for a clearance either: a message, not a silent no-op.
        let m = cluster::denial(
            "clearance request with the controller's token",
            patch_as(&ctx.controller, &ctx, "blocked", &request(REASON), false).await,
        );
        assert!(
            m.contains("the controller's identity cannot request a block clearance"),
            "{m}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stored = wfe::api(&ctx).get("blocked").await.expect("get");
        assert_eq!(stored_clearance(&stored), None, "nothing was written");
        assert!(
            wfe::condition(&stored, keys::CONDITION_TARGET_BLOCKED)
                .is_some_and(|c| c.status == "True"),
            "the block stays: {}",
            wfe::summary(&stored)
        );
        // The authorised operator's clearance still passes all three layers.
        let record = clear(&ctx, "blocked").await;
        assert_eq!(record.cleared_by, CLEARER_USER);
    });
}
