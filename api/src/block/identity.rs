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
    never_clears(&user.username, &user.groups, policy)?;
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
/// Takes the name and groups by reference: the controller asks this of every stored record on a
/// target at every reconcile.
pub fn never_clears(
    username: &str,
    groups: &[String],
    policy: &BlockPolicy,
) -> Result<(), IdentityRefusal> {
    if crate::identity::is_anonymous(username, groups) {
        return Err(IdentityRefusal::Anonymous);
    }
    if username == policy.controller_username {
        return Err(IdentityRefusal::Controller(username.to_owned()));
    }
    if username == policy.runner_username {
        return Err(IdentityRefusal::Runner(username.to_owned()));
    }
    Ok(())
}
