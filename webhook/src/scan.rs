//! Finding where a JSON value ends without reading it: the structural scan behind the admission
//! views. An AdmissionReview carries two whole WorkflowExecutions, most of whose bytes
//! (`managedFields`, annotations, conditions) no rule reads; stepping over them token by token
//! was most of the cost of an admission request (DESIGN §10). Containers are skipped 64 bytes
//! at a time with bit masks of their quotes, backslashes and brackets, in the manner of
//! simdjson's first stage; only the members a rule reads are then parsed, by serde_json.
//!
//! The scan checks structure (strings closed, brackets balanced, members separated, numbers and
//! literals that are member values well formed), not every token inside a skipped container:
//! the API server encodes what it sends, and every value a rule reads is parsed strictly, by
//! serde_json, before it is used.

use std::borrow::Cow;
use std::fmt;

/// The text of one JSON value, exactly (no surrounding whitespace), borrowed from the body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The value's JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// Whether the value is JSON `null` (absent, for every rule).
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// The single JSON value `text` holds (whitespace around it allowed); values in requests
    /// are found by walking, this is how tests make one.
    #[cfg(test)]
    pub(crate) fn parse(text: &'a str) -> Result<Self, ScanError> {
        let b = text.as_bytes();
        let start = skip_ws(b, 0);
        let end = value_end(b, start)?;
        if skip_ws(b, end) != b.len() {
            return Err(ScanError::at("trailing characters after the value", end));
        }
        Ok(Raw(&text[start..end]))
    }
}

impl fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// JSON that is not structurally sound, with the byte offset where the scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ScanError {
    what: &'static str,
    at: usize,
}

impl ScanError {
    fn at(what: &'static str, at: usize) -> Self {
        ScanError { what, at }
    }
}

/// An object's members in document order: names decoded, values unread.
pub type Members<'a> = Vec<(Cow<'a, str>, Raw<'a>)>;

/// An object's members; `None` if `raw` is not an object.
pub fn members(raw: Raw<'_>) -> Result<Option<Members<'_>>, ScanError> {
    let Some(mut walk) = ObjectWalk::at(raw.0, 0) else {
        return Ok(None);
    };
    walk.collect().map(Some)
}

/// Walks an object's members one at a time: each value is either stepped over (and handed
/// back unread) or walked in turn, so that a nested object a reader descends into is scanned
/// once, not once per level.
#[derive(Debug)]
pub struct ObjectWalk<'a> {
    text: &'a str,
    pos: usize,
    state: WalkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkState {
    /// Just after `{`.
    First,
    /// At a member's value.
    Value,
    /// After a member's value.
    Next,
    /// After the closing `}`.
    Done,
}

impl<'a> ObjectWalk<'a> {
    /// The walk of the object at `start` (after whitespace), if the value there is an object.
    fn at(text: &'a str, start: usize) -> Option<Self> {
        let start = skip_ws(text.as_bytes(), start);
        (text.as_bytes().get(start) == Some(&b'{')).then_some(ObjectWalk {
            text,
            pos: start + 1,
            state: WalkState::First,
        })
    }

    /// The walk of a whole document that must be one object; `None` if it is something else.
    pub fn document(text: &'a str) -> Option<Self> {
        Self::at(text, 0)
    }

    /// The next member's name (the walk then stands at its value), or `None` after the last.
    pub fn next_key(&mut self) -> Result<Option<Cow<'a, str>>, ScanError> {
        let b = self.text.as_bytes();
        self.pos = skip_ws(b, self.pos);
        match (self.state, b.get(self.pos)) {
            (WalkState::Done, _) => return Ok(None),
            (WalkState::Value, _) => {
                return Err(ScanError::at("a member's value was not read", self.pos));
            }
            (WalkState::First | WalkState::Next, Some(b'}')) => {
                self.pos += 1;
                self.state = WalkState::Done;
                return Ok(None);
            }
            (WalkState::Next, Some(b',')) => self.pos = skip_ws(b, self.pos + 1),
            (WalkState::Next, _) => {
                return Err(ScanError::at(
                    "expected `,` or `}` after a member",
                    self.pos,
                ));
            }
            (WalkState::First, _) => {}
        }
        if b.get(self.pos) != Some(&b'"') {
            return Err(ScanError::at("expected a member name", self.pos));
        }
        let key_end = string_end(b, self.pos)?;
        let key = decode_key(&self.text[self.pos..key_end], self.pos)?;
        self.pos = skip_ws(b, key_end);
        if b.get(self.pos) != Some(&b':') {
            return Err(ScanError::at("expected `:` after a member name", self.pos));
        }
        self.pos = skip_ws(b, self.pos + 1);
        self.state = WalkState::Value;
        Ok(Some(key))
    }

    /// The current member's value, stepped over unread.
    pub fn skip_value(&mut self) -> Result<Raw<'a>, ScanError> {
        if self.state != WalkState::Value {
            return Err(ScanError::at("no member value to read", self.pos));
        }
        let start = self.pos;
        self.pos = value_end(self.text.as_bytes(), start)?;
        self.state = WalkState::Next;
        Ok(Raw(&self.text[start..self.pos]))
    }

    /// A walk of the current member's value if it is an object; once that walk has returned
    /// `None` from [`next_key`](Self::next_key), [`resume`](Self::resume) goes on after it.
    pub fn enter(&self) -> Option<ObjectWalk<'a>> {
        if self.state != WalkState::Value {
            return None;
        }
        ObjectWalk::at(self.text, self.pos)
    }

    /// Goes on after a nested walk from [`enter`](Self::enter) that has read its object to
    /// the end.
    pub fn resume(&mut self, nested: &ObjectWalk<'a>) -> Result<(), ScanError> {
        if self.state != WalkState::Value || nested.state != WalkState::Done {
            return Err(ScanError::at(
                "a nested object was not read to its end",
                nested.pos,
            ));
        }
        self.pos = nested.pos;
        self.state = WalkState::Next;
        Ok(())
    }

    /// Every remaining member, values unread.
    pub fn collect(&mut self) -> Result<Members<'a>, ScanError> {
        let mut members = Vec::with_capacity(8);
        while let Some(key) = self.next_key()? {
            members.push((key, self.skip_value()?));
        }
        Ok(members)
    }

    /// After the last member of a whole document: only whitespace may follow.
    pub fn finish_document(&self) -> Result<(), ScanError> {
        if self.state != WalkState::Done {
            return Err(ScanError::at(
                "the object was not read to its end",
                self.pos,
            ));
        }
        if skip_ws(self.text.as_bytes(), self.pos) != self.text.len() {
            return Err(ScanError::at(
                "trailing characters after the value",
                self.pos,
            ));
        }
        Ok(())
    }
}

