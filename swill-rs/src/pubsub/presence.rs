//! Presence: who is on a topic (connection ids and users), with join and leave events.
//!
//! Presence is explicit, as Phoenix's `Presence.track`: [`PubSub::track`] records a
//! connection on a topic and returns a [`Tracked`] guard; dropping it (or the subscription
//! holding it, see [`Subscription::with_presence`](super::Subscription::with_presence))
//! removes the entry. [`PubSub::presence`] lists the entries of every instance, and
//! [`PubSub::presence_events`] streams [`PresenceEvent`]s (joins and leaves) published on
//! the companion topic [`presence_topic`].
//!
//! The store is a [`PresenceStore`]: in-process by default, in Redis with the `redis`
//! feature, where entries carry a TTL that their instance refreshes, so the entries of an
//! instance that dies without saying goodbye expire (and the instances still tracking that
//! topic publish the leave events).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use serde::{Deserialize, Serialize};

use super::{Message, PubSub, PubSubError, Subscription, RESERVED_PREFIX};
use crate::context::Connection;

/// How long a presence entry lives in a shared store (Redis) unless its instance refreshes
/// it (every third of this): an instance that dies disappears from presence within 30 s,
/// while a refresh every 10 s costs one command per tracked entry.
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(30);

/// The topic carrying the join and leave events of `topic`.
pub fn presence_topic(topic: &str) -> String {
    format!("{RESERVED_PREFIX}presence.{topic}")
}

/// One connection present on a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct PresenceEntry {
    /// The instance the connection is on ([`PubSub::instance`]).
    pub instance: String,
    /// The connection's id on that instance.
    pub connection: u64,
    /// The user, when [`identify`](super::PubSubBuilder::identify) named one.
    pub user: Option<String>,
    /// Unique per [`PubSub::track`] call on its instance (a connection may be tracked twice).
    pub id: u64,
}

impl PresenceEntry {
    /// The entry's key in a store: unique across instances.
    pub fn key(&self) -> String {
        format!("{}.{}", self.instance, self.id)
    }
}

/// A join or a leave, as streamed by [`PubSub::presence_events`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum PresenceEvent {
    /// The entry joined the topic.
    Join {
        /// Who.
        entry: PresenceEntry,
    },
    /// The entry left the topic (its guard was dropped, or it expired).
    Leave {
        /// Who.
        entry: PresenceEntry,
    },
}

/// Where presence entries live (centrifuge's PresenceManager).
pub trait PresenceStore: Send + Sync + fmt::Debug + 'static {
    /// Records `entry` on `topic`; resolves once [`list`](Self::list) shows it everywhere.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    fn add(
        &self,
        topic: Arc<str>,
        entry: PresenceEntry,
    ) -> BoxFuture<'static, Result<(), PubSubError>>;

    /// Removes `entry` from `topic` (best effort: a shared store also lets it expire).
    fn remove(&self, topic: Arc<str>, entry: PresenceEntry);

    /// The live entries of `topic`, on every instance.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    fn list(&self, topic: Arc<str>) -> BoxFuture<'static, Result<Vec<PresenceEntry>, PubSubError>>;
}

/// The in-process presence store (the default).
#[derive(Debug, Default)]
pub struct MemoryPresence {
    topics: Mutex<HashMap<Arc<str>, Vec<PresenceEntry>>>,
}

impl PresenceStore for MemoryPresence {
    fn add(
        &self,
        topic: Arc<str>,
        entry: PresenceEntry,
    ) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut t = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        t.entry(topic).or_default().push(entry);
        Box::pin(future::ready(Ok(())))
    }

    fn remove(&self, topic: Arc<str>, entry: PresenceEntry) {
        let mut t = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = t.get_mut(&topic) {
            list.retain(|e| *e != entry);
            if list.is_empty() {
                t.remove(&topic);
            }
        }
    }

    fn list(&self, topic: Arc<str>) -> BoxFuture<'static, Result<Vec<PresenceEntry>, PubSubError>> {
        let t = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        Box::pin(future::ready(Ok(t
            .get(&topic)
            .cloned()
            .unwrap_or_default())))
    }
}

/// A connection's presence on a topic; dropping it leaves (and publishes the leave event).
#[must_use = "dropping the guard leaves the topic"]
pub struct Tracked {
    pubsub: PubSub,
    topic: Arc<str>,
    entry: PresenceEntry,
}

impl Tracked {
    /// The entry this guard keeps present.
    pub fn entry(&self) -> &PresenceEntry {
        &self.entry
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let inner = &self.pubsub.0;
        inner
            .presence
            .remove(self.topic.clone(), self.entry.clone());
        let event = PresenceEvent::Leave {
            entry: self.entry.clone(),
        };
        if let Ok(m) = Message::encode(presence_topic(&self.topic), &event) {
            // Fire and forget: a failed leave event is covered by the entry's expiry.
            let fut = inner.backend.publish(m);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(fut);
            }
        }
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("topic", &self.topic)
            .field("entry", &self.entry)
            .finish()
    }
}

static TRACK_IDS: AtomicU64 = AtomicU64::new(1);

impl PubSub {
    /// Records `conn` as present on `topic` (after the authorization check for
    /// [`Access::Subscribe`](super::Access::Subscribe)) and publishes a
    /// [`PresenceEvent::Join`]. Resolves once the entry is listed on every instance.
    ///
    /// # Errors
    ///
    /// 403 when refused, 503 when the store or the backend cannot be reached.
    pub async fn track(
        &self,
        conn: &Connection,
        topic: &str,
    ) -> Result<Tracked, crate::error::Error> {
        self.check_access(conn, topic, super::Access::Subscribe)?;
        let entry = PresenceEntry {
            instance: self.instance().to_owned(),
            connection: conn.id(),
            user: self.user_of(conn),
            id: TRACK_IDS.fetch_add(1, Ordering::Relaxed),
        };
        let topic: Arc<str> = Arc::from(topic);
        self.0.presence.add(topic.clone(), entry.clone()).await?;
        let tracked = Tracked {
            pubsub: self.clone(),
            topic: topic.clone(),
            entry: entry.clone(),
        };
        let event = PresenceEvent::Join { entry };
        self.publish(presence_topic(&topic), &event).await?;
        Ok(tracked)
    }

    /// Who is present on `topic`, on every instance.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    pub async fn presence(&self, topic: &str) -> Result<Vec<PresenceEntry>, PubSubError> {
        self.0.presence.list(Arc::from(topic)).await
    }

    /// The join and leave events of `topic` from now on (after the authorization check).
    ///
    /// # Errors
    ///
    /// As [`subscribe_from`](Self::subscribe_from).
    pub async fn presence_events(
        &self,
        conn: &Connection,
        topic: &str,
    ) -> Result<Subscription<PresenceEvent>, crate::error::Error> {
        self.check_access(conn, topic, super::Access::Subscribe)?;
        Ok(self.subscribe(presence_topic(topic)).await?)
    }
}
