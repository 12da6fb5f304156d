//! Real-time push: topics, publish from anywhere, subscriptions as streaming responses.
//!
//! # Concepts
//!
//! A **topic** is a name (`"room.lobby"`). Server code **publishes** a message to a topic
//! through a [`PubSub`] handle, a cheap clone that works as app state
//! ([`Swill::with_state`](crate::Swill::with_state)), in a background task or in an axum
//! route. A handler **subscribes** a connection to one or more topics and returns the
//! [`Subscription`] as its streaming response: the client gets the messages as an ordinary
//! swill/1 stream, and cancelling the call unsubscribes.
//!
//! ```
//! use futures::Stream;
//! use swill::pubsub::{PubSub, Subscription};
//! use swill::{Connection, Error, Request, Response, State, Swill, Value};
//!
//! /// Streams the messages of one topic until cancelled.
//! #[swill::handler]
//! async fn subscribe(
//!     req: Request<String>,
//!     conn: Connection,
//!     State(pubsub): State<PubSub>,
//!     res: Response,
//! ) -> impl Stream<Item = Result<Value, Error>> {
//!     let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
//!     Subscription::or_failed(sub).announce(&res)
//! }
//!
//! /// Publishes `[topic, message]`.
//! #[swill::handler]
//! async fn publish(
//!     req: Request<(String, Value)>,
//!     conn: Connection,
//!     State(pubsub): State<PubSub>,
//! ) -> Result<bool, Error> {
//!     let (topic, message) = req.into_data();
//!     pubsub.publish_from(&conn, topic, &message)?.await?;
//!     Ok(true)
//! }
//!
//! let pubsub = PubSub::new();
//! let app = Swill::new()
//!     .with_state(pubsub.clone())
//!     .handler(subscribe)
//!     .handler(publish);
//! # let _ = app;
//! ```
//!
//! [`Subscription::announce`] sends the leading metadata `{"subscribed": topic}` before any
//! message, and the subscription exists before that frame leaves: a client that has seen it
//! knows every later publish reaches it.
//!
//! # Delivery semantics
//!
//! - **At most once, without history.** A message reaches the subscribers that exist when
//!   it is published; it is not stored and not retried.
//! - **At least once within the history window, with history.** A topic can keep a history
//!   ([`PubSubBuilder::history`]): each of its messages gets a [`Position`], an
//!   `(epoch, offset)` pair whose offset grows by one per message, and a client that
//!   reconnects resumes after the last position it received ([`PubSub::resume_from`], the
//!   [`Since`] extractor): it gets exactly the messages it missed, then the live ones, or an
//!   honest `recovered: false` when the history no longer covers the gap. See "Resuming"
//!   below.
//! - **Ordered per publisher and topic.** Messages one publisher publishes to one topic, one
//!   after the other, arrive in that order at every subscriber. Messages from different
//!   publishers, or on different topics, may interleave differently at different
//!   subscribers across instances — except on a topic with history, where every subscriber
//!   sees the order of the positions.
//! - **Never a silent gap.** A subscriber that falls behind applies its [`LagPolicy`]
//!   ([`DEFAULT_LAG_POLICY`]: end the stream with an ERROR saying it lagged, after
//!   [`DEFAULT_QUEUE_CAPACITY`] queued messages); a backend reconnect is reported as
//!   [`Lagged::Interrupted`]. A subscription to a topic with history always ends rather
//!   than skip a message, whatever the policy: the client resumes. Publishers never wait
//!   for subscribers.
//! - **Encoded once.** A message is encoded to MessagePack once, by the publisher; every
//!   subscriber's queue holds the same bytes.
//!
//! # Resuming
//!
//! A subscription to one topic with history announces its start position in its leading
//! metadata, `{"subscribed": topic, "epoch": e, "offset": n}`: the k-th message on the
//! stream is at offset `n + k`, so plain swill/1 clients see an ordinary stream and nothing
//! extra travels per message. To resume, the client opens the same call again with request
//! metadata `since: {"epoch": e, "offset": p}`, p being the last position it received. The
//! subscription is made live first, then the history is read and merged with the live
//! messages by position (no duplicate, no gap), and the leading metadata says
//! `"recovered": true` with `offset` p. When the history cannot cover the gap (another
//! epoch, `since` older than what is kept, or more than
//! [`max_recovery`](PubSubBuilder::max_recovery) messages), nothing is replayed, and
//! `"recovered": false` comes with the current position: the client reloads its state with
//! an ordinary call. Handler-defined streams can follow the same scheme: send leading
//! `epoch` and `offset`, and read [`Since`].
//!
//! # Authorization
//!
//! [`PubSubBuilder::authorize`] installs a check that decides, per connection and topic,
//! whether [`PubSub::subscribe_from`] and [`PubSub::publish_from`] may go ahead. Topics that
//! start with `swill.` are reserved for the targeted pushes below and always refused there.
//! Server code ([`PubSub::subscribe`], [`PubSub::publish`]) is trusted and not checked.
//!
//! # Pushing to one connection, one user, everyone
//!
//! swill/1 only lets the server send on a stream the client opened, so targeted pushes go
//! through topics: a client opens its **inbox** (a handler returning [`PubSub::inbox`]),
//! which subscribes it to [`ALL_TOPIC`], its connection's topic
//! ([`PubSub::connection_topic`]) and, when [`PubSubBuilder::identify`] names a user, that
//! user's topic ([`PubSub::user_topic`]). Then [`PubSub::to_all`], [`PubSub::to_connection`],
//! [`PubSub::to_user`] and [`PubSub::to_where`] (the inboxes a filter selects) publish there.
//!
//! # Backends
//!
//! [`Memory`] (the default) serves one process. With the `redis` feature,
//! `PubSub::builder().redis(url).await` shares topics between instances through one
//! subscriber connection per process (see the `redis` module). A [`Backend`] is the trait
//! both implement.

