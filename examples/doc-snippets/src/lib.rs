//! Every Rust snippet of `README.md` and `docs/guide.md`, compiled.
//!
//! Each snippet sits verbatim between `// snippet: NAME` and `// end snippet`, inside whatever
//! context makes it compile (imports, stub functions, a surrounding `async fn` for statement
//! fragments). `tests/in_sync.rs` fails when a markdown block and its region differ, so the
//! documentation cannot drift from the API. The modules are `#[rustfmt::skip]` so that
//! `cargo fmt` keeps the regions identical to the markdown.
#![allow(
    dead_code,
    unused_variables,
    unreachable_code,
    missing_docs,
    missing_debug_implementations
)]

/// Stubs the snippets call but do not define.
pub mod stubs {
    /// A stand-in for real, CPU-bound work.
    pub fn expensive_hash(input: &str) -> String {
        format!("{:x}", input.len())
    }
}

#[rustfmt::skip]
pub mod readme {
    // snippet: readme/hello
    use futures::Stream;
    use swill::{Error, Request, Swill};

    /// Adds two numbers.
    #[swill::handler]
    async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
        let (a, b) = req.into_data();
        Ok(a + b)
    }

    /// Counts from 0 to n - 1.
    #[swill::handler]
    async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
        futures::stream::iter((0..*req.data()).map(Ok))
    }

    #[tokio::main]
    async fn main() -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:8765").await?;
        swill::serve(listener, Swill::new().handler(add).handler(count)).await
    }
    // end snippet

    #[cfg(test)]
    mod tests {
        use super::{add, count};
        use futures::StreamExt;
        use std::future::IntoFuture;
        use std::time::Duration;
        use swill::Swill;

        /// Serves the README's app on a free port and calls both handlers with the Rust client.
        #[tokio::test]
        async fn readme_app_answers() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(swill::serve(listener, Swill::new().handler(add).handler(count)).into_future());
            let limit = Duration::from_secs(10);
            let client = tokio::time::timeout(limit, swill::client::Client::connect(format!("ws://{addr}/ws")))
                .await
                .unwrap()
                .unwrap();
            let sum = tokio::time::timeout(limit, client.call::<i64>("add", &(1, 2))).await.unwrap().unwrap();
            assert_eq!(sum, 3);
            let numbers = client.stream::<u32>("count", &3).unwrap();
            let got: Vec<u32> = tokio::time::timeout(limit, numbers.map(|n| n.unwrap()).collect())
                .await
                .unwrap();
            assert_eq!(got, vec![0, 1, 2]);
        }
    }
}

#[rustfmt::skip]
pub mod handlers {
    use crate::stubs::expensive_hash;

    // snippet: guide/handlers-add
    use swill::{Error, Request};

    /// Adds two numbers.
    #[swill::handler]
    async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
        let (a, b) = req.into_data();
        Ok(a + b)
    }
    // end snippet

    // snippet: guide/handlers-blocking
    /// Hashes a password (CPU-bound: runs on the blocking pool).
    #[swill::handler]
    fn hash(req: Request<String>) -> Result<String, Error> {
        Ok(expensive_hash(req.data()))
    }
    // end snippet

    #[cfg(test)]
    mod testing {
        use super::add;
        use swill::Request;

        /// The guide's last sentence: calling the handler function directly.
        #[tokio::test]
        async fn add_called_directly() {
            assert_eq!(add::call(Request::detached((2, 3))).await.unwrap(), 5);
        }

        // snippet: guide/testing-in-process
        #[tokio::test]
        async fn add_adds_in_process() {
            let service = Swill::new().handler(add).into_service();
            let client = service.connect_in_process().await.unwrap();
            assert_eq!(client.call::<i64>("add", &(2, 3)).await.unwrap(), 5);
        }
        // end snippet

        // snippet: guide/testing
        use std::future::IntoFuture; // in the prelude from edition 2024 on
        use swill::Swill;

        #[tokio::test]
        async fn add_adds() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(swill::serve(listener, Swill::new().handler(add)).into_future());
            let client = swill::client::Client::connect(format!("ws://{addr}/ws")).await.unwrap();
            assert_eq!(client.call::<i64>("add", &(2, 3)).await.unwrap(), 5);
        }
        // end snippet
    }
}

#[rustfmt::skip]
pub mod call_shapes {
    // snippet: guide/call-shapes
    use futures::{Stream, StreamExt};
    use swill::{Error, Request, Streaming};

