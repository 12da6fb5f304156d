//! W3C Trace Context (`traceparent`, `tracestate`): parsing, validation, and the trace of
//! the call being polled on this thread.
//!
//! Plain data and a thread-local: no runtime, no tracing backend. The server reads the two
//! keys from a call's request metadata; the Rust and TypeScript clients write them.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// The request metadata key of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// The request metadata key of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";
/// Longest `tracestate` kept, in bytes: the W3C limit of 32 list members of at most 256
/// bytes each would allow about 8 KiB, but the specification asks vendors to propagate at
/// least 512 bytes and lets them drop the rest; a longer value is dropped whole (the
/// `traceparent` is still used) rather than cut mid-member.
pub const MAX_TRACESTATE_LEN: usize = 512;

/// A validated W3C trace context: the `traceparent` of the caller and its `tracestate`.
///
/// ```
/// use swill::observe::TraceContext;
///
/// let tc = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None)
///     .unwrap();
/// assert_eq!(tc.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tc.parent_id(), "00f067aa0ba902b7");
/// assert!(tc.sampled());
/// assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// `00-<32 hex>-<16 hex>-<2 hex>`, lower case, exactly 55 bytes.
    traceparent: Box<str>,
    tracestate: Option<Box<str>>,
}

/// Why a `traceparent` was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceContextError {
    /// Not `version-traceid-parentid-flags` with the lengths of version 00.
    #[error("traceparent is not version-traceid-parentid-flags")]
    Format,
    /// A field holds something other than lower-case hex digits.
    #[error("traceparent holds a character other than a lower-case hex digit")]
    NotHex,
    /// Version `ff`, which the specification forbids.
    #[error("traceparent version ff is invalid")]
    Version,
    /// The trace id or the parent id is all zeros.
    #[error("traceparent has an all-zero trace id or parent id")]
    Zero,
}

fn is_lower_hex(s: &[u8]) -> bool {
    s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl TraceContext {
    /// Validates `traceparent` (W3C Trace Context level 1, §3.2) and keeps `tracestate` when
    /// it is at most [`MAX_TRACESTATE_LEN`] bytes of printable ASCII.
    ///
    /// A version above `00` is accepted as the specification asks: its first four fields
    /// are read as version 00's, and what follows them (a `-` and more) is dropped.
    ///
    /// # Errors
    /// [`TraceContextError`] when `traceparent` is not a valid one.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, TraceContextError> {
        let b = traceparent.trim_matches([' ', '\t']).as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceContextError::Format);
        }
        let (version, trace, parent, flags) = (&b[0..2], &b[3..35], &b[36..52], &b[53..55]);
        if ![version, trace, parent, flags]
            .iter()
            .all(|f| is_lower_hex(f))
        {
            return Err(TraceContextError::NotHex);
        }
        if version == b"ff" {
            return Err(TraceContextError::Version);
        }
        // Version 00 is exactly 55 bytes; a later version may add fields after a dash.
        if b.len() > 55 && (version == b"00" || b[55] != b'-') {
            return Err(TraceContextError::Format);
        }
        if trace.iter().all(|&c| c == b'0') || parent.iter().all(|&c| c == b'0') {
            return Err(TraceContextError::Zero);
        }
        let tracestate = tracestate
            .map(|s| s.trim_matches([' ', '\t']))
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= MAX_TRACESTATE_LEN
                    && s.bytes().all(|c| (0x20..0x7f).contains(&c))
            })
            .map(Box::from);
        // Kept as version 00 (what this code understands and forwards).
        let mut tp = String::with_capacity(55);
        tp.push_str("00");
        tp.push_str(std::str::from_utf8(&b[2..55]).map_err(|_| TraceContextError::Format)?);
        Ok(Self {
            traceparent: tp.into_boxed_str(),
            tracestate,
        })
    }

    /// The trace context of request metadata: its `traceparent` and `tracestate` string
    /// values. `None` when there is no `traceparent` or it is malformed (a malformed one is
    /// ignored, as the specification asks: the call starts a new trace).
    pub fn from_metadata(md: &crate::metadata::Metadata) -> Option<Self> {
        if md.is_empty() {
            return None;
        }
        let tp = md.get_str(TRACEPARENT)?;
        Self::parse(tp, md.get_str(TRACESTATE)).ok()
    }

    /// Writes `traceparent` (and `tracestate` when there is one) into request metadata.
    pub fn insert_into(&self, md: &mut crate::metadata::Metadata) {
        md.insert(TRACEPARENT, &*self.traceparent);
        if let Some(ts) = &self.tracestate {
            md.insert(TRACESTATE, &**ts);
        }
    }

    /// The `traceparent` header value, normalised to version `00`.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` header value, if one came and was kept.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lower-case hex digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The caller's span id (the parent of the call's span): 16 lower-case hex digits.
    pub fn parent_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// The trace flags byte (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.traceparent[53..55], 16).unwrap_or(0)
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags() & 1 == 1
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent)
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<TraceContext>>> = const { RefCell::new(None) };
}

