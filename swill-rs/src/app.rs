//! [`Swill`]: the application builder — handlers, modules, state, hooks and limits.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::handler::{CallContext, Connection, HandlerDef, IntoHandler, Metadata, StateMap};
use crate::hooks::{
    self, CallHooks, ConnHooks, Handshake, HookResult, Outcome, RawMessage, Rejection, RequestFrame,
};
use crate::introspect::ApiDoc;
use crate::protocol::{Limits as EngineLimits, Router as EngineRouter, Shape};

/// Default largest incoming message: 16 MiB, what the original inherits from uvicorn
/// (swill/1 §12.4).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// Default bound on concurrent calls per connection; one more gets ERROR 429.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;
/// Default bound on encoded-but-unsent output per connection. Handlers are not polled for
/// more output while it is exceeded, so a client that stops reading costs at most this much.
pub const DEFAULT_MAX_PENDING_OUTPUT: usize = 1 << 20;
/// Default bound on request items queued for a streaming-request handler that reads slower
/// than its client sends. One more fails that call with 429 (swill/1 has no flow control, and
/// pausing the socket would stall the connection's other calls). 1024 items absorb bursts;
/// clients that upload faster than the handler consumes should wait for acknowledgements.
pub const DEFAULT_MAX_QUEUED_ITEMS: usize = 1024;
/// Default time the client has to finish the WebSocket handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between server pings on a quiet connection.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Default time without any frame from the client (pongs included) before the connection is
/// closed: two missed pings and a margin.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time running calls get to finish during a graceful shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection limits and timeouts. Every field has a `DEFAULT_*` constant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest incoming WebSocket message; beyond it the connection closes with 1009.
    pub max_message_size: usize,
    /// Concurrent calls per connection.
    pub max_concurrent_calls: usize,
    /// Encoded output waiting for the socket, per connection.
    pub max_pending_output: usize,
    /// Queued request items per streaming-request call.
    pub max_queued_items: usize,
    /// Undecodable frames tolerated per connection before closing with 1007 (None: no limit).
    pub max_invalid_frames: Option<u32>,
    /// Handshake deadline.
    pub handshake_timeout: Duration,
    /// Ping interval (None: no pings).
    pub ping_interval: Option<Duration>,
    /// Idle deadline (None: never).
    pub idle_timeout: Option<Duration>,
    /// Grace period for running calls on shutdown.
    pub shutdown_timeout: Duration,
    /// Debug mode: 500 errors carry the panic or error text in `data`. Off by default.
    pub debug: bool,
    /// Decode budget as a multiple of the payload's length: a payload whose decoded value
    /// would take more (estimated) memory gets ERROR 413.
    pub decode_budget_ratio: usize,
    /// Smallest decode budget in bytes, whatever the payload's length.
    pub min_decode_budget: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            max_queued_items: DEFAULT_MAX_QUEUED_ITEMS,
            max_invalid_frames: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            debug: false,
            decode_budget_ratio: crate::payload::DEFAULT_DECODE_BUDGET_RATIO,
            min_decode_budget: crate::payload::DEFAULT_MIN_DECODE_BUDGET,
        }
    }
}

/// Paths the app serves, relative to where it is mounted.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) ws: String,
    pub(crate) schema: Option<String>,
    pub(crate) docs: Option<String>,
}

/// A group of handlers nested under a name prefix (`math` → `math.add`), with call hooks
/// that apply to the group only.
///
/// ```
/// # use swill::{Error, Module, Request, Swill};
/// #[swill::handler]
/// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
///     let (a, b) = req.into_data();
///     Ok(a + b)
/// }
///
/// let math = Module::new("math").handler(add);
/// let app = Swill::new().module(math); // serves "math.add"
/// # drop(app);
/// ```
#[derive(Debug)]
pub struct Module {
    prefix: String,
    entries: Vec<Entry>,
    hooks: CallHooks,
}

/// A handler or a module, kept in registration order so that introspection lists handlers in
/// the order they were registered, whether directly or through modules.
#[derive(Debug)]
enum Entry {
    Handler(HandlerDef),
    Module(Module),
}

