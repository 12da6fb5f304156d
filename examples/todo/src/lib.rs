//! A small todo API, as a new user would write one: shared state, a validated request, auth by
//! token (header, query or cookie) before the upgrade, a live `watch` stream that cannot miss
//! the first events, mounted in an axum app beside `GET /health` with graceful shutdown, and
//! called with typed, contract-checked Rust calls.
//!
//! [`api`] is what a client crate would share with the server: the payload types and the
//! contracts. [`server`] holds the handlers and the router.

pub mod api {
    //! The payload types and the rpc contracts, shared by the server and its clients.

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use validator::Validate;

    /// A todo to add.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
    pub struct NewTodo {
        /// What to do: 1 to 80 characters.
        #[validate(length(min = 1, max = 80))]
        pub title: String,
    }

    /// A stored todo.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct Todo {
        /// Its id, unique in the server's life.
        pub id: u64,
        /// What to do.
        pub title: String,
        /// Who added it.
        pub owner: String,
        /// Whether it is done.
        pub done: bool,
    }

    /// What `watch` reports.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum TodoEvent {
        /// A todo was added.
        Added {
            /// The new todo.
            todo: Todo,
        },
        /// A todo was marked done.
        Completed {
            /// The todo, now done.
            todo: Todo,
        },
    }

    swill::contract! {
        /// Adds a todo (422 when the title is empty or longer than 80 characters).
        pub unary add = "todo.add": NewTodo => Todo;
        /// Every todo, oldest first.
        pub unary list = "todo.list": () => Vec<Todo>;
        /// Marks a todo done (404 when there is none with that id).
        pub unary complete = "todo.complete": u64 => Todo;
        /// Every change from now on. Confirmed by leading metadata before the first event:
        /// await `opened()` before relying on it. Ends when the server shuts down.
        pub server_stream watch = "todo.watch": () => TodoEvent;
        /// Removes every todo; answers how many were removed (admins only, else 403).
        pub unary clear = "todo.clear": () => usize;
    }
}

pub mod server {
    //! The handlers, the auth hook and the axum router.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use axum::Router;
    use futures::{Stream, StreamExt};
    use swill::hooks::{Handshake, Rejection};
    use swill::http::StatusCode;
    use swill::server::ShutdownHandle;
    use swill::{
        Connection, Error, Extension, Hooks, Metadata, Module, Request, Response, State, Swill,
    };
    use tokio::sync::broadcast;

    use crate::api::{self, NewTodo, Todo, TodoEvent};

    /// Events a slow `watch` client may fall behind by before its stream ends with 503.
    pub const WATCH_BUFFER: usize = 256;

    /// The cookie and query parameter that carry the token (besides `Authorization: Bearer`).
    pub const TOKEN_NAME: &str = "token";

    /// Who a connection belongs to, put in its extensions by the auth hook.
    #[derive(Debug, Clone)]
    pub struct User(pub String);

    /// The users allowed to call the admin rpcs.
    pub const ADMINS: &[&str] = &["alice"];

    /// The todos and the change feed: the app's state.
    #[derive(Clone, Debug)]
    pub struct Todos {
        inner: Arc<Mutex<Store>>,
        events: broadcast::Sender<TodoEvent>,
    }

    #[derive(Debug, Default)]
    struct Store {
        next_id: u64,
        todos: Vec<Todo>,
    }

    impl Todos {
        /// An empty list.
        pub fn new() -> Self {
            Self {
                inner: Arc::default(),
                events: broadcast::channel(WATCH_BUFFER).0,
            }
        }

        fn store(&self) -> std::sync::MutexGuard<'_, Store> {
            self.inner.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    impl Default for Todos {
        fn default() -> Self {
            Self::new()
        }
    }

    #[swill::handler(contract = api::add)]
    async fn add(
        req: Request<NewTodo>,
        todos: State<Todos>,
        user: Extension<User>,
    ) -> Result<Todo, Error> {
        let title = req.into_data().title;
        let todo = {
            let mut store = todos.store();
            store.next_id += 1;
            let todo = Todo {
                id: store.next_id,
                title,
                owner: user.0 .0.clone(),
                done: false,
            };
            store.todos.push(todo.clone());
            // Sent under the lock, so that watchers see changes in the order they happened.
            let _ = todos.events.send(TodoEvent::Added { todo: todo.clone() });
            todo
        };
        Ok(todo)
    }