/// The trace context of the call whose handler is running on this thread, if the caller
/// sent one: set by the server while it polls a call (and while a blocking handler runs).
/// Pub/sub publishes capture it, so subscribers see the publishing call's trace.
pub fn current() -> Option<Arc<TraceContext>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Makes `trace` the [`current`] trace context until the guard drops (the previous one
/// comes back). `None` changes nothing and costs nothing.
pub(crate) fn enter(trace: Option<&Arc<TraceContext>>) -> Entered {
    let Some(trace) = trace else {
        return Entered(None);
    };
    let prev = CURRENT.with(|c| c.replace(Some(trace.clone())));
    Entered(Some(prev))
}

/// Restores the previous current trace context on drop.
pub(crate) struct Entered(Option<Option<Arc<TraceContext>>>);

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_parses_into_its_fields() {
        let tc = TraceContext::parse(TP, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(tc.traceparent(), TP);
        assert_eq!(tc.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tc.parent_id(), "00f067aa0ba902b7");
        assert_eq!(tc.flags(), 1);
        assert!(tc.sampled());
        assert_eq!(tc.tracestate(), Some("congo=t61rcWkgMzE"));
        assert_eq!(tc.to_string(), TP);
        let unsampled = TP.replace("-01", "-00");
        assert!(!TraceContext::parse(&unsampled, None).unwrap().sampled());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        let cases = [
            ("", TraceContextError::Format),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                TraceContextError::Format,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceContextError::Format,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceContextError::NotHex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                TraceContextError::NotHex,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceContextError::Version,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                TraceContextError::Zero,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                TraceContextError::Zero,
            ),
            // Version 00 has nothing after the flags.
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                TraceContextError::Format,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",
                TraceContextError::Format,
            ),
        ];
        for (tp, want) in cases {
            assert_eq!(TraceContext::parse(tp, None).err(), Some(want), "{tp:?}");
        }
        // Multi-byte text where an ASCII field is expected is refused, not a panic.
        assert!(TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-é1",
            None
        )
        .is_err());
        assert!(TraceContext::parse(
            "ééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
            None
        )
        .is_err());
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let tp = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        let tc = TraceContext::parse(tp, None).unwrap();
        assert_eq!(tc.traceparent(), TP);
        assert!(TraceContext::parse(&format!("{}x", &tp[..55]), None).is_err());
    }

    #[test]
    fn tracestate_is_kept_only_when_sane() {
        let long = "a=".to_owned() + &"b".repeat(MAX_TRACESTATE_LEN);
        for bad in ["", "  ", "a=\u{7}", &long] {
            assert_eq!(
                TraceContext::parse(TP, Some(bad)).unwrap().tracestate(),
                None
            );
        }
        let tc = TraceContext::parse(TP, Some(" rojo=00f067aa0ba902b7 ")).unwrap();
        assert_eq!(tc.tracestate(), Some("rojo=00f067aa0ba902b7"));
    }

    #[test]
    fn metadata_round_trips_and_malformed_is_ignored() {
        let tc = TraceContext::parse(TP, Some("k=v")).unwrap();
        let mut md = crate::metadata::Metadata::new();
        tc.insert_into(&mut md);
        assert_eq!(TraceContext::from_metadata(&md), Some(tc));
        assert_eq!(
            TraceContext::from_metadata(&crate::metadata::Metadata::new()),
            None
        );
        let bad = crate::metadata::Metadata::new().with(TRACEPARENT, "00-zz");
        assert_eq!(TraceContext::from_metadata(&bad), None);
        let not_a_string = crate::metadata::Metadata::new().with(TRACEPARENT, 7);
        assert_eq!(TraceContext::from_metadata(&not_a_string), None);
    }

    #[test]
    fn the_current_trace_is_scoped_to_its_guard() {
        assert!(current().is_none());
        let tc = Arc::new(TraceContext::parse(TP, None).unwrap());
        {
            let _g = enter(Some(&tc));
            assert_eq!(current().as_deref(), Some(&*tc));
            let _none = enter(None);
            assert_eq!(
                current().as_deref(),
                Some(&*tc),
                "None keeps the current one"
            );
        }
        assert!(current().is_none());
    }
}
