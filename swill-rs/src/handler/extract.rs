//! Handler arguments: the [`FromCall`] extractor trait and its implementations.

use std::fmt;
use std::ops::Deref;

use super::{CallContext, Connection, Metadata, Request, Response, Streaming};
use crate::Error;

/// What an extractor reads from: the call's context and its not-yet-claimed input
/// (the decoded request for single requests, the [`Streaming`] for streaming ones).
#[derive(Debug)]
pub struct CallParts<R> {
    pub(crate) ctx: CallContext,
    pub(crate) input: Option<R>,
}

impl<R> CallParts<R> {
    /// The call's context.
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }
}

/// A type a handler can take as an argument.
///
/// Implemented for [`Request<T>`], [`Streaming<T>`], [`State<S>`], [`Extension<T>`],
/// [`Connection`], [`CallContext`], [`Metadata`] and [`Response`]. `R` is the call's input
/// type; extractors that do not consume it implement `FromCall<R>` for every `R`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a swill handler argument",
    label = "not an extractor",
    note = "handler arguments are Request<T>, Streaming<T>, State<S>, Extension<T>, Connection, CallContext, Metadata or Response"
)]
pub trait FromCall<R>: Sized {
    /// Extracts the argument.
    ///
    /// # Errors
    /// An error ends the call with that ERROR frame before the handler runs.
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error>;
}

impl<R> FromCall<R> for Request<R> {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        let data = parts.input.take().ok_or_else(taken_twice)?;
        Ok(Self::new(data, parts.ctx.clone()))
    }
}

impl<T> FromCall<Self> for Streaming<T> {
    fn from_call(parts: &mut CallParts<Self>) -> Result<Self, Error> {
        parts.input.take().ok_or_else(taken_twice)
    }
}

#[cold]
fn taken_twice() -> Error {
    tracing::error!("a handler takes its request payload twice");
    Error::internal()
}

impl<R> FromCall<R> for CallContext {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        Ok(parts.ctx.clone())
    }
}

impl<R> FromCall<R> for Connection {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        Ok(parts.ctx.connection().clone())
    }
}

impl<R> FromCall<R> for Metadata {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        Ok(parts.ctx.metadata().clone())
    }
}

impl<R> FromCall<R> for Response {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        Ok(Self::new(parts.ctx.clone()))
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

impl<R, S: Clone + Send + Sync + 'static> FromCall<R> for State<S> {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        match parts.ctx.connection().state::<S>() {
            Some(s) => Ok(Self(s)),
            None => {
                tracing::error!(
                    state = std::any::type_name::<S>(),
                    "handler asks for state that was never registered with Swill::with_state"
                );
                Err(Error::internal())
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

impl<R, T: Clone + Send + Sync + 'static> FromCall<R> for Extension<T> {
    fn from_call(parts: &mut CallParts<R>) -> Result<Self, Error> {
        match parts.ctx.connection().extensions().get::<T>() {
            Some(v) => Ok(Self(v.clone())),
            None => {
                tracing::error!(
                    extension = std::any::type_name::<T>(),
                    "handler asks for a connection extension no hook inserted"
                );
                Err(Error::internal())
            }
        }
    }
}
