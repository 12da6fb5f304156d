//! W3C trace context (issue #11) over real sockets: a call whose request metadata carries a
//! `traceparent` gets it in its span and in the app's `on_trace` callback; a malformed one
//! is ignored; the Rust client sends one; a message published by a traced call carries it
//! to the subscribers.
#![cfg(feature = "client")]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use futures::StreamExt;
use rmpv::Value as V;
use swill::client::Client;
use swill::observe::TraceContext;
use swill::pubsub::{PubSub, Recv};
use swill::{CallContext, Error, Request, State, Swill};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A span's fields as text, in order.
type FieldList = Vec<(String, String)>;

/// The spans opened, by name, with their fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, FieldList)>>>);

struct Fields(FieldList);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().push((name, fields.0));
    }
}

impl Spans {
    /// The fields of every span named `name`.
    fn named(&self, name: &str) -> Vec<FieldList> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The caller's traceparent as the handler sees it.
#[swill::handler]
async fn whoami(ctx: CallContext) -> Result<Option<String>, Error> {
    Ok(ctx.trace_context().map(|t| t.traceparent().to_owned()))
}

/// Publishes its text on `news`.
#[swill::handler]
async fn announce(req: Request<String>, State(ps): State<PubSub>) -> Result<(), Error> {
    ps.publish("news", &req.into_data())
        .await
        .map_err(|e| Error::new(500, e.to_string()))
}

/// Publishes its text on `news` from the blocking pool (a plain `fn` handler).
#[swill::handler]
fn announce_blocking(req: Request<String>, State(ps): State<PubSub>) -> Result<(), Error> {
    futures::executor::block_on(ps.publish("news", &req.into_data()))
        .map_err(|e| Error::new(500, e.to_string()))
}

type Seen = Arc<Mutex<Vec<String>>>;

fn app(seen: &Seen, pubsub: &PubSub) -> Swill {
    let seen = seen.clone();
    Swill::new()
        .with_state(pubsub.clone())
        .handler(whoami)
        .handler(announce)
        .handler(announce_blocking)
        .on_trace(move |_span, tc| seen.lock().unwrap().push(tc.traceparent().to_owned()))
}

fn traced(tp: &str, ts: Option<&str>) -> V {
    let mut md = vec![("traceparent", V::from(tp))];
    if let Some(ts) = ts {
        md.push(("tracestate", V::from(ts)));
    }
    mmap(&md)
}

#[tokio::test(flavor = "current_thread")]
async fn a_traceparent_in_request_metadata_reaches_the_call_span() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let seen = Seen::default();
    let server = spawn(app(&seen, &PubSub::new())).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;

