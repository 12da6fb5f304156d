//! A bidi call whose handler waits for the client's next item must not keep its connection
//! busy: the handler's stream is polled when something happens, not in a loop. (It used to
//! spin: each poll of the request stream woke the call again.)
mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use futures::{Stream, StreamExt};
use swill::{Error, State, Streaming, Swill};

/// Counts how often the request stream is polled.
#[derive(Clone, Default)]
struct Polls(Arc<AtomicUsize>);

struct Counted<S> {
    inner: S,
    polls: Polls,
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.polls.0.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[swill::handler]
async fn double(
    items: Streaming<i64>,
    State(polls): State<Polls>,
) -> impl Stream<Item = Result<i64, Error>> {
    Counted {
        inner: items,
        polls,
    }
    .map(|x| Ok(x * 2))
}

#[tokio::test]
async fn a_bidi_call_waiting_for_input_does_not_spin() {
    let polls = Polls::default();
    let app = Swill::new()
        .with_state(polls.clone())
        .handler(double)
        .handler(add);
    let server = spawn(app).await;
    let client = swill::client::Client::connect(server.url())
        .with_timeout()
        .await
        .unwrap();
    let (mut sink, mut out) = client.bidi::<i64, i64>("double").unwrap();
    sink.send(&21).unwrap();
    assert_eq!(out.next().with_timeout().await.unwrap().unwrap(), 42);
    let before = polls.0.load(Ordering::SeqCst);
    // The handler now waits for the next item. Twenty round trips on the same connection
    // give a spinning call thousands of polls; a waiting one gets none.
    for i in 0..20 {
        let n: i64 = client.call("add", &(i, 1)).with_timeout().await.unwrap();
        assert_eq!(n, i + 1);
    }
    let idle = polls.0.load(Ordering::SeqCst) - before;
    assert!(
        idle <= 4,
        "the request stream was polled {idle} times while idle"
    );
    sink.send(&5).unwrap();
    assert_eq!(out.next().with_timeout().await.unwrap().unwrap(), 10);
    sink.end().unwrap();
    assert!(out.next().with_timeout().await.is_none());
    drop((out, client));
    server.stop().await;
}
