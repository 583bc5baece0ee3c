//! Stepping over a whole string, object or array with vector compares. A container is skipped
//! 64 bytes at a time, in the manner of simdjson's first stage: bit masks of a block's quotes,
//! backslashes and brackets give the brackets outside strings, and counting those finds where
//! the container closes. A string of up to 15 bytes is settled in two 8-byte words; a longer
//! one is searched 32 bytes at a time for its closing quote.
//!
//! The container loop is compiled twice: once for AVX2 with `popcnt` and carry-less
//! multiplication, chosen at run time, and once for every CPU of the target; the long-string
//! search is AVX2 where the CPU has it and `memchr2` otherwise. Without those
//! features each bit count and each prefix XOR is a dozen instructions, per block; and most
//! strings are short member names, for which a general-purpose search costs more to set up
//! than one 32-byte compare.

use super::ScanError;
use crate::byte_word;

/// The offset just past the object or array whose opening bracket is at `start`.
pub(super) fn container_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    #[cfg(target_arch = "x86_64")]
    {
        // std caches the detection: a load and a test per container.
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has just been found to support every feature it is built for.
            return unsafe { container_end_avx2(b, start) };
        }
    }
    container_end_baseline(b, start)
}

/// The form for every CPU of the target (SSE2 on x86_64, bytewise elsewhere).
pub(super) fn container_end_baseline(b: &[u8], start: usize) -> Result<usize, ScanError> {
    container_end_with::<Baseline>(b, start)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq,popcnt")]
pub(super) fn container_end_avx2(b: &[u8], start: usize) -> Result<usize, ScanError> {
    container_end_with::<Avx2>(b, start)
}

/// The offset just past the string whose opening quote is at `start`, and whether it holds a
/// backslash (an escape the caller has to decode).
#[inline]
pub(super) fn string_end(b: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    // Most strings in a review are member names and short values: two 8-byte words settle
    // them in the caller, without the call and set-up of the vector search.
    if let Some(end) = short_string_end(b, start) {
        return Ok((end, false));
    }
    string_end_long(b, start)
}

/// The end of a string of at most 15 bytes without a backslash, found in two 8-byte words;
/// `None` for anything else (longer, escaped, or too near the end of the body to read 16
/// bytes), which the full search settles.
#[inline(always)]
pub(super) fn short_string_end(b: &[u8], start: usize) -> Option<usize> {
    let first = |word: &[u8; 8]| {
        let w = byte_word::load(word);
        byte_word::first(byte_word::equal(w, b'"') | byte_word::equal(w, b'\\'))
    };
    let words = b.get(start + 1..start + 17)?;
    let (low, high) = words.split_at(8);
    let at = match first(low.try_into().ok()?) {
        Some(at) => at,
        None => 8 + first(high.try_into().ok()?)?,
    };
    (words[at] == b'"').then_some(start + 1 + at + 1)
}

/// [`string_end`] without the short-string shortcut.
pub(super) fn string_end_long(b: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to support AVX2.
            return unsafe { string_end_avx2(b, start) };
        }
    }
    string_end_baseline(b, start)
}

/// The form for every CPU of the target.
pub(super) fn string_end_baseline(b: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    let mut pos = start + 1;
    let mut escaped = false;
    while let Some(found) = memchr::memchr2(b'"', b'\\', &b[pos.min(b.len())..]) {
        pos += found;
        if b[pos] == b'"' {
            return Ok((pos + 1, escaped));
        }
        escaped = true;
        pos += 2;
    }
    Err(ScanError::at("unterminated string", start))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn string_end_avx2(b: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let (quote, backslash) = (_mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\\' as i8));
    let mut pos = start + 1;
    let mut escaped = false;
    while let Some(chunk) = b.get(pos..).and_then(<[u8]>::first_chunk::<32>) {
        // SAFETY: `chunk` is 32 readable bytes; the load has no alignment requirement.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
        let quotes = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, quote)) as u32;
        let hits = quotes | _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, backslash)) as u32;
        if hits == 0 {
            pos += 32;
            continue;
        }
        let at = hits.trailing_zeros() as usize;
        if quotes >> at & 1 == 1 {
            return Ok((pos + at + 1, escaped));
        }
        // A backslash: the byte after it is escaped, whatever it is.
        escaped = true;
        pos += at + 2;
    }
    // Fewer than 32 bytes left.
    let tail = string_end_baseline(b, pos.saturating_sub(1));
    tail.map(|(end, more)| (end, escaped || more))
        .map_err(|_| ScanError::at("unterminated string", start))
}

/// How one build of the loop makes a block's masks and prefix XORs.
trait BlockScan {
    fn masks(block: &[u8; 64]) -> Masks;
    fn prefix_xor(x: u64) -> u64;
}

struct Baseline;

impl BlockScan for Baseline {
    #[inline(always)]
    fn masks(block: &[u8; 64]) -> Masks {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
            unsafe { Masks::of_block_sse2(block) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Masks::of_block_bytewise(block)
        }
    }

