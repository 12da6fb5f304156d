//! The subscriber side of the Redis backend: one subscriber connection per process
//! (RESP3 pushes, automatic resubscription), the task that owns it (SUBSCRIBE and
//! UNSUBSCRIBE in order, the liveness probe, rebuilds with backoff), and the push handler
//! that hands each message to the local fan-out.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind};
use tokio::sync::{mpsc, oneshot, Notify};

use super::{history, manager_config, traced, unavailable, RedisConfig};
use crate::pubsub::{Fanout, Message, PubSubError};

/// What the subscriber task is asked to do, in order.
pub(super) enum Cmd {
    Subscribe(Arc<str>, oneshot::Sender<Result<(), PubSubError>>),
    Unsubscribe(Arc<str>),
    /// Redis confirmed a (re)subscription to a topic: drop it if nobody here wants it (an
    /// UNSUBSCRIBE that failed during an outage is resubscribed by the reconnect).
    Prune(Arc<str>),
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
                let (trace, payload) = match traced::split(&payload) {
                    Some((trace, inner)) => (Some(trace), inner.to_vec()),
                    None => (None, payload),
                };
                if payload.first() == Some(&history::POSITIONED) {
                    match history::parse_frame(channel, payload) {
                        Some(m) => {
                            self.fanout.deliver(&m.with_trace_context(trace));
                        }
                        None => tracing::warn!("a malformed positioned message on redis"),
                    }
                    return;
                }
                let m = Message::new(channel, Bytes::from(payload)).with_trace_context(trace);
                self.fanout.deliver(&m);
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

/// Connects the subscriber connection for `fanout` and spawns the task that owns it; the
/// sender takes the task's commands, in order.
pub(super) async fn start(
    client: redis::Client,
    config: &RedisConfig,
    fanout: Fanout,
    publisher: ConnectionManager,
) -> Result<mpsc::UnboundedSender<Cmd>, PubSubError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        fanout,
        commands: tx.clone(),
        probe_channel: format!("swill.probe.{}", crate::pubsub::instance_id()),
        probe_seen: AtomicU64::new(0),
        probe_arrived: Notify::new(),
    });
    let subscriber = subscriber(&client, config, &shared).await?;
    let task = SubscriberTask {
        client,
        config: config.clone(),
        shared,
        publisher,
        conn: Some(subscriber),
        topics: HashSet::new(),
        probe: 0,
    };
    tokio::spawn(task.run(rx));
    Ok(tx)
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
