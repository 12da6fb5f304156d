//! Sessions in Redis, one hash per session with expiry.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;

use super::super::PubSubError;
use super::*;

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

impl super::super::SessionStore for RedisSessions {
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
                .arg(super::presence::ms(ttl))
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
                .arg(super::presence::ms(ttl))
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

impl super::super::SessionsBuilder {
    /// Sessions in Redis at `url` (see [`RedisSessions`]).
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the URL is invalid or Redis cannot be reached now.
    pub async fn redis(self, url: &str) -> Result<super::super::Sessions, PubSubError> {
        Ok(self.store(RedisSessions::connect(url).await?))
    }
}