impl Module {
    /// A module whose handlers are named `prefix.name`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            entries: Vec::new(),
            hooks: CallHooks::default(),
        }
    }

    /// Adds a handler.
    #[must_use]
    pub fn handler(mut self, h: impl IntoHandler) -> Self {
        self.entries.push(Entry::Handler(h.into_handler()));
        self
    }

    /// Nests another module (`outer.inner.name`).
    #[must_use]
    pub fn module(mut self, m: Self) -> Self {
        self.entries.push(Entry::Module(m));
        self
    }

    fn flatten(
        self,
        prefix: &str,
        parent: &CallHooks,
        out: &mut Vec<(HandlerDef, Arc<CallHooks>)>,
    ) {
        let prefix = if prefix.is_empty() {
            self.prefix
        } else {
            format!("{prefix}.{}", self.prefix)
        };
        let hooks = parent.merged(&self.hooks);
        let shared = Arc::new(hooks.clone());
        for entry in self.entries {
            match entry {
                Entry::Handler(h) => {
                    let name = format!("{prefix}.{}", h.name());
                    out.push((h.with_name(name), shared.clone()));
                }
                Entry::Module(m) => m.flatten(&prefix, &hooks, out),
            }
        }
    }
}

macro_rules! call_hook_setters {
    ($ty:ident) => {
        impl $ty {
            /// Runs before each call, after its handler is found (see [`hooks`](crate::hooks)).
            #[must_use]
            pub fn before_request<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut().before_request.push(hooks::boxed1(f));
                self
            }

            /// Runs when a call's opening frame carries request metadata.
            #[must_use]
            pub fn before_request_metadata<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut()
                    .before_request_metadata
                    .push(hooks::boxed1(f));
                self
            }

            /// Runs for every later frame of a streaming-request call.
            #[must_use]
            pub fn before_request_data<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, RequestFrame) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut().before_request_data.push(hooks::boxed2(f));
                self
            }

            /// Runs for every request message after decoding and validation.
            #[must_use]
            pub fn before_request_message<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, RawMessage) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut()
                    .before_request_message
                    .push(hooks::boxed2(f));
                self
            }

            /// Runs once, when leading metadata would go out (even if none was set).
            #[must_use]
            pub fn before_leading_metadata<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, Option<Metadata>) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut()
                    .before_leading_metadata
                    .push(hooks::boxed2(f));
                self
            }

            /// Runs before each result message is written.
            #[must_use]
            pub fn before_response_message<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, RawMessage) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut()
                    .before_response_message
                    .push(hooks::boxed2(f));
                self
            }

            /// Runs before the single response or the END_OF_STREAM.
            #[must_use]
            pub fn before_trailing_metadata<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, Option<Metadata>) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HookResult> + Send + 'static,
            {
                self.hooks_mut()
                    .before_trailing_metadata
                    .push(hooks::boxed2(f));
                self
            }

            /// Runs when a call ends, on every path.
            #[must_use]
            pub fn after_request<F, Fut>(mut self, f: F) -> Self
            where
                F: Fn(CallContext, Outcome) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = ()> + Send + 'static,
            {
                self.hooks_mut().after_request.push(hooks::boxed2(f));
                self
            }
        }
    };
}

call_hook_setters!(Module);
call_hook_setters!(Swill);

impl Module {
    fn hooks_mut(&mut self) -> &mut CallHooks {
        &mut self.hooks
    }
}

/// A swill application: handlers, modules, state, hooks and configuration.
///
/// Serve it with [`serve`](crate::serve), or mount it in an axum/hyper app with
/// `into_route`, `into_router` or `into_service` (feature `server`).
pub struct Swill {
    entries: Vec<Entry>,
    hooks: CallHooks,
    pub(crate) conn_hooks: ConnHooks,
    states: StateMap,
    pub(crate) config: Config,
    pub(crate) paths: Paths,
    introspection: bool,
    title: String,
    version: String,
}

