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
        // A word starts at a non-space byte after a space (or at the start). Eight bytes at a
        // time: byte `i`'s flag is bit 7 of byte `i` of the word, so the byte before it is
        // eight bits lower.
        let mut words = 0;
        let mut previous_space = 0x80;
        for word in ascii_words(trimmed.as_bytes()) {
            let spaces = spaces(word);
            let starts = !spaces & ((spaces << 8) | previous_space) & HIGH;
            words += flag_count(starts);
            previous_space = spaces >> 56 & HIGH;
        }
        let control = ascii_words(reason.as_bytes()).find_map(|word| {
            let found = controls(word);
            (found != 0)
                .then(|| char::from(word.to_le_bytes()[found.trailing_zeros() as usize / 8]))
        });
        ReasonCounts {
            words,
            trimmed_chars: trimmed.len(),
            chars: reason.len(),
            control,
        }
    }
}

/// Bit 7 of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Every byte of a word set to `b`.
const fn each(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// ASCII text as little-endian words of eight bytes, the last padded with spaces (which start
/// no word and are no control character).
fn ascii_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let (words, rest) = bytes.as_chunks::<8>();
    let last = (!rest.is_empty()).then(|| {
        let mut padded = [b' '; 8];
        padded[..rest.len()].copy_from_slice(rest);
        padded
    });
    words.iter().copied().chain(last).map(u64::from_le_bytes)
}

/// Bit 7 of each byte of an ASCII word set where the byte is whitespace (0x09–0x0D, space).
/// Every byte is below 0x80, so adding to one never carries into the next.
fn spaces(w: u64) -> u64 {
    let at_least = |b: u8| w.wrapping_add(each(0x80 - b));
    let space = !((w ^ each(b' ')).wrapping_add(each(0x7f)));
    (space | (at_least(0x09) & !at_least(0x0e))) & HIGH
}

/// Bit 7 of each byte of an ASCII word set where the byte is a control character other than
/// newline and tab.
fn controls(w: u64) -> u64 {
    let below_space = !w.wrapping_add(each(0x80 - 0x20));
    let not = |b: u8| (w ^ each(b)).wrapping_add(each(0x7f));
    let delete = w.wrapping_add(each(0x01));
    ((below_space & not(b'\n') & not(b'\t')) | delete) & HIGH
}

/// How many bytes of a word have bit 7 set (and no other bit).
fn flag_count(flags: u64) -> usize {
    ((flags >> 7).wrapping_mul(each(1)) >> 56) as usize
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
