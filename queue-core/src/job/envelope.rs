//! A stored payload may carry the trace context of its dispatch ahead of its JSON; the
//! layout is described on [`StoredPayload`].

use std::fmt;

use bytes::Bytes;

/// The byte that opens and closes a stored payload's trace context (ASCII record separator).
pub const CONTEXT_MARK: u8 = 0x1E;

/// The longest context a payload carries, in bytes between the markers; a dispatch whose
/// propagator writes more keeps the fields that fit, in order.
pub const MAX_CONTEXT_LEN: usize = 8 * 1024;

/// A stored payload read apart: the trace context it carries, if any, and its JSON.
///
/// Drivers store payloads as opaque bytes, so the context of a dispatch (with queue-core's
/// `otel` feature) travels inside them, in a form no JSON document can take:
///
/// ```text
/// 0x1E  name=value ( '\n' name=value )*  0x1E  JSON
/// ```
///
/// The record separator ([`CONTEXT_MARK`]) can never begin JSON, so a payload without a
/// context (every payload dispatched with the feature off, or without a span OpenTelemetry
/// records) is stored as its JSON alone, byte for byte, and reading it costs one byte compare.
/// The fields are the ones the dispatching program's propagator wrote, W3C `traceparent` and
/// `tracestate` with `TraceContextPropagator`: names without `=`, values of printable ASCII, at
/// most [`MAX_CONTEXT_LEN`] bytes in all. A payload that opens with the mark but has no closing
/// one, or whose context is not printable ASCII, is malformed: its handler fails the run at
/// once, naming the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredPayload<'a> {
    context: &'a str,
    json: &'a [u8],
}

impl<'a> StoredPayload<'a> {
    /// Reads a payload as a driver stored it. A payload that does not open with
    /// [`CONTEXT_MARK`] is all JSON.
    pub fn parse(stored: &'a [u8]) -> Result<Self, MalformedPayload> {
        let Some((&CONTEXT_MARK, rest)) = stored.split_first() else {
            return Ok(Self {
                context: "",
                json: stored,
            });
        };
        let end = rest
            .iter()
            .position(|&b| b == CONTEXT_MARK)
            .ok_or(MalformedPayload::Unterminated)?;
        let (context, json) = (&rest[..end], &rest[end + 1..]);
        if !context.iter().all(|&b| b == b'\n' || is_text(b)) {
            return Err(MalformedPayload::NotText);
        }
        Ok(Self {
            // Printable ASCII and newlines only, as just checked.
            context: std::str::from_utf8(context).map_err(|_| MalformedPayload::NotText)?,
            json,
        })
    }

    /// The JSON payload, as the dispatcher encoded it.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// Whether the payload carries a trace context.
    pub fn has_context(&self) -> bool {
        !self.context.is_empty()
    }

    /// The trace context's fields, `(name, value)`, in the order they were written
    /// (e.g. `("traceparent", "00-…-01")`); none for a payload without a context.
    pub fn context(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.context
            .split('\n')
            .filter_map(|field| field.split_once('='))
    }

    /// The value of the context's field `name`.
    pub fn context_field(&self, name: &str) -> Option<&'a str> {
        self.context()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }
}

/// The JSON part of a stored payload, without the trace context it may carry: what
/// inspection shows. A malformed payload is returned whole.
pub fn strip_trace_context(stored: &[u8]) -> &[u8] {
    StoredPayload::parse(stored).map_or(stored, |payload| payload.json())
}

/// Why a stored payload's trace context could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedPayload {
    /// It opens with [`CONTEXT_MARK`] and has no second one.
    Unterminated,
    /// The context holds a byte other than printable ASCII and newlines.
    NotText,
}

impl fmt::Display for MalformedPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedPayload::Unterminated => f.write_str(
                "it starts with a trace context (byte 0x1E) that does not end (no second 0x1E)",
            ),
            MalformedPayload::NotText => f.write_str(
                "its trace context (between the 0x1E bytes) is not printable ASCII text",
            ),
        }
    }
}

impl std::error::Error for MalformedPayload {}

/// A byte a context's names and values may hold: printable ASCII.
fn is_text(b: u8) -> bool {
    (0x20..0x7F).contains(&b)
}