mod backend;
mod builder;
mod error;
mod history;
mod hub;
mod memory;
mod message;
mod presence;
mod push;
mod queue;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod session;
mod subscription;
mod topics;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, Shared};
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use backend::{Backend, Fanout};
pub use builder::PubSubBuilder;
pub use error::PubSubError;
pub use history::{
    History, HistoryRead, Position, DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_LEN, DEFAULT_MAX_RECOVERY,
};
pub use hub::SubscriberInfo;
pub use memory::Memory;
pub use message::Message;
pub use presence::{
    presence_topic, MemoryPresence, PresenceEntry, PresenceEvent, PresenceStore, Tracked,
    DEFAULT_PRESENCE_TTL,
};
pub use queue::{LagPolicy, Lagged, Recv, DEFAULT_LAG_POLICY, DEFAULT_QUEUE_CAPACITY};
pub use session::{
    MemorySessions, Session, SessionStore, Sessions, SessionsBuilder, DEFAULT_SESSION_COOKIE,
    DEFAULT_SESSION_QUERY, DEFAULT_SESSION_TTL, MAX_SESSION_ID_LEN,
};
pub use subscription::{Since, Subscription, SINCE_KEY};
pub use topics::Topics;

use crate::context::Connection;
use hub::Hub;

/// The topic every inbox subscribes to ([`PubSub::to_all`]).
pub const ALL_TOPIC: &str = "swill.all";

/// The prefix of the reserved topics (inboxes); connections may not subscribe or publish
/// to them through [`PubSub::subscribe_from`] / [`PubSub::publish_from`].
pub const RESERVED_PREFIX: &str = "swill.";

/// What a connection asks to do with a topic (for [`PubSubBuilder::authorize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Subscribe to the topic.
    Subscribe,
    /// Publish to the topic.
    Publish,
}

type Authorize = dyn Fn(&Connection, &str, Access) -> Result<(), crate::error::Error> + Send + Sync;
type Identify = dyn Fn(&Connection) -> Option<String> + Send + Sync;
type HistoryFor = dyn Fn(&str) -> Option<History> + Send + Sync;
type Pending = Shared<BoxFuture<'static, Result<(), PubSubError>>>;

