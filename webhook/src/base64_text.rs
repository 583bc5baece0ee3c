//! The base64 text of a clearance patch in the admission answer (`response.patch`). The `base64`
//! crate encodes about three bytes per six instructions; with AVX2, 24 bytes are encoded with a
//! dozen vector instructions (Muła and Lemire, "Faster Base64 Encoding and Decoding Using AVX2
//! Instructions", 2018), and the crate writes the tail and the padding.

use base64::Engine;

/// Appends the standard, padded base64 encoding of `input` to `out`.
pub(crate) fn append(out: &mut Vec<u8>, input: &[u8]) {
    let engine = base64::engine::general_purpose::STANDARD;
    let start = out.len();
    out.resize(start + input.len().div_ceil(3) * 4, 0);
    let (read, written) = vector_prefix(input, &mut out[start..]);
    // The vector part stops on a multiple of three bytes, so the crate's text of the rest
    // (padding included) follows it exactly.
    match engine.encode_slice(&input[read..], &mut out[start + written..]) {
        Ok(tail) => out.truncate(start + written + tail),
        // The buffer is base64's padded length, so this cannot happen; if it ever did, the
        // allocating encoder still gives the right text.
        Err(_) => {
            out.truncate(start);
            out.extend_from_slice(engine.encode(input).as_bytes());
        }
    }
}

/// Encodes whole 24-byte blocks from the start of `input` into `out` where the CPU allows;
/// returns the bytes read and written (both zero otherwise).
fn vector_prefix(input: &[u8], out: &mut [u8]) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to support AVX2.
            return unsafe { encode_avx2(input, out) };
        }
    }
    let _ = (input, out);
    (0, 0)
}

/// 24 input bytes to 32 characters per step, while 28 bytes can be read (the second lane's
/// 16-byte load starts 12 bytes in) and 32 written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) fn encode_avx2(input: &[u8], out: &mut [u8]) -> (usize, usize) {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_loadu_si128, _mm256_add_epi8, _mm256_and_si256, _mm256_cmpgt_epi8,
        _mm256_mulhi_epu16, _mm256_mullo_epi16, _mm256_or_si256, _mm256_set_m128i,
        _mm256_set1_epi8, _mm256_set1_epi32, _mm256_setr_epi8, _mm256_shuffle_epi8,
        _mm256_storeu_si256, _mm256_sub_epi8, _mm256_subs_epu8,
    };
    // Each 32-bit lane gets one 3-byte group as bytes [b1, b0, b2, b1].
    let spread = _mm256_setr_epi8(
        1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, //
        1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
    );
    // Offsets from a 6-bit value to its character, chosen by the value's range: A–Z, a–z,
    // 0–9 (ten slots), '+', '/'.
    let offsets = _mm256_setr_epi8(
        65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, //
        65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0,
    );
    let (mut read, mut written) = (0, 0);
    while let (Some(block), Some(text)) = (
        input.get(read..read + 28),
        out.get_mut(written..written + 32),
    ) {
        // SAFETY: `block` is 28 readable bytes, so both 16-byte loads (at 0 and 12) are in
        // bounds; the loads have no alignment requirement.
        let (low, high) = unsafe {
            (
                _mm_loadu_si128(block.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(block[12..].as_ptr().cast::<__m128i>()),
            )
        };
        let groups = _mm256_shuffle_epi8(_mm256_set_m128i(high, low), spread);
        // The four 6-bit values of each group, one per byte, in output order.
        let hi_bits = _mm256_mulhi_epu16(
            _mm256_and_si256(groups, _mm256_set1_epi32(0x0fc0_fc00)),
            _mm256_set1_epi32(0x0400_0040),
        );
        let lo_bits = _mm256_mullo_epi16(
            _mm256_and_si256(groups, _mm256_set1_epi32(0x003f_03f0)),
            _mm256_set1_epi32(0x0100_0010),
        );
        let values = _mm256_or_si256(hi_bits, lo_bits);
        // Range index: 0 for A–Z, 1 for a–z, 2..=11 for digits, 12 for '+', 13 for '/'.
        let range = _mm256_sub_epi8(
            _mm256_subs_epu8(values, _mm256_set1_epi8(51)),
            _mm256_cmpgt_epi8(values, _mm256_set1_epi8(25)),
        );
        let chars = _mm256_add_epi8(values, _mm256_shuffle_epi8(offsets, range));
        // SAFETY: `text` is 32 writable bytes; the store has no alignment requirement.
        unsafe { _mm256_storeu_si256(text.as_mut_ptr().cast::<__m256i>(), chars) };
        read += 24;
        written += 32;
    }
    (read, written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(input: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .encode(input)
            .into_bytes()
    }

    proptest! {
        /// Any bytes, any length (across the 24-byte steps and the 28-byte reads), after any
        /// text already in the buffer: the crate's encoding.
        #[test]
        fn the_text_is_the_base64_crates(input in proptest::collection::vec(any::<u8>(), 0..200), lead in "[a-z]{0,5}") {
            let mut out = lead.clone().into_bytes();
            append(&mut out, &input);
            let mut expected = lead.into_bytes();
            expected.extend(reference(&input));
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn every_six_bit_value_is_written_by_the_vector_path_at_every_position() {
        // 48 bytes of 0x00..=0xff patterns cover all 64 values in all four positions.
        for shift in 0..=255u8 {
            let input: Vec<u8> = (0..60u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(shift))
                .collect();
            let mut out = Vec::new();
            append(&mut out, &input);
            assert_eq!(out, reference(&input), "shift {shift}");
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let input = [0xfbu8; 28];
            let mut text = [0u8; 32];
            // SAFETY: the CPU supports AVX2.
            let done = unsafe { encode_avx2(&input, &mut text) };
            assert_eq!(done, (24, 32), "one vector step");
            assert_eq!(text.as_slice(), &reference(&input[..24])[..]);
        }
    }
}
