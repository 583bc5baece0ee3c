//! Step 5: the clearance record the webhook stamps, as a minimal JSON patch (never the whole
//! object re-serialised) and as audit annotations.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wfe_api::block::{self, ClearanceStamp};

use super::ClearanceOutcome;
use crate::json_text;
use crate::response::AuditAnnotations;
use crate::review::ReviewRequest;

/// JSON pointer of `status.blockClearance`.
const CLEARANCE_PATH: &str = "/status/blockClearance";
/// JSON pointer of `status.blockClearanceRequest`.
const REQUEST_PATH: &str = "/status/blockClearanceRequest";

/// Stamps the requester's clearance bound to `failed_at`.
pub(super) fn stamp<'r>(
    request: &'r ReviewRequest<'_>,
    reason: Cow<'r, str>,
    failed_at: Option<Time>,
    now: jiff::Timestamp,
) -> ClearanceOutcome<'r> {
    ClearanceOutcome::Cleared(block::stamp_clearance(
        &request.user_info,
        reason,
        now,
        failed_at,
        &request.uid,
    ))
}

/// The minimal JSON patch a granted clearance answers with: add `status.blockClearance` (the
/// record), remove `status.blockClearanceRequest`. Written straight from the stamp, never
/// through a `serde_json::Value` or the whole object: the text is serde_json's encoding of the
/// owned record (`BlockClearance`'s serde attributes), pinned by a test.
#[derive(Debug, Clone, Copy)]
pub struct ClearancePatch<'a>(pub &'a ClearanceStamp<'a>);

impl ClearancePatch<'_> {
    /// The patch as JSON, in a buffer sized for it up front.
    pub fn encode(&self) -> Vec<u8> {
        let r = self.0;
        // Member names, pointers and timestamps take under 400 bytes; the strings vary.
        let strings = r.cleared_by.len()
            + r.cleared_by_uid.map_or(0, str::len)
            + r.cleared_by_groups
                .iter()
                .map(|g| g.len() + 3)
                .sum::<usize>()
            + r.clear_reason.len()
            + r.clear_method.len()
            + r.admission_request_uid.len();
        let mut out = Vec::with_capacity(400 + strings + strings / 8);
        out.extend_from_slice(br#"[{"op":"add","path":""#);
        out.extend_from_slice(CLEARANCE_PATH.as_bytes());
        out.extend_from_slice(br#"","value":{"clearedBy":"#);
        json_text::string(&mut out, r.cleared_by);
        if let Some(uid) = r.cleared_by_uid {
            out.extend_from_slice(br#","clearedByUID":"#);
            json_text::string(&mut out, uid);
        }
        if !r.cleared_by_groups.is_empty() {
            out.extend_from_slice(br#","clearedByGroups":["#);
            for (i, group) in r.cleared_by_groups.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_text::string(&mut out, group);
            }
            out.push(b']');
        }
        // Timestamps are digits and punctuation: nothing to escape.
        out.extend_from_slice(br#","clearedAt":""#);
        wfe_api::timestamp::push_micro(&mut out, &r.cleared_at);
        out.extend_from_slice(br#"","clearReason":"#);
        json_text::string(&mut out, &r.clear_reason);
        out.extend_from_slice(br#","clearMethod":"#);
        json_text::string(&mut out, r.clear_method);
        out.extend_from_slice(br#","admissionRequestUID":"#);
        json_text::string(&mut out, r.admission_request_uid);
        if let Some(failed_at) = &r.cleared_failure_at {
            out.extend_from_slice(br#","clearedFailureAt":""#);
            wfe_api::timestamp::push_seconds(&mut out, failed_at);
            out.push(b'"');
        }
        out.extend_from_slice(br#"}},{"op":"remove","path":""#);
        out.extend_from_slice(REQUEST_PATH.as_bytes());
        out.extend_from_slice(br#""}]"#);
        out
    }
}

/// Audit annotations for a granted clearance (the API server prefixes them with the webhook name).
pub fn grant_annotations(stamp: &ClearanceStamp<'_>) -> AuditAnnotations {
    let uid = stamp
        .cleared_by_uid
        .map(|uid| ("cleared-by-uid", uid.to_owned()));
    AuditAnnotations::from_pairs(
        [
            ("cleared-by", stamp.cleared_by.to_owned()),
            ("cleared-by-groups", stamp.cleared_by_groups.join(",")),
            ("cleared-at", wfe_api::timestamp::micro(&stamp.cleared_at)),
        ]
        .into_iter()
        .chain(uid),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{CLEARANCE, REQUEST};
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use proptest::prelude::*;
    use serde::Serialize;
    use wfe_api::BlockClearance;

    /// serde_json's encoding of the same patch: what the API server must receive.
    fn reference(record: &BlockClearance) -> Vec<u8> {
        #[derive(Serialize)]
        struct Operation<'a> {
            op: &'static str,
            path: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            value: Option<&'a BlockClearance>,
        }
        let patch = [
            Operation {
                op: "add",
                path: CLEARANCE_PATH,
                value: Some(record),
            },
            Operation {
                op: "remove",
                path: REQUEST_PATH,
                value: None,
            },
        ];
        serde_json::to_vec(&patch).expect("encodes")
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,30}",
            any::<String>(),
            Just("quote \" backslash \\ newline \n".to_owned()),
        ]
    }

    proptest! {
        /// Whatever the record holds, the patch is serde_json's encoding of it byte for byte.
        #[test]
        fn the_patch_is_serde_jsons_encoding_of_the_record(
            cleared_by in text(),
            uid in proptest::option::of(text()),
            groups in proptest::collection::vec(text(), 0..4),
            reason in text(),
            request_uid in text(),
            cleared_at in -377_705_116_800_000_000i64..253_402_207_200_000_000,
            failed_at in proptest::option::of(0i64..253_402_207_199),
        ) {
            let stamp = ClearanceStamp {
                cleared_by: &cleared_by,
                cleared_by_uid: uid.as_deref(),
                cleared_by_groups: &groups,
                cleared_at: MicroTime(jiff::Timestamp::from_microsecond(cleared_at).expect("in range")),
                clear_reason: reason.into(),
                clear_method: wfe_api::keys::CLEAR_METHOD_WEBHOOK,
                admission_request_uid: &request_uid,
                cleared_failure_at: failed_at
                    .map(|s| Time(jiff::Timestamp::from_second(s).expect("in range"))),
            };
            let encoded = ClearancePatch(&stamp).encode();
            prop_assert_eq!(String::from_utf8(encoded).expect("utf-8"), String::from_utf8(reference(&stamp.to_record())).expect("utf-8"));
        }
    }

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
