//! Who may clear a block at all (step 1 of DESIGN §5).

use super::*;

/// Why an identity may not clear a block (step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityRefusal {
    /// Anonymous or unauthenticated.
    Anonymous,
    /// The controller's own identity.
    Controller(String),
    /// The workflow runner's identity.
    Runner(String),
    /// A service account that is not allow-listed.
    ServiceAccount(String),
}

impl fmt::Display for IdentityRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityRefusal::Anonymous => f.write_str(
                "anonymous or unauthenticated requests cannot clear blocks; authenticate as a user allowed to update workflowexecutions/blockclearance",
            ),
            IdentityRefusal::Controller(u) => write!(
                f,
                "the controller's identity ({u}) cannot clear blocks; a human operator must request the clearance"
            ),
            IdentityRefusal::Runner(u) => write!(
                f,
                "the workflow runner service account ({u}) cannot clear blocks; a human operator must request the clearance"
            ),
            IdentityRefusal::ServiceAccount(u) => write!(
                f,
                "service account {u} is not allowed to clear blocks; clear as a human user, or ask an administrator to add it to clearance.allowServiceAccounts"
            ),
        }
    }
}

/// Step 1: whether `user` is an identity that may clear blocks at all.
pub fn may_clear(user: &UserInfo, policy: &BlockPolicy) -> Result<(), IdentityRefusal> {
    never_clears(user, policy)?;
    if user.is_service_account()
        && !policy
            .clearance
            .allow_service_accounts
            .contains(&user.username)
    {
        return Err(IdentityRefusal::ServiceAccount(user.username.clone()));
    }
    Ok(())
}

/// The identities that may never clear, whatever the configuration allows: anonymous, the
/// controller, the runner.
pub fn never_clears(user: &UserInfo, policy: &BlockPolicy) -> Result<(), IdentityRefusal> {
    if user.is_anonymous() {
        return Err(IdentityRefusal::Anonymous);
    }
    if user.username == policy.controller_username {
        return Err(IdentityRefusal::Controller(user.username.clone()));
    }
    if user.username == policy.runner_username {
        return Err(IdentityRefusal::Runner(user.username.clone()));
    }
    Ok(())
}

/// The clearer a record names, as far as the record tells.
pub(super) fn record_clearer(record: &BlockClearance) -> UserInfo {
    UserInfo {
        username: record.cleared_by.clone(),
        uid: record.cleared_by_uid.clone(),
        groups: record.cleared_by_groups.clone(),
        ..UserInfo::default()
    }
}
