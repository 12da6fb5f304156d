//! Topic history and stream positions (runtime-free): the [`History`] settings of a topic,
//! the [`Position`] of a message, the in-process [`Ring`] buffer, and the [`Cursor`] that
//! merges a replayed history with live messages without duplicates or gaps.
//!
//! A topic with history numbers its messages: the n-th message published to it is at offset
//! n of the topic's current **epoch**. The epoch changes whenever the numbering restarts (the
//! history was lost: a restart of the in-process backend, a flushed Redis), so a position
//! from an older epoch is never mistaken for one of the new numbering.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Message;

/// How many missed messages a resume replays at most before it answers `recovered: false`
/// (the client then reloads its state with an ordinary call): a few hundred messages are
/// cheaper to replay than a reload, and a client that missed more is better served by the
/// reload (Centrifugo uses the same order of magnitude).
pub const DEFAULT_MAX_RECOVERY: usize = 300;

/// The history length [`History::default`] keeps per topic.
pub const DEFAULT_HISTORY_LEN: usize = 1000;

/// How long [`History::default`] keeps a message: long enough to bridge a sleeping laptop or
/// a redeploy, short enough that an idle topic's history does not sit in memory for days.
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(10 * 60);

/// The history settings of one topic (see [`PubSubBuilder::history`]): keep at most
/// `max_len` messages, none older than `max_age`.
///
/// [`PubSubBuilder::history`]: super::PubSubBuilder::history
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    max_len: usize,
    max_age: Duration,
}

impl Default for History {
    /// [`DEFAULT_HISTORY_LEN`] messages, [`DEFAULT_HISTORY_AGE`].
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY_LEN)
    }
}

impl History {
    /// Keeps the last `max_len` messages (at least 1) for [`DEFAULT_HISTORY_AGE`].
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(1),
            max_age: DEFAULT_HISTORY_AGE,
        }
    }

    /// Keeps no message older than `age` (at least 1 ms).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age.max(Duration::from_millis(1));
        self
    }

    /// The most messages kept.
    pub fn get_max_len(&self) -> usize {
        self.max_len
    }

    /// The age past which messages are dropped.
    pub fn get_max_age(&self) -> Duration {
        self.max_age
    }
}

/// Where a message sits in its topic's history: the epoch of the numbering and the offset
/// (1 for the first message of an epoch). Offset 0 means "before the first message".
///
/// On the wire (leading metadata, and the `since` request metadata of a resume) it is the
/// map `{"epoch": string, "offset": int}`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    #[serde(with = "arc_str")]
    epoch: Arc<str>,
    offset: u64,
}

mod arc_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        Ok(Arc::from(String::deserialize(d)?))
    }
}

impl Position {
    /// The position `offset` of epoch `epoch`.
    pub fn new(epoch: impl Into<Arc<str>>, offset: u64) -> Self {
        Self {
            epoch: epoch.into(),
            offset,
        }
    }

    /// The epoch: changes whenever the topic's numbering restarts.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The epoch, shared.
    pub fn epoch_arc(&self) -> &Arc<str> {
        &self.epoch
    }

    /// The offset within the epoch.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.offset)
    }
}

/// What a backend's history read found (see [`Backend::history`](super::Backend::history)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRead {
    /// The position of the last message published to the topic (offset 0 when none was).
    pub top: Position,
    /// The messages after the position asked for, oldest first, each with its position;
    /// `None` when they cannot all be given (another epoch, trimmed from the history, or
    /// more than the limit asked for). Never a part of them.
    pub missed: Option<Vec<Message>>,
}

/// One topic's history in memory: a bounded ring of the last messages with their positions.
#[derive(Debug)]
pub(crate) struct Ring {
    epoch: Arc<str>,
    top: u64,
    entries: VecDeque<(Instant, Message)>,
}

impl Ring {
    /// An empty history of epoch `epoch`.
    pub(crate) fn new(epoch: Arc<str>) -> Self {
        Self {
            epoch,
            top: 0,
            entries: VecDeque::new(),
        }
    }

