//! The clearance record: how the webhook stamps it, and what a requester may add.

use std::borrow::Cow;

use super::*;

/// The clearance record the webhook stamps, borrowed from the request it answers (the webhook
/// writes it into its patch without copying a string); [`ClearanceStamp::to_record`] is the
/// owned `status.blockClearance` it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearanceStamp<'a> {
    /// `clearedBy`: the requester's username.
    pub cleared_by: &'a str,
    /// `clearedByUID`: the requester's uid, absent when the authenticator gives none.
    pub cleared_by_uid: Option<&'a str>,
    /// `clearedByGroups`: the requester's groups.
    pub cleared_by_groups: &'a [String],
    /// `clearedAt`: server time cut to the microseconds the field keeps.
    pub cleared_at: MicroTime,
    /// `clearReason`.
    pub clear_reason: Cow<'a, str>,
    /// `clearMethod`: always the webhook's.
    pub clear_method: &'static str,
    /// `admissionRequestUID`.
    pub admission_request_uid: &'a str,
    /// `clearedFailureAt`: the failure the clearance is bound to.
    pub cleared_failure_at: Option<Time>,
}

impl ClearanceStamp<'_> {
    /// The owned record, as `status.blockClearance` stores it.
    pub fn to_record(&self) -> BlockClearance {
        BlockClearance {
            cleared_by: self.cleared_by.to_owned(),
            cleared_by_uid: self.cleared_by_uid.map(str::to_owned),
            cleared_by_groups: self.cleared_by_groups.to_vec(),
            cleared_at: self.cleared_at.clone(),
            clear_reason: self.clear_reason.clone().into_owned(),
            clear_method: self.clear_method.to_owned(),
            admission_request_uid: self.admission_request_uid.to_owned(),
            cleared_failure_at: self.cleared_failure_at.clone(),
        }
    }
}

/// The clearance record the webhook stamps: the authenticated identity, server time cut to the
/// microseconds `clearedAt` keeps, bound to the failure it clears.
pub fn stamp_clearance<'a>(
    requester: &'a UserInfo,
    reason: Cow<'a, str>,
    now: Timestamp,
    failed_at: Option<Time>,
    admission_request_uid: &'a str,
) -> ClearanceStamp<'a> {
    let cleared_at = Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now);
    ClearanceStamp {
        cleared_by: &requester.username,
        cleared_by_uid: requester.uid.as_deref().filter(|u| !u.is_empty()),
        cleared_by_groups: &requester.groups,
        cleared_at: MicroTime(cleared_at),
        clear_reason: reason,
        clear_method: keys::CLEAR_METHOD_WEBHOOK,
        admission_request_uid,
        cleared_failure_at: failed_at,
    }
}

/// Why a newly added `blockClearance` may not be written by this requester onto this status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedClearanceProblem {
    /// `clearedBy` is missing.
    ClearerMissing,
    /// `clearedBy` names someone other than the requester.
    ClearerMismatch {
        /// What the record says.
        cleared_by: String,
        /// Who asked.
        requester: String,
    },
    /// The requester may never clear.
    Identity(IdentityRefusal),
    /// `clearedByUID` is not the requester's uid.
    Uid,
    /// `clearedByGroups` are not the requester's groups.
    Groups,
    /// `clearMethod` is not the webhook's.
    Method,
    /// `clearedFailureAt` is not the stored `failureDetails.failedAt`.
    FailureAt,
}

impl AddedClearanceProblem {
    /// The field path and explanation, as the ownership webhook reports it.
    pub fn message(&self) -> String {
        match self {
            AddedClearanceProblem::ClearerMissing => {
                "status.blockClearance.clearedBy: is required and must be the requesting user"
                    .to_owned()
            }
            AddedClearanceProblem::ClearerMismatch {
                cleared_by,
                requester,
            } => format!(
                "status.blockClearance.clearedBy: is {cleared_by:?} but the request was made by {requester:?}; a clearance is stamped by the webhook with the authenticated identity"
            ),
            AddedClearanceProblem::Identity(r) => format!("status.blockClearance.clearedBy: {r}"),
            AddedClearanceProblem::Uid => {
                "status.blockClearance.clearedByUID: does not match the requesting user's uid"
                    .to_owned()
            }
            AddedClearanceProblem::Groups => {
                "status.blockClearance.clearedByGroups: does not match the requesting user's groups"
                    .to_owned()
            }
            AddedClearanceProblem::Method => format!(
                "status.blockClearance.clearMethod: must be {}",
                keys::CLEAR_METHOD_WEBHOOK
            ),
            AddedClearanceProblem::FailureAt => "status.blockClearance.clearedFailureAt: does not match the stored status.failureDetails.failedAt".to_owned(),
        }
    }
}

/// The `clearedBy` part of [`added_clearance_problems`], usable on a record too malformed to
/// read whole, so that a forged identity is still named.
pub fn clearer_problem(
    cleared_by: Option<&str>,
    requester: &UserInfo,
) -> Option<AddedClearanceProblem> {
    match cleared_by {
        Some(by) if by == requester.username => None,
        Some(by) => Some(AddedClearanceProblem::ClearerMismatch {
            cleared_by: by.to_owned(),
            requester: requester.username.clone(),
        }),
        None => Some(AddedClearanceProblem::ClearerMissing),
    }
}

/// May `requester` add `record` to a status whose failure time is `failed_at`? Empty when yes.
/// The record must be exactly what the webhook stamps for this requester and this failure.
pub fn added_clearance_problems(
    record: &BlockClearance,
    requester: &UserInfo,
    failed_at: Option<&Time>,
    policy: &BlockPolicy,
) -> Vec<AddedClearanceProblem> {
    let mut out: Vec<AddedClearanceProblem> = clearer_problem(Some(&record.cleared_by), requester)
        .into_iter()
        .collect();
    if let Err(refusal) = may_clear(requester, policy) {
        out.push(AddedClearanceProblem::Identity(refusal));
    }
    if record.cleared_by_uid.as_deref() != requester.uid.as_deref().filter(|u| !u.is_empty()) {
        out.push(AddedClearanceProblem::Uid);
    }
    if record.cleared_by_groups != requester.groups {
        out.push(AddedClearanceProblem::Groups);
    }
    if record.clear_method != keys::CLEAR_METHOD_WEBHOOK {
        out.push(AddedClearanceProblem::Method);
    }
    if record.cleared_failure_at.as_ref() != failed_at {
        out.push(AddedClearanceProblem::FailureAt);
    }
    out
}