    #[swill::handler(contract = api::list)]
    async fn list(todos: State<Todos>) -> Vec<Todo> {
        todos.store().todos.clone()
    }

    #[swill::handler(contract = api::complete)]
    async fn complete(req: Request<u64>, todos: State<Todos>) -> Result<Todo, Error> {
        let id = *req.data();
        let mut store = todos.store();
        let todo = store
            .todos
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::new(404, format!("no todo {id}")))?;
        todo.done = true;
        let todo = todo.clone();
        let _ = todos
            .events
            .send(TodoEvent::Completed { todo: todo.clone() });
        Ok(todo)
    }

    #[swill::handler(contract = api::clear)]
    async fn clear(todos: State<Todos>) -> usize {
        let mut store = todos.store();
        let n = store.todos.len();
        store.todos.clear();
        n
    }

    /// The live feed. The receiver exists before the handler returns, and the leading
    /// metadata goes out at once (`send_leading`): a client that awaits `opened()` cannot
    /// miss a change made after it. The stream ends cleanly when the server shuts down.
    #[swill::handler(contract = api::watch)]
    async fn watch(
        todos: State<Todos>,
        res: Response,
        conn: Connection,
    ) -> impl Stream<Item = Result<TodoEvent, Error>> {
        let rx = todos.events.subscribe();
        res.set_leading(Metadata::new().with("watching", true));
        res.send_leading();
        // A watcher that fell behind gets one ERROR 503 and the stream ends (it lost events
        // and must re-list); the shutdown ends it with END_OF_STREAM.
        futures::stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Ok(ev) => Some((Ok(ev), Some(rx))),
                Err(broadcast::error::RecvError::Lagged(n)) => Some((
                    Err(Error::new(503, format!("fell {n} events behind"))),
                    None,
                )),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .take_until(conn.shutting_down())
    }

    /// Lets in connections whose token (`Authorization: Bearer`, `?token=` or the `token`
    /// cookie) is one of `tokens`, with its user in the connection's extensions.
    async fn authenticate(
        tokens: Arc<HashMap<String, String>>,
        mut hs: Handshake,
    ) -> Result<Handshake, Rejection> {
        let bearer = hs
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let token = bearer
            .or_else(|| hs.query_param(TOKEN_NAME))
            .or_else(|| hs.cookie(TOKEN_NAME).map(str::to_owned));
        match token.and_then(|t| tokens.get(&t).cloned()) {
            Some(user) => {
                hs.extensions_mut().insert(User(user));
                Ok(hs)
            }
            None => Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "a valid token is required (Authorization: Bearer, ?token= or the token cookie)",
            )),
        }
    }

    /// The swill app: the handlers, the state, the auth hook for `tokens` (token → user) and
    /// the admin rpcs, which only [`ADMINS`] may call.
    /// `schema.json` and the docs page are behind the same hook.
    pub fn app(tokens: HashMap<String, String>) -> Swill {
        let tokens = Arc::new(tokens);
        // The admin rpcs: one module, one authorization hook (403 for everyone else). The
        // contract keeps the rpc name whole; the module only adds the hook.
        let admin = Module::new("admin")
            .hooks(Hooks::new().authorize(|ctx| {
                ctx.connection()
                    .extensions()
                    .get::<User>()
                    .is_some_and(|u| ADMINS.contains(&u.0.as_str()))
            }))
            .handler(clear);
        Swill::new()
            .info("todo", env!("CARGO_PKG_VERSION"))
            .with_state(Todos::new())
            .handler(add)
            .handler(list)
            .handler(complete)
            .handler(watch)
            .module(admin)
            .before_connection(move |hs| authenticate(tokens.clone(), hs))
            .guard_pages(true)
    }

    /// The axum app: `GET /health` and swill at `/ws` (`/schema.json`, `/docs`), with the
    /// handle that shuts the WebSocket connections down (`ShutdownHandle::after`).
    pub fn router(tokens: HashMap<String, String>) -> (Router, ShutdownHandle) {
        let (swill_routes, shutdown) = app(tokens).into_router_with_shutdown();
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .merge(swill_routes);
        (router, shutdown)
    }

    /// The demo's tokens: `alice-token` for alice, `bob-token` for bob.
    pub fn demo_tokens() -> HashMap<String, String> {
        [("alice-token", "alice"), ("bob-token", "bob")]
            .into_iter()
            .map(|(t, u)| (t.to_owned(), u.to_owned()))
            .collect()
    }
}
