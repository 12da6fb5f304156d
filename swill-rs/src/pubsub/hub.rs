//! The topic → subscriber table of one process (runtime-free).
//!
//! Publishing looks up the topic, pushes the shared [`Message`] into each subscriber's
//! [`Queue`] and wakes it; it never waits for a subscriber. The table also says when a topic
//! gets its first local subscriber or loses its last, which is when a backend subscribes to
//! it or unsubscribes from it upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::queue::{LagPolicy, Push, Queue};
use super::Message;

/// Who a subscriber is, for targeted pushes and presence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberInfo {
    /// The WebSocket connection's id, when the subscription belongs to one.
    pub connection: Option<u64>,
    /// The user identity the app's identify function gave the connection.
    pub user: Option<String>,
}

impl SubscriberInfo {
    /// A subscriber not tied to a connection (server code).
    pub fn server() -> Self {
        Self::default()
    }

    /// A subscriber for connection `id`, with an optional user identity.
    pub fn connection(id: u64, user: Option<String>) -> Self {
        Self {
            connection: Some(id),
            user,
        }
    }
}

/// One subscriber's queue, shared by the table (which pushes) and the subscription (which
/// pops).
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) id: u64,
    pub(crate) info: SubscriberInfo,
    queue: Mutex<Queue>,
}

impl Slot {
    pub(crate) fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one delivery did, for counters and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Subscribers that queued the message.
    pub(crate) queued: usize,
    /// Of those, subscribers that dropped their oldest message for it.
    pub(crate) dropped: usize,
    /// Subscribers that refused it (they lagged and end, or already ended).
    pub(crate) refused: usize,
}

#[derive(Debug, Default)]
struct Table {
    topics: HashMap<Arc<str>, Vec<Arc<Slot>>>,
    slots: HashMap<u64, Vec<Arc<str>>>,
    next_id: u64,
}

/// The topic → subscriber table.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    table: RwLock<Table>,
}

impl Hub {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscriber to `topics` (duplicates ignored). Returns its slot and the topics
    /// that had no local subscriber before.
    pub(crate) fn add(
        &self,
        topics: &[Arc<str>],
        capacity: usize,
        policy: LagPolicy,
        info: SubscriberInfo,
    ) -> (Arc<Slot>, Vec<Arc<str>>) {
        let mut t = self.write();
        let id = t.next_id;
        t.next_id += 1;
        let slot = Arc::new(Slot {
            id,
            info,
            queue: Mutex::new(Queue::new(capacity, policy)),
        });
        let mut mine: Vec<Arc<str>> = Vec::with_capacity(topics.len());
        let mut first = Vec::new();
        for topic in topics {
            if mine.iter().any(|m| m == topic) {
                continue;
            }
            mine.push(topic.clone());
            let subs = t.topics.entry(topic.clone()).or_default();
            if subs.is_empty() {
                first.push(topic.clone());
            }
            subs.push(slot.clone());
        }
        t.slots.insert(id, mine);
        (slot, first)
    }

    /// Removes subscriber `id`. Returns the topics that have no local subscriber left.
    pub(crate) fn remove(&self, id: u64) -> Vec<Arc<str>> {
        let mut t = self.write();
        let Some(topics) = t.slots.remove(&id) else {
            return Vec::new();
        };
        let mut last = Vec::new();
        for topic in topics {
            if let Some(subs) = t.topics.get_mut(&topic) {
                subs.retain(|s| s.id != id);
                if subs.is_empty() {
                    t.topics.remove(&topic);
                    last.push(topic);
                }
            }
        }
        last
    }

    /// Pushes `m` to every local subscriber of its topic and wakes them.
    pub(crate) fn deliver(&self, m: &Message) -> Delivery {
        self.deliver_where(m, |_| true)
    }

