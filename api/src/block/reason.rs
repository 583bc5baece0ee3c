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
    let counts = ReasonCounts::of(reason, trimmed);
    if counts.words < rules.min_words {
        return Err(ReasonProblem::TooFewWords {
            min: rules.min_words,
            got: counts.words,
        });
    }
    if counts.trimmed_chars < rules.min_chars {
        return Err(ReasonProblem::TooFewChars {
            min: rules.min_chars,
            got: counts.trimmed_chars,
        });
    }
    if counts.chars > rules.max_chars {
        return Err(ReasonProblem::TooManyChars {
            max: rules.max_chars,
            got: counts.chars,
        });
    }
    if let Some(c) = counts.control {
        return Err(ReasonProblem::ControlChar(c));
    }
    Ok(())
}

/// What the length rules compare: words, characters after trimming and in all, and the first
/// control character other than newline and tab.
#[derive(Debug, PartialEq, Eq)]
struct ReasonCounts {
    words: usize,
    trimmed_chars: usize,
    chars: usize,
    control: Option<char>,
}

impl ReasonCounts {
    /// The counts of `reason` (`trimmed` is `reason.trim()`). Reasons are almost always ASCII,
    /// where a byte is a character and Unicode's whitespace and control characters are a few
    /// byte values: counted byte by byte, without decoding characters.
    fn of(reason: &str, trimmed: &str) -> Self {
        if reason.is_ascii() {
            Self::ascii(reason, trimmed)
        } else {
            Self::any(reason, trimmed)
        }
    }

    /// For any text.
    fn any(reason: &str, trimmed: &str) -> Self {
        ReasonCounts {
            words: trimmed.split_whitespace().count(),
            trimmed_chars: trimmed.chars().count(),
            chars: reason.chars().count(),
            control: reason
                .chars()
                .find(|c| c.is_control() && *c != '\n' && *c != '\t'),
        }
    }

    /// For ASCII text: `char::is_whitespace` is 0x09–0x0D and space, `char::is_control` is
    /// below 0x20 and 0x7F.
    fn ascii(reason: &str, trimmed: &str) -> Self {
        let space = |b: u8| matches!(b, 0x09..=0x0d | b' ');
        // A word starts at a non-space byte after a space (or at the start). Counted 64 bytes
        // at a time as bit masks, which compile to vector compares instead of a byte loop.
        let mut words = 0;
        let mut previous_space = true;
        for chunk in trimmed.as_bytes().chunks(64) {
            let mut spaces = 0u64;
            for (i, &b) in chunk.iter().enumerate() {
                spaces |= u64::from(space(b)) << i;
            }
            let in_chunk = u64::MAX >> (64 - chunk.len());
            let starts = !spaces & ((spaces << 1) | u64::from(previous_space)) & in_chunk;
            words += starts.count_ones() as usize;
            previous_space = (spaces >> (chunk.len() - 1)) & 1 == 1;
        }
        ReasonCounts {
            words,
            trimmed_chars: trimmed.len(),
            chars: reason.len(),
            control: first_control(reason.as_bytes()),
        }
    }
}

/// The first control byte other than newline and tab in ASCII text. A reason has none, so
/// chunks are passed over with one branch-free test each and searched only if suspect.
fn first_control(bytes: &[u8]) -> Option<char> {
    bytes.chunks(16).find_map(|chunk| {
        let suspect = chunk
            .iter()
            .fold(false, |any, &b| any | (b < 0x20) | (b == 0x7f));
        if !suspect {
            return None;
        }
        chunk
            .iter()
            .copied()
            .find(|&b| (b < 0x20 || b == 0x7f) && b != b'\n' && b != b'\t')
            .map(char::from)
    })
}

/// Whether `reason` still carries the placeholder (pasted alone, or with words around it), in
/// any letter case. The placeholder is ASCII, so comparing ASCII case-insensitively finds what
/// lowercasing both would, without allocating (the webhook checks every clearance reason).
pub(super) fn is_placeholder(reason: &str) -> bool {
    let inner = CLEAR_REASON_PLACEHOLDER
        .trim_start_matches('<')
        .trim_end_matches('>')
        .as_bytes();
    // Most windows differ in their first byte: that test alone settles them.
    let first = inner[0].to_ascii_lowercase();
    reason
        .as_bytes()
        .windows(inner.len())
        .any(|window| window[0].to_ascii_lowercase() == first && window.eq_ignore_ascii_case(inner))
}

#[cfg(test)]
mod tests {
    use super::ReasonCounts;
    use proptest::prelude::*;

    proptest! {
        /// On ASCII text the byte counts are the character counts, whatever the whitespace and
        /// control characters.
        #[test]
        fn ascii_counts_are_the_character_counts(
            reason in proptest::collection::vec(prop_oneof![0u8..0x80, Just(b' '), Just(b'\n'), Just(0x0b), Just(0x1c), Just(0x7f)], 0..200)
                .prop_map(|b| String::from_utf8(b).expect("ascii")),
        ) {
            let trimmed = reason.trim();
            prop_assert_eq!(ReasonCounts::ascii(&reason, trimmed), ReasonCounts::any(&reason, trimmed));
            prop_assert_eq!(ReasonCounts::of(&reason, trimmed), ReasonCounts::any(&reason, trimmed));
        }
    }
}
