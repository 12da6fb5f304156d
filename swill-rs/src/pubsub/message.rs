//! A published message: its topic and its MessagePack bytes, encoded once and shared.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Position, PubSubError};
use crate::observe::TraceContext;

/// One published message: the topic it was published on and its MessagePack encoding.
///
/// Cloning is cheap (two reference counts): every subscriber of a topic holds the same bytes,
/// encoded once by the publisher.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    topic: Arc<str>,
    payload: Bytes,
    position: Option<Position>,
    trace: Option<Arc<TraceContext>>,
}

impl Message {
    /// A message from its topic and already-encoded MessagePack bytes.
    pub fn new(topic: impl Into<Arc<str>>, payload: Bytes) -> Self {
        Self {
            topic: topic.into(),
            payload,
            position: None,
            trace: None,
        }
    }

    /// The same message carrying `trace`, the W3C trace context of whatever published it.
    /// [`PubSub::publish_message`](super::PubSub::publish_message) sets it to the trace of
    /// the call being handled (see [`crate::observe::current`]) when the message has none.
    #[must_use]
    pub fn with_trace_context(mut self, trace: Option<Arc<TraceContext>>) -> Self {
        self.trace = trace;
        self
    }

    /// The publisher's trace context: the traced call that published the message, or what
    /// [`with_trace_context`](Self::with_trace_context) set. Carried in process (the
    /// in-process backend and its history), and between instances by the Redis backend
    /// with `RedisConfig::trace_context` on (live messages; replayed history has none).
    pub fn trace_context(&self) -> Option<&Arc<TraceContext>> {
        self.trace.as_ref()
    }

    /// This message, with the current call's trace context when it has none of its own.
    pub(crate) fn with_current_trace(self) -> Self {
        if self.trace.is_some() {
            return self;
        }
        let trace = crate::observe::current();
        self.with_trace_context(trace)
    }

    /// The same message at position `position` of its topic's history (what a backend does
    /// when it appends the message to the history).
    #[must_use]
    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Where the message sits in its topic's history; `None` for a topic without history.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// Encodes `value` once (MessagePack, structs as maps, byte buffers as `bin`, as handler
    /// results are encoded) into a message for `topic`.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Encode`] when `value` cannot be encoded.
    pub fn encode<T: Serialize + ?Sized>(
        topic: impl Into<Arc<str>>,
        value: &T,
    ) -> Result<Self, PubSubError> {
        Ok(Self::new(topic, encode(value)?))
    }

    /// The topic the message was published on.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic, shared.
    pub fn topic_arc(&self) -> &Arc<str> {
        &self.topic
    }

    /// The MessagePack bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Decodes the payload into `T`.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Decode`] when the payload is not a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PubSubError> {
        rmp_serde::from_slice(&self.payload).map_err(|e| PubSubError::Decode(e.to_string()))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("len", &self.payload.len())
            .field("position", &self.position)
            .field(
                "trace",
                &self.trace.as_deref().map(TraceContext::traceparent),
            )
            .finish()
    }
}

/// Encodes `value` as swill encodes handler results: structs as maps, byte buffers as `bin`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, PubSubError> {
    let mut out = Vec::new();
    let mut ser = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_bytes(rmp_serde::config::BytesMode::ForceIterables);
    value
        .serialize(&mut ser)
        .map_err(|e| PubSubError::Encode(e.to_string()))?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Chat {
        from: String,
        text: String,
    }

    #[test]
    fn structs_encode_as_maps_and_round_trip() {
        let m = Message::encode(
            "room",
            &Chat {
                from: "ann".into(),
                text: "hi".into(),
            },
        )
        .unwrap();
        assert_eq!(m.topic(), "room");
        // fixmap of 2 entries, first key "from"
        assert_eq!(m.payload()[0], 0x82);
        assert_eq!(&m.payload()[1..6], b"\xa4from");
        let back: Chat = m.decode().unwrap();
        assert_eq!(back.text, "hi");
        assert!(matches!(m.decode::<u32>(), Err(PubSubError::Decode(_))));
    }

    #[test]
    fn byte_buffers_encode_as_bin() {
        let m = Message::encode("t", &vec![1u8, 2, 3]).unwrap();
        assert_eq!(&m.payload()[..], &[0xc4, 3, 1, 2, 3]);
    }
}
