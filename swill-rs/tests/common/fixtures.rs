//! Handlers that several test files share, and the check built on `add`.

use std::time::Duration;

use futures::StreamExt;
use rmpv::Value as V;
use swill::{CallContext, Config, Error, Request, State, Streaming, Swill};

use super::events::Log;
use super::frames::{recv_resp, request, MESSAGE};
use super::raw_ws::{send_bytes, RawWs};

/// Adds two integers.
#[swill::handler]
pub(crate) async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

/// Never answers; logs `started <seq>` and, when its future is dropped, `dropped <seq>`.
#[swill::handler]
pub(crate) async fn hang(ctx: CallContext, State(log): State<Log>) -> Result<u64, Error> {
    let _guard = log.start(ctx.seq());
    std::future::pending::<()>().await;
    Ok(0)
}

/// Sums a stream of integers.
#[swill::handler]
pub(crate) async fn sum(mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(x) = items.next().await {
        total += x;
    }
    Ok(total)
}

/// The app the core tests build on: `add` and `hang`, `log` in the state, and a 300 ms
/// shutdown timeout, so that a test that stops a server with a call still running ends
/// soon.
pub(crate) fn core_app(log: &Log) -> Swill {
    Swill::new()
        .config(Config::new().shutdown_timeout(Duration::from_millis(300)))
        .with_state(log.clone())
        .handler(add)
        .handler(hang)
}

/// Changes some settings of an app and keeps the others (tests build on `core_app`'s).
pub(crate) trait Tune {
    /// The app with `f` applied to its configuration.
    fn tune(self, f: impl FnOnce(Config) -> Config) -> Self;
}

impl Tune for Swill {
    fn tune(self, f: impl FnOnce(Config) -> Config) -> Self {
        let config = f(self.get_config().clone());
        self.config(config)
    }
}

/// Runs `add` (`[20, 22]`) on `seq` and asserts that the very next frame is its reply,
/// `[seq, 42, 0, nil, nil]`: the connection works, and nothing was sent before it.
pub(crate) async fn assert_add_works(ws: &mut RawWs, seq: i64) {
    send_bytes(ws, request(seq, &(20, 22), "add")).await;
    let got = recv_resp(ws).await;
    assert_eq!(
        (got.seq, got.data, got.kind, got.leading, got.trailing),
        (seq, V::from(42), MESSAGE, V::Nil, V::Nil),
        "add on seq {seq}"
    );
}
