//! Step 5: the clearance record the webhook stamps, as a minimal JSON patch (never the whole
//! object re-serialised) and as audit annotations.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wfe_api::BlockClearance;
use wfe_api::block;

use super::refusal::{ClearanceStep, DENIED, Refusal};
use super::{CLEARANCE, ClearanceOutcome, REQUEST};
use crate::review::ReviewRequest;

/// Stamps the requester's clearance bound to `failed_at`: add `status.blockClearance`, remove
/// `status.blockClearanceRequest`.
pub(super) fn stamp(
    request: &ReviewRequest<'_>,
    reason: String,
    failed_at: Option<Time>,
    now: jiff::Timestamp,
) -> ClearanceOutcome {
    let record = block::stamp_clearance(&request.user_info, reason, now, failed_at, &request.uid);
    let value = match serde_json::to_value(&record) {
        Ok(v) => v,
        Err(e) => {
            return ClearanceOutcome::Refused(Refusal::new(
                ClearanceStep::Request,
                format!(
                    "{DENIED}: internal error encoding the clearance record ({e}); retry later"
                ),
            ));
        }
    };
    let patch = Patch(vec![
        PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["status", CLEARANCE]),
            value,
        }),
        PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::from_tokens(["status", REQUEST]),
        }),
    ]);
    ClearanceOutcome::Cleared {
        patch,
        record: Box::new(record),
    }
}

/// Audit annotations for a granted clearance (the API server prefixes them with the webhook name).
pub fn grant_annotations(record: &BlockClearance) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("cleared-by".to_owned(), record.cleared_by.clone()),
        (
            "cleared-by-groups".to_owned(),
            record.cleared_by_groups.join(","),
        ),
        (
            "cleared-at".to_owned(),
            block::format_micro(&record.cleared_at),
        ),
    ]);
    if let Some(uid) = &record.cleared_by_uid {
        out.insert("cleared-by-uid".to_owned(), uid.clone());
    }
    out
}