/// A member name without its quotes; escapes (rare in names) are decoded by serde_json.
fn decode_key(quoted: &str, at: usize) -> Result<Cow<'_, str>, ScanError> {
    if quoted.contains('\\') {
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|_| ScanError::at("invalid escape in a member name", at))
    } else {
        Ok(Cow::Borrowed(&quoted[1..quoted.len() - 1]))
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(pos) {
        pos += 1;
    }
    pos
}

/// The offset just past the value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    match b.get(start) {
        Some(b'{' | b'[') => container_end(b, start),
        Some(b'"') => string_end(b, start),
        Some(b't') => literal_end(b, start, b"true"),
        Some(b'f') => literal_end(b, start, b"false"),
        Some(b'n') => literal_end(b, start, b"null"),
        Some(b'-' | b'0'..=b'9') => number_end(b, start),
        Some(_) => Err(ScanError::at("expected a JSON value", start)),
        None => Err(ScanError::at("unexpected end of input", start)),
    }
}

fn literal_end(b: &[u8], start: usize, literal: &[u8]) -> Result<usize, ScanError> {
    if b[start..].starts_with(literal) {
        Ok(start + literal.len())
    } else {
        Err(ScanError::at("expected a JSON value", start))
    }
}

/// The offset just past a number, which must follow JSON's grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let digits = |mut pos: usize| {
        let from = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        (pos > from).then_some(pos)
    };
    let invalid = || ScanError::at("invalid number", start);
    let mut pos = start + usize::from(b[start] == b'-');
    pos = match b.get(pos) {
        Some(b'0') => pos + 1,
        Some(b'1'..=b'9') => digits(pos).ok_or_else(invalid)?,
        _ => return Err(invalid()),
    };
    if b.get(pos) == Some(&b'.') {
        pos = digits(pos + 1).ok_or_else(invalid)?;
    }
    if let Some(b'e' | b'E') = b.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = b.get(pos) {
            pos += 1;
        }
        pos = digits(pos).ok_or_else(invalid)?;
    }
    Ok(pos)
}

/// The offset just past the string whose opening quote is at `start`.
fn string_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut pos = start + 1;
    while let Some(found) = memchr::memchr2(b'"', b'\\', &b[pos.min(b.len())..]) {
        pos += found;
        if b[pos] == b'"' {
            return Ok(pos + 1);
        }
        pos += 2;
    }
    Err(ScanError::at("unterminated string", start))
}

/// The offset just past the object or array whose opening bracket is at `start`.
fn container_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut state = BlockState::default();
    let mut depth: u32 = 0;
    let mut base = start;
    while base < b.len() {
        let masks = Masks::of(&b[base..]);
        let outside = !state.in_string(&masks);
        let opens = masks.open & outside;
        let closes = masks.close & outside;
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
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{` or `[`.
    open: u64,
    /// `}` or `]`.
    close: u64,
}

impl Masks {
    /// The masks of the first 64 bytes of `bytes` (fewer at the end: the rest reads as spaces).
    fn of(bytes: &[u8]) -> Self {
        if let Some(block) = bytes.first_chunk::<64>() {
            Self::of_block(block)
        } else {
            let mut block = [b' '; 64];
            block[..bytes.len()].copy_from_slice(bytes);
            Self::of_block(&block)
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn of_block(block: &[u8; 64]) -> Self {
        // The detection is cached by std: one load and a test per block.
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to support AVX2.
            unsafe { Self::of_block_avx2(block) }
        } else {
            // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
            unsafe { Self::of_block_sse2(block) }
        }
    }

    /// Half the instructions of the SSE2 form: building these masks is most of what stepping
    /// over a skipped value costs.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn of_block_avx2(block: &[u8; 64]) -> Self {
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
    fn of_block_sse2(block: &[u8; 64]) -> Self {
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

    #[cfg(not(target_arch = "x86_64"))]
    fn of_block(block: &[u8; 64]) -> Self {
        Self::of_block_bytewise(block)
    }

    /// The portable form (and the reference the vector form is tested against).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn of_block_bytewise(block: &[u8; 64]) -> Self {
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
    fn in_string(&mut self, masks: &Masks) -> u64 {
        let escaped = self.escaped(masks.backslash);
        let quotes = masks.quote & !escaped;
        let mut inside = prefix_xor(quotes);
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        inside
    }

    /// The bytes escaped by a backslash. Backslashes are rare outside `managedFields` keys,
    /// so they are walked one by one.
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
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests;
