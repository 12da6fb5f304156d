//! The app-wide call budget (`Config::max_calls`): calls over it, from any connection, get
//! ERROR 503 while the connection goes on; a call that ends (answered, cancelled, or its
//! connection gone) gives its share back.
mod common;
use common::*;

use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::{Config, Error, Swill};

/// Never ends: each one holds a share of the budget until cancelled.
#[swill::handler]
async fn hold() -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::pending()
}

#[swill::handler]
async fn ping() -> bool {
    true
}

/// The app; `gone` hears of each connection that ended (after its calls were dropped).
fn app(max_calls: usize, gone: tokio::sync::mpsc::UnboundedSender<()>) -> Swill {
    Swill::new()
        .config(Config::default().max_calls(max_calls))
        .handler(hold)
        .handler(ping)
        .after_connection(move |_| {
            let _ = gone.send(());
            async { Ok(()) }
        })
}

async fn busy(client: &Client) -> bool {
    match client.call::<bool>("ping", &()).with_timeout().await {
        Ok(true) => false,
        Err(e) if e.rpc().map(|e| e.code().0) == Some(503) => {
            assert!(e.rpc().unwrap().message().contains("server busy"), "{e}");
            true
        }
        other => panic!("unexpected answer: {other:?}"),
    }
}

#[tokio::test]
async fn calls_over_the_app_budget_get_503_and_freed_shares_are_reused() {
    let (gone_tx, mut gone) = tokio::sync::mpsc::unbounded_channel();
    let server = spawn(app(3, gone_tx)).await;
    let a = Client::connect(server.url()).with_timeout().await.unwrap();
    let b = Client::connect(server.url()).with_timeout().await.unwrap();
    // Three endless calls over two connections take the whole budget. A round trip on a
    // connection shows that the calls opened before it on that connection are open.
    let mut a1 = a.stream::<u32>("hold", &()).unwrap();
    let a2 = a.stream::<u32>("hold", &()).unwrap();
    assert!(!busy(&a).await, "a third call fits");
    let b1 = b.stream::<u32>("hold", &()).unwrap();
    assert!(busy(&b).await, "a fourth call is over the budget");
    assert!(busy(&a).await, "from the other connection too");
    // ...and the refused ones did not take a share: a still-open stream is unaffected.
    assert!(futures::poll!(a1.next()).is_pending());
    // A cancelled call gives its share back: the CANCEL reaches the server before the ping
    // that follows it on the same connection.
    drop(a2);
    assert!(
        !busy(&a).await,
        "the cancelled call's share serves the next call"
    );
    // The answered ping gave its share back too; the budget is full again with one more.
    let a3 = a.stream::<u32>("hold", &()).unwrap();
    assert!(busy(&a).await);
    assert!(busy(&b).await);
    // A connection that goes away gives back every share it held.
    a.close();
    drop((a1, a3));
    gone.recv().with_timeout().await.unwrap();
    assert!(
        !busy(&b).await,
        "the closed connection's calls still hold the budget"
    );
    drop(b1);
    server.stop().await;
}