    /// Counts from 0 to n - 1.
    #[swill::handler]
    async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
        futures::stream::iter((0..*req.data()).map(Ok))
    }

    /// Sums the numbers the client streams, after its END_OF_STREAM.
    #[swill::handler]
    async fn sum(mut items: Streaming<i64>) -> Result<i64, Error> {
        let mut total = 0;
        while let Some(x) = items.next().await {
            total += x;
        }
        Ok(total)
    }

    /// Doubles each number as it arrives.
    #[swill::handler]
    async fn double(items: Streaming<i64>) -> impl Stream<Item = Result<i64, Error>> {
        items.map(|x| Ok(x * 2))
    }
    // end snippet

    #[cfg(test)]
    mod tests {
        use super::{count, double, sum};
        use futures::StreamExt;
        use std::future::IntoFuture;
        use std::time::Duration;
        use swill::Swill;

        /// The three streaming shapes of the guide, served on a free port and called.
        #[tokio::test]
        async fn shapes_answer_as_documented() {
            // A bound against hangs, not a performance check: in a debug build on a busy
            // machine a bidi call's first item has been seen to take seconds.
            let limit = Duration::from_secs(60);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Swill::new().handler(count).handler(sum).handler(double);
            tokio::spawn(swill::serve(listener, app).into_future());
            let client = tokio::time::timeout(limit, swill::client::Client::connect(format!("ws://{addr}/ws")))
                .await
                .unwrap()
                .unwrap();

            let numbers = client.stream::<u32>("count", &4).unwrap();
            let got: Vec<u32> = tokio::time::timeout(limit, numbers.map(|n| n.unwrap()).collect())
                .await
                .unwrap();
            assert_eq!(got, vec![0, 1, 2, 3]);

            let (mut tx, reply) = client.client_stream::<i64, i64>("sum").unwrap();
            for x in [1, 2, 3] {
                tx.send(&x).unwrap();
            }
            tx.end().unwrap();
            assert_eq!(tokio::time::timeout(limit, reply).await.unwrap().unwrap().data, 6);

            let (mut tx, mut doubled) = client.bidi::<i64, i64>("double").unwrap();
            tx.send(&21).unwrap();
            let first = tokio::time::timeout(limit, doubled.next()).await.unwrap();
            assert_eq!(first.unwrap().unwrap(), 42);
            tx.end().unwrap();
            assert!(tokio::time::timeout(limit, doubled.next()).await.unwrap().is_none());
        }
    }
}

#[rustfmt::skip]
pub mod metadata {
    // snippet: guide/metadata
    use futures::Stream;
    use swill::{Error, Metadata, Request, Response};

    #[swill::handler]
    async fn report(req: Request<u32>, res: Response) -> impl Stream<Item = Result<u32, Error>> {
        res.set_leading(Metadata::new().with("total", *req.data()));
        res.send_leading(); // now, as a METADATA frame, instead of with the first item
        res.set_trailing(Metadata::new().with("done", true));
        futures::stream::iter((0..*req.data()).map(Ok))
    }
    // end snippet
}

#[rustfmt::skip]
pub mod errors {
    use swill::Error;

    /// Compiles each `Err(...)` expression of the snippet as a handler's return value.
    macro_rules! replies {
        ($(Err $args:tt)*) => {
            vec![$( Err::<(), Error> $args ),*]
        };
    }

    fn replies() -> Vec<Result<(), Error>> {
        replies! {
            // snippet: guide/errors
            Err(Error::forbidden("not your document"))                          // 403
            Err(Error::new(418, "teapot").with_data(serde_json::json!({"why": "fixture"})))
            Err(Error::not_found())                                             // 404, swill/1's message
            // end snippet
        }
    }

    /// The codes the snippet's comments promise.
    #[test]
    fn codes_are_as_commented() {
        let codes: Vec<i64> = replies()
            .into_iter()
            .map(|r| r.map_or_else(|e| e.code().0, |()| 0))
            .collect();
        assert_eq!(codes, vec![403, 418, 404]);
    }
}

#[rustfmt::skip]
pub mod validation {
    use serde::Serialize;
    use swill::client::Client;

    /// A postal address.
    #[derive(Deserialize, JsonSchema, Validate)]
    pub struct Address {
        #[validate(length(min = 1))]
        pub street: String,
    }

    // snippet: guide/validation
    use schemars::JsonSchema;
    use serde::Deserialize;
    use swill::{Error, Request};
    use validator::Validate;

