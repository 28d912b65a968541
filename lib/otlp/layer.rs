//! The `tracing` layer that turns this crate's spans into OTLP spans: ids and the parent link
//! when a span opens, its fields as attributes, the end time when it closes — then the finished
//! span goes to the bounded batch ([`super::export::Batch`]). Nothing here does I/O or waits.
//!
//! Only spans of the `atoms` target reach it (a per-layer filter), so the attributes are the
//! fields our own span definitions declare — names, operation labels, counts; never arguments,
//! keys, tokens or emails (see ARCHITECTURE.md, "Invariants").

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Span, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::export::Batch;
use super::ids::{self, SpanId, TraceId};

/// An attribute value, typed as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// A span that has ended, as it is exported.
#[derive(Debug, Clone)]
pub(crate) struct FinishedSpan {
    pub(crate) name: &'static str,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<(&'static str, Value)>,
}

/// A finished span with fixed ids and times, for the encoder's and the batch's unit tests.
#[cfg(test)]
pub(crate) fn test_span(
    name: &'static str,
    parent: Option<SpanId>,
    attributes: Vec<(&'static str, Value)>,
) -> FinishedSpan {
    FinishedSpan {
        name,
        trace_id: [0xab; 16],
        span_id: [0x01; 8],
        parent,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_000_002_000_000,
        attributes,
    }
}

/// What the layer keeps in the registry's extensions of an open span.
struct Open {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    start_unix_nanos: u64,
    attributes: Vec<(&'static str, Value)>,
}

pub(crate) struct OtlpLayer {
    pub(crate) batch: Arc<Batch>,
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|parent| parent.extensions().get::<Open>().map(|open| (open.trace_id, open.span_id)));
        let mut fields = Fields(Vec::with_capacity(attrs.fields().len()));
        attrs.record(&mut fields);
        let open = Open {
            trace_id: parent.map_or_else(ids::trace_id, |(trace, _)| trace),
            span_id: ids::span_id(),
            parent: parent.map(|(_, span)| span),
            start_unix_nanos: now_unix_nanos(),
            attributes: fields.0,
        };
        span.extensions_mut().insert(open);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(open) = extensions.get_mut::<Open>() {
            let mut fields = Fields(std::mem::take(&mut open.attributes));
            values.record(&mut fields);
            open.attributes = fields.0;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        self.batch.push(FinishedSpan {
            name: span.name(),
            trace_id: open.trace_id,
            span_id: open.span_id,
            parent: open.parent,
            start_unix_nanos: open.start_unix_nanos,
            end_unix_nanos: now_unix_nanos(),
            attributes: open.attributes,
        });
    }
}

/// Changes an open span's trace and parent to a caller's (`traceparent`) and adds
/// `attributes`; a no-op for a span the layer does not track.
pub(crate) fn amend(
    span: &Span,
    remote: Option<(TraceId, SpanId)>,
    attributes: &mut dyn Iterator<Item = (&'static str, Value)>,
) {
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else { return };
        let Some(span) = registry.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(open) = extensions.get_mut::<Open>() else { return };
        if let Some((trace_id, parent)) = remote {
            open.trace_id = trace_id;
            open.parent = Some(parent);
        }
        for (key, value) in attributes {
            set(&mut open.attributes, key, value);
        }
    });
}

fn set(attributes: &mut Vec<(&'static str, Value)>, key: &'static str, value: Value) {
    match attributes.iter_mut().find(|(name, _)| *name == key) {
        Some(slot) => slot.1 = value,
        None => attributes.push((key, value)),
    }
}

fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A span's fields as attributes (a later `record` of a field replaces its value).
struct Fields(Vec<(&'static str, Value)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        set(&mut self.0, field.name(), Value::Str(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        set(&mut self.0, field.name(), Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        set(&mut self.0, field.name(), Value::Int(i64::try_from(value).unwrap_or(i64::MAX)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        set(&mut self.0, field.name(), Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        set(&mut self.0, field.name(), Value::Double(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        set(&mut self.0, field.name(), Value::Str(format!("{value:?}")));
    }
}