    let md = traced(TP, Some("congo=t61rcWkgMzE"));
    send_bytes(&mut ws, envelope(1, V::Nil, "whoami", MESSAGE, Some(md))).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::from(TP));
    let calls = spans.named("call");
    let span = calls.last().expect("a call span");
    assert_eq!(field(span, "rpc"), Some("whoami"));
    assert_eq!(
        field(span, "trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(field(span, "parent_id"), Some("00f067aa0ba902b7"));
    assert_eq!(field(span, "traceparent"), Some(TP));
    assert_eq!(field(span, "tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(
        *seen.lock().unwrap(),
        [TP],
        "on_trace ran once, with the caller's context"
    );

    // Malformed: ignored, not an error; the call runs untraced.
    for (seq, bad) in [
        (2, "00-zz"),
        (3, "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
    ] {
        send_bytes(
            &mut ws,
            envelope(seq, V::Nil, "whoami", MESSAGE, Some(traced(bad, None))),
        )
        .await;
        let r = recv_resp(&mut ws).await;
        assert_eq!((r.seq, r.data), (seq, V::Nil));
        let calls = spans.named("call");
        let span = calls.last().expect("a call span");
        assert_eq!(field(span, "trace_id"), None, "{bad}");
    }
    // A traceparent that is not a string is no trace either.
    let md = mmap(&[("traceparent", V::from(7))]);
    send_bytes(&mut ws, envelope(4, V::Nil, "whoami", MESSAGE, Some(md))).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::Nil);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "on_trace ran for the valid one only"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_sends_a_trace_context() {
    let server = spawn(app(&Seen::default(), &PubSub::new())).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let tc = TraceContext::parse(TP, Some("k=v")).unwrap();
    let md = swill::Metadata::new().with("other", 1);
    let got: Option<String> = client
        .rpc("whoami")
        .trace_context(tc)
        .metadata(md)
        .call(&())
        .with_timeout()
        .await
        .unwrap()
        .data;
    assert_eq!(got.as_deref(), Some(TP));
    let got: Option<String> = client.call("whoami", &()).with_timeout().await.unwrap();
    assert_eq!(got, None);
    client.close();
    server.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_message_published_by_a_traced_call_carries_its_trace_to_subscribers() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let delivered = Seen::default();
    let d = delivered.clone();
    let pubsub = PubSub::builder()
        .on_trace(move |_span, tc| d.lock().unwrap().push(tc.traceparent().to_owned()))
        .build();
    let server = spawn(app(&Seen::default(), &pubsub)).await;
    let mut values = pubsub
        .subscribe::<String>("news")
        .with_timeout()
        .await
        .unwrap();
    let mut stream = pubsub
        .subscribe::<String>("news")
        .with_timeout()
        .await
        .unwrap();

    let mut ws = raw_ws(&server.url(), "swill/1").await;
    let md = traced(TP, None);
    send_bytes(
        &mut ws,
        envelope(1, V::from("traced"), "announce", MESSAGE, Some(md)),
    )
    .await;
    assert_eq!(recv_resp(&mut ws).await.data, V::Nil);
    send_bytes(&mut ws, request(2, &"plain", "announce")).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::Nil);
    let md = traced(TP, None);
    let frame = envelope(
        3,
        V::from("blocking"),
        "announce_blocking",
        MESSAGE,
        Some(md),
    );
    send_bytes(&mut ws, frame).await;
    assert_eq!(recv_resp(&mut ws).await.data, V::Nil);

    // Read as values: the message says whose trace it belongs to.
    let Some(Recv::Message(m)) = values.recv().with_timeout().await else {
        panic!("no message");
    };
    assert_eq!(m.decode::<String>().unwrap(), "traced");
    assert_eq!(m.trace_context().map(|t| t.traceparent()), Some(TP));
    let Some(Recv::Message(m)) = values.recv().with_timeout().await else {
        panic!("no message");
    };
    assert_eq!(m.trace_context(), None, "published by an untraced call");
    let Some(Recv::Message(m)) = values.recv().with_timeout().await else {
        panic!("no message");
    };
    assert_eq!(m.decode::<String>().unwrap(), "blocking");
    assert_eq!(
        m.trace_context().map(|t| t.traceparent()),
        Some(TP),
        "a blocking handler publishes with its call's trace too"
    );

    // Read as a stream (what a subscription handler returns): each traced message gets a
    // `pubsub.deliver` span of the publisher's trace.
    assert_eq!(
        stream.next().with_timeout().await.unwrap().unwrap(),
        "traced"
    );
    assert_eq!(
        stream.next().with_timeout().await.unwrap().unwrap(),
        "plain"
    );
    assert_eq!(
        stream.next().with_timeout().await.unwrap().unwrap(),
        "blocking"
    );
    let deliveries = spans.named("pubsub.deliver");
    assert_eq!(
        deliveries.len(),
        2,
        "the untraced message has no delivery span"
    );
    assert_eq!(field(&deliveries[0], "topic"), Some("news"));
    assert_eq!(
        field(&deliveries[0], "trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(*delivered.lock().unwrap(), [TP, TP]);
    server.stop().await;
}

#[tokio::test]
async fn the_next_call_on_a_connection_does_not_inherit_a_trace() {
    // Finished calls' contexts are reused for the connection's next call: the trace context
    // of one call must not leak into the next.
    let seen = Seen::default();
    let server = spawn(app(&seen, &PubSub::new())).await;
    let mut ws = raw_ws(&server.url(), "swill/1").await;
    for seq in 1..4 {
        send_bytes(
            &mut ws,
            envelope(2 * seq, V::Nil, "whoami", MESSAGE, Some(traced(TP, None))),
        )
        .await;
        assert_eq!(recv_resp(&mut ws).await.data, V::from(TP));
        send_bytes(
            &mut ws,
            envelope(2 * seq + 1, V::Nil, "whoami", MESSAGE, None),
        )
        .await;
        assert_eq!(
            recv_resp(&mut ws).await.data,
            V::Nil,
            "call {} inherited a trace",
            2 * seq + 1
        );
    }
    drop(ws);
    server.stop().await;
}