    /// A new user.
    #[derive(Deserialize, JsonSchema, Validate)]
    struct Signup {
        /// 1 to 16 characters.
        #[validate(length(min = 1, max = 16))]
        name: String,
        #[validate(range(min = 0, max = 150))]
        age: i64,
        #[validate(email)]
        email: String,
        #[validate(nested)]
        address: Address,
    }

    #[swill::handler]
    async fn signup(req: Request<Signup>) -> Result<String, Error> {
        Ok(format!("welcome, {}", req.data().name))
    }
    // end snippet

    #[derive(Serialize)]
    pub struct Form {
        pub name: String,
    }

    async fn field_errors(client: &Client, form: Form) -> Result<(), swill::Error> {
        // snippet: guide/validation-field-errors
        use swill::{Error, FieldError, FieldErrors};

        // In a handler: the same 422 shape as automatic validation.
        return Err(FieldErrors::new()
            .with("name", FieldError::new("taken", "this name is already used"))
            .into());

        // In a client:
        match client.call::<String>("signup", &form).await {
            Err(e) => {
                if let Some(fields) = e.rpc().and_then(Error::field_errors) {
                    for (path, errors) in fields.iter() {
                        eprintln!("{path}: {}", errors[0].message());
                    }
                }
            }
            Ok(greeting) => println!("{greeting}"),
        }
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod app {
    use swill::{Error, Request};

    #[derive(Clone)]
    pub struct DbPool;

    async fn audit(rpc: &str) {
        tracing::info!(rpc, "audit");
    }

    #[swill::handler]
    async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
        let (a, b) = req.into_data();
        Ok(a + b)
    }

    #[swill::handler]
    async fn mul(req: Request<(i64, i64)>) -> Result<i64, Error> {
        let (a, b) = req.into_data();
        Ok(a * b)
    }

    #[swill::handler]
    async fn ping() -> Result<&'static str, Error> {
        Ok("pong")
    }

