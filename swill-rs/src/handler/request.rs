//! What single-request handlers receive: [`Request`], and the [`Response`] handle.

use std::fmt;

use super::{CallContext, Connection, Metadata};

/// A single request: the decoded (and validated) payload plus the call's context.
///
/// ```
/// # use swill::{Request, Error};
/// #[swill::handler]
/// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
///     let (a, b) = req.into_data();
///     Ok(a + b)
/// }
/// # let _app = swill::Swill::new().handler(add);
/// ```
pub struct Request<T> {
    data: T,
    ctx: CallContext,
}

impl<T> Request<T> {
    pub(crate) fn new(data: T, ctx: CallContext) -> Self {
        Self { data, ctx }
    }

    /// A request outside any connection, to call a handler directly in a unit test: seq 0, no
    /// metadata, a connection with no peer, headers or state.
    ///
    /// ```
    /// # use swill::{Error, Request};
    /// #[swill::handler]
    /// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    ///     let (a, b) = req.into_data();
    ///     Ok(a + b)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(add::call(Request::detached((2, 3))).await, Ok(5));
    /// # }
    /// ```
    pub fn detached(data: T) -> Self {
        Self::detached_with_metadata(data, Metadata::new())
    }

    /// Like [`detached`](Self::detached), with request metadata.
    pub fn detached_with_metadata(data: T, metadata: Metadata) -> Self {
        let conn = Connection::new(
            0,
            None,
            http::Uri::from_static("/"),
            http::HeaderMap::new(),
            http::Extensions::new(),
            "swill.v1",
            std::sync::Arc::default(),
        );
        let ctx = CallContext::new(crate::protocol::Seq(0), "".into(), metadata, conn);
        Self { data, ctx }
    }

    /// The payload.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The payload, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// Takes the payload.
    pub fn into_data(self) -> T {
        self.data
    }

    /// Splits into the payload and the context.
    pub fn into_parts(self) -> (T, CallContext) {
        (self.data, self.ctx)
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.ctx.metadata()
    }

    /// The connection the call arrived on.
    pub fn connection(&self) -> &Connection {
        self.ctx.connection()
    }

    /// The call's context (seq, rpc, metadata, connection).
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }
}

impl<T: fmt::Debug> fmt::Debug for Request<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("data", &self.data)
            .field("ctx", &self.ctx)
            .finish()
    }
}

/// The handle a handler takes to set response metadata.
///
/// Leading metadata goes out once: on the first result (or the END_OF_STREAM of an empty
/// stream), or at once as a METADATA frame after [`send_leading`](Self::send_leading).
/// Trailing metadata goes out on the single response or the END_OF_STREAM.
///
/// ```
/// # use swill::{Error, Request, Response, Metadata};
/// #[swill::handler]
/// async fn greet(req: Request<String>, res: Response) -> Result<String, Error> {
///     res.set_leading(Metadata::new().with("lang", "en"));
///     res.set_trailing(Metadata::new().with("done", true));
///     Ok(format!("hello {}", req.data()))
/// }
/// # let _app = swill::Swill::new().handler(greet);
/// ```
#[derive(Clone)]
pub struct Response {
    ctx: CallContext,
}

impl Response {
    pub(crate) fn new(ctx: CallContext) -> Self {
        Self { ctx }
    }

    /// Sets the leading metadata, replacing any set before. It has no effect once the call's
    /// first frame went out (leading metadata is sent once, on the first frame).
    pub fn set_leading(&self, md: Metadata) {
        self.ctx.response().update(|r| r.leading = Some(md));
    }

    /// Sends the leading metadata now, as a METADATA frame, before the call's next result
    /// (with what [`set_leading`](Self::set_leading) set, or `{}`). Use it to tell the client
    /// that the stream is open, for example that a subscription exists. No effect once the
    /// call's first frame went out.
    pub fn send_leading(&self) {
        self.ctx.response().update(|r| r.eager = true);
    }

    /// Sets the trailing metadata (replacing any set before): it goes out on the single
    /// response or the END_OF_STREAM.
    pub fn set_trailing(&self, md: Metadata) {
        self.ctx.response().update(|r| r.trailing = Some(md));
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("seq", &self.ctx.seq())
            .finish()
    }
}