    /// Pushes `m` to the local subscribers of its topic that `filter` selects.
    pub(crate) fn deliver_where(
        &self,
        m: &Message,
        mut filter: impl FnMut(&SubscriberInfo) -> bool,
    ) -> Delivery {
        let t = self.read();
        let mut d = Delivery::default();
        let Some(subs) = t.topics.get(m.topic()) else {
            return d;
        };
        for slot in subs {
            if !filter(&slot.info) {
                continue;
            }
            let (push, waker) = {
                let mut q = slot.queue();
                let push = q.push(m.clone());
                (push, q.take_waker())
            };
            match push {
                Push::Queued => d.queued += 1,
                Push::DroppedOldest => {
                    d.queued += 1;
                    d.dropped += 1;
                }
                Push::Overflowed | Push::Closed => d.refused += 1,
            }
            if let Some(w) = waker {
                w.wake();
            }
        }
        d
    }

    /// Ends every subscription cleanly after what it has queued.
    pub(crate) fn close_all(&self) {
        self.each(None, Queue::close);
    }

    /// Marks a possible gap in every subscription of `topic` (`None`: of every topic).
    pub(crate) fn interrupt(&self, topic: Option<&str>) {
        self.each(topic, Queue::interrupt);
    }

    /// Applies `f` once to the queue of every subscription of `topic` (`None`: of every
    /// topic) and wakes it.
    fn each(&self, topic: Option<&str>, f: fn(&mut Queue)) {
        let t = self.read();
        let mut seen = std::collections::HashSet::new();
        let lists: Vec<&Vec<Arc<Slot>>> = match topic {
            Some(topic) => t.topics.get(topic).into_iter().collect(),
            None => t.topics.values().collect(),
        };
        for slot in lists.into_iter().flatten() {
            if !seen.insert(slot.id) {
                continue;
            }
            let waker = {
                let mut q = slot.queue();
                f(&mut q);
                q.take_waker()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Whether `topic` has any local subscription (even one that is ending).
    pub(crate) fn has_topic(&self, topic: &str) -> bool {
        self.read().topics.contains_key(topic)
    }

    /// The topics with at least one local subscriber.
    pub(crate) fn topics(&self) -> Vec<Arc<str>> {
        self.read().topics.keys().cloned().collect()
    }

    /// The local subscribers of `topic` that still take messages (a subscription that
    /// lagged under [`LagPolicy::End`] is over even before its subscriber reads the end).
    pub(crate) fn subscribers(&self, topic: &str) -> Vec<SubscriberInfo> {
        self.read()
            .topics
            .get(topic)
            .map(|subs| {
                subs.iter()
                    .filter(|s| !s.queue().is_closed())
                    .map(|s| s.info.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many local subscribers of `topic` still take messages.
    pub(crate) fn subscriber_count(&self, topic: &str) -> usize {
        self.read().topics.get(topic).map_or(0, |subs| {
            subs.iter().filter(|s| !s.queue().is_closed()).count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::queue::{Lagged, Next, Recv};
    use super::*;
    use bytes::Bytes;

    fn topics(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    fn msg(topic: &str, n: u8) -> Message {
        Message::new(topic, Bytes::from(vec![n]))
    }

    fn payloads(slot: &Slot) -> Vec<u8> {
        let mut out = Vec::new();
        while let Next::Item(Recv::Message(m)) = slot.queue().pop() {
            out.push(m.payload()[0]);
        }
        out
    }

    #[test]
    fn first_and_last_subscribers_are_reported() {
        let hub = Hub::default();
        let (a, first) = hub.add(
            &topics(&["x", "y", "x"]),
            8,
            LagPolicy::End,
            Default::default(),
        );
        assert_eq!(first, topics(&["x", "y"]));
        let (b, first) = hub.add(&topics(&["y", "z"]), 8, LagPolicy::End, Default::default());
        assert_eq!(first, topics(&["z"]));
        assert_eq!(hub.subscriber_count("y"), 2);
        let mut last = hub.remove(a.id);
        last.sort();
        assert_eq!(last, topics(&["x"]));
        assert_eq!(hub.remove(b.id).len(), 2);
        assert!(hub.topics().is_empty());
        assert!(hub.remove(b.id).is_empty());
    }

    #[test]
    fn every_subscriber_gets_the_same_bytes_in_order() {
        let hub = Hub::default();
        let slots: Vec<_> = (0..100)
            .map(|_| {
                hub.add(&topics(&["t"]), 16, LagPolicy::End, Default::default())
                    .0
            })
            .collect();
        for i in 0..10 {
            assert_eq!(hub.deliver(&msg("t", i)).queued, 100);
        }
        assert_eq!(hub.deliver(&msg("other", 0)), Delivery::default());
        let first = match slots[0].queue().pop() {
            Next::Item(Recv::Message(m)) => m,
            other => panic!("{other:?}"),
        };
        let second = match slots[1].queue().pop() {
            Next::Item(Recv::Message(m)) => m,
            other => panic!("{other:?}"),
        };
        // One buffer shared by all subscribers.
        assert_eq!(first.payload().as_ptr(), second.payload().as_ptr());
        for s in &slots[2..] {
            assert_eq!(payloads(s), (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_full_subscriber_does_not_affect_the_others() {
        let hub = Hub::default();
        let (slow, _) = hub.add(&topics(&["t"]), 2, LagPolicy::End, Default::default());
        let (fast, _) = hub.add(&topics(&["t"]), 2, LagPolicy::End, Default::default());
        let mut got = Vec::new();
        for i in 0..10 {
            let d = hub.deliver(&msg("t", i));
            assert_eq!(d.queued, 1 + usize::from(i < 2));
            got.extend(payloads(&fast));
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(slow.queue().len(), 2);
        assert_eq!(hub.subscriber_count("t"), 1);
        for i in 0..2 {
            assert!(
                matches!(slow.queue().pop(), Next::Item(Recv::Message(m)) if m.payload()[..] == [i])
            );
        }
        assert_eq!(
            slow.queue().pop(),
            Next::Item(Recv::Lagged(Lagged::Overflowed { capacity: 2 }))
        );
        assert_eq!(slow.queue().pop(), Next::Ended);
    }

    #[test]
    fn filters_select_subscribers_by_connection_or_user() {
        let hub = Hub::default();
        let (a, _) = hub.add(
            &topics(&["t"]),
            8,
            LagPolicy::End,
            SubscriberInfo::connection(1, Some("ann".into())),
        );
        let (b, _) = hub.add(
            &topics(&["t"]),
            8,
            LagPolicy::End,
            SubscriberInfo::connection(2, Some("bob".into())),
        );
        let d = hub.deliver_where(&msg("t", 7), |i| i.user.as_deref() == Some("bob"));
        assert_eq!(d.queued, 1);
        assert!(payloads(&a).is_empty());
        assert_eq!(payloads(&b), [7]);
        let users: Vec<_> = hub.subscribers("t").into_iter().map(|i| i.user).collect();
        assert_eq!(users, [Some("ann".into()), Some("bob".into())]);
    }

    #[test]
    fn an_interruption_reaches_each_subscriber_once() {
        let hub = Hub::default();
        let (a, _) = hub.add(
            &topics(&["x", "y"]),
            8,
            LagPolicy::DropOldest,
            Default::default(),
        );
        let (b, _) = hub.add(
            &topics(&["y"]),
            8,
            LagPolicy::DropOldest,
            Default::default(),
        );
        hub.interrupt(None);
        for s in [&a, &b] {
            assert_eq!(
                s.queue().pop(),
                Next::Item(Recv::Lagged(Lagged::Interrupted))
            );
            assert_eq!(s.queue().pop(), Next::Empty);
        }
        hub.interrupt(Some("x"));
        assert_eq!(
            a.queue().pop(),
            Next::Item(Recv::Lagged(Lagged::Interrupted))
        );
        assert_eq!(b.queue().pop(), Next::Empty);
    }

    #[test]
    fn a_push_wakes_the_registered_waker_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Wake, Waker};
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let hub = Hub::default();
        let (s, _) = hub.add(&topics(&["t"]), 8, LagPolicy::End, Default::default());
        s.queue().register(&waker);
        hub.deliver(&msg("t", 1));
        hub.deliver(&msg("t", 2));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
