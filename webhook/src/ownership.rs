//! `/validate-workflowexecution-status`: the controller owns status; anyone else may only add
//! the webhook-stamped `blockClearance` carrying their own identity (DESIGN §5, write-once).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::admission::Operation;
use serde_json::Value;
use wfe_api::BlockClearance;

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
    if request.user_info.username == settings.controller_username {
        return Verdict::allow();
    }
    let Some(new) = request.object.as_ref() else {
        return Verdict::bad_request("status UPDATE review carries no object");
    };
    let problems = status_problems(request.old_object.as_ref(), new, &request.user_info);
    if problems.is_empty() {
        return Verdict::allow();
    }
    let shown: Vec<&str> = problems.iter().take(MAX_LISTED).map(String::as_str).collect();
    let more = problems.len().saturating_sub(MAX_LISTED);
    Verdict::forbid(format!(
        "status update denied for {:?}: {}{}; status is written only by the workflowexecution controller, \
         operators may only request a clearance with status.blockClearanceRequest.clearReason",
        request.user_info.username,
        shown.join("; "),
        if more > 0 { format!("; and {more} more") } else { String::new() }
    ))
}

/// Every disallowed difference between the old and new status, as `path: problem`.
pub fn status_problems(old: Option<&Value>, new: &Value, user: &UserInfo) -> Vec<String> {
    let old_status = old.and_then(|o| present(o.get("status")));
    let new_status = present(new.get("status"));
    let (old_map, new_map) = match (old_status, new_status) {
        (None | Some(Value::Object(_)), None | Some(Value::Object(_))) => (
            old_status.and_then(Value::as_object).cloned().unwrap_or_default(),
            new_status.and_then(Value::as_object).cloned().unwrap_or_default(),
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
                    out.push("status.blockClearanceRequest: only the controller may remove it".to_owned());
                }
            }
            "blockClearance" => match (o, n) {
                (None, Some(added)) => out.extend(added_clearance_problems(added, user, old_status)),
                (Some(_), None) => out.push("status.blockClearance: is write-once and cannot be removed".to_owned()),
                (Some(before), Some(after)) if before != after => {
                    let mut paths = Vec::new();
                    diff_paths(Some(before), Some(after), "status.blockClearance", &mut paths);
                    out.extend(paths.into_iter().map(|p| format!("{p}: status.blockClearance is write-once and cannot be changed")));
                }
                _ => {}
            },
            _ => {
                let mut paths = Vec::new();
                diff_paths(o, n, &format!("status.{key}"), &mut paths);
                out.extend(paths.into_iter().map(|p| format!("{p}: only the controller may change it")));
            }
        }
    }
    out
}

fn added_clearance_problems(added: &Value, user: &UserInfo, old_status: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    // Checked on the raw JSON first so a forged identity is named even if the record is incomplete.
    match added.get("clearedBy").and_then(Value::as_str) {
        Some(by) if by == user.username => {}
        Some(by) => out.push(format!(
            "status.blockClearance.clearedBy: is {by:?} but the request was made by {:?}; a clearance is stamped by the webhook with the authenticated identity",
            user.username
        )),
        None => out.push("status.blockClearance.clearedBy: is required and must be the requesting user".to_owned()),
    }
    let record: BlockClearance = match serde_path_to_error::deserialize(added.clone()) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." { "status.blockClearance".to_owned() } else { format!("status.blockClearance.{path}") };
            out.push(format!("{field}: {}; clearances are stamped by the webhook, not written by hand", e.into_inner()));
            return out;
        }
    };
    if record.cleared_by_uid.as_deref() != user.uid.as_deref().filter(|u| !u.is_empty()) {
        out.push("status.blockClearance.clearedByUid: does not match the requesting user's uid".to_owned());
    }
    if record.cleared_by_groups != user.groups {
        out.push("status.blockClearance.clearedByGroups: does not match the requesting user's groups".to_owned());
    }
    if record.clear_method != wfe_api::keys::CLEAR_METHOD_WEBHOOK {
        out.push(format!("status.blockClearance.clearMethod: must be {}", wfe_api::keys::CLEAR_METHOD_WEBHOOK));
    }
    let failed_at: Option<Time> = old_status
        .and_then(|s| s.get("failureDetails"))
        .and_then(|f| present(f.get("failedAt")))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    if record.cleared_failure_at != failed_at {
        out.push("status.blockClearance.clearedFailureAt: does not match the stored status.failureDetails.failedAt".to_owned());
    }
    out
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
