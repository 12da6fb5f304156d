//! One subscriber's bounded queue and its lag policy (runtime-free).
//!
//! Publishing never waits for a subscriber: it pushes into the subscriber's queue and moves
//! on. What happens when the queue is full is the [`LagPolicy`]; whatever happened reaches the
//! subscriber as a value, [`Recv::Lagged`], in the place of the stream where it happened.

use std::collections::VecDeque;
use std::task::Waker;

use super::Message;

/// How many messages a subscriber may have queued before its [`LagPolicy`] applies.
///
/// Queue entries are shared references to the published bytes (about 40 bytes each), so a
/// full queue costs about 40 KiB per subscriber beyond the payloads every subscriber shares,
/// and it absorbs a burst of a thousand messages while the subscriber's socket drains.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The lag policy subscriptions get unless configured: [`LagPolicy::End`], because it never
/// loses a message silently (the client learns it fell behind and resubscribes).
pub const DEFAULT_LAG_POLICY: LagPolicy = LagPolicy::End;

/// What a subscriber's full queue does with the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LagPolicy {
    /// Keep what is queued, refuse the new message and end the subscription after the queued
    /// messages with [`Lagged::Overflowed`] (a handler's stream ends with an ERROR saying it
    /// lagged, so the client resubscribes).
    End,
    /// Drop the oldest queued message to make room and count it: the subscriber sees
    /// [`Lagged::Dropped`] with the count before the next message, and the stream goes on.
    DropOldest,
}

/// A gap in what a subscriber received, reported where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lagged {
    /// [`LagPolicy::DropOldest`]: this many messages were dropped here; the stream goes on.
    Dropped(u64),
    /// [`LagPolicy::End`]: the queue held `capacity` messages and the next one did not fit.
    /// This is the last thing the subscription yields.
    Overflowed {
        /// The queue capacity that was exceeded.
        capacity: usize,
    },
    /// The backend lost its connection (for example Redis restarted) and resubscribed: an
    /// unknown number of messages may be missing here. Under [`LagPolicy::End`] this is the
    /// last thing the subscription yields; under [`LagPolicy::DropOldest`] the stream goes on.
    Interrupted,
}

/// What a subscription yields: a message, or a gap as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recv {
    /// The next message.
    Message(Message),
    /// Messages are missing here (see [`Lagged`]).
    Lagged(Lagged),
}

/// The result of [`Queue::pop`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Something to hand the subscriber.
    Item(Recv),
    /// Nothing yet: register a waker.
    Empty,
    /// The subscription is over (it lagged under [`LagPolicy::End`]).
    Ended,
}

/// The result of [`Queue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued.
    Queued,
    /// Queued, and the oldest message was dropped to make room.
    DroppedOldest,
    /// Refused: the queue overflowed now and the subscription will end.
    Overflowed,
    /// Refused: the subscription already ended.
    Closed,
}

#[derive(Debug)]
enum Entry {
    Message(Message),
    Gap(Lagged),
    /// A clean end (the pub/sub handle was closed): after what is queued.
    End,
}

/// A bounded queue of messages for one subscriber.
#[derive(Debug)]
pub(crate) struct Queue {
    entries: VecDeque<Entry>,
    /// Messages in `entries` (gap markers do not count against the capacity).
    messages: usize,
    capacity: usize,
    policy: LagPolicy,
    /// Drops not yet reported (only under `DropOldest`).
    dropped: u64,
    /// Under `End`: no more messages are accepted (an overflow or interruption is queued).
    closing: bool,
    ended: bool,
    waker: Option<Waker>,
}

impl Queue {
    /// An empty queue; a capacity of 0 is treated as 1.
    pub(crate) fn new(capacity: usize, policy: LagPolicy) -> Self {
        Self {
            entries: VecDeque::new(),
            messages: 0,
            capacity: capacity.max(1),
            policy,
            dropped: 0,
            closing: false,
            ended: false,
            waker: None,
        }
    }

