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
//! - **At most once.** A message reaches the subscribers that exist when it is published; it
//!   is not stored (history and resume are a later extension) and not retried.
//! - **Ordered per publisher and topic.** Messages one publisher publishes to one topic, one
//!   after the other, arrive in that order at every subscriber. Messages from different
//!   publishers, or on different topics, may interleave differently at different
//!   subscribers across instances.
//! - **Never a silent gap.** A subscriber that falls behind applies its [`LagPolicy`]
//!   ([`DEFAULT_LAG_POLICY`]: end the stream with an ERROR saying it lagged, after
//!   [`DEFAULT_QUEUE_CAPACITY`] queued messages); a backend reconnect is reported as
//!   [`Lagged::Interrupted`]. Publishers never wait for subscribers.
//! - **Encoded once.** A message is encoded to MessagePack once, by the publisher; every
//!   subscriber's queue holds the same bytes.
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
mod error;
mod hub;
mod memory;
mod message;
mod presence;
mod queue;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod session;
mod subscription;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, Shared};
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use backend::{Backend, Fanout};
pub use error::PubSubError;
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
pub use subscription::Subscription;

use crate::Connection;
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

type Authorize = dyn Fn(&Connection, &str, Access) -> Result<(), crate::Error> + Send + Sync;
type Identify = dyn Fn(&Connection) -> Option<String> + Send + Sync;
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

/// Builds a [`PubSub`]: queue capacity, lag policy, authorization, identity, backend.
#[must_use]
pub struct PubSubBuilder {
    capacity: usize,
    policy: LagPolicy,
    authorize: Option<Box<Authorize>>,
    identify: Option<Box<Identify>>,
}

impl PubSubBuilder {
    /// How many messages each subscriber may have waiting (default
    /// [`DEFAULT_QUEUE_CAPACITY`]; 0 means 1).
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.capacity = messages;
        self
    }

    /// What a full subscriber queue does (default [`DEFAULT_LAG_POLICY`]).
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The authorization check for connections: `f(connection, topic, access)` returns
    /// `Err` (usually [`Error::forbidden`](crate::Error::forbidden)) to refuse. Without
    /// one, connections may subscribe and publish to every topic outside
    /// [`RESERVED_PREFIX`].
    pub fn authorize(
        mut self,
        f: impl Fn(&Connection, &str, Access) -> Result<(), crate::Error> + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Box::new(f));
        self
    }

    /// How to name a connection's user (for user topics and [`SubscriberInfo::user`]), for
    /// example from a value a `before_connection` hook put in
    /// [`Connection::extensions`].
    pub fn identify(
        mut self,
        f: impl Fn(&Connection) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify = Some(Box::new(f));
        self
    }

    /// Builds the handle with the in-process backend.
    pub fn build(self) -> PubSub {
        self.backend(Memory::new)
    }

    /// Builds the handle with the backend `make` returns for this process's [`Fanout`].
    pub fn backend<B: Backend>(self, make: impl FnOnce(Fanout) -> B) -> PubSub {
        let hub = Arc::new(Hub::default());
        let backend = make(Fanout(hub.clone()));
        self.assemble(hub, backend, MemoryPresence::default())
    }

    fn assemble(
        self,
        hub: Arc<Hub>,
        backend: impl Backend,
        presence: impl PresenceStore,
    ) -> PubSub {
        PubSub(Arc::new(Inner {
            hub,
            backend: Box::new(backend),
            presence: Box::new(presence),
            capacity: self.capacity,
            policy: self.policy,
            authorize: self.authorize,
            identify: self.identify,
            instance: instance_id(),
            closed: std::sync::atomic::AtomicBool::new(false),
            pending: Mutex::default(),
        }))
    }

    /// Fallible form of [`backend`](Self::backend), for backends whose setup can fail.
    ///
    /// # Errors
    ///
    /// What `make` returns.
    pub fn try_backend<B: Backend, E>(
        self,
        make: impl FnOnce(Fanout) -> Result<B, E>,
    ) -> Result<PubSub, E> {
        let hub = Arc::new(Hub::default());
        let backend = make(Fanout(hub.clone()))?;
        Ok(self.assemble(hub, backend, MemoryPresence::default()))
    }
}

