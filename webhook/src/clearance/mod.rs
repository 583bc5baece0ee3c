//! `/mutate-workflowexecution-status`: turning a `blockClearanceRequest` into an attributed
//! `blockClearance` (DESIGN §5 steps 1–5). Pure: a function of the request, the settings, the
//! authorizer's answer and the time.
//!
//! The server calls [`plan_clearance`] (steps 1 and the group part of 2, no I/O), asks the
//! authorizer what the plan says, then [`conclude_clearance`] with that plan and the answer.
//! [`decide_clearance`] does both for callers with the answer at hand.

mod refusal;
mod stamp;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::admission::Operation;
use wfe_api::block::{self, ClearanceStamp, StoredBlockStatus};

use self::refusal::DENIED;
pub use self::refusal::{ClearanceStep, Refusal};
pub use self::stamp::{ClearancePatch, grant_annotations};
use crate::authorizer::{Authorization, AuthorizationRequest};
use crate::decode::decode_shallow;
use crate::json_view::{Shallow, same, string_of};
use crate::review::{ObjectView, ReviewRequest};
use crate::scan::Raw;
use crate::settings::Settings;

/// `status.blockClearanceRequest`.
const REQUEST: &str = "blockClearanceRequest";
/// `status.blockClearance`.
const CLEARANCE: &str = "blockClearance";

/// What to do before a clearance can be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearancePlan<'a> {
    /// Not a clearance request: let the write through unchanged.
    Pass,
    /// Refused without asking anyone.
    Refuse(Refusal),
    /// Ask the authorizer this, then call [`conclude_clearance`] with the answer.
    Authorize(AuthorizationRequest<'a>),
    /// No authorization needed (SubjectAccessReview disabled): call [`conclude_clearance`].
    Decide,
}

/// The final decision.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearanceOutcome<'r> {
    /// Not a clearance request.
    Pass,
    /// Refused.
    Refused(Refusal),
    /// Granted: answer with the [`ClearancePatch`] of this stamp.
    Cleared(ClearanceStamp<'r>),
}

/// Steps 1 and the group part of 2: decides whether a request is a clearance and whether the
/// authorizer has to be asked.
pub fn plan_clearance<'r>(
    request: &'r ReviewRequest<'_>,
    settings: &Settings,
) -> ClearancePlan<'r> {
    if request.operation != Operation::Update || !request.is_status() {
        return ClearancePlan::Pass;
    }
    if let Err(v) = request.check_kind() {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Request,
            v.message().unwrap_or_default(),
        ));
    }
    let Some(new_status) = request.object.as_ref().and_then(ObjectView::status_fields) else {
        // No status (or not an object): nothing to convert; schema validation judges the shape.
        return ClearancePlan::Pass;
    };
    let old_status = request
        .old_object
        .as_ref()
        .and_then(ObjectView::status_fields);
    let new_request = new_status.get(REQUEST);
    let old_request = old_status.and_then(|s| s.get(REQUEST));
    let new_clearance = new_status.get(CLEARANCE);
    let old_clearance = old_status.and_then(|s| s.get(CLEARANCE));
    let user = &request.user_info;
    let is_controller = user.username == settings.block.controller_username;

    if new_request.is_none() {
        if !is_controller && new_clearance.is_some() && old_clearance.is_none() {
            return ClearancePlan::Refuse(Refusal::new(
                ClearanceStep::Request,
                format!(
                    "{DENIED}: status.blockClearance is stamped by the admission webhook and cannot be written directly; \
                     request a clearance with status.blockClearanceRequest.clearReason instead"
                ),
            ));
        }
        return ClearancePlan::Pass;
    }
    // The controller rewriting status that still carries an old request is not a new request.
    if is_controller && same(new_request, old_request) {
        return ClearancePlan::Pass;
    }
    if new_clearance.is_some() && !same(new_clearance, old_clearance) {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Request,
            format!(
                "{DENIED}: status.blockClearance cannot be written together with status.blockClearanceRequest; \
                 send only status.blockClearanceRequest.clearReason and the webhook stamps the clearance"
            ),
        ));
    }
    plan_authorization(request, settings)
}

/// Steps 1 and 2 before any I/O: who is asking, the group restriction, and the question for
/// the authorizer.
fn plan_authorization<'r>(
    request: &'r ReviewRequest<'_>,
    settings: &Settings,
) -> ClearancePlan<'r> {
    let user = &request.user_info;
    if let Err(r) = block::may_clear(user, &settings.block) {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Identity,
            format!("{DENIED}: {r}"),
        ));
    }
    let policy = &settings.block.clearance;
    if !policy.admits_groups(user) {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Authorization,
            format!(
                "{DENIED}: user {:?} is not in any group allowed to clear blocks ({}); ask an administrator for membership",
                user.username,
                policy.allowed_groups.join(", ")
            ),
        ));
    }
    if policy.require_subject_access_review {
        ClearancePlan::Authorize(AuthorizationRequest {
            user,
            namespace: request.namespace.as_deref().unwrap_or_default(),
            name: &request.name,
        })
    } else {
        ClearancePlan::Decide
    }
}

