//! The Redis backend (feature `redis`): topics shared by every instance through Redis
//! pub/sub. The only file that imports the Redis client.
//!
//! Each process keeps two Redis connections, however many subscribers it has:
//!
//! - a **command** connection for `PUBLISH` (a [`ConnectionManager`] that reconnects on
//!   demand; a publish while Redis is away fails at once with
//!   [`PubSubError::Unavailable`], and RPCs are not affected);
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

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::{mpsc, oneshot, Notify};

use super::{
    presence_topic, Backend, Fanout, Message, PresenceEntry, PresenceEvent, PresenceStore, PubSub,
    PubSubBuilder, PubSubError,
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
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            probe_interval: DEFAULT_PROBE_INTERVAL,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            max_backoff: DEFAULT_MAX_BACKOFF,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            presence_ttl: super::DEFAULT_PRESENCE_TTL,
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
        let presence = RedisPresence::start(backend.publisher.clone(), &config);
        Ok(self.assemble(hub, backend, presence))
    }
}

fn unavailable(e: impl fmt::Display) -> PubSubError {
    PubSubError::Unavailable(e.to_string())
}

enum Cmd {
    Subscribe(Arc<str>, oneshot::Sender<Result<(), PubSubError>>),
    Unsubscribe(Arc<str>),
    /// Redis confirmed a (re)subscription to a topic: drop it if nobody here wants it (an
    /// UNSUBSCRIBE that failed during an outage is resubscribed by the reconnect).
    Prune(Arc<str>),
}

/// The Redis backend; build it with [`PubSubBuilder::redis`].
pub struct RedisBackend {
    publisher: ConnectionManager,
    commands: mpsc::UnboundedSender<Cmd>,
    timeout: Duration,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

/// What the subscriber connection's push handler shares with the subscriber task.
struct Shared {
    fanout: Fanout,
    commands: mpsc::UnboundedSender<Cmd>,
    probe_channel: String,
    probe_seen: AtomicU64,
    probe_arrived: Notify,
}

impl Shared {
    fn on_push(&self, info: PushInfo) {
        match info.kind {
            PushKind::Message => {
                let mut data = info.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                let (Some(channel), Some(payload)) = (bulk(channel), bulk(payload)) else {
                    return;
                };
                let Ok(channel) = String::from_utf8(channel) else {
                    return;
                };
                if channel == self.probe_channel {
                    let n = std::str::from_utf8(&payload)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    self.probe_seen.fetch_max(n, Ordering::AcqRel);
                    self.probe_arrived.notify_waiters();
                    return;
                }
                self.fanout
                    .deliver(&Message::new(channel, Bytes::from(payload)));
            }
            PushKind::Subscribe => {
                let channel = info.data.into_iter().next().and_then(bulk);
                let Some(Ok(channel)) = channel.map(String::from_utf8) else {
                    return;
                };
                if channel != self.probe_channel && !self.fanout.0.has_topic(&channel) {
                    let _ = self.commands.send(Cmd::Prune(Arc::from(channel)));
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("redis pub/sub connection lost; subscribers may miss messages");
                self.fanout.interrupt(None);
            }
            _ => {}
        }
    }
}

fn bulk(v: redis::Value) -> Option<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            fanout,
            commands: tx.clone(),
            probe_channel: format!("swill.probe.{}", super::instance_id()),
            probe_seen: AtomicU64::new(0),
            probe_arrived: Notify::new(),
        });
        let subscriber = subscriber(&client, &config, &shared).await?;
        let task = SubscriberTask {
            client,
            config: config.clone(),
            shared,
            publisher: publisher.clone(),
            conn: Some(subscriber),
            topics: HashSet::new(),
            probe: 0,
        };
        tokio::spawn(task.run(rx));
        Ok(Self {
            publisher,
            commands: tx,
            timeout: config.command_timeout,
        })
    }
}

fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.command_timeout))
        .set_response_timeout(Some(config.command_timeout))
        .set_number_of_retries(1)
        .set_max_delay(config.max_backoff)
}

/// A new subscriber connection, subscribed to the probe channel.
async fn subscriber(
    client: &redis::Client,
    config: &RedisConfig,
    shared: &Arc<Shared>,
) -> Result<ConnectionManager, PubSubError> {
    let sink = shared.clone();
    let cfg = manager_config(config)
        .set_automatic_resubscription()
        .set_push_sender(move |info: PushInfo| {
            sink.on_push(info);
            Ok::<(), std::convert::Infallible>(())
        });
    let mut conn = client
        .get_connection_manager_with_config(cfg)
        .await
        .map_err(unavailable)?;
    conn.subscribe(&shared.probe_channel)
        .await
        .map_err(unavailable)?;
    Ok(conn)
}

