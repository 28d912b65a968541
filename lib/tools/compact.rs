//! The result envelope written straight from the database's JSON text, without a `Value` in
//! between: the bytes `serde_json` writes for `envelope(operation, parse(text))` — compact,
//! every object's keys in byte order (a `serde_json::Map` is a `BTreeMap`), a page's
//! `next_cursor` moved up beside `data`.
//!
//! Parsing the text into a `Value` and serializing it again was a fifth of the instructions of a
//! `read_entity` call. This module reads the text once and copies its strings and integers as
//! they are, which is exact only where serde would write the same bytes back; wherever it might
//! not, it declines (`None`) and the caller takes the `Value` path:
//! - a string escape serde would not write (`\/`, `\u00e9`, upper-case hex) — Postgres writes
//!   only serde's set (`\" \\ \b \f \n \r \t` and `\u00xx` below 0x20), so this is rare;
//! - a key with any escape (it would have to be decoded to be sorted);
//! - a number serde reads as a float (a fraction, an exponent, `-0`, beyond 64 bits), which it
//!   would write back differently (`1.10` → `1.1`);
//! - a duplicated key, nesting deeper than [`MAX_DEPTH`], or anything that is not JSON.
//!
//! `tests/db_adapters.rs` checks the bytes against serde's for values stored in and written
//! by a real Postgres.

use std::ops::Range;

/// Deeper nesting is left to serde (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// `{"data":…,"next_cursor"?:…,"operation":…}` for `data` (a database function's JSON text),
/// or `None` where only the `Value` path is exact (module doc).
pub fn envelope(operation: &str, data: &str) -> Option<Vec<u8>> {
    let mut writer = Writer { text: data.as_bytes(), at: 0, out: Vec::with_capacity(data.len() + 64) };
    writer.out.extend_from_slice(br#"{"data":"#);
    writer.skip_whitespace();
    let cursor = if writer.peek() == Some(b'{') {
        writer.object(0, true)?
    } else {
        writer.value(0)?;
        None
    };
    writer.skip_whitespace();
    if writer.at != writer.text.len() {
        return None;
    }
    let mut out = writer.out;
    if let Some(cursor) = cursor.filter(|cursor| cursor != b"null") {
        out.extend_from_slice(br#","next_cursor":"#);
        out.extend_from_slice(&cursor);
    }
    out.extend_from_slice(br#","operation":"#);
    serde_json::to_writer(&mut out, operation).ok()?;
    out.push(b'}');
    Some(out)
}

/// Reads `text` from `at`, writing the compact form to `out`.
struct Writer<'a> {
    text: &'a [u8],
    at: usize,
    out: Vec<u8>,
}

/// One member of an object being written: its key (a range of the input, unescaped) and where
/// `"key":value` landed in the output.
struct Member {
    key: Range<usize>,
    written: Range<usize>,
}

impl Writer<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// Expects `byte` (after whitespace) and steps over it.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// One value at `at` (no leading whitespace).
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth, false).map(drop),
            b'[' => self.array(depth),
            b'"' => {
                let start = self.at;
                self.string(false)?;
                self.out.extend_from_slice(&self.text[start..self.at]);
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.integer(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            self.out.extend_from_slice(word);
        })
    }

    /// An integer serde reads as `u64` or `i64`, and so writes back digit for digit.
    fn integer(&mut self) -> Option<()> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let digits = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let number = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        let has_leading_zero = self.at - digits > 1 && self.text[digits] == b'0';
        if self.at == digits || has_leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        // serde: a negative integer is an `i64` unless it is zero (`-0` is a float).
        let exact = if negative {
            number.parse::<i64>().is_ok_and(|n| n != 0)
        } else {
            number.parse::<u64>().is_ok()
        };
        exact.then(|| self.out.extend_from_slice(number.as_bytes()))
    }

    /// Steps over a string starting at its opening quote, checking that serde would write it
    /// back byte for byte; a key must hold no escape at all. Returns the range of its contents.
    fn string(&mut self, is_key: bool) -> Option<Range<usize>> {
        self.at += 1;
        let start = self.at;
        loop {
            let rest = &self.text[self.at..];
            let special = memchr::memchr2(b'"', b'\\', rest)?;
            // Raw control characters are not JSON (`min` over bytes is vectorized).
            if rest[..special].iter().copied().min().is_some_and(|byte| byte < 0x20) {
                return None;
            }
            self.at += special;
            if self.text[self.at] == b'"' {
                self.at += 1;
                return Some(start..self.at - 1);
            }
            if is_key {
                return None;
            }
            self.at += canonical_escape(&self.text[self.at..])?;
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.push(b'[');
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            self.out.push(b']');
            return Some(());
        }
        loop {
            self.skip_whitespace();
            self.value(depth + 1)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.out.push(b',');
                }
                b']' => {
                    self.at += 1;
                    self.out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An object with its keys in byte order. With `take_cursor` (the top level), a
    /// `next_cursor` member is not written but returned (its compact value).
    fn object(&mut self, depth: usize, take_cursor: bool) -> Option<Option<Vec<u8>>> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let start = self.out.len();
        self.out.push(b'{');
        let mut members: Vec<Member> = Vec::with_capacity(16);
        let mut cursor = None;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.out.push(b'}');
            return Some(None);
        }
        loop {
            self.skip_whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string(true)?;
            self.expect(b':')?;
            self.skip_whitespace();
            if take_cursor && &self.text[key.clone()] == b"next_cursor" {
                let written = self.out.len();
                self.value(depth + 1)?;
                cursor = Some(self.out.split_off(written));
            } else {
                if !members.is_empty() {
                    self.out.push(b',');
                }
                let written = self.out.len();
                self.out.extend_from_slice(&self.text[key.start - 1..=key.end]);
                self.out.push(b':');
                self.value(depth + 1)?;
                members.push(Member { key, written: written..self.out.len() });
            }
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        let text = self.text;
        let key = |member: &Member| &text[member.key.clone()];
        // Byte order; keys mostly differ in their first byte, compared before any `memcmp`.
        let order = |a: &Member, b: &Member| {
            let (a, b) = (key(a), key(b));
            a.first().cmp(&b.first()).then_with(|| a.cmp(b))
        };
        if !members.windows(2).all(|pair| order(&pair[0], &pair[1]).is_lt()) {
            members.sort_unstable_by(order);
            if members.windows(2).any(|pair| order(&pair[0], &pair[1]).is_eq()) {
                return None;
            }
            // Rewrite the members in order from a copy of what was written.
            let written = self.out.split_off(start + 1);
            for (index, member) in members.iter().enumerate() {
                if index > 0 {
                    self.out.push(b',');
                }
                let range = member.written.start - start - 1..member.written.end - start - 1;
                self.out.extend_from_slice(&written[range]);
            }
        }
        self.out.push(b'}');
        Some(cursor)
    }
}