impl fmt::Debug for PubSubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSubBuilder")
            .field("capacity", &self.capacity)
            .field("policy", &self.policy)
            .field("authorize", &self.authorize.is_some())
            .field("identify", &self.identify.is_some())
            .finish()
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
        self.0.backend.publish(message)
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
    ) -> Result<impl Future<Output = Result<(), PubSubError>> + Send + 'static, crate::Error> {
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
        self.subscribe_as(topics.into_topics(), SubscriberInfo::server())
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
    ) -> Result<Subscription<T>, crate::Error> {
        let topics = topics.into_topics();
        for t in &topics {
            self.check_access(conn, t, Access::Subscribe)?;
        }
        let info = SubscriberInfo::connection(conn.id(), self.user_of(conn));
        Ok(self.subscribe_as(topics, info).await?)
    }

    /// The inbox of `conn`: one subscription to [`ALL_TOPIC`], its connection topic and, if
    /// [`PubSubBuilder::identify`] names its user, the user topic. Not checked by the
    /// authorization function (the topics are the connection's own).
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot subscribe.
    pub async fn inbox<T: DeserializeOwned>(
        &self,
        conn: &Connection,
    ) -> Result<Subscription<T>, crate::Error> {
        let user = self.user_of(conn);
        let mut topics: Vec<Arc<str>> = vec![
            Arc::from(ALL_TOPIC),
            Arc::from(self.connection_topic(conn.id())),
        ];
        if let Some(u) = &user {
            topics.push(Arc::from(Self::user_topic(u)));
        }
        let info = SubscriberInfo::connection(conn.id(), user);
        Ok(self.subscribe_as(topics, info).await?)
    }

    /// The topic of connection `id` of this instance (what its inbox listens to). Hand it
    /// to other instances to reach that connection from there.
    pub fn connection_topic(&self, id: u64) -> String {
        format!("{RESERVED_PREFIX}conn.{}.{id}", self.0.instance)
    }

    /// The topic of user `user` (every inbox of that user, on every instance).
    pub fn user_topic(user: &str) -> String {
        format!("{RESERVED_PREFIX}user.{user}")
    }

    /// Publishes to every inbox on every instance.
    pub fn to_all<M: Serialize + ?Sized>(
        &self,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(ALL_TOPIC, message)
    }

    /// Publishes to the inbox of one connection, named by its [`connection_topic`]
    /// (which may belong to another instance).
    ///
    /// [`connection_topic`]: Self::connection_topic
    pub fn to_connection<M: Serialize + ?Sized>(
        &self,
        connection_topic: impl Into<Arc<str>>,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(connection_topic, message)
    }

    /// Publishes to every inbox of `user`, on every instance.
    pub fn to_user<M: Serialize + ?Sized>(
        &self,
        user: &str,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(Self::user_topic(user), message)
    }

    /// Pushes to the inboxes on **this instance** that `filter` selects (by connection id or
    /// user), at once; returns how many queued it. A filter is a closure and cannot travel
    /// to other instances: to reach users wherever they are connected, use
    /// [`to_user`](Self::to_user) for each.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Encode`] when `message` cannot be encoded.
    pub fn to_where<M: Serialize + ?Sized>(
        &self,
        filter: impl FnMut(&SubscriberInfo) -> bool,
        message: &M,
    ) -> Result<usize, PubSubError> {
        let m = Message::encode(ALL_TOPIC, message)?;
        Ok(self.0.hub.deliver_where(&m, filter).queued)
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
    ) -> Result<(), crate::Error> {
        if topic.starts_with(RESERVED_PREFIX) {
            return Err(crate::Error::forbidden(format!(
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
        let (slot, first) = inner.hub.add(&topics, inner.capacity, inner.policy, info);
        // Exists from here on: dropping it (or this future) unsubscribes.
        let sub = Subscription::active(slot, inner.clone(), topics.clone());
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

/// One topic or several: `&str`, `String`, `Arc<str>`, or a `Vec`/array/slice of them.
pub trait Topics {
    /// The topic names.
    fn into_topics(self) -> Vec<Arc<str>>;
}

impl Topics for &str {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![Arc::from(self)]
    }
}

impl Topics for String {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![Arc::from(self)]
    }
}

impl Topics for Arc<str> {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![self]
    }
}

impl<T: Into<Arc<str>>> Topics for Vec<T> {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<Arc<str>>, const N: usize> Topics for [T; N] {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Clone + Into<Arc<str>>> Topics for &[T] {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.iter().cloned().map(Into::into).collect()
    }
}