    #[inline(always)]
    fn prefix_xor(x: u64) -> u64 {
        prefix_xor(x)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl BlockScan for Avx2 {
    #[inline(always)]
    fn masks(block: &[u8; 64]) -> Masks {
        // SAFETY: only reached from `container_end_avx2`, which runs on CPUs with AVX2.
        unsafe { Masks::of_block_avx2(block) }
    }

    #[inline(always)]
    fn prefix_xor(x: u64) -> u64 {
        // SAFETY: only reached from `container_end_avx2`, which runs on CPUs with PCLMULQDQ.
        unsafe { prefix_xor_clmul(x) }
    }
}

#[inline(always)]
fn container_end_with<S: BlockScan>(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut state = BlockState::default();
    // Inside the container from the byte after its bracket, which is outside any string.
    let mut depth: u32 = 1;
    let mut base = start + 1;
    while base < b.len() {
        let masks = match b[base..].first_chunk::<64>() {
            Some(block) => S::masks(block),
            None => {
                // The last, short block: the rest reads as spaces.
                let mut block = [b' '; 64];
                block[..b.len() - base].copy_from_slice(&b[base..]);
                S::masks(&block)
            }
        };
        let outside = !state.in_string::<S>(&masks);
        let mut opens = masks.open & outside;
        let mut closes = masks.close & outside;
        // An empty `{}` or `[]` leaves the depth as it found it, and its bracket cannot close
        // the container (the depth is at least one before it opens). `managedFields` is mostly
        // such pairs; dropping them lets most blocks be counted instead of walked.
        let empty = opens & (closes >> 1);
        opens &= !empty;
        closes &= !(empty << 1);
        // A block with fewer closing brackets than the open depth cannot end the value.
        if closes.count_ones() < depth {
            depth = depth + opens.count_ones() - closes.count_ones();
        } else {
            let mut brackets = opens | closes;
            while brackets != 0 {
                let bit = brackets.trailing_zeros();
                if opens >> bit & 1 == 1 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(base + bit as usize + 1);
                    }
                }
                brackets &= brackets - 1;
            }
        }
        base += 64;
    }
    Err(ScanError::at("unterminated object or array", start))
}

/// Bit `i` of each mask is set when byte `i` of a 64-byte block is that character.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Masks {
    quote: u64,
    backslash: u64,
    /// `{` or `[`.
    open: u64,
    /// `}` or `]`.
    close: u64,
}

impl Masks {
    /// Half the instructions of the SSE2 form.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn of_block_avx2(block: &[u8; 64]) -> Self {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
            _mm256_set1_epi8,
        };
        let case = _mm256_set1_epi8(0x20);
        let (quote, backslash) = (_mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\\' as i8));
        let (open, close) = (_mm256_set1_epi8(b'{' as i8), _mm256_set1_epi8(b'}' as i8));
        let mut masks = Masks::default();
        for (i, chunk) in block.chunks_exact(32).enumerate() {
            // SAFETY: `chunk` is 32 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
            let folded = _mm256_or_si256(v, case);
            let bits = |m| u64::from(_mm256_movemask_epi8(m) as u32) << (32 * i);
            masks.quote |= bits(_mm256_cmpeq_epi8(v, quote));
            masks.backslash |= bits(_mm256_cmpeq_epi8(v, backslash));
            masks.open |= bits(_mm256_cmpeq_epi8(folded, open));
            masks.close |= bits(_mm256_cmpeq_epi8(folded, close));
        }
        masks
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    #[inline]
    pub(super) fn of_block_sse2(block: &[u8; 64]) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // `{`/`[` and `}`/`]` differ only in bit 0x20, so one compare finds each pair.
        let case = _mm_set1_epi8(0x20);
        let (quote, backslash) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8));
        let (open, close) = (_mm_set1_epi8(b'{' as i8), _mm_set1_epi8(b'}' as i8));
        let mut masks = Masks::default();
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            // SAFETY: `chunk` is 16 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
            let folded = _mm_or_si128(v, case);
            let bits = |m| u64::from(_mm_movemask_epi8(m) as u16) << (16 * i);
            masks.quote |= bits(_mm_cmpeq_epi8(v, quote));
            masks.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
            masks.open |= bits(_mm_cmpeq_epi8(folded, open));
            masks.close |= bits(_mm_cmpeq_epi8(folded, close));
        }
        masks
    }

    /// The portable form (and the reference the vector forms are tested against).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(super) fn of_block_bytewise(block: &[u8; 64]) -> Self {
        let mut masks = Masks::default();
        for (i, &c) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match c {
                b'"' => masks.quote |= bit,
                b'\\' => masks.backslash |= bit,
                b'{' | b'[' => masks.open |= bit,
                b'}' | b']' => masks.close |= bit,
                _ => {}
            }
        }
        masks
    }
}

/// What carries from one block to the next: inside a string, and whether the first byte is
/// escaped by a backslash ending the previous block.
#[derive(Debug, Default)]
struct BlockState {
    in_string: bool,
    escape_next: bool,
}

impl BlockState {
    /// The bytes of the block inside a string (from an opening quote up to, not including,
    /// its closing quote), and the state after the block.
    #[inline(always)]
    fn in_string<S: BlockScan>(&mut self, masks: &Masks) -> u64 {
        let escaped = self.escaped(masks.backslash);
        let quotes = masks.quote & !escaped;
        let mut inside = S::prefix_xor(quotes);
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        inside
    }

    /// The bytes escaped by a backslash. Backslashes are rare outside `managedFields` keys,
    /// so they are walked one by one.
    #[inline(always)]
    fn escaped(&mut self, backslashes: u64) -> u64 {
        let mut escaped = 0u64;
        let mut starts = backslashes;
        if self.escape_next {
            escaped |= 1;
            starts &= !1;
        }
        self.escape_next = false;
        while starts != 0 {
            let bit = starts.trailing_zeros();
            if bit == 63 {
                self.escape_next = true;
                break;
            }
            escaped |= 1 << (bit + 1);
            // The escaped byte, even if a backslash, starts no escape of its own.
            starts &= !(1 << (bit + 1));
            starts &= starts - 1;
        }
        escaped
    }
}

/// Bit `i` is the XOR of bits `0..=i`: set from each opening quote up to its closing one.
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// [`prefix_xor`] in one instruction: a carry-less multiplication by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
pub(super) fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set_epi64x};
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set_epi64x(0, -1), 0);
    _mm_cvtsi128_si64(product) as u64
}
