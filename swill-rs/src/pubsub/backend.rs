//! The [`Backend`] trait: how published messages reach every instance's subscribers.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::hub::Hub;
use super::{History, HistoryRead, Message, Position, PubSubError};

/// Moves published messages between instances and keeps the history of the topics that have
/// one (centrifuge's Broker).
///
/// A backend gets a [`Fanout`] when it is built (see [`PubSubBuilder::backend`]). Every
/// message it receives for a topic this process subscribes to goes to
/// [`Fanout::deliver`], which pushes it to the local subscribers. The in-process backend
/// ([`Memory`](super::Memory)) delivers a publish straight to its own fan-out; the Redis
/// backend publishes to Redis and delivers what its one subscriber connection receives.
///
/// [`PubSubBuilder::backend`]: super::PubSubBuilder::backend
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// Publishes an encoded message to the subscribers of its topic on every instance,
    /// this one included.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the message could not be handed to the backend.
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>>;

    /// `topic` got its first local subscriber. The future resolves once messages published
    /// from then on (on any instance) will be delivered here. Called in order with
    /// [`unsubscribe`](Self::unsubscribe) for the same topic.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the subscription could not be made.
    fn subscribe(&self, topic: Arc<str>) -> BoxFuture<'static, Result<(), PubSubError>>;

    /// `topic` lost its last local subscriber.
    fn unsubscribe(&self, topic: Arc<str>);

    /// Publishes `message` to a topic with history: numbers it as the topic's next message
    /// (atomically with every other instance's publishes, so no two messages get the same
    /// position), appends it to the history under `history`'s limits and delivers it, with
    /// its position ([`Message::at`]), like [`publish`](Self::publish). Resolves to that
    /// position.
    ///
    /// Per topic, messages must reach every instance's [`Fanout::deliver`] in the order of
    /// their positions: a subscriber that sees a position skipped ends its stream rather than
    /// miss a message silently.
    ///
    /// The default refuses: a backend without history support.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the message could not be stored and published.
    fn publish_with_history(
        &self,
        message: Message,
        history: History,
    ) -> BoxFuture<'static, Result<Position, PubSubError>> {
        let _ = (message, history);
        Box::pin(futures_util::future::ready(Err(PubSubError::Unavailable(
            "this pub/sub backend keeps no history".into(),
        ))))
    }

    /// Reads the history of `topic`: the position of its last message and, when `since` is
    /// given, every message after it, oldest first, if all of them are still kept and there
    /// are at most `limit` (never a part of them). Call it after the topic is subscribed
    /// ([`subscribe`](Self::subscribe) resolved), so that nothing published in between is
    /// missed: a message can then come both from the read and live, and the subscriber
    /// drops the duplicate by its position.
    ///
    /// The default refuses: a backend without history support.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the history could not be read.
    fn history(
        &self,
        topic: Arc<str>,
        history: History,
        since: Option<Position>,
        limit: usize,
    ) -> BoxFuture<'static, Result<HistoryRead, PubSubError>> {
        let _ = (topic, history, since, limit);
        Box::pin(futures_util::future::ready(Err(PubSubError::Unavailable(
            "this pub/sub backend keeps no history".into(),
        ))))
    }
}

/// A backend's way into this process's subscriber table.
#[derive(Clone)]
pub struct Fanout(pub(crate) Arc<Hub>);

impl Fanout {
    /// Pushes `message` to the local subscribers of its topic; returns how many queued it.
    /// Never waits: a full subscriber queue applies its lag policy.
    pub fn deliver(&self, message: &Message) -> usize {
        self.0.deliver(message).queued
    }

    /// Tells the local subscribers of `topic` (`None`: of every topic) that messages may have
    /// been missed, for example after the backend reconnected.
    pub fn interrupt(&self, topic: Option<&str>) {
        self.0.interrupt(topic);
    }

    /// The topics with at least one local subscriber (what to resubscribe after a
    /// reconnect).
    pub fn topics(&self) -> Vec<Arc<str>> {
        self.0.topics()
    }
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("topics", &self.0.topics().len())
            .finish()
    }
}
