//! Trace and span ids: W3C `traceparent` parsing (to continue a caller's trace) and fresh
//! random ids from a per-thread generator (seeded once from the OS, no lock, no syscall per id).

use std::cell::Cell;

/// A trace id (16 bytes) and span id (8 bytes), as W3C Trace Context and OTLP carry them.
pub(crate) type TraceId = [u8; 16];
pub(crate) type SpanId = [u8; 8];

/// The `trace-id` and `parent-id` of a W3C `traceparent` header (version `00`, or a later
/// version's first four fields); `None` for anything malformed or all-zero ids.
pub(crate) fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId)> {
    let mut fields = value.trim().split('-');
    let version = fields.next()?;
    let (trace, parent, flags) = (fields.next()?, fields.next()?, fields.next()?);
    let valid_version = version.len() == 2 && version != "ff" && version.bytes().all(is_lower_hex);
    if !valid_version || flags.len() != 2 || !flags.bytes().all(is_lower_hex) {
        return None;
    }
    if version == "00" && fields.next().is_some() {
        return None;
    }
    let trace_id: TraceId = hex_array(trace)?;
    let parent_id: SpanId = hex_array(parent)?;
    (trace_id != [0; 16] && parent_id != [0; 8]).then_some((trace_id, parent_id))
}

/// A new random trace id.
pub(crate) fn trace_id() -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next().to_be_bytes());
    id[8..].copy_from_slice(&next().to_be_bytes());
    if id == [0; 16] { [1; 16] } else { id }
}

/// A new random span id.
pub(crate) fn span_id() -> SpanId {
    match next() {
        0 => [1; 8],
        n => n.to_be_bytes(),
    }
}

/// Lower-case hex, as OTLP/JSON writes ids.
pub(crate) use crate::hex::encode as hex;

fn is_lower_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(is_lower_hex) {
        return None;
    }
    let mut out = [0u8; N];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(out)
}

/// splitmix64 over a per-thread state seeded from the OS: ids must be unique and unguessable
/// enough not to collide across instances, not secret.
fn next() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): the clock still differs between instances.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        return now.as_nanos() as u64;
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let (trace, parent) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(hex(&trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent), "00f067aa0ba902b7");
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-zbf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(trace_id(), trace_id());
        assert_ne!(span_id(), span_id());
        assert_eq!(hex(&span_id()).len(), 16);
    }
}