/// The length of the escape at the start of `text` (a backslash) when serde writes exactly that
/// escape for the character it stands for; `None` otherwise.
fn canonical_escape(text: &[u8]) -> Option<usize> {
    match *text.get(1)? {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => {
            let hex = text.get(2..6)?;
            let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
            if &hex[..2] != b"00" || !hex[2..].iter().all(lower_hex) {
                return None;
            }
            let code = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
            // serde writes these five by letter, and nothing from 0x20 up as `\u`.
            let by_letter = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
            (code < 0x20 && !by_letter).then_some(6)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::envelope;

    /// What the `Value` path writes (`tools::envelope` then serde).
    fn by_value(operation: &str, text: &str) -> Option<String> {
        serde_json::to_string(&crate::tools::envelope(operation, serde_json::from_str(text).ok()?)).ok()
    }

    fn compact(text: &str) -> Option<String> {
        envelope("read_entity", text).map(|bytes| String::from_utf8(bytes).expect("UTF-8"))
    }

    #[test]
    fn postgres_text_becomes_what_serde_writes() {
        let texts = [
            r#"{"id": "3f", "name": "Alpha, \"quoted\"\n\\ é 日本 🦀", "type": "note", "version": 3, "metadata": {"b": [1, -2, true, false, null, {}], "a": {"zz": [], "z": "x"}}, "created_at": "2026-11-30T03:00:00+00:00", "workspace_id": "w"}"#,
            r#"{"items": [{"id": "a"}, {"id": "b"}], "next_cursor": "eyJ"}"#,
            r#"{"items": [], "next_cursor": null}"#,
            r#"[1, 2, 3]"#,
            r#""just a string""#,
            "null",
            "18446744073709551615",
            "-9223372036854775808",
            r#"{"ctl": "\u0001\u001f\b\f\n\r\t", "empty": "", "": 0}"#,
            "  {\n\t\"b\" :1 ,\"a\":2 }  ",
        ];
        for text in texts {
            assert_eq!(compact(text), by_value("read_entity", text), "{text}");
            assert!(compact(text).is_some(), "{text}");
        }
    }

    #[test]
    fn whatever_serde_would_write_differently_is_declined() {
        let declined = [
            r#"{"score": 1.10}"#,
            r#"{"n": 1e3}"#,
            r#"{"n": -0}"#,
            r#"{"n": 18446744073709551616}"#,
            r#"{"n": -9223372036854775809}"#,
            r#"{"n": 01}"#,
            r#"{"s": "\/"}"#,
            r#"{"s": "\u00e9"}"#,
            r#"{"s": "\u001F"}"#,
            r#"{"s": "\u000a"}"#,
            r#"{"s": "\u0020"}"#,
            r#"{"k\n": 1}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1"#,
            r#"{"a": 1} x"#,
            r#"{"a": 1,}"#,
            r#"[1,]"#,
            "tru",
            "\"raw\u{1}control\"",
            "",
        ];
        for text in declined {
            assert_eq!(compact(text), None, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert_eq!(compact(&deep), None);
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(compact(&fine), by_value("read_entity", &fine));
    }
}
