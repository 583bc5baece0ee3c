//! JSON text written straight into an answer's buffer, byte for byte as serde_json writes it:
//! the admission answer and the clearance patch are built this way instead of through serde
//! (DESIGN §10), and tests pin each against serde_json's output.

use crate::byte_word;

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether any byte is a quote, a backslash or a control character (below 0x20), the bytes
/// serde_json escapes. Names, uids and reasons have none: the check runs sixteen bytes at a
/// time where SSE2 is part of the target (every x86_64), eight elsewhere, and a string's last
/// bytes are read as one more (overlapping) block instead of one by one.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if bytes.len() >= 16 {
            // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
            return unsafe { needs_escape_sse2(bytes) };
        }
    }
    needs_escape_words(bytes)
}

/// [`needs_escape`] eight bytes at a time.
fn needs_escape_words(bytes: &[u8]) -> bool {
    let flagged = |word: &[u8; 8]| {
        let w = byte_word::load(word);
        byte_word::below(w, 0x20) | byte_word::equal(w, b'"') | byte_word::equal(w, b'\\') != 0
    };
    let (words, rest) = bytes.as_chunks::<8>();
    if words.iter().any(flagged) {
        return true;
    }
    match bytes.last_chunk::<8>() {
        // The last eight bytes again, overlapping words already checked.
        Some(last) if !rest.is_empty() => flagged(last),
        Some(_) => false,
        None => rest.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\'),
    }
}

/// [`needs_escape`] for at least sixteen bytes, sixteen at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn needs_escape_sse2(bytes: &[u8]) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let flagged = |block: &[u8; 16]| {
        // SAFETY: `block` is 16 readable bytes; the load has no alignment requirement.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>()) };
        // Unsigned "below 0x20": the byte is its own minimum with 0x1F.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))) != 0
    };
    let (blocks, rest) = bytes.as_chunks::<16>();
    if blocks.iter().any(flagged) {
        return true;
    }
    // The last sixteen bytes again, overlapping blocks already checked.
    !rest.is_empty() && bytes.last_chunk::<16>().is_some_and(flagged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the text, the bytes are serde_json's.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            s in prop_oneof![
                any::<String>(),
                "[ -~]{0,40}",
                proptest::collection::vec(prop::sample::select(vec!['a', '"', '\\', '\n', '\u{1f}', 'é', '\u{7f}', ' ']), 0..24)
                    .prop_map(|c| c.into_iter().collect::<String>()),
            ],
            lead in "[a-z]{0,9}",
        ) {
            let s = format!("{lead}{s}");
            let mut out = b"x".to_vec();
            string(&mut out, &s);
            let mut expected = b"x".to_vec();
            serde_json::to_writer(&mut expected, &s).expect("encodes");
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn every_escaped_byte_is_found_at_every_offset_of_every_length() {
        // Lengths on both sides of the eight- and sixteen-byte blocks and their overlapping
        // last block.
        for len in 1..=49 {
            for offset in 0..len {
                for byte in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut text = vec![b'a'; len];
                    text[offset] = byte;
                    assert!(needs_escape(&text), "byte {byte:#x} at {offset} of {len}");
                    assert!(
                        needs_escape_words(&text),
                        "byte {byte:#x} at {offset} of {len}"
                    );
                }
                for byte in [0x7f, 0x80, 0xff, b' ', b'!', b'#', b'[', b']'] {
                    let mut text = vec![b'a'; len];
                    text[offset] = byte;
                    assert!(!needs_escape(&text), "{byte:#x} at {offset} of {len}");
                    assert!(!needs_escape_words(&text), "{byte:#x} at {offset} of {len}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("héllo wörld, ünïcode".as_bytes()));
    }
}
