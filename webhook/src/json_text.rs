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
/// serde_json escapes. Names, uids and reasons have none, so the check runs eight bytes at a
/// time.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    for word in words {
        let w = byte_word::load(word);
        if byte_word::below(w, 0x20) | byte_word::equal(w, b'"') | byte_word::equal(w, b'\\') != 0 {
            return true;
        }
    }
    rest.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
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
    fn every_escaped_byte_is_found_at_every_offset() {
        for offset in 0..17 {
            for byte in (0u8..0x20).chain([b'"', b'\\']) {
                let mut text = vec![b'a'; 17];
                text[offset] = byte;
                assert!(needs_escape(&text), "byte {byte:#x} at {offset}");
            }
            let mut text = vec![b'a'; 17];
            text[offset] = 0x7f;
            assert!(!needs_escape(&text), "0x7f at {offset}");
        }
        assert!(!needs_escape("héllo wörld, ünïcode".as_bytes()));
    }
}