    fn build(db_pool: DbPool) -> Result<(), swill::BuildError> {
        // snippet: guide/app-modules-state
        use swill::{Hooks, Module, Swill};

        let math = Module::new("math")       // handlers become math.add, math.mul
            .handler(add)
            .handler(mul)
            .hooks(Hooks::new().before_request(|ctx| async move { audit(ctx.rpc()).await; Ok(()) })); // math.* only

        let app = Swill::new()
            .info("calculator", "1.2.0")     // title and version in schema.json and /docs
            .with_state(db_pool)             // State<DbPool> in handlers
            .handler(ping)
            .module(math);
        app.check()?;                        // the same check serve and the into_* mounts run
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod hooks {
    use swill::Connection;

    fn lookup_session(id: &str) -> Option<String> {
        (id == "valid").then(|| "ann".to_string())
    }

    fn is_admin(conn: &Connection) -> bool {
        false
    }

    fn build() {
        // snippet: guide/hooks-auth
        use http::{header, HeaderValue, StatusCode};
        use swill::hooks::{Handshake, HookError, Rejection};
        use swill::{Extension, Hooks, Swill};

        #[derive(Clone)]
        struct User(String);

        let app = Swill::new()
            .before_connection(|mut hs: Handshake| async move {
                let Some(user) = hs.cookie("session").and_then(lookup_session) else {
                    return Err(Rejection::new(StatusCode::UNAUTHORIZED, "log in first")
                        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Cookie")));
                };
                hs.extensions_mut().insert(User(user));
                Ok(hs)
            })
            .hooks(Hooks::new()
                .before_request(|ctx| async move {
                    if ctx.rpc().starts_with("admin.") && !is_admin(ctx.connection()) {
                        return Err(HookError::Fail(swill::Error::forbidden("admins only")));
                    }
                    Ok(())
                })
                .after_request(|ctx, outcome| async move {
                    tracing::info!(rpc = ctx.rpc(), ?outcome, "call ended");
                }))
            .handler(whoami);

        #[swill::handler]
        async fn whoami(Extension(user): Extension<User>) -> Result<String, swill::Error> {
            Ok(user.0)
        }
        // end snippet
    }
}

#[rustfmt::skip]
pub mod limits {
    fn build() {
        // snippet: guide/limits
        use std::time::Duration;
        use swill::{Config, Swill};

        let app = Swill::new().config(
            Config::default()
                .max_message_size(1 << 20)
                .max_connections_per_ip(32)
                .max_connection_lifetime(Some(Duration::from_secs(3600))),
        );
        // end snippet
    }
}

#[rustfmt::skip]
pub mod security {
    fn build() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/security
        use swill::{Cidr, Config, Swill};

        let app = Swill::new().config(
            Config::default()
                .allow_origin("https://app.example.com")        // compared case-insensitively
                .allow_network("10.0.0.0/8".parse::<Cidr>()?)
                .deny_network("10.66.0.0/16".parse::<Cidr>()?),
        );
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod serving {
    use axum::routing::get;
    use hyper_util::rt::TokioIo;
    use swill::Swill;
    use tokio::net::{TcpListener, TcpStream};

    async fn standalone(app: Swill) -> std::io::Result<()> {
        // snippet: guide/serve-addr
        app.serve("127.0.0.1:8765").await?;
        // end snippet
        Ok(())
    }

    async fn listener(app: Swill) -> std::io::Result<()> {
        // snippet: guide/serve-listener
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on ws://{}/ws", listener.local_addr()?);
        swill::serve(listener, app).await?;
        // end snippet
        Ok(())
    }

    async fn mounted(app: Swill, other_app: Swill, listener: TcpListener) -> std::io::Result<()> {
        // snippet: guide/serve-axum
        let router = axum::Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/rpc", app.into_route())                 // the WebSocket endpoint at /rpc
            .nest("/api", other_app.into_router())           // /api/ws, /api/schema.json, /api/docs
            .layer(tower_http::trace::TraceLayer::new_for_http());
        axum::serve(listener, router).await?;
        // end snippet
        Ok(())
    }

    fn tower(app: Swill, stream: TcpStream) {
        // snippet: guide/serve-tower
        let svc = app.into_service();
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(svc))
            .with_upgrades();
        // end snippet
    }
}

#[rustfmt::skip]
pub mod tls {
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use swill::client::Client;
    use swill::server::TlsConfig;
    use swill::Swill;
    use tokio::net::TcpListener;

    async fn serve(app: Swill) -> std::io::Result<()> {
        // snippet: guide/tls-serve
        let tls = swill::server::TlsConfig::from_pem_files("dev-cert/cert.pem", "dev-cert/key.pem")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
        swill::serve(listener, app).tls(tls).await?;                 // or app.serve_tls(addr, tls)
        // end snippet
        Ok(())
    }

    async fn client() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/tls-client
        let client = Client::builder("wss://localhost:8443/ws")
            .tls_root_pem(std::fs::read("dev-cert/cert.pem")?)       // also .tls_root_der, .tls_config
            .connect()
            .await?;
        // end snippet
        Ok(())
    }

    async fn hyper_loop(app: Swill, tls: TlsConfig, listener: TcpListener) -> std::io::Result<()> {
        // snippet: guide/tls-hyper
        let acceptor = tls.acceptor();                               // a tokio_rustls::TlsAcceptor
        let svc = app.into_service();
        loop {
            let (tcp, _peer) = listener.accept().await?;
            let (acceptor, svc) = (acceptor.clone(), svc.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                let Ok(Ok(stream)) = handshake.await else { return };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .with_upgrades()
                    .await;
            });
        }
        // end snippet
    }
}

#[rustfmt::skip]
pub mod shutdown {
    use axum::routing::get;
    use futures::{Stream, StreamExt};
    use swill::pubsub::{PubSub, Subscription};
    use swill::{Connection, Error, State, Swill, Value};
    use tokio::net::TcpListener;

