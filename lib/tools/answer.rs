//! What a tool call produced, before it is written: rmcp's [`CallToolResult`] for the rmcp path,
//! or the same result's JSON written directly for the `tools/call` fast path
//! (`crate::mcp::fast_call`). A successful envelope usually arrives already written, from the
//! database's text ([`super::compact`]).
//!
//! Most answers are an envelope (or an error object) sent twice — as `structuredContent` and as
//! one text block holding its JSON. rmcp's serializer walks the value for each, escaping the
//! text block byte by byte; [`Answer::write_json`] serializes the value once and escapes that
//! text in a few long copies. The bytes are the same (the tests below and `tests/mcp_tools.rs`
//! compare them).

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// A tool's answer.
pub enum Answer {
    /// `value` as structured content and as one text block (`is_error` for a failure).
    Structured { value: Value, is_error: bool },
    /// A successful envelope's compact JSON, written by [`super::compact`] (as structured
    /// content and as one text block).
    Envelope(Vec<u8>),
    /// Anything else, finished (an export's embedded resource).
    Result(CallToolResult),
}

impl Answer {
    /// A successful answer of `value`.
    pub(super) fn ok(value: Value) -> Self {
        Self::Structured { value, is_error: false }
    }

    /// rmcp's result: what `CallToolResult::structured` builds, with the text written by
    /// serde_json's byte writer instead of `Display` (which goes through the formatter piece by
    /// piece).
    pub fn into_result(self) -> CallToolResult {
        match self {
            Self::Structured { value, is_error } => {
                let text = serde_json::to_string(&value).unwrap_or_default();
                structured(text, value, is_error)
            }
            Self::Envelope(json) => {
                // Always JSON (compact writes only what it read as JSON), and so UTF-8.
                let value = serde_json::from_slice(&json).unwrap_or(Value::Null);
                structured(String::from_utf8(json).unwrap_or_default(), value, false)
            }
            Self::Result(result) => result,
        }
    }

    /// About how many bytes [`Self::write_json`] appends (an envelope's exactly, give or take
    /// its escapes), so the response buffer is allocated once.
    pub fn size_hint(&self) -> usize {
        match self {
            // Written twice, once escaped (at most doubled), plus the fixed text around it.
            Self::Envelope(json) => 2 * json.len() + 128,
            Self::Structured { .. } | Self::Result(_) => 1024,
        }
    }