impl Default for Swill {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Swill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handlers: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Handler(h) => Some(h.name()),
                Entry::Module(_) => None,
            })
            .collect();
        let modules = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Module(_)))
            .count();
        f.debug_struct("Swill")
            .field("handlers", &handlers)
            .field("modules", &modules)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Swill {
    /// An empty app: WebSocket at `/ws`, `schema.json` at `/schema.json`, docs at `/docs`,
    /// introspection on, default limits.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            hooks: CallHooks::default(),
            conn_hooks: ConnHooks::default(),
            states: StateMap::default(),
            config: Config::default(),
            paths: Paths {
                ws: "/ws".into(),
                schema: Some("/schema.json".into()),
                docs: Some("/docs".into()),
            },
            introspection: true,
            title: "swill API".into(),
            version: "0.0.0".into(),
        }
    }

    fn hooks_mut(&mut self) -> &mut CallHooks {
        &mut self.hooks
    }

    /// Registers a handler (anything `#[swill::handler]` produced).
    #[must_use]
    pub fn handler(mut self, h: impl IntoHandler) -> Self {
        self.entries.push(Entry::Handler(h.into_handler()));
        self
    }

    /// Registers a module of handlers under its prefix.
    #[must_use]
    pub fn module(mut self, m: Module) -> Self {
        self.entries.push(Entry::Module(m));
        self
    }

    /// Adds application state, available to handlers as [`State<S>`](crate::State). Several
    /// states of different types can be added.
    #[must_use]
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.states.insert(state);
        self
    }

    /// Replaces the whole configuration.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Largest incoming message (default [`DEFAULT_MAX_MESSAGE_SIZE`]).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// Concurrent calls per connection (default [`DEFAULT_MAX_CONCURRENT_CALLS`]).
    #[must_use]
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.config.max_concurrent_calls = n.max(1);
        self
    }

    /// Unsent output per connection (default [`DEFAULT_MAX_PENDING_OUTPUT`]).
    #[must_use]
    pub fn max_pending_output(mut self, bytes: usize) -> Self {
        self.config.max_pending_output = bytes.max(1);
        self
    }

    /// Queued items per streaming-request call (default [`DEFAULT_MAX_QUEUED_ITEMS`]).
    #[must_use]
    pub fn max_queued_items(mut self, n: usize) -> Self {
        self.config.max_queued_items = n.max(1);
        self
    }

    /// Decode budget per payload, as a multiple of its length (default
    /// [`DEFAULT_DECODE_BUDGET_RATIO`](crate::DEFAULT_DECODE_BUDGET_RATIO)): a request whose
    /// decoded value would take more memory than this (estimated) gets ERROR 413.
    #[must_use]
    pub fn decode_budget_ratio(mut self, ratio: usize) -> Self {
        self.config.decode_budget_ratio = ratio.max(1);
        self
    }

    /// Smallest decode budget per payload, in bytes (default
    /// [`DEFAULT_MIN_DECODE_BUDGET`](crate::DEFAULT_MIN_DECODE_BUDGET)).
    #[must_use]
    pub fn min_decode_budget(mut self, bytes: usize) -> Self {
        self.config.min_decode_budget = bytes;
        self
    }

    /// Undecodable frames tolerated per connection before closing with 1007.
    #[must_use]
    pub fn max_invalid_frames(mut self, n: u32) -> Self {
        self.config.max_invalid_frames = Some(n);
        self
    }

    /// Handshake deadline (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    #[must_use]
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.config.handshake_timeout = d;
        self
    }

    /// Ping interval; `None` disables pings (default [`DEFAULT_PING_INTERVAL`]).
    #[must_use]
    pub fn ping_interval(mut self, d: Option<Duration>) -> Self {
        self.config.ping_interval = d;
        self
    }

    /// Idle deadline; `None` disables it (default [`DEFAULT_IDLE_TIMEOUT`]).
    #[must_use]
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.config.idle_timeout = d;
        self
    }

    /// Grace period for running calls on shutdown (default [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    #[must_use]
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.shutdown_timeout = d;
        self
    }

    /// Debug mode: 500 errors carry the panic or error text in `data`. Never on by default.
    #[must_use]
    pub fn debug(mut self, on: bool) -> Self {
        self.config.debug = on;
        self
    }

    /// The WebSocket path when the app routes by itself (default `/ws`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.paths.ws = path.into();
        self
    }

    /// Where `schema.json` is served (`None` to switch it off; default `/schema.json`).
    #[must_use]
    pub fn schema_path(mut self, path: Option<String>) -> Self {
        self.paths.schema = path;
        self
    }

    /// Where the docs page is served (`None` to switch it off; default `/docs`).
    #[must_use]
    pub fn docs_path(mut self, path: Option<String>) -> Self {
        self.paths.docs = path;
        self
    }

    /// Switches the `swill.introspect` rpc (and schema.json and the docs page) on or off.
    #[must_use]
    pub fn introspection(mut self, on: bool) -> Self {
        self.introspection = on;
        self
    }

    /// Title and version shown in schema.json and on the docs page.
    #[must_use]
    pub fn info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.title = title.into();
        self.version = version.into();
        self
    }

    /// Runs during the upgrade; may reject it, add 101 headers and store connection extensions.
    #[must_use]
    pub fn before_connection<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Handshake, Rejection>> + Send + 'static,
    {
        self.conn_hooks.before_connection.push(hooks::boxed1(f));
        self
    }

    /// Runs right after the 101 response.
    #[must_use]
    pub fn after_accept<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.conn_hooks.after_accept.push(hooks::boxed1(f));
        self
    }

    /// Runs once when a connection ends, after every call's `after_request`.
    #[must_use]
    pub fn after_connection<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookResult> + Send + 'static,
    {
        self.conn_hooks.after_connection.push(hooks::boxed1(f));
        self
    }

    /// Freezes the app into the shared, immutable form the server uses.
    pub(crate) fn build(mut self) -> Arc<App> {
        // Payload decoding reads the budget from the connection's state map (a crate-private
        // type, so no user state can collide with it).
        self.states.insert(crate::payload::Budget {
            ratio: self.config.decode_budget_ratio.max(1),
            min: self.config.min_decode_budget,
        });
        let app_hooks = Arc::new(self.hooks.clone());
        let mut entries: Vec<(HandlerDef, Arc<CallHooks>)> = Vec::new();
        for entry in self.entries {
            match entry {
                Entry::Handler(h) => entries.push((h, app_hooks.clone())),
                Entry::Module(m) => m.flatten("", &self.hooks, &mut entries),
            }
        }
        let mut by_name = HashMap::with_capacity(entries.len() + 1);
        let mut handlers: Vec<Route> = Vec::with_capacity(entries.len() + 1);
        for (def, hooks) in entries {
            add_route(&mut handlers, &mut by_name, def, hooks);
        }
        let infos: Vec<_> = handlers.iter().map(|r| r.def.info()).collect();
        let api = self
            .introspection
            .then(|| Arc::new(ApiDoc::build(&self.title, &self.version, &infos)));
        if let Some(api) = &api {
            add_route(
                &mut handlers,
                &mut by_name,
                introspect_handler(api),
                app_hooks,
            );
        }
        Arc::new(App {
            handlers,
            by_name,
            conn_hooks: self.conn_hooks,
            states: Arc::new(self.states),
            config: self.config,
            paths: self.paths,
            api,
            title: self.title,
        })
    }
}

