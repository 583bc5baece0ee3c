//! Eight bytes tested at once in a `u64` (the "has a zero byte" trick), for scans over text too
//! short to pay for a vector search's set-up: member names, uids, reasons. Each test sets the
//! high bit of a matching byte. The lowest flag is exact; flags above it may be spurious (a
//! borrow carries past a match), so a result is used as "any" or as "the first" only.

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGH: u64 = ONES << 7;

/// The eight bytes as a word, byte 0 lowest (so that [`first`] counts from the start).
pub(crate) fn load(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes)
}

/// Flags of the bytes of `w` below `n` (for `n <= 128`).
pub(crate) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
}

/// Flags of the bytes of `w` equal to `byte`.
pub(crate) fn equal(w: u64, byte: u8) -> u64 {
    below(w ^ (ONES * u64::from(byte)), 1)
}

/// The index of the byte the lowest flag marks.
pub(crate) fn first(flags: u64) -> Option<usize> {
    (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The first flagged byte is the first matching byte, whatever follows it.
        #[test]
        fn the_first_flag_is_the_first_match(bytes in proptest::array::uniform8(prop_oneof![any::<u8>(), Just(b'"'), Just(0u8), Just(0x1f)]), n in 0u8..=128, byte in any::<u8>()) {
            let w = load(&bytes);
            prop_assert_eq!(first(below(w, n)), bytes.iter().position(|&b| b < n));
            prop_assert_eq!(first(equal(w, byte)), bytes.iter().position(|&b| b == byte));
        }
    }
}
