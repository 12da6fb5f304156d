//! Handler arguments: the [`FromCall`] extractor trait and its implementations.

use std::fmt;
use std::ops::Deref;

use super::{CallContext, Connection, Metadata, Response};
use crate::error::Error;

/// A type a handler can take as an argument, read from the call's context.
///
/// Implemented for [`Extension<T>`], [`Connection`], [`CallContext`], [`Metadata`],
/// [`Response`] and `http::Request<()>` (the upgrade request's method, URI and headers).
/// [`State<S>`], [`Request<T>`](super::Request) and [`Streaming<T>`](super::Streaming) are
/// handler arguments too, handled by the handler layer itself. Implement it for your own
/// types to extract, say, an authenticated user once for many handlers:
///
/// ```
/// use swill::{handler::FromCall, CallContext, Error};
///
/// struct UserId(String);
///
/// impl FromCall for UserId {
///     fn from_call(ctx: &CallContext) -> Result<Self, Error> {
///         ctx.connection()
///             .cookie("user")
///             .map(|u| UserId(u.to_owned()))
///             .ok_or_else(|| Error::new(401, "not signed in"))
///     }
/// }
///
/// #[swill::handler]
/// async fn whoami(user: UserId) -> Result<String, Error> {
///     Ok(user.0)
/// }
/// # let _app = swill::Swill::new().handler(whoami);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a swill handler argument",
    label = "not an extractor",
    note = "handler arguments are Request<T>, Streaming<T>, State<S>, Extension<T>, Connection, CallContext, Metadata, Response, http::Request<()>, or a type implementing swill::handler::FromCall"
)]
pub trait FromCall: Sized {
    /// Extracts the argument.
    ///
    /// # Errors
    /// An error ends the call with that ERROR frame before the handler runs.
    fn from_call(ctx: &CallContext) -> Result<Self, Error>;
}

impl FromCall for CallContext {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        Ok(ctx.clone())
    }
}

impl FromCall for Connection {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        Ok(ctx.connection().clone())
    }
}

impl FromCall for Metadata {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        Ok(ctx.metadata().clone())
    }
}

impl FromCall for Response {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        Ok(Self::new(ctx.clone()))
    }
}

/// The upgrade request of the call's connection, without a body: its URI and headers (the
/// method is always GET).
impl FromCall for http::Request<()> {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        let conn = ctx.connection();
        let mut req = Self::new(());
        *req.uri_mut() = conn.uri().clone();
        *req.headers_mut() = conn.headers().clone();
        Ok(req)
    }
}

/// Application state registered with `Swill::with_state`, cloned for the call.
///
/// ```
/// # use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// # use swill::{Error, State};
/// #[derive(Clone, Default)]
/// struct Counter(Arc<AtomicU64>);
///
/// #[swill::handler]
/// async fn hits(State(counter): State<Counter>) -> Result<u64, Error> {
///     Ok(counter.0.fetch_add(1, Ordering::Relaxed) + 1)
/// }
///
/// let app = swill::Swill::new().with_state(Counter::default()).handler(hits);
/// # drop(app);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S> Deref for State<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S: Clone + Send + Sync + 'static> State<S> {
    /// The state from the app; the app refuses to build when a handler takes state it lacks,
    /// so a miss here means a handler was called outside its app.
    pub(crate) fn from_context(ctx: &CallContext) -> Result<Self, Error> {
        match ctx.connection().state::<S>() {
            Some(s) => Ok(Self(s)),
            None => {
                let state = std::any::type_name::<S>();
                tracing::error!(state, "handler asks for state the app does not have");
                Err(Error::internal().with_debug_reason(format!(
                    "the app has no state of type {state} (register it with Swill::with_state)"
                )))
            }
        }
    }
}

/// A value a `before_connection` hook stored in the connection's extensions (for example the
/// authenticated user). A handler asking for one that is missing fails with 500.
#[derive(Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T> Deref for Extension<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Extension<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Extension").field(&self.0).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> FromCall for Extension<T> {
    fn from_call(ctx: &CallContext) -> Result<Self, Error> {
        match ctx.connection().extensions().get::<T>() {
            Some(v) => Ok(Self(v.clone())),
            None => {
                let extension = std::any::type_name::<T>();
                tracing::error!(
                    extension,
                    "handler asks for a connection extension no hook inserted"
                );
                Err(Error::internal().with_debug_reason(format!(
                    "no before_connection hook inserted a connection extension of type {extension}"
                )))
            }
        }
    }
}
