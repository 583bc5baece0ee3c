//! `/validate-workflowexecution-status`: the controller owns status; anyone else may only add
//! the webhook-stamped `blockClearance` carrying their own identity (DESIGN §5, write-once).

use std::collections::BTreeSet;

use crate::scan::Raw;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::admission::Operation;
use serde_json::Value;
use wfe_api::BlockClearance;
use wfe_api::block::{self, BlockPolicy};

use crate::decode::decode;
use crate::json_view::{Fields, Shallow, same, value_of};
use crate::review::{ObjectView, ReviewRequest, Verdict};
use crate::settings::Settings;
use wfe_api::identity::UserInfo;

/// Most field paths listed in one message.
const MAX_LISTED: usize = 20;

/// Decides a status write.
pub fn review_status_ownership(request: &ReviewRequest<'_>, settings: &Settings) -> Verdict {
    if request.operation != Operation::Update || !request.is_status() {
        return Verdict::allow();
    }
    if let Err(denied) = request.check_kind() {
        return denied;
    }
    if request.user_info.username == settings.block.controller_username {
        return Verdict::allow();
    }
    let Some(new) = request.object.as_ref() else {
        return Verdict::bad_request("status UPDATE review carries no object");
    };
    let problems = status_problems(
        request.old_object.as_ref(),
        new,
        &request.user_info,
        &settings.block,
    );
    if problems.is_empty() {
        return Verdict::allow();
    }
    let shown: Vec<&str> = problems
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect();
    let more = problems.len().saturating_sub(MAX_LISTED);
    Verdict::forbid(format!(
        "status update denied for {:?}: {}{}. Status is written only by the workflowexecution controller; \
         operators may only request a clearance with status.blockClearanceRequest.clearReason",
        request.user_info.username,
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Every disallowed difference between the old and new status, as `path: problem`. Members
/// whose bytes are equal are skipped unparsed; only changed ones are parsed and diffed.
pub fn status_problems(
    old: Option<&ObjectView<'_>>,
    new: &ObjectView<'_>,
    user: &UserInfo,
    policy: &BlockPolicy,
) -> Vec<String> {
    let old_status = old.and_then(ObjectView::status);
    let new_status = new.status();
    let empty = Fields::default();
    let (old_map, new_map) = match (old_status, new_status) {
        (None | Some(Shallow::Object(_)), None | Some(Shallow::Object(_))) => (
            old_status.and_then(Shallow::fields).unwrap_or(&empty),
            new_status.and_then(Shallow::fields).unwrap_or(&empty),
        ),
        (Some(Shallow::Other(a)), Some(Shallow::Other(b))) if a == b => return Vec::new(),
        _ => return vec!["status: only the controller may change it".to_owned()],
    };
    let mut out = Vec::new();
    let keys: BTreeSet<&str> = old_map
        .iter()
        .chain(new_map.iter())
        .map(|(k, _)| k)
        .collect();
    let adding_clearance =
        old_map.get("blockClearance").is_none() && new_map.get("blockClearance").is_some();
    for key in keys {
        let (o, n) = (old_map.get(key), new_map.get(key));
        match key {
            "blockClearanceRequest" => {
                if n.is_some() {
                    out.push(
                        "status.blockClearanceRequest: still present, so the mutating webhook /mutate-workflowexecution-status did not convert it \
                         (check the MutatingWebhookConfiguration workflowexecution-status-mutating)"
                            .to_owned(),
                    );
                } else if o.is_some() && !adding_clearance {
                    out.push(
                        "status.blockClearanceRequest: only the controller may remove it"
                            .to_owned(),
                    );
                }
            }
            "blockClearance" => match (o, n) {
                (None, Some(added)) => {
                    out.extend(added_clearance_problems(added, user, old_map, policy))
                }
                (Some(_), None) => out
                    .push("status.blockClearance: is write-once and cannot be removed".to_owned()),
                (Some(_), Some(_)) => {
                    out.extend(changed_paths(o, n, "status.blockClearance").map(|p| {
                        format!("{p}: status.blockClearance is write-once and cannot be changed")
                    }));
                }
                (None, None) => {}
            },
            _ => out.extend(
                changed_paths(o, n, &format!("status.{key}"))
                    .map(|p| format!("{p}: only the controller may change it")),
            ),
        }
    }
    out
}

fn added_clearance_problems(
    added: Raw<'_>,
    user: &UserInfo,
    old_status: &Fields<'_>,
    policy: &BlockPolicy,
) -> Vec<String> {
    let record: BlockClearance = match decode(added) {
        Ok(r) => r,
        Err(e) => {
            // Still name a forged identity when the record is too malformed to read whole.
            let cleared_by = member::<String>(Some(added), "clearedBy");
            let mut out: Vec<String> = block::clearer_problem(cleared_by.as_deref(), user)
                .map(|p| p.message())
                .into_iter()
                .collect();
            let field = if e.path == "." {
                "status.blockClearance".to_owned()
            } else {
                format!("status.blockClearance.{}", e.path)
            };
            out.push(format!(
                "{field}: {}; clearances are stamped by the webhook, not written by hand",
                e.message
            ));
            return out;
        }
    };
    let failed_at: Option<Time> = member(old_status.get("failureDetails"), "failedAt");
    block::added_clearance_problems(&record, user, failed_at.as_ref(), policy)
        .iter()
        .map(|p| p.message())
        .collect()
}

/// Member `key` of `object` decoded as `T`, if `object` is an object and it decodes.
fn member<T: serde::de::DeserializeOwned>(object: Option<Raw<'_>>, key: &str) -> Option<T> {
    let Ok(Shallow::Object(fields)) = Shallow::parse(object?) else {
        return None;
    };
    serde_json::from_str(fields.get(key)?.get()).ok()
}

/// Leaf paths under `path` where two present values differ. Equal bytes are never parsed; a
/// value too deeply nested to parse is reported as changed as a whole (fails closed).
fn changed_paths(
    old: Option<Raw<'_>>,
    new: Option<Raw<'_>>,
    path: &str,
) -> impl Iterator<Item = String> {
    let mut out = Vec::new();
    if !same(old, new) {
        let parse = |v: Option<Raw<'_>>| v.map(value_of).transpose();
        match (parse(old), parse(new)) {
            (Ok(o), Ok(n)) => diff_paths(o.as_ref(), n.as_ref(), path, &mut out),
            _ => out.push(path.to_owned()),
        }
    }
    out.into_iter()
}

/// Leaf paths where `old` and `new` differ (objects are descended into, arrays are leaves).
fn diff_paths(old: Option<&Value>, new: Option<&Value>, path: &str, out: &mut Vec<String>) {
    let (old, new) = (present(old), present(new));
    if old == new {
        return;
    }
    if let (Some(Value::Object(o)), Some(Value::Object(n))) = (old, new) {
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            diff_paths(o.get(k), n.get(k), &format!("{path}.{k}"), out);
        }
    } else {
        out.push(path.to_owned());
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizer::Authorization;
    use crate::clearance::{ClearanceOutcome, ClearancePatch, decide_clearance};
    use crate::test_fixtures::{ALICE_05, edited, new_status, old_status, review};
    use serde_json::json;

    const VALIDATE_05: &str = "05-alice-status-clearance-request-validate-status.json";

    /// 05 as the validating webhook sees it after the mutating webhook's patch.
    fn mutated_05() -> ReviewRequest<'static> {
        mutated_05_then(|_| {})
    }

    /// [`mutated_05`] with `edit` applied to its new status.
    fn mutated_05_then(edit: impl FnOnce(&mut Value)) -> ReviewRequest<'static> {
        let mutate = review(ALICE_05);
        let now = "2026-11-22T02:12:00.5Z".parse().expect("ts");
        let ClearanceOutcome::Cleared(record) = decide_clearance(
            &mutate,
            &Settings::default(),
            Some(&Authorization::Allowed { reason: None }),
            now,
        ) else {
            panic!("alice must be cleared");
        };
        edited(VALIDATE_05, |r| {
            let patch: json_patch::Patch = serde_json::from_value(
                serde_json::from_slice::<serde_json::Value>(&ClearancePatch(&record).encode())
                    .expect("json"),
            )
            .expect("a JSON patch");
            json_patch::patch(&mut r["object"], &patch).expect("patch applies");
            edit(&mut r["object"]["status"]);
        })
    }

    fn denied(verdict: Verdict) -> String {
        assert!(!verdict.is_allowed(), "expected a denial");
        verdict.message().unwrap_or_default().to_owned()
    }

    #[test]
    fn stamped_clearance_by_the_requester_is_the_one_allowed_change() {
        let settings = Settings::default();
        assert!(review_status_ownership(&mutated_05(), &settings).is_allowed());
        // Same write by someone else: the record names alice, not bob.
        let mut bob = mutated_05();
        bob.user_info.username = "bob".into();
        let m = denied(review_status_ownership(&bob, &settings));
        assert!(
            m.contains(
                "status.blockClearance.clearedBy: is \"alice\" but the request was made by \"bob\""
            ),
            "{m}"
        );
    }

    #[test]
    fn leftover_request_means_the_mutating_webhook_did_not_run() {
        let m = denied(review_status_ownership(
            &review("05-alice-status-clearance-request-validate-status.json"),
            &Settings::default(),
        ));
        assert!(
            m.contains("status.blockClearanceRequest: still present"),
            "{m}"
        );
    }

    #[test]
    fn forged_clearance_and_phase_change_are_denied_with_paths() {
        let settings = Settings::default();
        let m = denied(review_status_ownership(
            &review("10-alice-status-forged-clearance-validate-status.json"),
            &settings,
        ));
        assert!(m.contains("status.blockClearance.clearedBy: is \"someone-else\" but the request was made by \"alice\""), "{m}");
        assert!(m.contains("missing field `clearedAt`"), "{m}");
        let m = denied(review_status_ownership(
            &review("11-alice-status-jsonpatch-phase-running-validate-status.json"),
            &settings,
        ));
        assert!(m.starts_with("status update denied for \"alice\": status.phase: only the controller may change it"), "{m}");
    }

    #[test]
    fn controller_writes_pass_and_the_same_write_by_alice_lists_every_field() {
        let settings = Settings::default();
        for f in [
            "04-controller-status-failed-validate-status.json",
            "14-controller-status-reset-removes-clearance-request-validate-status.json",
        ] {
            assert!(
                review_status_ownership(&review(f), &settings).is_allowed(),
                "{f}"
            );
        }
        let mut alice = review("04-controller-status-failed-validate-status.json");
        alice.user_info.username = "alice".into();
        let m = denied(review_status_ownership(&alice, &settings));
        for path in [
            "status.phase",
            "status.failureDetails",
            "status.conditions",
            "status.pipelineRunRef",
            "status.startTime",
        ] {
            assert!(
                m.contains(&format!("{path}: only the controller"))
                    || m.contains(&format!("{path}.")),
                "{path} missing in {m}"
            );
        }
    }

    #[test]
    fn clearance_is_write_once() {
        let settings = Settings::default();
        let stamped = mutated_05();
        let record = stamped
            .object
            .as_ref()
            .expect("object")
            .to_value()
            .expect("json")["status"]["blockClearance"]
            .clone();
        let with_stored = |edit: &dyn Fn(&mut Value)| {
            edited(VALIDATE_05, |r| {
                old_status(r).insert("blockClearance".into(), record.clone());
                let status = new_status(r);
                status.remove("blockClearanceRequest");
                status.insert("blockClearance".into(), record.clone());
                edit(&mut r["object"]["status"]);
            })
        };
        assert!(review_status_ownership(&with_stored(&|_| {}), &settings).is_allowed());
        let m = denied(review_status_ownership(
            &with_stored(&|s| s["blockClearance"]["clearReason"] = json!("other")),
            &settings,
        ));
        assert!(
            m.contains("status.blockClearance.clearReason: status.blockClearance is write-once"),
            "{m}"
        );
        let m = denied(review_status_ownership(
            &with_stored(&|s| {
                s.as_object_mut().expect("status").remove("blockClearance");
            }),
            &settings,
        ));
        assert!(
            m.contains("status.blockClearance: is write-once and cannot be removed"),
            "{m}"
        );
        let m = denied(review_status_ownership(
            &with_stored(&|s| s["blockClearance"] = Value::Null),
            &settings,
        ));
        assert!(m.contains("cannot be removed"), "{m}");
    }

    #[test]
    fn a_hand_written_record_must_match_identity_method_and_failure() {
        let settings = Settings::default();
        for (field, value, needle) in [
            (
                "clearedByUID",
                json!("uid-bob"),
                "clearedByUID: does not match",
            ),
            (
                "clearedByGroups",
                json!(["system:masters"]),
                "clearedByGroups: does not match",
            ),
            (
                "clearMethod",
                json!("Manual"),
                "clearMethod: must be KubernetesAdmissionWebhook",
            ),
            (
                "clearedFailureAt",
                json!("2026-01-01T00:00:00Z"),
                "clearedFailureAt: does not match",
            ),
            ("clearedAt", json!(7), "status.blockClearance.clearedAt"),
        ] {
            let req = mutated_05_then(|s| s["blockClearance"][field] = value);
            let m = denied(review_status_ownership(&req, &settings));
            assert!(m.contains(needle), "{field}: {m}");
        }
    }

    #[test]
    fn unchanged_status_and_other_webhook_shapes_pass() {
        let settings = Settings::default();
        let mut same = review("05-alice-status-clearance-request-validate-status.json");
        same.object = same.old_object.clone();
        assert!(review_status_ownership(&same, &settings).is_allowed());
        // Main-resource reviews are not status writes.
        assert!(
            review_status_ownership(
                &review("13-alice-patch-spec-targetresource.json"),
                &settings
            )
            .is_allowed()
        );
        let mut other = review("11-alice-status-jsonpatch-phase-running-validate-status.json");
        other.kind.group = "apps".into();
        other.kind.kind = "Deployment".into();
        assert!(
            denied(review_status_ownership(&other, &settings))
                .contains("only reviews kubernaut.ai WorkflowExecutions")
        );
    }
}
