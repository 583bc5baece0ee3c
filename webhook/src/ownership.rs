//! `/validate-workflowexecution-status`: the controller owns status; anyone else may only add
//! the webhook-stamped `blockClearance` carrying their own identity (DESIGN §5, write-once).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::admission::Operation;
use serde_json::Value;
use wfe_api::BlockClearance;
use wfe_api::block::{self, BlockPolicy};

use crate::identity::UserInfo;
use crate::review::{ReviewRequest, Verdict};
use crate::settings::Settings;

/// Most field paths listed in one message.
const MAX_LISTED: usize = 20;

/// Decides a status write.
pub fn review_status_ownership(request: &ReviewRequest, settings: &Settings) -> Verdict {
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

/// Every disallowed difference between the old and new status, as `path: problem`.
pub fn status_problems(
    old: Option<&Value>,
    new: &Value,
    user: &UserInfo,
    policy: &BlockPolicy,
) -> Vec<String> {
    let old_status = old.and_then(|o| present(o.get("status")));
    let new_status = present(new.get("status"));
    let (old_map, new_map) = match (old_status, new_status) {
        (None | Some(Value::Object(_)), None | Some(Value::Object(_))) => (
            old_status
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            new_status
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        ),
        _ if old_status == new_status => return Vec::new(),
        _ => return vec!["status: only the controller may change it".to_owned()],
    };
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
    let old_clearance = present(old_map.get("blockClearance"));
    let new_clearance = present(new_map.get("blockClearance"));
    let adding_clearance = old_clearance.is_none() && new_clearance.is_some();
    for key in keys {
        let (o, n) = (present(old_map.get(key)), present(new_map.get(key)));
        match key.as_str() {
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
                    out.extend(added_clearance_problems(added, user, old_status, policy))
                }
                (Some(_), None) => out
                    .push("status.blockClearance: is write-once and cannot be removed".to_owned()),
                (Some(before), Some(after)) if before != after => {
                    let mut paths = Vec::new();
                    diff_paths(
                        Some(before),
                        Some(after),
                        "status.blockClearance",
                        &mut paths,
                    );
                    out.extend(paths.into_iter().map(|p| {
                        format!("{p}: status.blockClearance is write-once and cannot be changed")
                    }));
                }
                _ => {}
            },
            _ => {
                let mut paths = Vec::new();
                diff_paths(o, n, &format!("status.{key}"), &mut paths);
                out.extend(
                    paths
                        .into_iter()
                        .map(|p| format!("{p}: only the controller may change it")),
                );
            }
        }
    }
    out
}

fn added_clearance_problems(
    added: &Value,
    user: &UserInfo,
    old_status: Option<&Value>,
    policy: &BlockPolicy,
) -> Vec<String> {
    let record: BlockClearance = match serde_path_to_error::deserialize(added) {
        Ok(r) => r,
        Err(e) => {
            // Still name a forged identity when the record is too malformed to read whole.
            let mut out: Vec<String> =
                block::clearer_problem(added.get("clearedBy").and_then(Value::as_str), user)
                    .map(|p| p.message())
                    .into_iter()
                    .collect();
            let path = e.path().to_string();
            let field = if path == "." {
                "status.blockClearance".to_owned()
            } else {
                format!("status.blockClearance.{path}")
            };
            out.push(format!(
                "{field}: {}; clearances are stamped by the webhook, not written by hand",
                e.into_inner()
            ));
            return out;
        }
    };
    let failed_at: Option<Time> = old_status
        .and_then(|s| s.get("failureDetails"))
        .and_then(|f| present(f.get("failedAt")))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    block::added_clearance_problems(&record, user, failed_at.as_ref(), policy)
        .iter()
        .map(|p| p.message())
        .collect()
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
    use crate::clearance::{ClearanceOutcome, decide_clearance};
    use crate::test_fixtures::{ALICE_05, old_status, review};
    use serde_json::json;

    /// 05 as the validating webhook sees it after the mutating webhook's patch.
    fn mutated_05() -> ReviewRequest {
        let mut req = review("05-alice-status-clearance-request-validate-status.json");
        let mutate = review(ALICE_05);
        let now = "2026-11-22T02:12:00.5Z".parse().expect("ts");
        let ClearanceOutcome::Cleared { patch, .. } = decide_clearance(
            &mutate,
            &Settings::default(),
            Some(&Authorization::Allowed { reason: None }),
            now,
        ) else {
            panic!("alice must be cleared");
        };
        json_patch::patch(req.object.as_mut().expect("object"), &patch).expect("patch applies");
        req
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
        let record = stamped.object.as_ref().expect("object")["status"]["blockClearance"].clone();
        let with_stored = |edit: &dyn Fn(&mut Value)| {
            let mut req = review("05-alice-status-clearance-request-validate-status.json");
            old_status(&mut req).insert("blockClearance".into(), record.clone());
            let status = req.object.as_mut().expect("object")["status"]
                .as_object_mut()
                .expect("status");
            status.remove("blockClearanceRequest");
            status.insert("blockClearance".into(), record.clone());
            edit(&mut req.object.as_mut().expect("object")["status"]);
            req
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
            let mut req = mutated_05();
            req.object.as_mut().expect("object")["status"]["blockClearance"][field] = value;
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
