//! Log floods (issue #11, item 7): a client that makes a handler panic on every call gets a
//! 500 per call, but the server's error log lines are rate-limited and count what they held
//! back (`limits_panic_hook.rs` covers `limit_panic_output`, in its own process because the
//! panic hook is global).
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::*;
use swill::{Error, Request, Swill};

#[swill::handler]
async fn boom(_req: Request<()>) -> Result<u32, Error> {
    panic!("on purpose")
}

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn panicking_calls_are_answered_but_their_log_lines_are_rate_limited() {
    // The panic hook prints nothing here: only swill's own log lines are counted.
    std::panic::set_hook(Box::new(|_| {}));
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = Swill::new()
        .handler(boom)
        .tune(|c| c.error_logs_per_second(5));
    let server = spawn(app).await;
    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    let start = Instant::now();
    const CALLS: usize = 300;
    for _ in 0..CALLS {
        let e = client
            .call::<u32>("boom", &())
            .with_timeout()
            .await
            .unwrap_err();
        assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(500));
    }
    let windows = start.elapsed().as_secs() as usize + 1;
    drop(client);
    server.stop().await;

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("handler panicked"))
        .collect();
    assert!(!logged.is_empty(), "the first panics are logged");
    assert!(
        logged.len() <= 5 * windows,
        "{} lines for {CALLS} panics in {windows} window(s)",
        logged.len()
    );
    // What was held back is counted by the next line written, if a later window had one.
    if logged.len() > 5 {
        assert!(logged[5].contains("suppressed="), "{}", logged[5]);
    }
}