    async fn standalone(app: Swill, listener: TcpListener) -> std::io::Result<()> {
        // snippet: guide/shutdown-serve
        swill::serve(listener, app)
            .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.ok(); })
            .await?;
        // end snippet
        Ok(())
    }

    // snippet: guide/shutdown-feed
    #[swill::handler]
    async fn feed(conn: Connection, State(pubsub): State<PubSub>) -> impl Stream<Item = Result<Value, Error>> {
        let sub = Subscription::or_failed(pubsub.subscribe_from(&conn, "feed").await);
        sub.take_until(conn.shutting_down())       // END_OF_STREAM when the shutdown starts
    }
    // end snippet

    async fn axum_mount(app: Swill, listener: TcpListener) -> std::io::Result<()> {
        // snippet: guide/shutdown-axum
        let (swill_routes, shutdown) = app.into_router_with_shutdown();   // or into_route_with_shutdown
        let router = axum::Router::new().route("/health", get(|| async { "ok" })).merge(swill_routes);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.after(async { tokio::signal::ctrl_c().await.ok(); }))
            .await?;
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod pubsub {
    use futures::Stream;
    use serde::Serialize;
    use swill::pubsub::{PubSub, Sessions, Subscription};
    use swill::{Connection, Error, Request, Response, State, Swill, Value};

    #[derive(Serialize)]
    pub struct ChatMessage {
        pub from: String,
        pub text: String,
    }

    async fn topics(from: String, text: String) -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/pubsub-subscribe
        use futures::Stream;
        use swill::pubsub::{PubSub, Subscription};
        use swill::{Connection, Error, Request, Response, State, Swill, Value};

        /// Streams the messages of one topic until cancelled.
        #[swill::handler]
        async fn subscribe(
            req: Request<String>,
            conn: Connection,
            State(pubsub): State<PubSub>,
            res: Response,
        ) -> impl Stream<Item = Result<Value, Error>> {
            let sub = pubsub.subscribe_from(&conn, req.into_data()).await;
            Subscription::or_failed(sub).announce(&res)
        }

        let pubsub = PubSub::new();
        let app = Swill::new().with_state(pubsub.clone()).handler(subscribe);
        // anywhere else:
        pubsub.publish("room.lobby", &ChatMessage { from, text }).await?;
        // end snippet
        Ok(())
    }

    async fn history() {
        // snippet: guide/pubsub-history
        use swill::pubsub::{History, PubSub, Since, Subscription};
        use std::time::Duration;

        let pubsub = PubSub::builder()
            .history(|topic| {
                topic
                    .starts_with("room.")
                    .then(|| History::new(500).max_age(Duration::from_secs(600)))
            })
            .max_recovery(300)
            .build();

        /// A room's messages; resumes after a reconnect.
        #[swill::handler]
        async fn room(
            req: Request<String>,
            Since(since): Since,
            conn: Connection,
            State(pubsub): State<PubSub>,
            res: Response,
        ) -> impl Stream<Item = Result<Value, Error>> {
            let sub = pubsub.resume_from(&conn, req.into_data(), since).await;
            Subscription::or_failed(sub).announce(&res)
        }
        // end snippet
    }

    // snippet: guide/pubsub-presence
    #[swill::handler]
    async fn join(req: Request<String>, conn: Connection, State(pubsub): State<PubSub>, res: Response)
        -> impl Stream<Item = Result<Value, Error>>
    {
        let topic = req.into_data();
        let tracked = match pubsub.track(&conn, &topic).await {
            Ok(t) => t,
            Err(e) => return Subscription::failed(e),
        };
        let sub = pubsub.subscribe_from(&conn, topic).await;
        Subscription::or_failed(sub).with_presence(tracked).announce(&res)
    }
    // end snippet

    async fn sessions() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/pubsub-sessions
        #[swill::handler]
        async fn cart_add(req: Request<String>, conn: Connection, State(sessions): State<Sessions>)
            -> Result<Vec<String>, Error>
        {
            let session = sessions.of(&conn)?;            // 401 without a session id
            let mut cart: Vec<String> = session.get("cart").await?.unwrap_or_default();
            cart.push(req.into_data());
            session.set("cart", &cart).await?;
            Ok(cart)
        }
        let sessions = Sessions::new();                                  // in process
        let sessions = Sessions::builder().redis("redis://…").await?;    // shared by instances
        // end snippet
        Ok(())
    }

    async fn redis() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/pubsub-redis
        let pubsub = PubSub::builder().redis("redis://10.0.0.5:6379").await?;
        let app = Swill::new().with_state(pubsub.clone()) /* … */;
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod client {
    use futures::StreamExt;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct Event {
        pub text: String,
    }

    async fn calls() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/client
        use swill::client::Client;
        use swill::Metadata;
        use futures::StreamExt;

        let client = Client::connect("ws://127.0.0.1:8765/ws").await?;   // offers swill.v1

        let sum: i64 = client.call("add", &(1, 2)).await?;

        let mut numbers = client.stream::<u32>("count", &5)?;
        while let Some(n) = numbers.next().await {
            println!("{}", n?);
        }
        println!("trailing: {:?}", numbers.trailing());

        let (mut tx, reply) = client.client_stream::<i64, i64>("sum")?;
        for x in [1, 2, 3] { tx.send(&x)?; }
        tx.end()?;
        assert_eq!(reply.await?.data, 6);

        let (mut tx, mut doubled) = client.bidi::<i64, i64>("double")?;
        tx.send(&21)?;
        assert_eq!(doubled.next().await.unwrap()?, 42);

        let reply = client.rpc("echo_metadata")
            .metadata(Metadata::new().with("auth", "token"))
            .call::<Metadata>(&())
            .await?;
        println!("{:?} {:?} {:?}", reply.data, reply.leading, reply.trailing);
        // end snippet
        Ok(())
    }

    async fn live(client: swill::client::Client) -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/client-opened
        let mut events = client.stream::<Event>("subscribe", &"room.1")?;
        events.opened().await?;            // the subscription exists on the server now
        client.call::<bool>("publish", &("room.1", "hello")).await?;
        let first = events.next().await;   // never missed
        // end snippet
        Ok(())
    }

    async fn reconnecting() -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/client-reconnect
        use std::time::Duration;
        use swill::client::{Client, ReconnectPolicy};

        let client = Client::builder("ws://127.0.0.1:8765/ws")
            .reconnect(ReconnectPolicy::default().max_delay(Duration::from_secs(5)).max_attempts(20))
            .wait_for_connection(Duration::from_secs(3))
            .connect()
            .await?;
        // end snippet
        Ok(())
    }

    fn apply(event: Event) {
        println!("{}", event.text);
    }

    async fn reload(client: &swill::client::Client) -> Result<(), swill::client::ClientError> {
        Ok(())
    }

    async fn resumable(client: swill::client::Client) -> Result<(), Box<dyn std::error::Error>> {
        // snippet: guide/client-stream-events
        use swill::client::StreamEvent;

        let mut events = client.stream::<Event>("subscribe", &"room.1")?.events();
        while let Some(event) = events.next().await {
            match event? {
                StreamEvent::Item(e) => apply(e),
                StreamEvent::Resumed(r) if !r.recovered => reload(&client).await?,
                _ => {} // resumed without a gap
            }
        }
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod setup {
    fn main() {
        // snippet: guide/setup-tracing
        tracing_subscriber::fmt::init(); // RUST_LOG=swill=debug for every connection and call
        // end snippet
    }
}

#[rustfmt::skip]
pub mod typed {
    pub mod api {
        // snippet: guide/typed-contract
        // In a crate (or module) both sides depend on: the payload types and the contracts.
        use serde::{Deserialize, Serialize};

        #[derive(Serialize, Deserialize, schemars::JsonSchema)]
        pub struct NewTodo { pub title: String }

        #[derive(Serialize, Deserialize, schemars::JsonSchema)]
        pub struct Todo { pub id: u64, pub title: String }

        swill::contract! {
            /// Adds a todo.
            pub unary add = "todo.add": NewTodo => Todo;
            /// Every todo added from now on.
            pub server_stream watch = "todo.watch": () => Todo;
        }
        // end snippet
    }

    pub mod server {
        use super::api;
        use swill::{Error, Request};

        // snippet: guide/typed-handler
        #[swill::handler(contract = api::add)]
        async fn add(req: Request<api::NewTodo>) -> Result<api::Todo, Error> {
            let title = req.into_data().title;
            Ok(api::Todo { id: 1, title })
        }
        // end snippet

        pub fn app() -> swill::Swill {
            swill::Swill::new().handler(add)
        }
    }

    async fn calls(client: swill::client::Client) -> Result<(), Box<dyn std::error::Error>> {
        use futures::StreamExt;
        // snippet: guide/typed-client
        let todo = client.to(api::add).call(&api::NewTodo { title: "milk".into() }).await?;
        let mut added = client.to(api::watch).stream(&())?;
        while let Some(todo) = added.next().await {
            let todo = todo?;
            println!("{}: {}", todo.id, todo.title);
        }
        // end snippet
        Ok(())
    }
}

#[rustfmt::skip]
pub mod authorization {
    use swill::{Hooks, Module};

    #[derive(Clone)]
    pub struct User {
        pub admin: bool,
    }

    /// Removes everything (admins only).
    #[swill::handler]
    async fn clear() -> bool {
        true
    }

    pub fn module() -> Module {
        // snippet: guide/authorize
        let admin = Module::new("admin")
            .hooks(Hooks::new().authorize(|ctx| {
                ctx.connection().extensions().get::<User>().is_some_and(|u| u.admin)
            }))
            .handler(clear);
        // end snippet
        admin
    }
}
