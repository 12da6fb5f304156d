//! Resumable streams: the [`Position`] a stream is at, and how a resume went ([`Resumed`]).
//!
//! The contract (shared with `swill::pubsub` topics with history): a stream is resumable when
//! its leading metadata carries a string `epoch` and an integer `offset`; its k-th item
//! (1-based) is at position `offset + k`. To resume, the same call is opened again with the
//! request metadata `since: {"epoch": e, "offset": p}`, p the last position received; the new
//! stream's leading metadata says `recovered: true` (it continues at p + 1, no gap, no
//! duplicate) or `recovered: false` (only live items follow, from the current epoch/offset).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::metadata::Metadata;

/// Where a resumable stream is: its `epoch` and the position of the last item received
/// (or, before any item, the `offset` of its leading metadata).
///
/// It is also the value of the `since` request metadata that resumes a stream. Pass it
/// yourself to resume from a position saved elsewhere (say, by a previous process):
///
/// ```
/// use swill::client::Position;
/// use swill::Metadata;
///
/// let saved = Position { epoch: "e7".into(), offset: 41 };
/// let md = Metadata::new().with(Position::SINCE, &saved);
/// assert_eq!(Position::from_metadata(md.get(Position::SINCE).unwrap()), Some(saved));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct Position {
    /// The history's identity: offsets of different epochs are unrelated.
    pub epoch: String,
    /// The position of the last item received.
    pub offset: u64,
}

/// Always a map `{"epoch": .., "offset": ..}` (what `since` is on the wire), also with
/// serializers that write structs as arrays.
impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("epoch", &self.epoch)?;
        map.serialize_entry("offset", &self.offset)?;
        map.end()
    }
}

impl Position {
    /// The request metadata key that asks for a resume.
    pub const SINCE: &'static str = "since";

    /// The position a stream's leading metadata announces: its `epoch` (a string) and
    /// `offset` (a non-negative integer). `None` when either is missing: the stream is not
    /// resumable.
    pub fn from_leading(md: &Metadata) -> Option<Self> {
        let epoch = md.get_str("epoch")?;
        let offset = md.get("offset")?.as_u64()?;
        Some(Self {
            epoch: epoch.to_owned(),
            offset,
        })
    }

    /// Reads a `{"epoch": .., "offset": ..}` map, such as the value of `since`.
    pub fn from_metadata(v: &rmpv::Value) -> Option<Self> {
        let map = v.as_map()?;
        let field = |name: &str| {
            map.iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v)
        };
        Some(Self {
            epoch: field("epoch")?.as_str()?.to_owned(),
            offset: field("offset")?.as_u64()?,
        })
    }
}

/// Why a stream was re-opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeCause {
    /// The connection dropped and the client reconnected.
    Reconnected,
    /// The server ended the stream because it fell behind: ERROR 503 whose data has
    /// `lagged` or `interrupted: true`.
    Lagged,
}

/// How a resume went: the outcome the server reported in the new stream's leading metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resumed {
    /// `true`: the stream continues right after the last item received, with no gap and no
    /// duplicate. `false`: items were missed; only live items follow, and the application
    /// should reload its state with an ordinary call.
    pub recovered: bool,
    /// Where the new stream starts (the last item's position when `recovered`); `None` when
    /// the new stream is not resumable any more.
    pub position: Option<Position>,
    /// Why the stream was re-opened.
    pub cause: ResumeCause,
}

/// What an [`Events`](super::Events) stream yields: the items, and where the client resumed
/// the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent<T> {
    /// The next item.
    Item(T),
    /// The stream was re-opened here (after a reconnect, or after it lagged). The items
    /// that follow continue it ([`Resumed::recovered`]) or are live ones after a gap.
    Resumed(Resumed),
}

/// The outcome a re-opened stream's leading metadata reports, given where the stream was.
/// `recovered` holds only if the server says so and the position is the one asked for: a
/// server that skips items is treated as not recovered rather than trusted.
pub(super) fn outcome(
    leading: Option<&Metadata>,
    asked: Option<&Position>,
    cause: ResumeCause,
) -> Resumed {
    let position = leading.and_then(Position::from_leading);
    let said = leading
        .and_then(|md| md.get("recovered"))
        .and_then(rmpv::Value::as_bool)
        == Some(true);
    let recovered = said && position.is_some() && position.as_ref() == asked;
    Resumed {
        recovered,
        position,
        cause,
    }
}

/// Whether `e` ends a resumable stream that should be repaired by resuming: 503 with
/// `lagged` (any value) or `interrupted: true` in its data.
pub(super) fn is_interruption(e: &Error) -> bool {
    if e.code().as_i64() != 503 {
        return false;
    }
    let Some(map) = e.data().and_then(rmpv::Value::as_map) else {
        return false;
    };
    map.iter().any(|(k, v)| match k.as_str() {
        Some("lagged") => true,
        Some("interrupted") => v.as_bool() == Some(true),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    #[test]
    fn a_stream_is_resumable_with_a_string_epoch_and_an_integer_offset() {
        let md = Metadata::new().with("epoch", "e1").with("offset", 5);
        assert_eq!(Position::from_leading(&md), Some(pos("e1", 5)));
        let no_epoch = Metadata::new().with("epoch", 1).with("offset", 5);
        assert_eq!(Position::from_leading(&no_epoch), None);
        let negative = Metadata::new().with("epoch", "e").with("offset", -1);
        assert_eq!(Position::from_leading(&negative), None);
        assert_eq!(Position::from_leading(&Metadata::new()), None);
    }

    #[test]
    fn since_round_trips_through_metadata() {
        let md = Metadata::new().with(Position::SINCE, pos("e", 9));
        let back = Metadata::from_msgpack(&md.to_msgpack()).unwrap();
        assert_eq!(
            Position::from_metadata(back.get(Position::SINCE).unwrap()),
            Some(pos("e", 9))
        );
    }

    #[test]
    fn recovered_needs_the_servers_word_and_the_asked_position() {
        let asked = pos("e", 3);
        let md = |recovered: bool, offset: u64| {
            Metadata::new()
                .with("epoch", "e")
                .with("offset", offset)
                .with("recovered", recovered)
        };
        let ok = outcome(Some(&md(true, 3)), Some(&asked), ResumeCause::Reconnected);
        assert!(ok.recovered);
        assert_eq!(ok.position, Some(asked.clone()));
        let skipped = outcome(Some(&md(true, 5)), Some(&asked), ResumeCause::Lagged);
        assert!(!skipped.recovered, "a gap is never reported as recovered");
        let fresh = outcome(Some(&md(false, 10)), Some(&asked), ResumeCause::Lagged);
        assert!(!fresh.recovered);
        assert_eq!(fresh.position, Some(pos("e", 10)));
        let plain = outcome(None, Some(&asked), ResumeCause::Reconnected);
        assert_eq!(plain.position, None);
        assert!(!plain.recovered);
    }

    #[test]
    fn lagged_or_interrupted_503s_are_interruptions() {
        let lagged = Error::new(503, "lagged").with_data(Metadata::new().with("lagged", 4));
        assert!(is_interruption(&lagged));
        let interrupted = Error::new(503, "x").with_data(Metadata::new().with("interrupted", true));
        assert!(is_interruption(&interrupted));
        let not = Error::new(503, "x").with_data(Metadata::new().with("interrupted", false));
        assert!(!is_interruption(&not));
        assert!(!is_interruption(&Error::new(503, "closing")));
        let other = Error::new(500, "x").with_data(Metadata::new().with("lagged", 4));
        assert!(!is_interruption(&other));
    }
}
