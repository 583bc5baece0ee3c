//! Why a clearance is refused: the rule (DESIGN §5 step) and the message for the user.

/// Prefix of every refusal message.
pub(crate) const DENIED: &str = "block clearance denied";

pub use wfe_api::block::ClearanceStep;

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
