//! Finding where a JSON value ends without reading it: the structural scan behind the admission
//! views. An AdmissionReview carries two whole WorkflowExecutions, most of whose bytes
//! (`managedFields`, annotations, conditions) no rule reads; stepping over them token by token
//! was most of the cost of an admission request (DESIGN §10). Containers are skipped 64 bytes
//! at a time with bit masks of their quotes, backslashes and brackets, in the manner of
//! simdjson's first stage; only the members a rule reads are then read, by serde_json or, for
//! the shapes the API server writes (plain strings, the spec, the request's kind), by readers
//! that decline anything else and leave it to serde_json.
//!
//! The scan checks structure (strings closed, brackets balanced, members separated, numbers and
//! literals that are member values well formed), not every token inside a skipped container:
//! the API server encodes what it sends, and every value a rule reads is read strictly (a plain
//! string has no escape and no control character; anything else goes to serde_json) before it
//! is used.

use std::borrow::Cow;
use std::fmt;

use self::skip::{container_end, short_string_end, string_end};

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

    /// The text of a JSON string that holds no escape and no control character, borrowed as
    /// it stands; `None` for anything else, which a caller decodes with serde_json (and which
    /// serde_json may refuse). Uids, names and namespaces are such strings.
    pub(crate) fn plain_str(self) -> Option<&'a str> {
        let inner = self.0.strip_prefix('"')?.strip_suffix('"')?;
        (!crate::json_text::needs_escape(inner.as_bytes())).then_some(inner)
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
    walk.collect_known(None).map(Some)
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
    #[inline(always)]
    pub fn next_key(&mut self) -> Result<Option<Cow<'a, str>>, ScanError> {
        // Most members the API server sends are `,"name":` with a short plain name and no
        // whitespace: settled here, in the caller, without the general path's call.
        let b = self.text.as_bytes();
        let quote = match (self.state, b.get(self.pos)) {
            (WalkState::Next, Some(b',')) => self.pos + 1,
            (WalkState::First, _) => self.pos,
            (WalkState::Next, Some(b'}')) => {
                self.pos += 1;
                self.state = WalkState::Done;
                return Ok(None);
            }
            _ => return self.next_key_general(),
        };
        if b.get(quote) == Some(&b'"')
            && let Some(end) = short_string_end(b, quote)
            && b.get(end) == Some(&b':')
        {
            // SAFETY: `quote` and `end - 1` hold `"` (ASCII, so both are character
            // boundaries of the UTF-8 text) and lie within it, as `short_string_end` read them.
            let name = unsafe { self.text.get_unchecked(quote + 1..end - 1) };
            self.pos = skip_ws(b, end + 1);
            self.state = WalkState::Value;
            return Ok(Some(Cow::Borrowed(name)));
        }
        self.next_key_general()
    }

    /// [`next_key`](Self::next_key) for every case: whitespace, escapes, long names, the end.
    #[inline(never)]
    fn next_key_general(&mut self) -> Result<Option<Cow<'a, str>>, ScanError> {
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
        let (key_end, escaped) = string_end(b, self.pos)?;
        let key = decode_key(&self.text[self.pos..key_end], escaped, self.pos)?;
        self.pos = skip_ws(b, key_end);
        if b.get(self.pos) != Some(&b':') {
            return Err(ScanError::at("expected `:` after a member name", self.pos));
        }
        self.pos = skip_ws(b, self.pos + 1);
        self.state = WalkState::Value;
        Ok(Some(key))
    }

    /// The current member's value, stepped over unread.
    #[inline(always)]
    pub fn skip_value(&mut self) -> Result<Raw<'a>, ScanError> {
        // A short string, the usual value, settled here, in the caller.
        let start = self.pos;
        let b = self.text.as_bytes();
        if self.state == WalkState::Value
            && b.get(start) == Some(&b'"')
            && let Some(end) = short_string_end(b, start)
        {
            self.pos = end;
            self.state = WalkState::Next;
            // SAFETY: `start` and `end - 1` hold `"` (ASCII, so character boundaries of the
            // UTF-8 text) and lie within it, as `short_string_end` read them.
            return Ok(Raw(unsafe { self.text.get_unchecked(start..end) }));
        }
        self.skip_value_general()
    }

    /// [`skip_value`](Self::skip_value) for every case.
    #[inline(never)]
    fn skip_value_general(&mut self) -> Result<Raw<'a>, ScanError> {
        if self.state != WalkState::Value {
            return Err(ScanError::at("no member value to read", self.pos));
        }
        let start = self.pos;
        self.pos = value_end(self.text.as_bytes(), start)?;
        self.state = WalkState::Next;
        Ok(Raw(&self.text[start..self.pos]))
    }

    /// The current member's value, stepped over by comparing bytes when it begins with the
    /// text of `known`, a string, object or array scanned earlier in the same body (the stored
    /// object repeats most of the new one): such a value ends where `known` does, since a
    /// string's or a container's end follows from its bytes. Anything else is scanned.
    pub(crate) fn skip_value_known(
        &mut self,
        known: Option<Raw<'a>>,
    ) -> Result<Raw<'a>, ScanError> {
        if self.state == WalkState::Value
            && let Some(known) = known.map(Raw::get)
            && matches!(known.as_bytes().first(), Some(b'"' | b'{' | b'['))
            && self.text.as_bytes()[self.pos..].starts_with(known.as_bytes())
        {
            let start = self.pos;
            self.pos += known.len();
            self.state = WalkState::Next;
            // SAFETY: `start` and `self.pos - 1` hold the first and last bytes of `known`, a
            // quote or bracket (ASCII, so character boundaries), within the text.
            return Ok(Raw(unsafe { self.text.get_unchecked(start..self.pos) }));
        }
        self.skip_value()
    }

    /// Every remaining member, values unread; a value is stepped over as
    /// [`skip_value_known`](Self::skip_value_known) does when `known` has a member of that name.
    pub(crate) fn collect_known(
        &mut self,
        known: Option<&crate::json_view::Fields<'a>>,
    ) -> Result<Members<'a>, ScanError> {
        let mut members = Vec::with_capacity(8);
        let mut cursor = 0;
        while let Some(key) = self.next_key()? {
            let same = known.and_then(|k| k.get_in_order(&key, &mut cursor));
            let value = self.skip_value_known(same)?;
            members.push((key, value));
        }
        Ok(members)
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

    /// Reads every remaining member with `read`, given the member's index in `names` (for
    /// readers that accept only the shape the API server writes): `None` for a name not in
    /// `names`, a repeated one (serde refuses a repeated field), a missing one whose bit is set
    /// in `required`, or whatever `read` declines. `read` must consume the member's value.
    pub(crate) fn each_member(
        &mut self,
        names: &[&str],
        required: u8,
        mut read: impl FnMut(usize, &mut Self) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0u8;
        while let Some(key) = self.next_key().ok()? {
            let bit = 1 << names.iter().position(|name| *name == key)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            read(bit.trailing_zeros() as usize, self)?;
        }
        (seen & required == required).then_some(())
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

/// A member name without its quotes; `escaped` names (rare) are decoded by serde_json.
fn decode_key(quoted: &str, escaped: bool, at: usize) -> Result<Cow<'_, str>, ScanError> {
    if escaped {
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
        Some(b'"') => string_end(b, start).map(|(end, _)| end),
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

mod skip;
#[cfg(test)]
mod tests;