/// Owns the subscriber connection: runs SUBSCRIBE/UNSUBSCRIBE in order, probes, rebuilds.
struct SubscriberTask {
    client: redis::Client,
    config: RedisConfig,
    shared: Arc<Shared>,
    publisher: ConnectionManager,
    conn: Option<ConnectionManager>,
    /// Topics subscribed upstream (by this task's bookkeeping).
    topics: HashSet<Arc<str>>,
    probe: u64,
}

impl SubscriberTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut wait = self.config.probe_interval;
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return, // the backend was dropped
                    Some(Cmd::Subscribe(topic, reply)) => {
                        let r = self.subscribe(topic).await;
                        let _ = reply.send(r);
                    }
                    Some(Cmd::Unsubscribe(topic)) => self.unsubscribe(topic).await,
                    Some(Cmd::Prune(topic)) => self.prune(topic).await,
                },
                () = tokio::time::sleep(wait) => {
                    let ok = self.probe_ok().await;
                    tracing::trace!(channel = %self.shared.probe_channel, ok, "redis probe");
                    if ok {
                        wait = self.config.probe_interval;
                        backoff = Duration::from_millis(100);
                    } else {
                        self.rebuild().await;
                        wait = if self.conn.is_some() { self.config.probe_interval } else { backoff };
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
            }
        }
    }

    async fn subscribe(&mut self, topic: Arc<str>) -> Result<(), PubSubError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(unavailable("not connected to redis"));
        };
        conn.subscribe(&*topic).await.map_err(unavailable)?;
        self.topics.insert(topic);
        Ok(())
    }

    async fn unsubscribe(&mut self, topic: Arc<str>) {
        if !self.topics.remove(&topic) {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            if let Err(e) = conn.unsubscribe(&*topic).await {
                tracing::debug!(error = %e, %topic, "redis unsubscribe failed");
            }
        }
    }

    async fn prune(&mut self, topic: Arc<str>) {
        if self.topics.contains(&topic) || self.shared.fanout.0.has_topic(&topic) {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            if let Err(e) = conn.unsubscribe(&*topic).await {
                tracing::debug!(error = %e, %topic, "redis unsubscribe of a stale topic failed");
            }
        }
    }

    /// Publishes a probe on the service channel and waits for it on the subscriber
    /// connection.
    async fn probe_ok(&mut self) -> bool {
        if self.conn.is_none() {
            return false;
        }
        self.probe += 1;
        let n = self.probe;
        let arrived = self.shared.probe_arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(&self.shared.probe_channel)
            .arg(n.to_string())
            .query_async(&mut self.publisher)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "redis probe publish failed");
            return false;
        }
        let deadline = tokio::time::sleep(self.config.probe_timeout);
        tokio::pin!(deadline);
        loop {
            if self.shared.probe_seen.load(Ordering::Acquire) >= n {
                return true;
            }
            tokio::select! {
                () = &mut arrived => {
                    arrived.set(self.shared.probe_arrived.notified());
                    arrived.as_mut().enable();
                }
                () = &mut deadline => {
                    let ok = self.shared.probe_seen.load(Ordering::Acquire) >= n;
                    if !ok {
                        tracing::warn!("redis pub/sub probe did not come back; rebuilding");
                    }
                    return ok;
                }
            }
        }
    }

    /// Replaces the subscriber connection and resubscribes every local topic; tells the
    /// subscribers they may have missed messages.
    async fn rebuild(&mut self) {
        self.conn = None;
        let mut conn = match subscriber(&self.client, &self.config, &self.shared).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "redis pub/sub reconnect failed");
                self.shared.fanout.interrupt(None);
                return;
            }
        };
        let topics = self.shared.fanout.topics();
        self.topics.clear();
        for topic in topics {
            match conn.subscribe(&*topic).await {
                Ok(()) => {
                    self.topics.insert(topic);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis resubscribe failed");
                    self.shared.fanout.interrupt(None);
                    return;
                }
            }
        }
        self.conn = Some(conn);
        self.shared.fanout.interrupt(None);
        tracing::info!(channel = %self.shared.probe_channel, topics = self.topics.len(), "redis pub/sub connection rebuilt");
    }
}

