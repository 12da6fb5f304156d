//! [`PubSubBuilder`]: limits, lag policy, history, authorization, identity and backend of
//! a [`PubSub`].

use std::fmt;
use std::sync::{Arc, Mutex};

use super::hub::Hub;
use super::{
    Access, Authorize, Backend, Fanout, History, HistoryFor, Identify, Inner, LagPolicy, Memory,
    MemoryPresence, PresenceStore, PubSub,
};
use crate::context::Connection;

/// Builds a [`PubSub`]: queue capacity, lag policy, history, authorization, identity,
/// backend. Made by [`PubSub::builder`].
#[must_use]
pub struct PubSubBuilder {
    pub(super) capacity: usize,
    pub(super) policy: LagPolicy,
    pub(super) authorize: Option<Box<Authorize>>,
    pub(super) identify: Option<Box<Identify>>,
    pub(super) history: Option<Box<HistoryFor>>,
    pub(super) max_recovery: usize,
    pub(super) on_trace: Option<crate::app::trace::TraceHook>,
}

impl PubSubBuilder {
    /// How many messages each subscriber may have waiting (default
    /// [`DEFAULT_QUEUE_CAPACITY`](super::DEFAULT_QUEUE_CAPACITY); 0 means 1).
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.capacity = messages;
        self
    }

    /// What a full subscriber queue does (default [`DEFAULT_LAG_POLICY`](super::DEFAULT_LAG_POLICY)).
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Runs `f` with the span a subscription opens for each message it delivers that carries
    /// the publisher's trace context ([`Message::trace_context`](super::Message::trace_context)),
    /// before the span is entered: the same callback as
    /// [`Swill::on_trace`](crate::Swill::on_trace), so that with OpenTelemetry each delivery
    /// is a span of the publishing call's trace. Without it the `pubsub.deliver` span still
    /// records `trace_id`, `parent_id` and `traceparent`.
    pub fn on_trace(
        mut self,
        f: impl Fn(&tracing::Span, &crate::observe::TraceContext) + Send + Sync + 'static,
    ) -> Self {
        self.on_trace = Some(Arc::new(f));
        self
    }

    /// Which topics keep a history, and how much: `f(topic)` returns the topic's
    /// [`History`] settings, or `None` for a topic without history (the default for every
    /// topic). Messages of a topic with history carry a [`Position`](super::Position), and
    /// its subscribers can resume after a reconnect without losing messages
    /// ([`PubSub::resume_from`]). A subscription to such a topic never drops a message
    /// silently: whatever the [`lag_policy`](Self::lag_policy), a subscriber that falls
    /// behind has its stream ended with an ERROR, and resumes.
    ///
    /// ```
    /// use swill::pubsub::{History, PubSub};
    ///
    /// let pubsub = PubSub::builder()
    ///     .history(|topic| topic.starts_with("room.").then(|| History::new(500)))
    ///     .build();
    /// # let _ = pubsub;
    /// ```
    pub fn history(mut self, f: impl Fn(&str) -> Option<History> + Send + Sync + 'static) -> Self {
        self.history = Some(Box::new(f));
        self
    }

    /// The most missed messages a resume replays before it answers `recovered: false`
    /// instead (default [`DEFAULT_MAX_RECOVERY`](super::DEFAULT_MAX_RECOVERY)).
    pub fn max_recovery(mut self, messages: usize) -> Self {
        self.max_recovery = messages;
        self
    }

    /// The authorization check for connections: `f(connection, topic, access)` returns
    /// `Err` (usually [`Error::forbidden`](crate::Error::forbidden)) to refuse. Without
    /// one, connections may subscribe and publish to every topic outside
    /// [`RESERVED_PREFIX`](super::RESERVED_PREFIX).
    pub fn authorize(
        mut self,
        f: impl Fn(&Connection, &str, Access) -> Result<(), crate::error::Error> + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Box::new(f));
        self
    }

    /// How to name a connection's user (for user topics and [`SubscriberInfo::user`](super::SubscriberInfo::user)), for
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

    pub(super) fn assemble(
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
            history: self.history,
            max_recovery: self.max_recovery,
            on_trace: self.on_trace,
            instance: super::instance_id(),
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
            .field("history", &self.history.is_some())
            .field("max_recovery", &self.max_recovery)
            .finish()
    }
}