    /// Appends the JSON rmcp writes for [`Self::into_result`] (a 2026-07-28 result, which
    /// carries `resultType`) to `out`.
    pub fn write_json(self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (text, is_error) = match self {
            Self::Structured { value, is_error } => (serde_json::to_vec(&value)?, is_error),
            Self::Envelope(json) => (json, false),
            Self::Result(result) => return serde_json::to_writer(out, &result),
        };
        out.reserve(2 * text.len() + 128);
        out.extend_from_slice(br#"{"resultType":"complete","content":[{"type":"text","text":""#);
        push_escaped_json(&text, out);
        out.extend_from_slice(br#""}],"structuredContent":"#);
        out.extend_from_slice(&text);
        out.extend_from_slice(if is_error { br#","isError":true}"# } else { br#","isError":false}"# });
        Ok(())
    }
}

/// `text` (the JSON of `value`) as structured content and as one text block.
fn structured(text: String, value: Value, is_error: bool) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result.is_error = Some(is_error);
    result
}

/// Appends `json` (serde_json's compact output) as the body of a JSON string. Such text holds
/// no raw control characters (serde_json escapes them inside strings and writes no whitespace),
/// so only `"` and `\` need a backslash — exactly what serde_json's string escaping would do.
///
/// Eight bytes at a time: a word without either byte (ids, timestamps, long names) is copied
/// whole; one with either is written byte by byte. (A `memchr` per special byte costs a call
/// and its setup for every quote, and JSON has one every few bytes.)
fn push_escaped_json(json: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!json.iter().any(|b| *b < 0x20), "compact JSON holds no control characters");
    fn push_escaped_byte(byte: u8, out: &mut Vec<u8>) {
        if byte == b'"' || byte == b'\\' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    let mut rest = json;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let bits = u64::from_ne_bytes(*word);
        if has_byte(bits, b'"') || has_byte(bits, b'\\') {
            word.iter().for_each(|&byte| push_escaped_byte(byte, out));
        } else {
            out.extend_from_slice(word);
        }
        rest = tail;
    }
    rest.iter().for_each(|&byte| push_escaped_byte(byte, out));
}

/// Whether any of the eight bytes of `word` is `byte` (the zero-byte test of `word ^ byte…`:
/// exact for "any", which is all that is asked).
fn has_byte(word: u64, byte: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_where_equal = word ^ (ONES * u64::from(byte));
    zero_where_equal.wrapping_sub(ONES) & !zero_where_equal & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn both_ways(answer: impl Fn() -> Answer) -> (String, String) {
        let by_rmcp = serde_json::to_string(&answer().into_result()).expect("rmcp writes it");
        let mut direct = Vec::new();
        answer().write_json(&mut direct).expect("written directly");
        (by_rmcp, String::from_utf8(direct).expect("UTF-8"))
    }

    #[test]
    fn written_directly_is_what_rmcp_writes() {
        let awkward = "quote \" backslash \\ slash / controls \u{0}\u{1}\n\r\t\u{1f} del \u{7f} \
                       unicode é 日本 \u{2028} emoji 🦀 escaped-looking \\\" \\u0041";
        let values = [
            json!({"operation": "read_entity", "data": {"name": awkward, "metadata": {"k": [1, 2.5, null, true]}}}),
            json!({"error": {"code": "not_found", "message": awkward}}),
            json!({"operation": "list_entities", "data": {"items": []}, "next_cursor": "abc"}),
            json!(awkward),
            json!(null),
        ];
        for value in values {
            for is_error in [false, true] {
                let (by_rmcp, direct) = both_ways(|| Answer::Structured { value: value.clone(), is_error });
                assert_eq!(direct, by_rmcp);
            }
        }
    }

    #[test]
    fn an_envelope_written_from_the_databases_text_is_what_rmcp_writes() {
        let text = r#"{"name": "quote \" é\n", "id": "3f", "metadata": {"b": [1, -2], "a": null}}"#;
        let envelope =
            || Answer::Envelope(crate::tools::compact::envelope("read_entity", text).expect("plain"));
        let (by_rmcp, direct) = both_ways(envelope);
        assert_eq!(direct, by_rmcp);
        let result: serde_json::Value = serde_json::from_str(&by_rmcp).expect("JSON");
        assert_eq!(result["structuredContent"]["data"]["metadata"]["b"], json!([1, -2]));
        assert_eq!(
            result["content"][0]["text"],
            serde_json::to_string(&result["structuredContent"]).expect("text")
        );
    }

    #[test]
    fn escaping_finds_every_quote_and_backslash_at_every_offset() {
        for length in 0..40 {
            for at in 0..length {
                for special in [b'"', b'\\'] {
                    let mut text = vec![b'a'; length];
                    text[at] = special;
                    // Neighbours of the specials' values must not be taken for them.
                    if at + 1 < length {
                        text[at + 1] = special + 1;
                    }
                    let mut escaped = Vec::new();
                    push_escaped_json(&text, &mut escaped);
                    let quoted =
                        serde_json::to_string(std::str::from_utf8(&text).expect("ASCII")).expect("JSON");
                    assert_eq!(escaped, quoted.as_bytes()[1..quoted.len() - 1], "{length} {at}");
                }
            }
        }
        for byte in 0..=255u8 {
            let word = u64::from_ne_bytes([byte, 0x7f, 0x80, 0xff, 0, 1, 0x21, 0x5d]);
            let present = [byte, 0x7f, 0x80, 0xff, 0, 1, 0x21, 0x5d].contains(&b'"');
            assert_eq!(has_byte(word, b'"'), present, "{byte}");
        }
    }

    #[test]
    fn finished_results_are_written_as_they_are() {
        let answer = || Answer::Result(CallToolResult::success(vec![ContentBlock::text("plain")]));
        let (by_rmcp, direct) = both_ways(answer);
        assert_eq!(direct, by_rmcp);
    }
}