impl Backend for RedisBackend {
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut conn = self.publisher.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(message.topic()).arg(&message.payload()[..]);
            match tokio::time::timeout(timeout, cmd.query_async::<i64>(&mut conn)).await {
                Ok(Ok(_receivers)) => Ok(()),
                Ok(Err(e)) => Err(unavailable(e)),
                Err(_) => Err(unavailable("redis did not answer in time")),
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
}

/// Presence in Redis: per topic a sorted set of entry keys scored by their expiry time (ms
/// since the epoch) and a hash of the encoded entries. Each instance refreshes its own
/// entries every third of the TTL and prunes expired ones of the topics it tracks,
/// publishing their leave events (the `ZREM` that removes an entry decides which instance
/// publishes, so each expiry is announced once). Instances' clocks are assumed to agree
/// within a fraction of the TTL.
pub struct RedisPresence {
    conn: ConnectionManager,
    ttl: Duration,
    local: Arc<std::sync::Mutex<LocalEntries>>,
}

type LocalEntries = std::collections::HashMap<String, (Arc<str>, PresenceEntry)>;

impl fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPresence")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn exp_key(topic: &str) -> String {
    format!("swill:presence:{topic}:exp")
}

fn data_key(topic: &str) -> String {
    format!("swill:presence:{topic}:data")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisPresence {
    fn start(conn: ConnectionManager, config: &RedisConfig) -> Self {
        let local: Arc<std::sync::Mutex<LocalEntries>> = Arc::default();
        let weak = Arc::downgrade(&local);
        let (mut c, ttl) = (conn.clone(), config.presence_ttl);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let Some(local) = weak.upgrade() else {
                    return; // the store was dropped
                };
                let entries: Vec<(String, Arc<str>)> = local
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(k, (t, _))| (k.clone(), t.clone()))
                    .collect();
                drop(local);
                if let Err(e) = refresh(&mut c, &entries, ttl).await {
                    tracing::debug!(error = %e, "redis presence refresh failed");
                }
            }
        });
        Self {
            conn,
            ttl: config.presence_ttl,
            local,
        }
    }
}

/// Extends this instance's entries and prunes the expired entries of their topics.
async fn refresh(
    c: &mut ConnectionManager,
    entries: &[(String, Arc<str>)],
    ttl: Duration,
) -> redis::RedisResult<()> {
    let now = now_ms();
    let mut pipe = redis::pipe();
    let mut topics: Vec<&Arc<str>> = Vec::new();
    for (key, topic) in entries {
        pipe.cmd("ZADD")
            .arg(exp_key(topic))
            .arg("XX")
            .arg(now + ms(ttl))
            .arg(key)
            .ignore();
        if !topics.contains(&topic) {
            topics.push(topic);
            pipe.cmd("PEXPIRE")
                .arg(exp_key(topic))
                .arg(ms(ttl) * 2)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(data_key(topic))
                .arg(ms(ttl) * 2)
                .ignore();
        }
    }
    if !entries.is_empty() {
        pipe.query_async::<()>(c).await?;
    }
    for topic in topics {
        let expired: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(exp_key(topic))
            .arg("-inf")
            .arg(format!("({now}"))
            .query_async(c)
            .await?;
        for key in expired {
            let removed: i64 = redis::cmd("ZREM")
                .arg(exp_key(topic))
                .arg(&key)
                .query_async(c)
                .await?;
            if removed != 1 {
                continue; // another instance pruned it and announces it
            }
            let (raw, _): (Option<Vec<u8>>, i64) = redis::pipe()
                .atomic()
                .cmd("HGET")
                .arg(data_key(topic))
                .arg(&key)
                .cmd("HDEL")
                .arg(data_key(topic))
                .arg(&key)
                .query_async(c)
                .await?;
            let Some(entry) = raw.and_then(|r| rmp_serde::from_slice::<PresenceEntry>(&r).ok())
            else {
                continue;
            };
            let event = PresenceEvent::Leave { entry };
            if let Ok(bytes) = super::message::encode(&event) {
                redis::cmd("PUBLISH")
                    .arg(presence_topic(topic))
                    .arg(&bytes[..])
                    .query_async::<i64>(c)
                    .await?;
            }
        }
    }
    Ok(())
}

