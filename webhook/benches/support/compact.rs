//! Shared by the admission bench and `examples/admission_load.rs`: both measure the body the API
//! server would send.

/// The fixtures are re-indented copies of compact one-line bodies; the API server sends compact
/// JSON, so whitespace outside strings is dropped (key order and values stay as captured).
pub fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}