    /// The position of the last message.
    pub(crate) fn top(&self) -> Position {
        Position::new(self.epoch.clone(), self.top)
    }

    /// Whether nothing is kept (the topic can be forgotten once its numbering does not
    /// matter to anybody; see [`Memory`](super::Memory)).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Numbers `m` as the next message, keeps it and returns it with its position.
    pub(crate) fn append(&mut self, m: Message, h: &History, now: Instant) -> Message {
        self.top += 1;
        let m = m.at(Position::new(self.epoch.clone(), self.top));
        self.entries.push_back((now, m.clone()));
        self.trim(h, now);
        m
    }

    /// Drops what `h` no longer keeps.
    pub(crate) fn trim(&mut self, h: &History, now: Instant) {
        while self.entries.len() > h.max_len {
            self.entries.pop_front();
        }
        while let Some((at, _)) = self.entries.front() {
            if now.saturating_duration_since(*at) <= h.max_age {
                break;
            }
            self.entries.pop_front();
        }
    }

    /// The top position and the messages after `since`, if all of them (at most `limit`)
    /// are kept.
    pub(crate) fn read(
        &mut self,
        since: Option<&Position>,
        limit: usize,
        h: &History,
        now: Instant,
    ) -> HistoryRead {
        self.trim(h, now);
        let missed = since.and_then(|since| {
            if *since.epoch != *self.epoch || since.offset > self.top {
                return None;
            }
            let count = self.top - since.offset;
            if count > limit as u64 {
                return None;
            }
            if count == 0 {
                return Some(Vec::new());
            }
            // The first message needed is since.offset + 1; the oldest kept is at
            // top - len + 1.
            let oldest = self.top + 1 - self.entries.len() as u64;
            if since.offset + 1 < oldest {
                return None;
            }
            let skip = usize::try_from(since.offset + 1 - oldest).ok()?;
            Some(
                self.entries
                    .iter()
                    .skip(skip)
                    .map(|(_, m)| m.clone())
                    .collect(),
            )
        });
        HistoryRead {
            top: self.top(),
            missed,
        }
    }
}

/// What a [`Cursor`] makes of the next live message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The next message: deliver it.
    Deliver,
    /// Already delivered (or from before the subscription's start): skip it.
    Skip,
    /// Messages are missing before it, or the numbering restarted: the stream cannot go on
    /// without a silent gap.
    Gap,
}

/// The position a history subscription has delivered up to: admits live messages in order.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    at: Position,
}

impl Cursor {
    /// A cursor that has delivered everything up to `at`.
    pub(crate) fn new(at: Position) -> Self {
        Self { at }
    }

    /// The position of the last message delivered.
    pub(crate) fn position(&self) -> &Position {
        &self.at
    }