/// The pub/sub handle: publish, subscribe, push. Cheap to clone (one reference count).
#[derive(Clone)]
pub struct PubSub(Arc<Inner>);

pub(crate) struct Inner {
    hub: Arc<Hub>,
    backend: Box<dyn Backend>,
    presence: Box<dyn PresenceStore>,
    capacity: usize,
    policy: LagPolicy,
    authorize: Option<Box<Authorize>>,
    identify: Option<Box<Identify>>,
    history: Option<Box<HistoryFor>>,
    max_recovery: usize,
    /// [`PubSubBuilder::on_trace`].
    pub(crate) on_trace: Option<crate::app::trace::TraceHook>,
    instance: String,
    closed: std::sync::atomic::AtomicBool,
    /// Upstream subscribes still in flight, by topic: later subscribers wait for them too.
    pending: Mutex<HashMap<Arc<str>, Pending>>,
}

impl Inner {
    pub(crate) fn unsubscribe(&self, id: u64) {
        for topic in self.hub.remove(id) {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&topic);
            self.backend.unsubscribe(topic);
        }
    }
}

/// A name for this process that other instances will not share: connection topics contain
/// it, because connection ids are only unique within one process.
pub(crate) fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("{:016x}", h.finish())
}

impl Default for PubSub {
    fn default() -> Self {
        Self::new()
    }
}

impl PubSub {
    /// A handle with the in-process backend and the default limits.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set limits, authorization, identity or the backend.
    pub fn builder() -> PubSubBuilder {
        PubSubBuilder {
            capacity: DEFAULT_QUEUE_CAPACITY,
            policy: DEFAULT_LAG_POLICY,
            authorize: None,
            identify: None,
            history: None,
            max_recovery: DEFAULT_MAX_RECOVERY,
            on_trace: None,
        }
    }

    /// This process's instance name (part of every connection topic).
    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// Publishes `message` to `topic` on every instance. The message is encoded now, once;
    /// the returned future (which borrows nothing) hands it to the backend. With the
    /// in-process backend the local subscribers have it queued before this returns.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Encode`] at once when `message` cannot be encoded;
    /// [`PubSubError::Unavailable`] from the future when the backend cannot take it.
    pub fn publish<M: Serialize + ?Sized>(
        &self,
        topic: impl Into<Arc<str>>,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        let fut = Message::encode(topic, message).map(|m| self.publish_message(m));
        async move { fut?.await }
    }

    /// Publishes an already-encoded message.
    pub fn publish_message(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        let message = message.with_current_trace();
        match self.history_of(message.topic()) {
            None => self.0.backend.publish(message),
            Some(h) => {
                let fut = self.0.backend.publish_with_history(message, h);
                Box::pin(async move { fut.await.map(|_| ()) })
            }
        }
    }

