//! The evidence of a refused clearance: who asked, about which WFE, which rule refused it.
//! One type for the webhook that refuses and the audit sink that records.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which clearance rule refused the request (DESIGN §5 steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClearanceStep {
    /// Step 1: who is asking.
    Identity,
    /// Step 2: RBAC / allowed groups.
    Authorization,
    /// Step 3: the WFE is not blocking or already cleared.
    BlockState,
    /// Step 4: the reason.
    Reason,
    /// The request itself is malformed or forges webhook-owned fields.
    Request,
}

/// One refused clearance, with the authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearanceDenial {
    /// `userInfo.username`.
    pub user: String,
    /// `userInfo.uid` (the requester's, never the WFE's).
    #[serde(rename = "uid", skip_serializing_if = "Option::is_none")]
    pub user_uid: Option<String>,
    /// `userInfo.groups`.
    pub groups: Vec<String>,
    /// `userInfo.extra`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// WFE namespace.
    pub namespace: String,
    /// WFE name.
    pub name: String,
    /// Admission request uid (links to the API server audit log).
    pub request_uid: String,
    /// Whether the request was a dry run.
    pub dry_run: bool,
    /// The rule that refused it.
    pub step: ClearanceStep,
    /// The message returned to the user.
    pub message: String,
    /// Server time of the decision.
    pub time: jiff::Timestamp,
}
