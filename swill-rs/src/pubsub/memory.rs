//! The in-process backend: one process, no setup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{self, BoxFuture};

use super::history::Ring;
use super::{Backend, Fanout, History, HistoryRead, Message, Position, PubSubError};

/// How many history appends go by between two sweeps that forget the topics whose history
/// has expired entirely (each sweep visits every topic with history once).
const SWEEP_EVERY: u32 = 4096;

/// The in-process backend (the default): a publish is delivered to this process's
/// subscribers before `publish` returns, and a subscription is live as soon as it exists.
///
/// Topics with history keep it in memory, in a bounded ring per topic. Each topic's
/// numbering has its own epoch, made unique to this process: a restart loses the history
/// and starts new epochs, and a topic whose whole history expired and that has no local
/// subscriber is forgotten, and starts a new epoch when it is next used.
#[derive(Debug, Clone)]
pub struct Memory {
    fanout: Fanout,
    histories: Arc<Mutex<Histories>>,
}

#[derive(Debug, Default)]
struct Histories {
    rings: HashMap<Arc<str>, (Ring, History)>,
    epochs: u64,
    appends: u32,
}

impl Histories {
    fn ring(&mut self, topic: &Arc<str>, history: History) -> &mut Ring {
        let epochs = &mut self.epochs;
        let (ring, h) = self.rings.entry(topic.clone()).or_insert_with(|| {
            *epochs += 1;
            let epoch = format!("{}-{}", super::instance_id(), epochs);
            (Ring::new(Arc::from(epoch)), history)
        });
        *h = history;
        ring
    }

    /// Forgets the topics whose history expired entirely and that nobody here subscribes to
    /// (a subscriber holds the epoch: its numbering must go on).
    fn sweep(&mut self, now: Instant, fanout: &Fanout) {
        self.appends = 0;
        self.rings.retain(|topic, (ring, h)| {
            ring.trim(h, now);
            !ring.is_empty() || fanout.0.has_topic(topic)
        });
    }
}

impl Memory {
    /// The backend for `fanout` (see [`PubSubBuilder::backend`](super::PubSubBuilder::backend)).
    pub fn new(fanout: Fanout) -> Self {
        Self {
            fanout,
            histories: Arc::default(),
        }
    }

    fn histories(&self) -> std::sync::MutexGuard<'_, Histories> {
        self.histories.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for Memory {
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        self.fanout.deliver(&message);
        Box::pin(future::ready(Ok(())))
    }

    fn subscribe(&self, _topic: Arc<str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        Box::pin(future::ready(Ok(())))
    }

    fn unsubscribe(&self, _topic: Arc<str>) {}

    fn publish_with_history(
        &self,
        message: Message,
        history: History,
    ) -> BoxFuture<'static, Result<Position, PubSubError>> {
        let now = Instant::now();
        let mut all = self.histories();
        all.appends += 1;
        if all.appends >= SWEEP_EVERY {
            all.sweep(now, &self.fanout);
        }
        let topic = message.topic_arc().clone();
        let m = all.ring(&topic, history).append(message, &history, now);
        // Delivered under the lock: concurrent publishers reach subscribers in the order of
        // their positions.
        self.fanout.deliver(&m);
        drop(all);
        let position = m
            .position()
            .cloned()
            .unwrap_or_else(|| Position::new("", 0));
        Box::pin(future::ready(Ok(position)))
    }

    fn history(
        &self,
        topic: Arc<str>,
        history: History,
        since: Option<Position>,
        limit: usize,
    ) -> BoxFuture<'static, Result<HistoryRead, PubSubError>> {
        let read = self.histories().ring(&topic, history).read(
            since.as_ref(),
            limit,
            &history,
            Instant::now(),
        );
        Box::pin(future::ready(Ok(read)))
    }
}
