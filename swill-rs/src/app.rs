//! [`Swill`]: the application builder — handlers, modules, state, hooks and limits.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::context::{Connection, StateMap};
use crate::handler::{HandlerDef, IntoHandler};
use crate::hooks::{self, CallHooks, ConnHooks, Handshake, HookResult, Rejection};
use crate::introspect::ApiDoc;
use crate::payload::byte_budget::ByteBudget;
use crate::protocol::{Limits as EngineLimits, Router as EngineRouter, Shape};

mod admission;
pub(crate) mod call_budget;
mod cidr;
mod config;
mod defaults;
mod hook_set;
pub(crate) mod log_limit;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
mod module;
pub(crate) mod trace;

#[cfg(feature = "server")]
pub(crate) use admission::Refusal;
#[cfg(feature = "server")]
pub(crate) use cidr::canonical;
pub use config::{Cidr, CidrError, Config};
pub use defaults::{
    DEFAULT_ERROR_LOGS_PER_SECOND, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INPUT_BUDGET, DEFAULT_MAX_CALLS, DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_OUTPUT,
    DEFAULT_MAX_QUEUED_ITEMS, DEFAULT_MESSAGE_TIMEOUT, DEFAULT_PING_INTERVAL,
    DEFAULT_QUEUED_INPUT_BUDGET, DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use hook_set::Hooks;
use module::Entry;
pub use module::Module;

/// A mistake in how the app was put together, found when it is built (by [`Swill::check`],
/// by [`serve`](crate::serve), or when it is mounted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two handlers have the same full name (prefixes of modules included), or a handler
    /// takes the name of the built-in `swill.introspect`.
    #[error("handler `{name}` is registered twice")]
    DuplicateHandler {
        /// The full name, e.g. `math.add`.
        name: String,
    },
    /// A handler takes `State<S>` for a type the app has no state of
    /// (register it with [`Swill::with_state`]).
    #[error("handler `{handler}` takes State<{state}>, which the app does not have (add it with Swill::with_state)")]
    MissingState {
        /// The handler's full name.
        handler: String,
        /// The state's type name.
        state: &'static str,
    },
}

/// Paths the app serves, relative to where it is mounted.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) ws: String,
    pub(crate) schema: Option<String>,
    pub(crate) docs: Option<String>,
    /// Whether schema.json and the docs page pass the `before_connection` hooks first.
    pub(crate) guarded: bool,
}

