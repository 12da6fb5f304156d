//! The [`Backend`] trait: how published messages reach every instance's subscribers.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::hub::Hub;
use super::{Message, PubSubError};

/// Moves published messages between instances (centrifuge's Broker, without history yet).
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