/// `json` behind a context of `fields`, or `None` when no field can be carried (empty values,
/// names holding `=` and bytes other than printable ASCII are left out, as are fields past
/// [`MAX_CONTEXT_LEN`]): the JSON is then stored alone.
#[cfg_attr(not(any(test, feature = "otel")), allow(dead_code))]
pub(crate) fn with_context<'f>(
    json: &[u8],
    fields: impl IntoIterator<Item = (&'f str, &'f str)>,
) -> Option<Bytes> {
    let mut context = Vec::with_capacity(128);
    for (name, value) in fields {
        let fits = context.len() + usize::from(!context.is_empty()) + name.len() + 1 + value.len()
            <= MAX_CONTEXT_LEN;
        let valid = !name.is_empty()
            && !value.is_empty()
            && name.bytes().all(|b| is_text(b) && b != b'=')
            && value.bytes().all(is_text);
        if !(fits && valid) {
            continue;
        }
        if !context.is_empty() {
            context.push(b'\n');
        }
        context.extend_from_slice(name.as_bytes());
        context.push(b'=');
        context.extend_from_slice(value.as_bytes());
    }
    if context.is_empty() {
        return None;
    }
    let mut stored = Vec::with_capacity(context.len() + 2 + json.len());
    stored.push(CONTEXT_MARK);
    stored.extend_from_slice(&context);
    stored.push(CONTEXT_MARK);
    stored.extend_from_slice(json);
    Some(Bytes::from(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn json_without_a_context_is_stored_and_read_unchanged() {
        let json = br#"{"user_id":7}"#;
        let read = StoredPayload::parse(json).unwrap();
        assert_eq!(read.json(), json);
        assert!(!read.has_context());
        assert_eq!(read.context().count(), 0);
        assert_eq!(strip_trace_context(json), json);
        // Nothing to carry: the JSON is stored alone.
        assert_eq!(with_context(json, []), None);
        assert_eq!(with_context(json, [("bad=name", "x"), ("", "y")]), None);
        // Every JSON text starts with something other than the mark, even an empty payload.
        assert_eq!(StoredPayload::parse(b"").unwrap().json(), b"");
    }

    #[test]
    fn a_context_travels_ahead_of_the_json() {
        let json = br#"{"user_id":7}"#;
        let stored = with_context(
            json,
            [
                ("traceparent", PARENT),
                ("tracestate", "congo=t61rcWkgMzE,rojo=1"),
            ],
        )
        .unwrap();
        assert_eq!(stored[0], CONTEXT_MARK);
        let read = StoredPayload::parse(&stored).unwrap();
        assert_eq!(read.json(), json);
        assert!(read.has_context());
        assert_eq!(read.context_field("traceparent"), Some(PARENT));
        assert_eq!(
            read.context_field("tracestate"),
            Some("congo=t61rcWkgMzE,rojo=1")
        );
        assert_eq!(read.context().count(), 2);
        assert_eq!(strip_trace_context(&stored), json);
        let text = format!(
            "\u{1e}traceparent={PARENT}\ntracestate=congo=t61rcWkgMzE,rojo=1\u{1e}{}",
            std::str::from_utf8(json).unwrap()
        );
        assert_eq!(&stored[..], text.as_bytes(), "the documented layout");
    }

    #[test]
    fn fields_that_cannot_travel_are_left_out() {
        let long = "x".repeat(MAX_CONTEXT_LEN);
        let stored = with_context(
            b"1",
            [
                ("traceparent", PARENT),
                ("tracestate", "line\nbreak"),
                ("tracestate", ""),
                ("baggage", long.as_str()),
                ("other", "kept"),
            ],
        )
        .unwrap();
        let read = StoredPayload::parse(&stored).unwrap();
        let fields: Vec<_> = read.context().collect();
        assert_eq!(fields, [("traceparent", PARENT), ("other", "kept")]);
        assert_eq!(read.json(), b"1");
    }

    #[test]
    fn malformed_contexts_are_errors_not_panics() {
        let unterminated = format!("\u{1e}traceparent={PARENT}{{\"a\":1}}");
        assert_eq!(
            StoredPayload::parse(unterminated.as_bytes()),
            Err(MalformedPayload::Unterminated)
        );
        assert_eq!(
            StoredPayload::parse(&[CONTEXT_MARK]),
            Err(MalformedPayload::Unterminated)
        );
        assert_eq!(
            StoredPayload::parse(b"\x1etrace\x00parent=1\x1e{}"),
            Err(MalformedPayload::NotText)
        );
        assert!(MalformedPayload::Unterminated
            .to_string()
            .contains("does not end"));
        // Shown whole, for inspection.
        assert_eq!(
            strip_trace_context(unterminated.as_bytes()),
            unterminated.as_bytes()
        );
        // An empty context is read as none.
        let empty = StoredPayload::parse(b"\x1e\x1e[1]").unwrap();
        assert_eq!((empty.json(), empty.has_context()), (&b"[1]"[..], false));
    }
}
