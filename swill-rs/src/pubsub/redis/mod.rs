//! The Redis backend (feature `redis`): topics shared by every instance through Redis
//! pub/sub. The only module (`pubsub/redis/`) that imports the Redis client: the broker here
//! (publishes in `publisher.rs`, the subscriber connection in `subscriber.rs`), history in
//! `history.rs`, presence in `presence.rs`, sessions in `session.rs`.
//!
//! Each process keeps two Redis connections, however many subscribers it has:
//!
//! - a **command** connection (a [`ConnectionManager`] that reconnects on demand; a publish
//!   while Redis is away fails at once with [`PubSubError::Unavailable`], and RPCs are not
//!   affected). Publishes go through one ordered queue, pipelined (`publisher.rs`): they
//!   reach Redis in the order they were made;
//! - one **subscriber** connection (RESP3 push messages, automatic resubscription), shared by
//!   all local subscribers: the first local subscriber of a topic makes it `SUBSCRIBE`, the
//!   last one leaving makes it `UNSUBSCRIBE`.
//!
//! When the subscriber connection drops, every local subscription is told it may have missed
//! messages ([`Lagged::Interrupted`](super::Lagged::Interrupted)); under the default
//! [`LagPolicy::End`](super::LagPolicy::End) its stream ends with a 503 saying so and the
//! client resubscribes. A **liveness probe** publishes on a service channel of this process
//! every [`DEFAULT_PROBE_INTERVAL`] and expects it back on the subscriber connection within
//! [`DEFAULT_PROBE_TIMEOUT`]; if it does not come back (Redis down, or a connection that is
//! silently stuck), the subscriber connection is rebuilt, every local topic resubscribed, and
//! the subscribers told of the gap. Failed rebuilds back off up to
//! [`DEFAULT_MAX_BACKOFF`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion};
use tokio::sync::{mpsc, oneshot};

use publisher::Publisher;
use subscriber::Cmd;

use super::{
    Backend, Fanout, History, HistoryRead, Message, Position, PubSub, PubSubBuilder, PubSubError,
};