/// Adds a route. A name registered again keeps its first position (so introspection lists it
/// once, where it was first registered) and takes the last definition, which is the one
/// calls reach.
fn add_route(
    handlers: &mut Vec<Route>,
    by_name: &mut HashMap<String, u32>,
    def: HandlerDef,
    hooks: Arc<CallHooks>,
) {
    let route = Route {
        rpc: Arc::from(def.name()),
        def,
        hooks,
    };
    if let Some(&id) = by_name.get(&*route.rpc) {
        tracing::warn!(
            rpc = &*route.rpc,
            "handler registered twice; the last one wins"
        );
        handlers[id as usize] = route;
        return;
    }
    let id = handlers.len() as u32;
    by_name.insert(route.rpc.to_string(), id);
    handlers.push(route);
}

/// One routable handler with its resolved hooks.
pub(crate) struct Route {
    pub(crate) rpc: Arc<str>,
    pub(crate) def: HandlerDef,
    pub(crate) hooks: Arc<CallHooks>,
}

/// The frozen app shared by every connection.
pub(crate) struct App {
    pub(crate) handlers: Vec<Route>,
    by_name: HashMap<String, u32>,
    pub(crate) conn_hooks: ConnHooks,
    pub(crate) states: Arc<StateMap>,
    pub(crate) config: Config,
    pub(crate) paths: Paths,
    pub(crate) api: Option<Arc<ApiDoc>>,
    pub(crate) title: String,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("handlers", &self.by_name.len())
            .finish_non_exhaustive()
    }
}

impl App {
    pub(crate) fn engine_limits(&self) -> EngineLimits {
        EngineLimits::default()
            .max_concurrent_calls(self.config.max_concurrent_calls)
            .max_invalid_frames(self.config.max_invalid_frames)
    }
}

impl EngineRouter for App {
    fn route(&self, rpc: &str) -> Option<(u32, Shape)> {
        let id = *self.by_name.get(rpc)?;
        let route = self.handlers.get(id as usize)?;
        Some((id, route.def.shape))
    }
}

/// The built-in `swill.introspect` rpc: one item per user handler, then END_OF_STREAM.
fn introspect_handler(api: &ApiDoc) -> HandlerDef {
    use crate::__private::{server_streaming, Ignored, Meta, Plain, TypeInfo};
    let items: Arc<[crate::Value]> = api
        .introspect_items()
        .iter()
        .filter_map(|raw| rmp_serde::from_slice::<crate::Value>(raw).ok())
        .collect();
    let list = move || {
        let items = items.clone();
        async move { futures_util::stream::iter((0..items.len()).map(move |i| items[i].clone())) }
    };
    server_streaming::<Ignored, Plain, Plain, _, _, _, _>(
        Meta {
            name: "swill.introspect",
            doc: "Describes every handler: name, call shape, doc and JSON Schemas.",
            request: TypeInfo::none(),
        },
        None,
        list,
    )
}