    /// Decides about `m` and, when it is delivered, moves past it. A message without a
    /// position (published before the topic had history) is delivered as it is.
    pub(crate) fn admit(&mut self, m: &Message) -> Admit {
        let Some(p) = m.position() else {
            return Admit::Deliver;
        };
        if p.epoch != self.at.epoch {
            return Admit::Gap;
        }
        if p.offset <= self.at.offset {
            Admit::Skip
        } else if p.offset == self.at.offset + 1 {
            self.at.offset = p.offset;
            Admit::Deliver
        } else {
            Admit::Gap
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: u8) -> Message {
        Message::new("t", Bytes::from(vec![n]))
    }

    fn offsets(ms: &[Message]) -> Vec<u64> {
        ms.iter()
            .map(|m| m.position().map_or(0, Position::offset))
            .collect()
    }

    #[test]
    fn appends_number_from_one_and_reads_after_a_position() {
        let h = History::new(10);
        let now = Instant::now();
        let mut r = Ring::new("e".into());
        assert_eq!(r.top(), Position::new("e", 0));
        for i in 0..5 {
            let m = r.append(msg(i), &h, now);
            assert_eq!(m.position(), Some(&Position::new("e", u64::from(i) + 1)));
        }
        let read = r.read(Some(&Position::new("e", 2)), 100, &h, now);
        assert_eq!(read.top, Position::new("e", 5));
        assert_eq!(offsets(&read.missed.unwrap()), [3, 4, 5]);
        // Nothing missed, and no since at all.
        assert_eq!(
            r.read(Some(&Position::new("e", 5)), 100, &h, now).missed,
            Some(vec![])
        );
        assert_eq!(r.read(None, 100, &h, now).missed, None);
        // From before the first message.
        let all = r.read(Some(&Position::new("e", 0)), 100, &h, now);
        assert_eq!(offsets(&all.missed.unwrap()), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn never_a_partial_replay() {
        let h = History::new(3);
        let now = Instant::now();
        let mut r = Ring::new("e".into());
        for i in 0..10 {
            r.append(msg(i), &h, now);
        }
        // Kept: 8, 9, 10.
        assert_eq!(
            offsets(
                &r.read(Some(&Position::new("e", 7)), 100, &h, now)
                    .missed
                    .unwrap()
            ),
            [8, 9, 10]
        );
        assert_eq!(
            r.read(Some(&Position::new("e", 6)), 100, &h, now).missed,
            None
        );
        // Over the limit.
        assert_eq!(
            r.read(Some(&Position::new("e", 7)), 2, &h, now).missed,
            None
        );
        // Another epoch, or a position from the future.
        assert_eq!(
            r.read(Some(&Position::new("x", 9)), 100, &h, now).missed,
            None
        );
        assert_eq!(
            r.read(Some(&Position::new("e", 11)), 100, &h, now).missed,
            None
        );
    }

    #[test]
    fn old_messages_expire() {
        let h = History::new(100).max_age(Duration::from_secs(10));
        let t0 = Instant::now();
        let mut r = Ring::new("e".into());
        r.append(msg(1), &h, t0);
        r.append(msg(2), &h, t0 + Duration::from_secs(5));
        let later = t0 + Duration::from_secs(12);
        assert_eq!(
            r.read(Some(&Position::new("e", 0)), 100, &h, later).missed,
            None
        );
        assert_eq!(
            offsets(
                &r.read(Some(&Position::new("e", 1)), 100, &h, later)
                    .missed
                    .unwrap()
            ),
            [2]
        );
        assert!(!r.is_empty());
        r.trim(&h, t0 + Duration::from_secs(20));
        assert!(r.is_empty());
        // The numbering goes on after everything expired.
        assert_eq!(r.top().offset(), 2);
    }

    #[test]
    fn a_cursor_skips_duplicates_and_refuses_gaps() {
        let at = |o| msg(0).at(Position::new("e", o));
        let mut c = Cursor::new(Position::new("e", 3));
        assert_eq!(c.admit(&at(2)), Admit::Skip);
        assert_eq!(c.admit(&at(3)), Admit::Skip);
        assert_eq!(c.admit(&at(4)), Admit::Deliver);
        assert_eq!(c.position().offset(), 4);
        assert_eq!(c.admit(&at(4)), Admit::Skip);
        assert_eq!(c.admit(&at(6)), Admit::Gap);
        assert_eq!(c.admit(&msg(9).at(Position::new("other", 5))), Admit::Gap);
        assert_eq!(c.admit(&msg(9)), Admit::Deliver);
        assert_eq!(c.position().offset(), 4);
    }

    #[test]
    fn positions_travel_as_maps() {
        let p = Position::new("ab", 7);
        let bytes = rmp_serde::to_vec_named(&p).unwrap();
        assert_eq!(bytes[0], 0x82);
        let back: Position = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(format!("{p:?}"), "ab:7");
    }

    #[test]
    fn settings_clamp() {
        assert_eq!(History::new(0).get_max_len(), 1);
        assert_eq!(
            History::new(5).max_age(Duration::ZERO).get_max_age(),
            Duration::from_millis(1)
        );
        assert_eq!(History::default().get_max_len(), DEFAULT_HISTORY_LEN);
    }
}