/// How often the subscriber connection is probed: often enough that a stuck connection is
/// rebuilt within seconds, rarely enough to cost nothing (one tiny publish per process).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// How long a probe may take to come back before the subscriber connection is rebuilt: far
/// above a healthy round trip (well under a millisecond on a LAN), below the interval.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest wait between two rebuild attempts while Redis stays away (the wait doubles
/// from the probe interval's first retry of 100 ms up to this).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long a command (publish, subscribe) may wait for Redis before it fails: a publish is
/// a fire-and-forget broadcast, so failing fast beats queueing behind an outage.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the numbering of a topic with history (its epoch and last offset) outlives the
/// topic's last use: a client may come back with a position after a day away and still be
/// told correctly whether it can be recovered; when this expires the topic starts a new
/// epoch (the hash is a few dozen bytes per topic).
pub const DEFAULT_HISTORY_META_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Settings of the Redis backend; every field has a `DEFAULT_*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// See [`DEFAULT_PROBE_INTERVAL`].
    pub probe_interval: Duration,
    /// See [`DEFAULT_PROBE_TIMEOUT`].
    pub probe_timeout: Duration,
    /// See [`DEFAULT_MAX_BACKOFF`].
    pub max_backoff: Duration,
    /// See [`DEFAULT_COMMAND_TIMEOUT`].
    pub command_timeout: Duration,
    /// See [`DEFAULT_PRESENCE_TTL`](super::DEFAULT_PRESENCE_TTL).
    pub presence_ttl: Duration,
    /// See [`DEFAULT_HISTORY_META_TTL`].
    pub history_meta_ttl: Duration,
    /// Carry each message's W3C trace context (the traced call that published it) to the
    /// subscribers of other instances. Off by default: instances that predate it drop such
    /// messages as malformed, so turn it on once every instance sharing the Redis reads it.
    pub trace_context: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            probe_interval: DEFAULT_PROBE_INTERVAL,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            max_backoff: DEFAULT_MAX_BACKOFF,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            presence_ttl: super::DEFAULT_PRESENCE_TTL,
            history_meta_ttl: DEFAULT_HISTORY_META_TTL,
            trace_context: false,
        }
    }
}

impl RedisConfig {
    /// Sets [`probe_interval`](Self::probe_interval).
    #[must_use]
    pub fn probe_interval(mut self, d: Duration) -> Self {
        self.probe_interval = d;
        self
    }

    /// Sets [`probe_timeout`](Self::probe_timeout).
    #[must_use]
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.probe_timeout = d;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    #[must_use]
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets [`presence_ttl`](Self::presence_ttl) (at least 3 ms: entries are refreshed every
    /// third of it).
    #[must_use]
    pub fn presence_ttl(mut self, d: Duration) -> Self {
        self.presence_ttl = d.max(Duration::from_millis(3));
        self
    }

    /// Sets [`history_meta_ttl`](Self::history_meta_ttl) (at least 1 ms).
    #[must_use]
    pub fn history_meta_ttl(mut self, d: Duration) -> Self {
        self.history_meta_ttl = d.max(Duration::from_millis(1));
        self
    }

    /// Sets [`trace_context`](Self::trace_context).
    #[must_use]
    pub fn trace_context(mut self, on: bool) -> Self {
        self.trace_context = on;
        self
    }

    /// Sets [`command_timeout`](Self::command_timeout).
    #[must_use]
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }
}

impl PubSubBuilder {
    /// Builds the handle with the Redis backend at `url` (`redis://HOST:PORT[/DB]`) and the
    /// default [`RedisConfig`]. Must run inside a tokio runtime (it spawns the subscriber
    /// task).
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the URL is invalid or Redis cannot be reached now.
    pub async fn redis(self, url: &str) -> Result<PubSub, PubSubError> {
        self.redis_with(url, RedisConfig::default()).await
    }

    /// [`redis`](Self::redis) with explicit settings.
    ///
    /// # Errors
    ///
    /// As [`redis`](Self::redis).
    pub async fn redis_with(self, url: &str, config: RedisConfig) -> Result<PubSub, PubSubError> {
        let hub = Arc::new(super::hub::Hub::default());
        let backend = RedisBackend::connect(url, Fanout(hub.clone()), config.clone()).await?;
        let presence = RedisPresence::start(backend.conn.clone(), &config);
        Ok(self.assemble(hub, backend, presence))
    }
}

/// About what a publish of `m` sends.
fn size_of(m: &Message) -> usize {
    m.payload().len() + m.topic().len()
}

fn unavailable(e: impl fmt::Display) -> PubSubError {
    PubSubError::Unavailable(e.to_string())
}

/// The Redis backend; build it with [`PubSubBuilder::redis`].
pub struct RedisBackend {
    /// The command connection, for everything but publishes.
    conn: ConnectionManager,
    /// Every publish, in order.
    publisher: Publisher,
    commands: mpsc::UnboundedSender<Cmd>,
    timeout: Duration,
    history_meta_ttl: Duration,
    /// [`RedisConfig::trace_context`].
    trace_context: bool,
    publish_script: Arc<redis::Script>,
    read_script: Arc<redis::Script>,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// The traced-frame prefix for `m`, when trace context travels and `m` has one.
    fn trace_prefix(&self, m: &Message) -> Option<Vec<u8>> {
        if !self.trace_context {
            return None;
        }
        m.trace_context().map(|t| traced::prefix(t))
    }
}

impl RedisBackend {
    async fn connect(url: &str, fanout: Fanout, config: RedisConfig) -> Result<Self, PubSubError> {
        let info = url.into_connection_info().map_err(unavailable)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(unavailable)?;
        let publisher = client
            .get_connection_manager_with_config(manager_config(&config))
            .await
            .map_err(unavailable)?;
        let commands = subscriber::start(client, &config, fanout, publisher.clone()).await?;
        let publish_script = Arc::new(redis::Script::new(history::PUBLISH));
        Ok(Self {
            publisher: Publisher::start(
                publisher.clone(),
                publish_script.clone(),
                config.command_timeout,
            ),
            conn: publisher,
            commands,
            timeout: config.command_timeout,
            history_meta_ttl: config.history_meta_ttl,
            trace_context: config.trace_context,
            publish_script,
            read_script: Arc::new(redis::Script::new(history::READ)),
        })
    }
}

