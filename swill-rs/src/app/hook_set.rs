//! [`Hooks`]: call hooks, written once for the app and for modules.

use std::fmt;
use std::future::Future;

use crate::handler::{CallContext, Metadata};
use crate::hooks::{self, CallHooks, HookResult, Outcome, RawMessage, RequestFrame};

/// A set of call hooks, installed on the app with [`Swill::hooks`](crate::Swill::hooks) or on
/// a group of handlers with [`Module::hooks`](crate::Module::hooks). Each setter appends one
/// hook; hooks of one kind run in the order they were added, the app's before its modules',
/// an outer module's before an inner one's (see [`hooks`](crate::hooks) for when each fires).
///
/// Connection hooks (`before_connection`, `after_accept`, `after_connection`) concern the
/// whole connection rather than a handler, so they are set on [`Swill`](crate::Swill) alone.
///
/// ```
/// use swill::hooks::HookError;
/// use swill::{Error, Hooks, Module, Swill};
///
/// let audit = Hooks::new()
///     .before_request(|ctx| async move {
///         tracing::info!(rpc = ctx.rpc(), "call");
///         Ok(())
///     })
///     .after_request(|ctx, outcome| async move {
///         tracing::info!(rpc = ctx.rpc(), ?outcome, "done");
///     });
/// let admin = Module::new("admin").hooks(Hooks::new().before_request(|_ctx| async move {
///     Err(HookError::Fail(Error::forbidden("admins only")))
/// }));
/// let app = Swill::new().hooks(audit).module(admin);
/// # drop(app);
/// ```
#[derive(Clone, Default)]
#[must_use = "hooks do nothing until installed with `Swill::hooks` or `Module::hooks`"]
pub struct Hooks {
    pub(crate) calls: CallHooks,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.calls;
        f.debug_struct("Hooks")
            .field("before_request", &c.before_request.len())
            .field("before_request_metadata", &c.before_request_metadata.len())
            .field("before_request_data", &c.before_request_data.len())
            .field("before_request_message", &c.before_request_message.len())
            .field("before_leading_metadata", &c.before_leading_metadata.len())
            .field("before_response_message", &c.before_response_message.len())
            .field(
                "before_trailing_metadata",
                &c.before_trailing_metadata.len(),
            )
            .field("after_request", &c.after_request.len())
            .finish()
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs before each call, after its handler is found.
    pub fn before_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_request.push(hooks::boxed1(f));
        self
    }

    /// Authorization for the handlers these hooks cover (the app's, or a module's): a call
    /// for which `allowed` says no gets ERROR 403 before its handler runs or its request is
    /// decoded. `allowed` sees the call's context: the rpc, the request metadata and the
    /// connection (its extensions hold what a `before_connection` hook put there, such as
    /// the authenticated user). A `before_request` hook that runs `allowed` first.
    ///
    /// ```
    /// use swill::{Hooks, Module};
    ///
    /// #[derive(Clone)]
    /// struct User {
    ///     admin: bool,
    /// }
    ///
    /// let admin = Module::new("admin").hooks(Hooks::new().authorize(|ctx| {
    ///     ctx.connection()
    ///         .extensions()
    ///         .get::<User>()
    ///         .is_some_and(|u| u.admin)
    /// }));
    /// # drop(admin);
    /// ```
    pub fn authorize<F>(self, allowed: F) -> Self
    where
        F: Fn(&CallContext) -> bool + Send + Sync + 'static,
    {
        self.before_request(move |ctx| {
            let verdict = if allowed(&ctx) {
                Ok(())
            } else {
                tracing::debug!(rpc = ctx.rpc(), "call not authorized");
                Err(hooks::HookError::Fail(crate::error::Error::forbidden(
                    format!("not allowed to call {}", ctx.rpc()),
                )))
            };
            std::future::ready(verdict)
        })
    }

    /// Runs when a call's opening frame carries request metadata.
    pub fn before_request_metadata<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_request_metadata.push(hooks::boxed1(f));
        self
    }

    /// Runs for every later frame of a streaming-request call.
    pub fn before_request_data<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, RequestFrame) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_request_data.push(hooks::boxed2(f));
        self
    }

    /// Runs for every request message after decoding and validation.
    pub fn before_request_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, RawMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_request_message.push(hooks::boxed2(f));
        self
    }

    /// Runs once, when leading metadata would go out (even if none was set).
    pub fn before_leading_metadata<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, Option<Metadata>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_leading_metadata.push(hooks::boxed2(f));
        self
    }

    /// Runs before each result message is written.
    pub fn before_response_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, RawMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_response_message.push(hooks::boxed2(f));
        self
    }

    /// Runs before the single response or the END_OF_STREAM.
    pub fn before_trailing_metadata<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, Option<Metadata>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.calls.before_trailing_metadata.push(hooks::boxed2(f));
        self
    }

    /// Runs when a call ends, on every path.
    pub fn after_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CallContext, Outcome) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.calls.after_request.push(hooks::boxed2(f));
        self
    }

    /// `self`'s hooks followed by `other`'s.
    pub(crate) fn merged(&self, other: &Self) -> Self {
        Self {
            calls: self.calls.merged(&other.calls),
        }
    }
}
