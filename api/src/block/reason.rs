//! What a clearance reason must look like (step 4 of DESIGN §5).

use super::*;

/// Why a clearance reason is refused (step 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonProblem {
    /// Empty or only whitespace.
    Empty {
        /// Required words.
        min_words: usize,
    },
    /// The `TargetBlocked` message's placeholder was pasted unchanged.
    Placeholder,
    /// Too few words.
    TooFewWords {
        /// Required.
        min: usize,
        /// Found.
        got: usize,
    },
    /// Too few characters after trimming.
    TooFewChars {
        /// Required.
        min: usize,
        /// Found.
        got: usize,
    },
    /// Too many characters.
    TooManyChars {
        /// Allowed.
        max: usize,
        /// Found.
        got: usize,
    },
    /// A control character other than newline and tab.
    ControlChar(char),
}

impl fmt::Display for ReasonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReasonProblem::Empty { min_words } => write!(
                f,
                "reason is empty; set status.blockClearanceRequest.clearReason to at least {min_words} words explaining why it is safe to remediate the target again"
            ),
            ReasonProblem::Placeholder => f.write_str(
                "reason still contains the placeholder from the TargetBlocked message; replace the placeholder with your own words explaining why it is safe to remediate the target again",
            ),
            ReasonProblem::TooFewWords { min, got } => {
                write!(f, "reason must have at least {min} words (got {got})")
            }
            ReasonProblem::TooFewChars { min, got } => {
                write!(f, "reason must have at least {min} characters (got {got})")
            }
            ReasonProblem::TooManyChars { max, got } => {
                write!(f, "reason must have at most {max} characters (got {got})")
            }
            ReasonProblem::ControlChar(c) => write!(
                f,
                "reason contains the control character U+{:04X}; only newline and tab are allowed",
                u32::from(*c)
            ),
        }
    }
}

/// Step 4: the reason rules, in a stable order.
pub fn check_reason(reason: &str, rules: &ClearanceRules) -> Result<(), ReasonProblem> {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Err(ReasonProblem::Empty {
            min_words: rules.min_words,
        });
    }
    if is_placeholder(trimmed) {
        return Err(ReasonProblem::Placeholder);
    }
    let words = trimmed.split_whitespace().count();
    if words < rules.min_words {
        return Err(ReasonProblem::TooFewWords {
            min: rules.min_words,
            got: words,
        });
    }
    let chars = trimmed.chars().count();
    if chars < rules.min_chars {
        return Err(ReasonProblem::TooFewChars {
            min: rules.min_chars,
            got: chars,
        });
    }
    let total = reason.chars().count();
    if total > rules.max_chars {
        return Err(ReasonProblem::TooManyChars {
            max: rules.max_chars,
            got: total,
        });
    }
    if let Some(c) = reason
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(ReasonProblem::ControlChar(c));
    }
    Ok(())
}

/// Whether `reason` still carries the placeholder (pasted alone, or with words around it), in
/// any letter case. The placeholder is ASCII, so comparing ASCII case-insensitively finds what
/// lowercasing both would, without allocating (the webhook checks every clearance reason).
pub(super) fn is_placeholder(reason: &str) -> bool {
    let inner = CLEAR_REASON_PLACEHOLDER
        .trim_start_matches('<')
        .trim_end_matches('>')
        .as_bytes();
    reason
        .as_bytes()
        .windows(inner.len())
        .any(|window| window.eq_ignore_ascii_case(inner))
}
