//! Calls and pub/sub deliveries as OpenTelemetry spans that continue the caller's trace:
//! `cargo run -p tracing-example -- --addr 127.0.0.1:8767` prints every finished span as
//! JSON (the OpenTelemetry stdout exporter).
//!
//! How it fits together:
//! - the `tracing` subscriber has a `tracing-opentelemetry` layer, so `tracing` spans
//!   (swill's `call` span, the handlers' own) become OpenTelemetry spans;
//! - [`Swill::on_trace`] (and [`PubSubBuilder::on_trace`] for deliveries) gets each span
//!   whose request carried a W3C `traceparent`, and sets its OpenTelemetry parent from it
//!   with the W3C propagator: the call's span is a child of the caller's span, in the
//!   caller's trace;
//! - the client side takes the `traceparent` of its current OpenTelemetry span (the same
//!   propagator) and sends it with `CallBuilder::trace_context`.
//!
//! `--check` exports to memory instead, makes a traced call whose handler publishes to a
//! topic another call subscribes to, and verifies that the server's `call` span, the
//! handler's `compute` span and the subscriber's `pubsub.deliver` span all belong to the
//! client's trace, the `call` span a child of the client's span (what CI runs).
//!
//! [`PubSubBuilder::on_trace`]: swill::pubsub::PubSubBuilder::on_trace

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use futures::{Stream, StreamExt};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use swill::observe::TraceContext;
use swill::pubsub::{PubSub, Subscription};
use swill::{Error, Request, Response, State, Swill};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Doubles `n` (in a span of its own) and publishes the result on `results`.
#[swill::handler]
async fn work(req: Request<u64>, State(pubsub): State<PubSub>) -> Result<u64, Error> {
    let n = req.into_data();
    let doubled = tracing::info_span!("compute", n).in_scope(|| n * 2);
    pubsub
        .publish("results", &doubled)
        .await
        .map_err(|e| Error::new(503, e.to_string()))?;
    Ok(doubled)
}

/// Streams what `work` publishes.
#[swill::handler]
async fn watch(
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<u64, Error>> {
    Subscription::or_failed(pubsub.subscribe::<u64>("results").await).announce(&res)
}

/// Makes `span` a child of the remote span `tc` names (the W3C propagator reads the same
/// `traceparent`/`tracestate` the caller sent).
fn continue_trace(span: &tracing::Span, tc: &TraceContext) {
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), tc.traceparent().to_owned());
    if let Some(ts) = tc.tracestate() {
        carrier.insert("tracestate".to_owned(), ts.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if let Err(e) = span.set_parent(parent) {
        eprintln!("cannot set the span's parent: {e}");
    }
}

/// The W3C trace context of the current `tracing` span's OpenTelemetry span.
fn current_trace_context() -> Option<TraceContext> {
    let mut carrier = HashMap::new();
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let tp = carrier.get("traceparent")?;
    TraceContext::parse(tp, carrier.get("tracestate").map(String::as_str)).ok()
}

fn app() -> Swill {
    let pubsub = PubSub::builder().on_trace(continue_trace).build();
    Swill::new()
        .info("tracing", env!("CARGO_PKG_VERSION"))
        .with_state(pubsub)
        .handler(work)
        .handler(watch)
        .on_trace(continue_trace)
}

/// Installs the `tracing` subscriber that turns spans into OpenTelemetry spans.
fn install(provider: &SdkTracerProvider) -> Result<(), Box<dyn std::error::Error>> {
    let tracer = provider.tracer("tracing-example");
    // swill's call and delivery spans are at DEBUG.
    let filter = Targets::new()
        .with_target("swill", LevelFilter::DEBUG)
        .with_default(LevelFilter::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))?;
    Ok(())
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

async fn check(
    addr: SocketAddr,
    provider: &SdkTracerProvider,
    exporter: &InMemorySpanExporter,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = swill::client::Client::connect(format!("ws://{addr}/ws")).await?;
    let mut results = client.stream::<u64>("watch", &())?;
    results.opened().await?;

    let root = tracing::info_span!("client.request");
    let (trace_id, root_id) = {
        let cx = root.context();
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), sc.span_id())
    };
    let tc = root
        .in_scope(current_trace_context)
        .ok_or("the client span has no trace context")?;
    let doubled: u64 = client.rpc("work").trace_context(tc).call(&21).await?.data;
    assert_eq!(doubled, 42);
    let pushed = results.next().await.ok_or("the subscription ended")??;
    assert_eq!(pushed, 42);
    drop(root);
    drop(results);
    client.close();
    provider.force_flush()?;

    let spans = exporter.get_finished_spans()?;
    let call = spans
        .iter()
        .find(|s| s.name == "call" && attr(s, "rpc").is_some_and(|v| v.as_str() == "work"))
        .ok_or("no span of the work call")?;
    if call.span_context.trace_id() != trace_id || call.parent_span_id != root_id {
        return Err(format!(
            "the call span is not a child of the client's span: trace {} parent {}, want {trace_id} {root_id}",
            call.span_context.trace_id(),
            call.parent_span_id
        )
        .into());
    }
    let compute = spans
        .iter()
        .find(|s| s.name == "compute")
        .ok_or("no compute span")?;
    if compute.span_context.trace_id() != trace_id
        || compute.parent_span_id != call.span_context.span_id()
    {
        return Err("the handler's span is not a child of the call span".into());
    }
    let deliver = spans
        .iter()
        .find(|s| s.name == "pubsub.deliver")
        .ok_or("no pubsub.deliver span")?;
    if deliver.span_context.trace_id() != trace_id {
        return Err("the delivery span is not in the publisher's trace".into());
    }
    println!(
        "check passed: trace {trace_id}: client.request -> call work -> compute, and pubsub.deliver ({} spans)",
        spans.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8767).into();
    let mut run_check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => match a.parse() {
                Ok(a) => addr = a,
                Err(_) => return usage(),
            },
            ("--check", None) => run_check = true,
            _ => return usage(),
        }
    }
    let memory = InMemorySpanExporter::default();
    let provider = if run_check {
        SdkTracerProvider::builder()
            .with_simple_exporter(memory.clone())
            .build()
    } else {
        SdkTracerProvider::builder()
            .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
            .build()
    };
    if let Err(e) = install(&provider) {
        eprintln!("cannot install the tracing subscriber: {e}");
        return ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    println!("listening on ws://{local}/ws");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(std::future::IntoFuture::into_future(
        swill::serve(listener, app()).with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop_rx => {}
            }
        }),
    ));
    let code = if run_check {
        let result = check(local, &provider, &memory).await;
        let _ = stop_tx.send(());
        let _ = server.await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("check failed: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        match server.await {
            Ok(Ok(())) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        }
    };
    let _ = provider.shutdown();
    code
}

fn usage() -> ExitCode {
    eprintln!("usage: tracing-example [--addr HOST:PORT] [--check]");
    ExitCode::from(2)
}