    /// Publishes an already-encoded message to a topic with history and resolves to the
    /// position it got.
    ///
    /// # Errors
    ///
    /// [`PubSubError::InvalidTopic`] when the topic keeps no history (see
    /// [`PubSubBuilder::history`]), [`PubSubError::Unavailable`] when the backend cannot take
    /// it.
    pub fn publish_positioned(
        &self,
        message: Message,
    ) -> BoxFuture<'static, Result<Position, PubSubError>> {
        let message = message.with_current_trace();
        match self.history_of(message.topic()) {
            Some(h) => self.0.backend.publish_with_history(message, h),
            None => {
                let e = PubSubError::InvalidTopic(format!(
                    "topic {:?} keeps no history",
                    message.topic()
                ));
                Box::pin(futures_util::future::ready(Err(e)))
            }
        }
    }

    /// The history settings of `topic` ([`PubSubBuilder::history`]); `None` when it keeps
    /// none.
    pub fn history_of(&self, topic: &str) -> Option<History> {
        self.0.history.as_ref().and_then(|f| f(topic))
    }

    /// Reads the history of `topic`: the position of its last message and, when `since` is
    /// given, the messages after it (all of them, at most
    /// [`max_recovery`](PubSubBuilder::max_recovery), or `None`).
    ///
    /// # Errors
    ///
    /// [`PubSubError::InvalidTopic`] when the topic keeps no history,
    /// [`PubSubError::Unavailable`] when the backend cannot read it.
    pub async fn read_history(
        &self,
        topic: impl Into<Arc<str>>,
        since: Option<Position>,
    ) -> Result<HistoryRead, PubSubError> {
        let topic = topic.into();
        let Some(h) = self.history_of(&topic) else {
            return Err(PubSubError::InvalidTopic(format!(
                "topic {topic:?} keeps no history"
            )));
        };
        self.0
            .backend
            .history(topic, h, since, self.0.max_recovery)
            .await
    }

    /// [`publish`](Self::publish) on behalf of `conn`, after the reserved-topic rule and
    /// the authorization check.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Forbidden`] when refused, then as [`publish`](Self::publish).
    pub fn publish_from<M: Serialize + ?Sized>(
        &self,
        conn: &Connection,
        topic: impl Into<Arc<str>>,
        message: &M,
    ) -> Result<impl Future<Output = Result<(), PubSubError>> + Send + 'static, crate::error::Error>
    {
        let topic = topic.into();
        self.check_access(conn, &topic, Access::Publish)?;
        Ok(self.publish(topic, message))
    }

    /// Subscribes server code to `topics` (trusted: no authorization check). Resolves once
    /// the subscription is live on the backend.
    ///
    /// # Errors
    ///
    /// [`PubSubError::InvalidTopic`] without topics, [`PubSubError::Unavailable`] when the
    /// backend cannot subscribe.
    pub async fn subscribe<T: DeserializeOwned>(
        &self,
        topics: impl Topics,
    ) -> Result<Subscription<T>, PubSubError> {
        self.subscribe_as(topics.into_topics(), SubscriberInfo::server(), None)
            .await
    }

    /// Subscribes server code to `topic` and resumes after `since` (see
    /// [`resume_from`](Self::resume_from)).
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn resume<T: DeserializeOwned>(
        &self,
        topic: impl Into<Arc<str>>,
        since: Option<Position>,
    ) -> Result<Subscription<T>, PubSubError> {
        self.subscribe_as(vec![topic.into()], SubscriberInfo::server(), since)
            .await
    }

    /// Subscribes connection `conn` to `topics`, after the reserved-topic rule and the
    /// authorization check for each topic.
    ///
    /// # Errors
    ///
    /// 403 when refused, 400 without topics, 503 when the backend cannot subscribe.
    pub async fn subscribe_from<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        topics: impl Topics,
    ) -> Result<Subscription<T>, crate::error::Error> {
        let topics = topics.into_topics();
        for t in &topics {
            self.check_access(conn, t, Access::Subscribe)?;
        }
        let info = SubscriberInfo::connection(conn.id(), self.user_of(conn));
        Ok(self.subscribe_as(topics, info, None).await?)
    }

    /// Subscribes connection `conn` to `topic` and, for a topic with history, resumes after
    /// `since`, the last position the client received (the `since` request metadata, read by
    /// the [`Since`] extractor), as [`subscribe_from`](Self::subscribe_from) checks access.
    ///
    /// The subscription is live first; then the history is read, and the messages after
    /// `since` come first, followed by the live ones, without duplicates or gaps. When that is
    /// impossible (another epoch, `since` older than the history, or more than
    /// [`max_recovery`](PubSubBuilder::max_recovery) missed messages), nothing is replayed
    /// and [`Subscription::recovered`] is `false`: the client reloads its state. Without
    /// `since`, or for a topic without history, this is `subscribe_from`.
    /// [`Subscription::announce`] tells the client the outcome.
    ///
    /// # Errors
    ///
    /// As [`subscribe_from`](Self::subscribe_from).
    pub async fn resume_from<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        topic: impl Into<Arc<str>>,
        since: Option<Position>,
    ) -> Result<Subscription<T>, crate::error::Error> {
        let topic = topic.into();
        self.check_access(conn, &topic, Access::Subscribe)?;
        let info = SubscriberInfo::connection(conn.id(), self.user_of(conn));
        Ok(self.subscribe_as(vec![topic], info, since).await?)
    }

    /// Who subscribes to `topic` on this instance.
    pub fn local_subscribers(&self, topic: &str) -> Vec<SubscriberInfo> {
        self.0.hub.subscribers(topic)
    }

    /// How many subscriptions `topic` has on this instance.
    pub fn local_subscriber_count(&self, topic: &str) -> usize {
        self.0.hub.subscriber_count(topic)
    }

    /// Ends every subscription of this instance cleanly (END_OF_STREAM after what each has
    /// queued) and refuses new ones with [`PubSubError::Unavailable`]: call it when a
    /// graceful shutdown starts, so open subscriptions do not hold it up until the
    /// shutdown timeout. Publishing keeps working.
    pub fn close(&self) {
        self.0
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.0.hub.close_all();
    }

    /// The user the identify function names for `conn`.
    pub fn user_of(&self, conn: &Connection) -> Option<String> {
        self.0.identify.as_ref().and_then(|f| f(conn))
    }

    pub(crate) fn check_access(
        &self,
        conn: &Connection,
        topic: &str,
        access: Access,
    ) -> Result<(), crate::error::Error> {
        if topic.starts_with(RESERVED_PREFIX) {
            return Err(crate::error::Error::forbidden(format!(
                "topic {topic:?} is reserved"
            )));
        }
        match &self.0.authorize {
            Some(f) => f(conn, topic, access),
            None => Ok(()),
        }
    }

    async fn subscribe_as<T: DeserializeOwned>(
        &self,
        topics: Vec<Arc<str>>,
        info: SubscriberInfo,
        since: Option<Position>,
    ) -> Result<Subscription<T>, PubSubError> {
        if topics.is_empty() {
            return Err(PubSubError::InvalidTopic("no topic given".into()));
        }
        if self.0.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(PubSubError::Unavailable(
                "the pub/sub handle is closed".into(),
            ));
        }
        if let Some(t) = topics.iter().find(|t| t.is_empty()) {
            return Err(PubSubError::InvalidTopic(format!("{t:?} is empty")));
        }
        let inner = &self.0;
        // A subscription to topics with history never drops a message silently.
        let histories: Vec<Option<History>> = topics.iter().map(|t| self.history_of(t)).collect();
        let policy = if histories.iter().any(Option::is_some) {
            LagPolicy::End
        } else {
            inner.policy
        };
        let (slot, first) = inner.hub.add(&topics, inner.capacity, policy, info);
        // Exists from here on: dropping it (or this future) unsubscribes.
        let mut sub = Subscription::active(slot, inner.clone(), topics.clone(), policy);
        let waits: Vec<(Arc<str>, Pending)> = {
            let mut pending = inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            let mut waits = Vec::new();
            for t in &topics {
                if first.contains(t) {
                    let fut = inner.backend.subscribe(t.clone()).shared();
                    pending.insert(t.clone(), fut.clone());
                    waits.push((t.clone(), fut));
                } else if let Some(fut) = pending.get(t) {
                    waits.push((t.clone(), fut.clone()));
                }
            }
            waits
        };
        for (topic, fut) in waits {
            let result = fut.clone().await;
            {
                let mut pending = inner.pending.lock().unwrap_or_else(|p| p.into_inner());
                if pending.get(&topic).is_some_and(|p| p.ptr_eq(&fut)) {
                    pending.remove(&topic);
                }
            }
            result?;
        }
        // Live from here on: read the history now, so that nothing falls in between.
        if let ([topic], [Some(h)]) = (topics.as_slice(), histories.as_slice()) {
            let read = inner
                .backend
                .history(topic.clone(), *h, since.clone(), inner.max_recovery)
                .await?;
            sub.start_history(read, since.is_some());
        }
        Ok(sub)
    }
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("instance", &self.0.instance)
            .field("backend", &self.0.backend)
            .field("capacity", &self.0.capacity)
            .field("policy", &self.0.policy)
            .finish_non_exhaustive()
    }
}
