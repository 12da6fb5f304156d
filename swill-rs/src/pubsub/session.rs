//! Sessions: typed data that outlives one WebSocket, keyed by a cookie or token of the
//! upgrade request.
//!
//! A session id comes from the upgrade request ([`SessionsBuilder::cookie`], default
//! `swill_session`, or [`SessionsBuilder::query`], default `session`); an HTTP route (a login)
//! usually sets it, with [`Sessions::new_id`] for a fresh one. Handlers read and write typed
//! values by key through [`Session`]; the data lives in a [`SessionStore`], in process or in
//! Redis, so it survives a reconnect and is seen from every instance. Every read or write
//! extends the session's lifetime to the TTL ([`DEFAULT_SESSION_TTL`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{self, BoxFuture};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::PubSubError;
use crate::context::Connection;
use crate::error::Error;

/// How long an untouched session lives: a day, so a user who comes back the next morning
/// finds it, while abandoned sessions do not pile up.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The cookie carrying the session id unless configured.
pub const DEFAULT_SESSION_COOKIE: &str = "swill_session";

/// The upgrade-URI query parameter carrying the session id unless configured (for clients
/// that cannot set cookies).
pub const DEFAULT_SESSION_QUERY: &str = "session";

/// The longest session id accepted (longer ones are refused as invalid).
pub const MAX_SESSION_ID_LEN: usize = 128;

/// Where session data lives. Values are MessagePack bytes.
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// The value of `key` in session `id`, extending the session's life to `ttl`.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    fn get(
        &self,
        id: &str,
        key: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Option<Bytes>, PubSubError>>;

    /// Sets `key` in session `id` (creating the session), extending its life to `ttl`.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    fn set(
        &self,
        id: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<(), PubSubError>>;

    /// Removes `key` from session `id` (`None`: the whole session).
    ///
    /// # Errors
    ///
    /// [`PubSubError::Unavailable`] when the store cannot be reached.
    fn remove(&self, id: &str, key: Option<&str>) -> BoxFuture<'static, Result<(), PubSubError>>;
}

#[derive(Debug)]
struct MemorySession {
    values: HashMap<String, Bytes>,
    expires: tokio::time::Instant,
}

/// The in-process session store (the default). Expired sessions are dropped when touched
/// and swept on writes.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<String, MemorySession>>,
}

impl MemorySessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MemorySession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemorySessions {
    fn get(
        &self,
        id: &str,
        key: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Option<Bytes>, PubSubError>> {
        let now = tokio::time::Instant::now();
        let mut s = self.lock();
        let value = match s.get_mut(id) {
            Some(session) if session.expires > now => {
                session.expires = now + ttl;
                session.values.get(key).cloned()
            }
            Some(_) => {
                s.remove(id);
                None
            }
            None => None,
        };
        Box::pin(future::ready(Ok(value)))
    }

    fn set(
        &self,
        id: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<(), PubSubError>> {
        let now = tokio::time::Instant::now();
        let mut s = self.lock();
        s.retain(|_, session| session.expires > now);
        let session = s.entry(id.to_owned()).or_insert_with(|| MemorySession {
            values: HashMap::new(),
            expires: now,
        });
        session.expires = now + ttl;
        session.values.insert(key.to_owned(), value);
        Box::pin(future::ready(Ok(())))
    }

    fn remove(&self, id: &str, key: Option<&str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        let mut s = self.lock();
        match key {
            None => {
                s.remove(id);
            }
            Some(key) => {
                if let Some(session) = s.get_mut(id) {
                    session.values.remove(key);
                }
            }
        }
        Box::pin(future::ready(Ok(())))
    }
}

/// The sessions handle: cheap to clone, use it as app state.
#[derive(Clone)]
pub struct Sessions(Arc<SessionsInner>);

struct SessionsInner {
    store: Box<dyn SessionStore>,
    ttl: Duration,
    cookie: String,
    query: String,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("store", &self.0.store)
            .field("ttl", &self.0.ttl)
            .field("cookie", &self.0.cookie)
            .field("query", &self.0.query)
            .finish()
    }
}

/// Builds [`Sessions`]: TTL, where the id comes from, the store.
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionsBuilder {
    ttl: Duration,
    cookie: String,
    query: String,
}

impl SessionsBuilder {
    /// How long an untouched session lives (default [`DEFAULT_SESSION_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The cookie that carries the id (default [`DEFAULT_SESSION_COOKIE`]).
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = name.into();
        self
    }

