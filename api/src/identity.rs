//! Who is asking, as the API server authenticated it (`request.userInfo`), and the names of the
//! identities the block rules treat specially.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const ANONYMOUS_USER: &str = "system:anonymous";
const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Anonymous or unauthenticated, from a username and its groups (a request's or a record's).
pub fn is_anonymous(username: &str, groups: &[String]) -> bool {
    username.is_empty()
        || username == ANONYMOUS_USER
        || groups.iter().any(|g| g == UNAUTHENTICATED_GROUP)
}

/// The username the API server gives a service account.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// `request.userInfo` of an AdmissionReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Authenticated username (empty if the authenticator gave none).
    #[serde(default)]
    pub username: String,
    /// Authenticator-assigned uid; absent for impersonated users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Groups, normally ending with `system:authenticated`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra authenticator attributes (e.g. the SA token credential id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// Anonymous or unauthenticated requests.
    pub fn is_anonymous(&self) -> bool {
        is_anonymous(&self.username, &self.groups)
    }

    /// Any service account identity.
    pub fn is_service_account(&self) -> bool {
        self.username.starts_with(SERVICE_ACCOUNT_PREFIX)
    }

    /// Membership of at least one of `groups`.
    pub fn in_any_group(&self, groups: &[String]) -> bool {
        self.groups.iter().any(|g| groups.contains(g))
    }
}
