//! Presence in Redis, with TTL expiry of the entries of instances that died.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;

use super::super::{presence_topic, PresenceEntry, PresenceEvent, PresenceStore, PubSubError};
use super::*;

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

pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisPresence {
    pub(super) fn start(conn: ConnectionManager, config: &RedisConfig) -> Self {
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
            if let Ok(bytes) = super::super::message::encode(&event) {
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
            let bytes = super::super::message::encode(&entry)?;
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