/// A swill application: handlers, modules, state, hooks and configuration.
///
/// Serve it with [`serve`](crate::serve), or mount it in an axum/hyper app with
/// `into_route`, `into_router` or `into_service` (feature `server`).
pub struct Swill {
    entries: Vec<Entry>,
    hooks: Hooks,
    pub(crate) conn_hooks: ConnHooks,
    states: StateMap,
    pub(crate) config: Config,
    pub(crate) paths: Paths,
    introspection: bool,
    title: String,
    version: String,
    on_trace: Option<trace::TraceHook>,
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
            hooks: Hooks::default(),
            conn_hooks: ConnHooks::default(),
            states: StateMap::default(),
            config: Config::default(),
            paths: Paths {
                ws: "/ws".into(),
                schema: Some("/schema.json".into()),
                docs: Some("/docs".into()),
                guarded: false,
            },
            introspection: true,
            title: "swill API".into(),
            version: "0.0.0".into(),
            on_trace: None,
        }
    }

    /// Runs `f` with the span of every call whose request metadata carries a valid W3C
    /// `traceparent`, and its [`TraceContext`](crate::observe::TraceContext), before the
    /// span is first entered; also with the span of each pub/sub message delivered with the
    /// publisher's trace context (see [`crate::observe`]). With `tracing-opentelemetry`,
    /// `f` sets the span's OpenTelemetry parent so the call continues the caller's trace:
    ///
    /// ```ignore
    /// use opentelemetry::propagation::TextMapPropagator;
    /// use tracing_opentelemetry::OpenTelemetrySpanExt;
    ///
    /// let app = swill::Swill::new().on_trace(|span, tc| {
    ///     let mut carrier = std::collections::HashMap::new();
    ///     carrier.insert("traceparent".to_owned(), tc.traceparent().to_owned());
    ///     if let Some(ts) = tc.tracestate() {
    ///         carrier.insert("tracestate".to_owned(), ts.to_owned());
    ///     }
    ///     let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    ///     let _ = span.set_parent(propagator.extract(&carrier));
    /// });
    /// ```
    ///
    /// Without a callback the span still records `trace_id`, `parent_id`, `traceparent` and
    /// `tracestate` as fields, for logs.
    #[must_use]
    pub fn on_trace(
        mut self,
        f: impl Fn(&tracing::Span, &crate::observe::TraceContext) + Send + Sync + 'static,
    ) -> Self {
        self.on_trace = Some(Arc::new(f));
        self
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

    /// Sets the limits, timeouts and admission rules (see [`Config`]); replaces the
    /// configuration set before.
    ///
    /// ```
    /// use swill::{Config, Swill};
    ///
    /// let app = Swill::new().config(Config::default().max_concurrent_calls(64).debug(true));
    /// assert_eq!(app.get_config().get_max_concurrent_calls(), 64);
    /// ```
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The configuration.
    pub fn get_config(&self) -> &Config {
        &self.config
    }

    /// Adds call hooks for every handler (see [`Hooks`]); they run before the modules' own.
    /// Calling it again appends.
    #[must_use]
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = self.hooks.merged(&hooks);
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

    /// Guards `schema.json` and the docs page with the `before_connection` hooks: a GET for
    /// either first runs them on the request (its URI, headers, cookies and peer), and a
    /// rejection is answered as it would be for an upgrade (its status, reason and headers).
    /// Off by default: both are public, as the `swill.introspect` rpc is to every accepted
    /// connection. The docs page's static files (scripts and styles, the same for every app)
    /// stay public; its HTML and the API description do not.
    #[must_use]
    pub fn guard_pages(mut self, on: bool) -> Self {
        self.paths.guarded = on;
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

    /// Checks that the app can be built: every handler name (module prefixes included) is
    /// registered once, and every `State<S>` a handler takes was added with
    /// [`with_state`](Self::with_state). [`serve`](crate::serve) and the `into_*` mounts run the same check.
    ///
    /// ```
    /// use swill::{BuildError, Error, Module, Request, Swill};
    ///
    /// #[swill::handler]
    /// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    ///     let (a, b) = req.into_data();
    ///     Ok(a + b)
    /// }
    ///
    /// let app = Swill::new().module(Module::new("math").handler(add));
    /// assert_eq!(app.check(), Ok(()));
    /// let app = app.module(Module::new("math").handler(add));
    /// assert_eq!(
    ///     app.check(),
    ///     Err(BuildError::DuplicateHandler { name: "math.add".into() })
    /// );
    /// ```
    ///
    /// # Errors
    /// The first [`BuildError`] found.
    pub fn check(&self) -> Result<(), BuildError> {
        let mut handlers = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Handler(h) => handlers.push((h.name().to_owned(), h)),
                Entry::Module(m) => m.handlers("", &mut handlers),
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(handlers.len() + 1);
        if self.introspection {
            seen.insert(INTROSPECT.to_owned());
        }
        for (name, def) in handlers {
            if let Some(state) = def.missing_states(&self.states).next() {
                return Err(BuildError::MissingState {
                    handler: name,
                    state,
                });
            }
            if !seen.insert(name.clone()) {
                return Err(BuildError::DuplicateHandler { name });
            }
        }
        Ok(())
    }

    /// Freezes the app into the shared, immutable form the server uses.
    pub(crate) fn build(self) -> Result<Arc<App>, BuildError> {
        self.check()?;
        let app_hooks = Arc::new(self.hooks.calls.clone());
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
        let error_logs = log_limit::ErrorLogs::new(self.config.error_logs_per_second);
        #[cfg(feature = "metrics")]
        let metrics = metrics::Metrics::register(handlers.iter().map(|r| &*r.rpc));
        let (input_max, queued_max) = (
            self.config.effective_input_budget(),
            self.config.effective_queued_input_budget(),
        );
        #[cfg(feature = "metrics")]
        let (input, queued) = (
            ByteBudget::metered(input_max, metrics.incomplete_input.clone()),
            ByteBudget::metered(queued_max, metrics.queued_input.clone()),
        );
        #[cfg(not(feature = "metrics"))]
        let (input, queued) = (ByteBudget::new(input_max), ByteBudget::new(queued_max));
        Ok(Arc::new(App {
            #[cfg(feature = "metrics")]
            metrics,
            on_trace: self.on_trace,
            handlers,
            by_name,
            conn_hooks: self.conn_hooks,
            states: Arc::new(self.states),
            error_logs,
            calls: call_budget::CallBudget::new(self.config.max_calls),
            input,
            queued,
            config: self.config,
            paths: self.paths,
            api,
            title: self.title,
        }))
    }
}

/// The name of the built-in introspection rpc.
const INTROSPECT: &str = "swill.introspect";

/// Adds a route; [`Swill::check`] made sure its name is new.
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
    pub(crate) error_logs: log_limit::ErrorLogs,
    /// The calls running across all of the app's connections (`Config::max_calls`).
    pub(crate) calls: Arc<call_budget::CallBudget>,
    /// Bytes of incomplete messages across the app's connections (`Config::input_budget`).
    pub(crate) input: Arc<ByteBudget>,
    /// Bytes of request items waiting for their handlers (`Config::queued_input_budget`).
    pub(crate) queued: Arc<ByteBudget>,
    /// [`Swill::on_trace`].
    pub(crate) on_trace: Option<trace::TraceHook>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: metrics::Metrics,
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
    #[allow(unused_imports)]
    use crate::handler::register::{handler, reply_probe, Meta};
    use crate::handler::reply::ReplyTier4 as _;
    let items: Arc<[crate::handler::Value]> = api
        .introspect_items()
        .iter()
        .filter_map(|raw| rmp_serde::from_slice::<crate::handler::Value>(raw).ok())
        .collect();
    let list = move || {
        let items = items.clone();
        async move { futures_util::stream::iter((0..items.len()).map(move |i| items[i].clone())) }
    };
    #[allow(clippy::needless_borrow)] // autoref specialization: the depth picks the tier
    let kind = (&&&&&&reply_probe(&list)).reply_kind();
    let meta = Meta {
        name: INTROSPECT,
        doc: "Describes every handler: name, call shape, doc and JSON Schemas.",
        absolute: true,
    };
    handler(kind, meta, None, list)
}