pub(super) fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.command_timeout))
        .set_response_timeout(Some(config.command_timeout))
        .set_number_of_retries(1)
        .set_max_delay(config.max_backoff)
}

impl Backend for RedisBackend {
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(message.topic());
        match self.trace_prefix(&message) {
            Some(mut frame) => {
                frame.extend_from_slice(message.payload());
                cmd.arg(frame);
            }
            None => {
                cmd.arg(&message.payload()[..]);
            }
        }
        let reply = self.publisher.send(cmd, size_of(&message), false);
        Box::pin(async move {
            match reply.await? {
                redis::Value::Int(_receivers) => Ok(()),
                _ => Err(unavailable("unexpected reply from redis to PUBLISH")),
            }
        })
    }

    fn subscribe(&self, topic: Arc<str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(Cmd::Subscribe(topic, tx));
        let timeout = self.timeout;
        Box::pin(async move {
            if sent.is_err() {
                return Err(unavailable("the redis subscriber task stopped"));
            }
            match tokio::time::timeout(timeout * 2, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(unavailable("the redis subscriber task stopped")),
                Err(_) => Err(unavailable(
                    "redis did not confirm the subscription in time",
                )),
            }
        })
    }

    fn unsubscribe(&self, topic: Arc<str>) {
        let _ = self.commands.send(Cmd::Unsubscribe(topic));
    }

    fn publish_with_history(
        &self,
        message: Message,
        history: History,
    ) -> BoxFuture<'static, Result<Position, PubSubError>> {
        let (max_len, max_age) = history::limits(&history);
        let meta_ttl = history::ms(self.history_meta_ttl).max(max_age);
        let topic = message.topic();
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.publish_script.get_hash())
            .arg(2)
            .arg(history::stream_key(topic))
            .arg(history::meta_key(topic))
            .arg(&message.payload()[..])
            .arg(topic)
            .arg(max_len)
            .arg(max_age)
            .arg(history::new_epoch())
            .arg(meta_ttl);
        // The live frame carries the trace; the stored history does not.
        if let Some(prefix) = self.trace_prefix(&message) {
            cmd.arg(prefix);
        }
        let reply = self.publisher.send(cmd, size_of(&message), true);
        Box::pin(async move {
            match reply.await? {
                redis::Value::Array(reply) => history::parse_position(reply),
                _ => Err(unavailable(
                    "unexpected reply from the redis publish script",
                )),
            }
        })
    }

    fn history(
        &self,
        topic: Arc<str>,
        history: History,
        since: Option<Position>,
        limit: usize,
    ) -> BoxFuture<'static, Result<HistoryRead, PubSubError>> {
        let mut conn = self.conn.clone();
        let timeout = self.timeout;
        let script = self.read_script.clone();
        let (_, max_age) = history::limits(&history);
        let meta_ttl = history::ms(self.history_meta_ttl).max(max_age);
        Box::pin(async move {
            let mut call = script.prepare_invoke();
            call.key(history::stream_key(&topic))
                .key(history::meta_key(&topic))
                .arg(since.as_ref().map_or("", Position::epoch))
                .arg(since.as_ref().map_or(0, Position::offset))
                .arg(limit)
                .arg(max_age)
                .arg(history::new_epoch())
                .arg(meta_ttl);
            match tokio::time::timeout(timeout, call.invoke_async::<Vec<redis::Value>>(&mut conn))
                .await
            {
                Ok(Ok(reply)) => history::parse_read(&topic, reply),
                Ok(Err(e)) => Err(unavailable(e)),
                Err(_) => Err(unavailable("redis did not answer in time")),
            }
        })
    }
}

mod history;
mod presence;
mod publisher;
mod session;
mod subscriber;
mod traced;

pub use presence::RedisPresence;
pub use session::RedisSessions;