    /// The upgrade-URI query parameter that carries the id when there is no cookie
    /// (default [`DEFAULT_SESSION_QUERY`]).
    pub fn query(mut self, name: impl Into<String>) -> Self {
        self.query = name.into();
        self
    }

    /// In-process sessions.
    pub fn build(self) -> Sessions {
        self.store(MemorySessions::default())
    }

    /// Sessions in `store`.
    pub fn store(self, store: impl SessionStore) -> Sessions {
        Sessions(Arc::new(SessionsInner {
            store: Box::new(store),
            ttl: self.ttl,
            cookie: self.cookie,
            query: self.query,
        }))
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessions {
    /// In-process sessions with the defaults.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> SessionsBuilder {
        SessionsBuilder {
            ttl: DEFAULT_SESSION_TTL,
            cookie: DEFAULT_SESSION_COOKIE.to_owned(),
            query: DEFAULT_SESSION_QUERY.to_owned(),
        }
    }

    /// A fresh, unguessable session id (128 bits from the standard library's randomly keyed
    /// SipHash, as 32 hex digits), for a route that starts a session.
    pub fn new_id() -> String {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut out = String::with_capacity(32);
        for _ in 0..2 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(d.as_nanos());
            }
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }

    /// The session of `conn`, from its upgrade request's cookie or query parameter.
    ///
    /// # Errors
    ///
    /// 401 when the connection carries no session id, 400 when it is longer than
    /// [`MAX_SESSION_ID_LEN`].
    pub fn of(&self, conn: &Connection) -> Result<Session, Error> {
        let id = conn
            .cookie(&self.0.cookie)
            .map(str::to_owned)
            .or_else(|| conn.query_param(&self.0.query))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                Error::unauthorized("no session: the connection carries no session id")
            })?;
        self.get(id)
    }

    /// The session with id `id` (for server code that knows it).
    ///
    /// # Errors
    ///
    /// 400 when `id` is longer than [`MAX_SESSION_ID_LEN`].
    pub fn get(&self, id: impl Into<String>) -> Result<Session, Error> {
        let id = id.into();
        if id.len() > MAX_SESSION_ID_LEN {
            return Err(Error::bad_request(format!(
                "session id longer than {MAX_SESSION_ID_LEN} bytes"
            )));
        }
        Ok(Session {
            sessions: self.clone(),
            id,
        })
    }
}

/// One session: typed values by key.
#[derive(Clone)]
pub struct Session {
    sessions: Sessions,
    id: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a credential: never logged.
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The session id (a credential: do not log it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The value of `key`, decoded as `T`; `None` when unset or expired.
    ///
    /// # Errors
    ///
    /// 503 when the store cannot be reached, 500 when the stored value is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let inner = &self.sessions.0;
        match inner.store.get(&self.id, key, inner.ttl).await? {
            None => Ok(None),
            Some(raw) => Ok(Some(
                rmp_serde::from_slice(&raw).map_err(|e| PubSubError::Decode(e.to_string()))?,
            )),
        }
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// 500 when `value` cannot be encoded, 503 when the store cannot be reached.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let inner = &self.sessions.0;
        let bytes = super::message::encode(value)?;
        Ok(inner.store.set(&self.id, key, bytes, inner.ttl).await?)
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// 503 when the store cannot be reached.
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        Ok(self.sessions.0.store.remove(&self.id, Some(key)).await?)
    }

    /// Ends the session: removes all its data.
    ///
    /// # Errors
    ///
    /// 503 when the store cannot be reached.
    pub async fn clear(&self) -> Result<(), Error> {
        Ok(self.sessions.0.store.remove(&self.id, None).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn memory_sessions_expire_unless_touched() {
        let store = MemorySessions::default();
        let ttl = Duration::from_secs(10);
        store
            .set("s", "k", Bytes::from_static(b"\x01"), ttl)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        // A read extends the life.
        assert!(store.get("s", "k", ttl).await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(store.get("s", "k", ttl).await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(store.get("s", "k", ttl).await.unwrap().is_none());
        store.set("s", "a", Bytes::new(), ttl).await.unwrap();
        store.remove("s", None).await.unwrap();
        assert!(store.get("s", "a", ttl).await.unwrap().is_none());
    }

    #[test]
    fn new_ids_are_long_and_distinct() {
        let a = Sessions::new_id();
        let b = Sessions::new_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
