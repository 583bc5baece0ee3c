//! Why a clearance is refused: the rule (DESIGN §5 step) and the message for the user.

use serde::Serialize;

/// Prefix of every refusal message.
pub(crate) const DENIED: &str = "block clearance denied";

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

/// A refused clearance: the rule and the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that refused it.
    pub step: ClearanceStep,
    /// Stable message: what is wrong and what to do.
    pub message: String,
}

impl Refusal {
    /// A refusal by `step`.
    pub(crate) fn new(step: ClearanceStep, message: impl Into<String>) -> Self {
        Refusal {
            step,
            message: message.into(),
        }
    }
}
