//! Step 5: the clearance record the webhook stamps, as a minimal JSON patch (never the whole
//! object re-serialised) and as audit annotations.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use wfe_api::BlockClearance;
use wfe_api::block;

use super::ClearanceOutcome;
use crate::review::ReviewRequest;

/// JSON pointer of `status.blockClearance`.
const CLEARANCE_PATH: &str = "/status/blockClearance";
/// JSON pointer of `status.blockClearanceRequest`.
const REQUEST_PATH: &str = "/status/blockClearanceRequest";

/// Stamps the requester's clearance bound to `failed_at`.
pub(super) fn stamp(
    request: &ReviewRequest<'_>,
    reason: String,
    failed_at: Option<Time>,
    now: jiff::Timestamp,
) -> ClearanceOutcome {
    let record = block::stamp_clearance(&request.user_info, reason, now, failed_at, &request.uid);
    ClearanceOutcome::Cleared {
        record: Box::new(record),
    }
}

/// The minimal JSON patch a granted clearance answers with: add `status.blockClearance` (the
/// record), remove `status.blockClearanceRequest`. Serialised straight from the record, never
/// through a `serde_json::Value` or the whole object.
#[derive(Debug, Clone, Copy)]
pub struct ClearancePatch<'a>(pub &'a BlockClearance);

impl ClearancePatch<'_> {
    /// The patch as JSON, written into a buffer sized for it up front (growing one from
    /// serde_json's default would copy it three times).
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        let record = self.0;
        // Member names, pointers and timestamps take under 400 bytes; the strings vary.
        let strings = record.cleared_by.len()
            + record.cleared_by_uid.as_ref().map_or(0, String::len)
            + record
                .cleared_by_groups
                .iter()
                .map(|g| g.len() + 3)
                .sum::<usize>()
            + record.clear_reason.len()
            + record.clear_method.len()
            + record.admission_request_uid.len();
        let mut out = Vec::with_capacity(400 + strings + strings / 8);
        serde_json::to_writer(&mut out, self)?;
        Ok(out)
    }
}

impl Serialize for ClearancePatch<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Operation<'a> {
            op: &'static str,
            path: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            value: Option<&'a BlockClearance>,
        }
        [
            Operation {
                op: "add",
                path: CLEARANCE_PATH,
                value: Some(self.0),
            },
            Operation {
                op: "remove",
                path: REQUEST_PATH,
                value: None,
            },
        ]
        .serialize(serializer)
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
            wfe_api::timestamp::micro(&record.cleared_at),
        ),
    ]);
    if let Some(uid) = &record.cleared_by_uid {
        out.insert("cleared-by-uid".to_owned(), uid.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{CLEARANCE, REQUEST};
    use super::*;

    #[test]
    fn the_patch_paths_are_the_status_members_as_json_pointers() {
        use json_patch::jsonptr::PointerBuf;
        assert_eq!(
            CLEARANCE_PATH,
            PointerBuf::from_tokens(["status", CLEARANCE]).as_str()
        );
        assert_eq!(
            REQUEST_PATH,
            PointerBuf::from_tokens(["status", REQUEST]).as_str()
        );
    }
}