    /// How many messages are queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.messages
    }

    /// Whether the queue takes no more messages (it lagged or was interrupted under
    /// [`LagPolicy::End`]): the subscription is over once its subscriber reads what is left.
    pub(crate) fn is_closed(&self) -> bool {
        self.closing || self.ended
    }

    /// Queues `m` under the lag policy.
    pub(crate) fn push(&mut self, m: Message) -> Push {
        if self.closing || self.ended {
            return Push::Closed;
        }
        if self.messages < self.capacity {
            self.entries.push_back(Entry::Message(m));
            self.messages += 1;
            return Push::Queued;
        }
        match self.policy {
            LagPolicy::End => {
                self.closing = true;
                self.entries.push_back(Entry::Gap(Lagged::Overflowed {
                    capacity: self.capacity,
                }));
                Push::Overflowed
            }
            LagPolicy::DropOldest => {
                // The oldest message, possibly behind a gap marker that stays in place.
                if let Some(i) = self
                    .entries
                    .iter()
                    .position(|e| matches!(e, Entry::Message(_)))
                {
                    self.entries.remove(i);
                    self.messages -= 1;
                    self.dropped += 1;
                }
                self.entries.push_back(Entry::Message(m));
                self.messages += 1;
                Push::DroppedOldest
            }
        }
    }

    /// Marks a possible gap here (the backend reconnected). Under [`LagPolicy::End`] the
    /// subscription ends after what is queued.
    pub(crate) fn interrupt(&mut self) {
        if self.closing || self.ended {
            return;
        }
        if matches!(self.entries.back(), Some(Entry::Gap(Lagged::Interrupted))) {
            return;
        }
        self.entries.push_back(Entry::Gap(Lagged::Interrupted));
        if self.policy == LagPolicy::End {
            self.closing = true;
        }
    }

    /// Ends the subscription cleanly after what is queued (no gap is reported).
    pub(crate) fn close(&mut self) {
        if self.closing || self.ended {
            return;
        }
        self.closing = true;
        self.entries.push_back(Entry::End);
    }

    /// The next thing for the subscriber.
    pub(crate) fn pop(&mut self) -> Next {
        if self.ended {
            return Next::Ended;
        }
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            return Next::Item(Recv::Lagged(Lagged::Dropped(n)));
        }
        match self.entries.pop_front() {
            Some(Entry::Message(m)) => {
                self.messages -= 1;
                Next::Item(Recv::Message(m))
            }
            Some(Entry::Gap(g)) => {
                if self.policy == LagPolicy::End {
                    self.ended = true;
                    self.entries.clear();
                    self.messages = 0;
                }
                Next::Item(Recv::Lagged(g))
            }
            Some(Entry::End) => {
                self.ended = true;
                self.entries.clear();
                self.messages = 0;
                Next::Ended
            }
            None => Next::Empty,
        }
    }

    /// Remembers who to wake on the next push.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }

    /// The waker to wake after a push (taken: one wake per registration).
    pub(crate) fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: u8) -> Message {
        Message::new("t", Bytes::from(vec![n]))
    }

    fn next_byte(q: &mut Queue) -> Next {
        q.pop()
    }

    fn is_msg(n: Next, b: u8) -> bool {
        matches!(n, Next::Item(Recv::Message(m)) if m.payload()[..] == [b])
    }

    #[test]
    fn messages_come_out_in_order() {
        let mut q = Queue::new(4, LagPolicy::End);
        for i in 0..3 {
            assert_eq!(q.push(msg(i)), Push::Queued);
        }
        assert_eq!(q.len(), 3);
        for i in 0..3 {
            assert!(is_msg(q.pop(), i));
        }
        assert_eq!(q.pop(), Next::Empty);
    }

    #[test]
    fn end_policy_delivers_the_queue_then_reports_the_overflow_and_ends() {
        let mut q = Queue::new(2, LagPolicy::End);
        assert_eq!(q.push(msg(0)), Push::Queued);
        assert_eq!(q.push(msg(1)), Push::Queued);
        assert_eq!(q.push(msg(2)), Push::Overflowed);
        assert_eq!(q.push(msg(3)), Push::Closed);
        assert!(is_msg(q.pop(), 0));
        assert!(is_msg(q.pop(), 1));
        assert_eq!(
            q.pop(),
            Next::Item(Recv::Lagged(Lagged::Overflowed { capacity: 2 }))
        );
        assert_eq!(q.pop(), Next::Ended);
        assert_eq!(q.push(msg(4)), Push::Closed);
        assert_eq!(q.pop(), Next::Ended);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_reports_the_count_first() {
        let mut q = Queue::new(2, LagPolicy::DropOldest);
        for i in 0..5 {
            q.push(msg(i));
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Next::Item(Recv::Lagged(Lagged::Dropped(3))));
        assert!(is_msg(q.pop(), 3));
        assert!(is_msg(q.pop(), 4));
        assert_eq!(q.pop(), Next::Empty);
        // The count starts again after it was reported.
        for i in 5..8 {
            q.push(msg(i));
        }
        assert_eq!(q.pop(), Next::Item(Recv::Lagged(Lagged::Dropped(1))));
        assert!(is_msg(q.pop(), 6));
    }

    #[test]
    fn an_interruption_is_reported_in_place_and_ends_under_end() {
        let mut q = Queue::new(8, LagPolicy::End);
        q.push(msg(0));
        q.interrupt();
        assert_eq!(q.push(msg(1)), Push::Closed);
        assert!(is_msg(next_byte(&mut q), 0));
        assert_eq!(q.pop(), Next::Item(Recv::Lagged(Lagged::Interrupted)));
        assert_eq!(q.pop(), Next::Ended);
    }

    #[test]
    fn an_interruption_is_reported_in_place_and_goes_on_under_drop_oldest() {
        let mut q = Queue::new(8, LagPolicy::DropOldest);
        q.push(msg(0));
        q.interrupt();
        q.interrupt(); // two reconnects in a row are one gap
        q.push(msg(1));
        assert!(is_msg(q.pop(), 0));
        assert_eq!(q.pop(), Next::Item(Recv::Lagged(Lagged::Interrupted)));
        assert!(is_msg(q.pop(), 1));
        assert_eq!(q.pop(), Next::Empty);
    }

    #[test]
    fn close_ends_cleanly_after_the_queue_under_either_policy() {
        for policy in [LagPolicy::End, LagPolicy::DropOldest] {
            let mut q = Queue::new(8, policy);
            q.push(msg(0));
            q.close();
            assert_eq!(q.push(msg(1)), Push::Closed);
            assert!(q.is_closed());
            assert!(is_msg(q.pop(), 0));
            assert_eq!(q.pop(), Next::Ended);
        }
    }

    #[test]
    fn zero_capacity_means_one() {
        let mut q = Queue::new(0, LagPolicy::DropOldest);
        q.push(msg(0));
        q.push(msg(1));
        assert_eq!(q.len(), 1);
    }
}