impl PresenceStore for RedisPresence {
    fn add(
        &self,
        topic: Arc<str>,
        entry: PresenceEntry,
    ) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut c = self.conn.clone();
        let ttl = self.ttl;
        let local = self.local.clone();
        Box::pin(async move {
            let bytes = super::message::encode(&entry)?;
            let key = entry.key();
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(data_key(&topic))
                .arg(&key)
                .arg(&bytes[..])
                .ignore()
                .cmd("ZADD")
                .arg(exp_key(&topic))
                .arg(now_ms() + ms(ttl))
                .arg(&key)
                .ignore()
                .cmd("PEXPIRE")
                .arg(exp_key(&topic))
                .arg(ms(ttl) * 2)
                .ignore()
                .cmd("PEXPIRE")
                .arg(data_key(&topic))
                .arg(ms(ttl) * 2)
                .ignore()
                .query_async::<()>(&mut c)
                .await
                .map_err(unavailable)?;
            local
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, (topic, entry));
            Ok(())
        })
    }

    fn remove(&self, topic: Arc<str>, entry: PresenceEntry) {
        let key = entry.key();
        self.local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let mut c = self.conn.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let r = redis::pipe()
                    .atomic()
                    .cmd("ZREM")
                    .arg(exp_key(&topic))
                    .arg(&key)
                    .ignore()
                    .cmd("HDEL")
                    .arg(data_key(&topic))
                    .arg(&key)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await;
                if let Err(e) = r {
                    tracing::debug!(error = %e, "redis presence remove failed; the entry expires");
                }
            });
        }
    }

    fn list(&self, topic: Arc<str>) -> BoxFuture<'static, Result<Vec<PresenceEntry>, PubSubError>> {
        let mut c = self.conn.clone();
        Box::pin(async move {
            let keys: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(exp_key(&topic))
                .arg(now_ms())
                .arg("+inf")
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let raw: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(data_key(&topic))
                .arg(&keys)
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            Ok(raw
                .into_iter()
                .flatten()
                .filter_map(|r| rmp_serde::from_slice(&r).ok())
                .collect())
        })
    }
}

/// Sessions in Redis: one hash per session (`swill:session:<id>`), its expiry reset to the
/// TTL on every read and write, so a session is seen from every instance and outlives any
/// one of them.
pub struct RedisSessions {
    conn: ConnectionManager,
}

impl fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessions").finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Connects to Redis at `url` (with the default [`RedisConfig`] timeouts).
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the URL is invalid or Redis cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, PubSubError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let conn = client
            .get_connection_manager_with_config(manager_config(&RedisConfig::default()))
            .await
            .map_err(unavailable)?;
        Ok(Self { conn })
    }
}

fn session_key(id: &str) -> String {
    format!("swill:session:{id}")
}

impl super::SessionStore for RedisSessions {
    fn get(
        &self,
        id: &str,
        key: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Option<Bytes>, PubSubError>> {
        let mut c = self.conn.clone();
        let (k, field) = (session_key(id), key.to_owned());
        Box::pin(async move {
            let (raw, _): (Option<Vec<u8>>, i64) = redis::pipe()
                .cmd("HGET")
                .arg(&k)
                .arg(&field)
                .cmd("PEXPIRE")
                .arg(&k)
                .arg(ms(ttl))
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            Ok(raw.map(Bytes::from))
        })
    }

    fn set(
        &self,
        id: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut c = self.conn.clone();
        let (k, field) = (session_key(id), key.to_owned());
        Box::pin(async move {
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(&k)
                .arg(&field)
                .arg(&value[..])
                .ignore()
                .cmd("PEXPIRE")
                .arg(&k)
                .arg(ms(ttl))
                .ignore()
                .query_async::<()>(&mut c)
                .await
                .map_err(unavailable)
        })
    }

    fn remove(&self, id: &str, key: Option<&str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut c = self.conn.clone();
        let k = session_key(id);
        let field = key.map(str::to_owned);
        Box::pin(async move {
            let cmd = match &field {
                Some(f) => {
                    let mut cmd = redis::cmd("HDEL");
                    cmd.arg(&k).arg(f);
                    cmd
                }
                None => {
                    let mut cmd = redis::cmd("DEL");
                    cmd.arg(&k);
                    cmd
                }
            };
            cmd.query_async::<i64>(&mut c)
                .await
                .map(drop)
                .map_err(unavailable)
        })
    }
}

impl super::SessionsBuilder {
    /// Sessions in Redis at `url` (see [`RedisSessions`]).
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the URL is invalid or Redis cannot be reached now.
    pub async fn redis(self, url: &str) -> Result<super::Sessions, PubSubError> {
        Ok(self.store(RedisSessions::connect(url).await?))
    }
}