/// All steps: plans, then concludes with `authorization`, the authorizer's answer to the plan's
/// question (`None` when none was asked; if one was needed that is a refusal, never an allow).
pub fn decide_clearance<'r>(
    request: &'r ReviewRequest<'_>,
    settings: &Settings,
    authorization: Option<&Authorization>,
    now: jiff::Timestamp,
) -> ClearanceOutcome<'r> {
    let plan = plan_clearance(request, settings);
    conclude_clearance(request, settings, plan, authorization, now)
}

/// Steps 2 (the authorizer's answer) to 5 for a request already planned by [`plan_clearance`].
pub fn conclude_clearance<'r>(
    request: &'r ReviewRequest<'_>,
    settings: &Settings,
    plan: ClearancePlan<'_>,
    authorization: Option<&Authorization>,
    now: jiff::Timestamp,
) -> ClearanceOutcome<'r> {
    match plan {
        ClearancePlan::Pass => return ClearanceOutcome::Pass,
        ClearancePlan::Refuse(r) => return ClearanceOutcome::Refused(r),
        ClearancePlan::Decide => {}
        ClearancePlan::Authorize(question) => {
            if let Err(r) = check_authorization(&question, authorization) {
                return ClearanceOutcome::Refused(r);
            }
        }
    }
    let failed_at = match check_block_state(request, settings) {
        Ok(failed_at) => failed_at,
        Err(r) => return ClearanceOutcome::Refused(r),
    };
    let new_request = request
        .object
        .as_ref()
        .and_then(ObjectView::status_fields)
        .and_then(|s| s.get(REQUEST));
    let reason = match read_reason(new_request) {
        Ok(reason) => reason,
        Err(r) => return ClearanceOutcome::Refused(r),
    };
    if let Err(r) = check_reason(&reason, settings) {
        return ClearanceOutcome::Refused(r);
    }
    stamp::stamp(request, reason, failed_at, now)
}

fn check_authorization(
    question: &AuthorizationRequest<'_>,
    answer: Option<&Authorization>,
) -> Result<(), Refusal> {
    let user = &question.user.username;
    let ns = &question.namespace;
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::Authorization, m));
    match answer {
        Some(Authorization::Allowed { .. }) => Ok(()),
        Some(Authorization::Denied { reason }) => refuse(format!(
            "{DENIED}: user {user:?} is not authorized to update workflowexecutions/blockclearance (kubernaut.ai) in namespace {ns}{}; \
             ask an administrator to bind a role such as workflowexecution-block-clearer",
            reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        Some(Authorization::Failed { error }) => refuse(format!(
            "{DENIED}: could not verify that user {user:?} may clear blocks in namespace {ns} ({error}); retry later"
        )),
        None => refuse(format!(
            "{DENIED}: authorization of user {user:?} was not checked; retry later"
        )),
    }
}

/// Step 3, on the stored object. Returns the failure time the clearance is bound to.
fn check_block_state(
    request: &ReviewRequest<'_>,
    settings: &Settings,
) -> Result<Option<Time>, Refusal> {
    // Only a refusal names the object; a granted clearance does not pay for the text.
    let wfe = || request.object_ref();
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::BlockState, m));
    let Some(old_status) = request.old_object.as_ref().and_then(ObjectView::status) else {
        return refuse(format!(
            "{DENIED}: WorkflowExecution {} is not blocking its target (it has no status yet); only a Failed WorkflowExecution that blocks its target can be cleared",
            wfe()
        ));
    };
    let stored: StoredBlockStatus = match decode_shallow(old_status) {
        Ok(f) => f,
        Err(e) => {
            return refuse(format!(
                "{DENIED}: the stored status of WorkflowExecution {} cannot be read at status.{}: {}",
                wfe(),
                e.path,
                e.message
            ));
        }
    };
    match stored.facts().clearable(&settings.block) {
        Ok(failed_at) => Ok(failed_at.cloned()),
        Err(not) => refuse(format!("{DENIED}: {}", not.message(&wfe()))),
    }
}

fn read_reason(block_request: Option<Raw<'_>>) -> Result<Cow<'_, str>, Refusal> {
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::Request, m));
    let Some(Ok(Shallow::Object(fields))) = block_request.map(Shallow::parse) else {
        return refuse(format!(
            "{DENIED}: status.blockClearanceRequest must be an object with a clearReason string, e.g. {{\"clearReason\":\"...\"}}"
        ));
    };
    match fields.get("clearReason").map(string_of) {
        None => Ok(Cow::Borrowed("")),
        Some(Ok(reason)) => Ok(reason),
        Some(Err(_)) => refuse(format!(
            "{DENIED}: status.blockClearanceRequest.clearReason must be a string"
        )),
    }
}

/// Step 4: the reason rules of `wfe_api::block`, as a refusal.
pub fn check_reason(reason: &str, settings: &Settings) -> Result<(), Refusal> {
    block::check_reason(reason, &settings.block.clearance)
        .map_err(|p| Refusal::new(ClearanceStep::Reason, format!("{DENIED}: {p}")))
}
