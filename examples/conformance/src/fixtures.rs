//! The fixture handlers. Names, shapes and behaviour are a contract (issue #2, swill/1
//! Appendix B); more may be added, none may change.

use std::time::Duration;

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use swill::pubsub::{History, PubSub, Since, Subscription};
use swill::{Connection, Error, Metadata, Request, Response, State, Streaming, Swill, Value};
use validator::Validate;

/// The app with every fixture handler; `subscribe` and `publish` use `pubsub`.
pub(crate) fn app(pubsub: PubSub) -> Swill {
    Swill::new()
        .with_state(pubsub)
        .info("swill conformance", env!("CARGO_PKG_VERSION"))
        .handler(add)
        .handler(echo)
        .handler(echo_metadata)
        .handler(count)
        .handler(sum)
        .handler(double)
        .handler(fail)
        .handler(ticker)
        .handler(validated)
        .handler(count_lead)
        .handler(empty_stream)
        .handler(deny)
        .handler(crash)
        .handler(check_point)
        .handler(subscribe)
        .handler(publish)
}

/// Adds two integers: `[a, b]` → `a + b`.
#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    a.checked_add(b)
        .ok_or_else(|| Error::bad_request("the sum overflows a 64-bit integer"))
}

/// Returns its argument unchanged (binary data stays binary).
#[swill::handler]
async fn echo(req: Request<Value>) -> Result<Value, Error> {
    Ok(req.into_data())
}

/// Returns the request metadata as the message; leading `{"lead": 1}`, trailing
/// `{"trail": 2}`. The request data is ignored.
#[swill::handler]
async fn echo_metadata(md: Metadata, res: Response) -> Result<Metadata, Error> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    Ok(md)
}

/// Streams `0, 1, …, n-1`. Sends leading `{"count": n}` at once as a METADATA frame and
/// trailing `{"done": true}` on END_OF_STREAM.
#[swill::handler]
async fn count(req: Request<u64>, res: Response) -> impl Stream<Item = Result<u64, Error>> {
    let n = *req.data();
    res.set_leading(Metadata::new().with("count", n));
    res.send_leading();
    res.set_trailing(Metadata::new().with("done", true));
    futures::stream::iter((0..n).map(Ok))
}

/// Sums a stream of integers; answers after the client's END_OF_STREAM.
#[swill::handler]
async fn sum(mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut total: i64 = 0;
    while let Some(x) = items.next().await {
        total = total
            .checked_add(x)
            .ok_or_else(|| Error::bad_request("the sum overflows a 64-bit integer"))?;
    }
    Ok(total)
}

/// Answers each integer of the request stream with twice its value; ends after the
/// client's END_OF_STREAM.
#[swill::handler]
async fn double(items: Streaming<i64>) -> impl Stream<Item = Result<i64, Error>> {
    items.map(|x| {
        x.checked_mul(2)
            .ok_or_else(|| Error::bad_request("the double overflows a 64-bit integer"))
    })
}

/// Always fails: ERROR 418 `teapot` with data `{"why": "fixture"}`.
#[swill::handler]
async fn fail() -> Result<(), Error> {
    Err(Error::new(418, "teapot").with_data(serde_json_like_why()))
}

fn serde_json_like_why() -> Metadata {
    Metadata::new().with("why", "fixture")
}

/// Streams `0, 1, 2, …` until cancelled: `0` at once, then one item every `interval_ms`
/// milliseconds (at least 1), as the reference app's ticker does.
#[swill::handler]
async fn ticker(req: Request<u64>) -> impl Stream<Item = Result<u64, Error>> {
    ticks(Duration::from_millis((*req.data()).max(1))).map(Ok)
}

/// `0` at once, then `1, 2, …`, each `every` after the previous one was taken.
fn ticks(every: Duration) -> impl Stream<Item = u64> {
    futures::stream::unfold(0u64, move |i| async move {
        if i > 0 {
            tokio::time::sleep(every).await;
        }
        Some((i, i.saturating_add(1)))
    })
}

/// A person to validate.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Person {
    /// Between 1 and 16 characters.
    #[validate(length(min = 1, max = 16))]
    name: String,
    /// Between 0 and 150.
    #[validate(range(min = 0, max = 150))]
    age: i64,
}

/// Validates `{"name": str of length 1..=16, "age": int 0..=150}` and answers `"ok"`;
/// invalid input gets 422 with the offending fields.
#[swill::handler]
async fn validated(req: Request<Person>) -> Result<String, Error> {
    let _person = req.into_data();
    Ok("ok".to_owned())
}

/// Streams `0..n` with leading `{"lead": 1}` on the first item and no trailing metadata.
#[swill::handler]
async fn count_lead(req: Request<u64>, res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.set_leading(Metadata::new().with("lead", 1));
    futures::stream::iter((0..*req.data()).map(Ok))
}

/// An empty stream: END_OF_STREAM with leading `{"lead": 1}` and trailing `{"trail": 2}`.
#[swill::handler]
async fn empty_stream(res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    futures::stream::empty()
}

/// Always refuses: ERROR 403 `denied`.
#[swill::handler]
async fn deny() -> Result<(), Error> {
    Err(Error::forbidden("denied"))
}

/// Panics: the call gets ERROR 500, the connection and other calls live on.
#[swill::handler]
async fn crash() -> Result<(), Error> {
    panic!("crash fixture")
}

/// A point to check (swill/1 Appendix B `check_point`).
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Point {
    /// At most 10.
    #[validate(range(max = 10))]
    x: i64,
    /// Tags of at most 3 characters each.
    #[validate(custom(function = "short_tags"))]
    tags: Vec<String>,
}

fn short_tags(tags: &[String]) -> Result<(), validator::ValidationError> {
    match tags.iter().position(|t| t.chars().count() > 3) {
        None => Ok(()),
        Some(i) => {
            let mut err = validator::ValidationError::new("length");
            err.message = Some(format!("tag {i} is longer than 3 characters").into());
            err.add_param("index".into(), &i);
            err.add_param("max".into(), &3);
            Err(err)
        }
    }
}

/// Answers `x` of `{"x": int <= 10, "tags": [str of at most 3 characters]}`; violations get
/// 422 naming the fields.
#[swill::handler]
async fn check_point(req: Request<Point>) -> Result<i64, Error> {
    Ok(req.data().x)
}

/// Streams every message published to the topic (a string) until cancelled. A METADATA
/// frame with leading `{"subscribed": topic}` comes first, once the subscription exists: every
/// message published after the client saw it is delivered.
///
/// Topics named `history.*` keep a history of [`HISTORY_LEN`] messages: their leading
/// metadata also carries `epoch` and `offset` (the k-th message is at `offset + k`), and with
/// request metadata `since: {"epoch", "offset"}` the stream resumes after that position and
/// says whether it could (`recovered`).
#[swill::handler]
async fn subscribe(
    req: Request<String>,
    Since(since): Since,
    conn: Connection,
    State(pubsub): State<PubSub>,
    res: Response,
) -> impl Stream<Item = Result<swill::Encoded, Error>> {
    let sub = pubsub.resume_from(&conn, req.into_data(), since).await;
    Subscription::or_failed(sub).announce(&res)
}

/// How many messages a `history.*` topic keeps (the conformance contract).
#[allow(dead_code)] // swill-bench includes this file and builds its own PubSub
pub(crate) const HISTORY_LEN: usize = 1000;

/// The history settings of the conformance server's topics: `history.*` keep
/// [`HISTORY_LEN`] messages.
#[allow(dead_code)] // swill-bench includes this file and builds its own PubSub
pub(crate) fn history(topic: &str) -> Option<History> {
    topic
        .starts_with("history.")
        .then(|| History::new(HISTORY_LEN))
}

/// What `publish` takes.
#[derive(Debug, Deserialize, JsonSchema)]
struct Publish {
    /// The topic.
    topic: String,
    /// Any value.
    message: Value,
}

/// Publishes `{"topic": string, "message": any}`; answers `true` once it is published.
#[swill::handler]
async fn publish(
    req: Request<Publish>,
    conn: Connection,
    State(pubsub): State<PubSub>,
) -> Result<bool, Error> {
    let Publish { topic, message } = req.into_data();
    pubsub.publish_from(&conn, topic, &message)?.await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::time::Duration;

    use futures::{FutureExt, StreamExt};
    use tokio::time::{advance, timeout, Instant};

    #[tokio::test(start_paused = true)]
    async fn ticker_yields_zero_at_once_then_one_item_per_interval() {
        let every = Duration::from_millis(250);
        let start = Instant::now();
        let mut ticks = pin!(super::ticks(every));
        // 0 is ready on the first poll, before any time passes.
        assert_eq!(ticks.next().now_or_never(), Some(Some(0)));
        for i in 1..=3u64 {
            // Not a moment before the interval...
            let early = every - Duration::from_millis(1);
            assert!(
                timeout(early, ticks.next()).await.is_err(),
                "item {i} early"
            );
            assert!(ticks.next().now_or_never().is_none());
            // ...and exactly at it.
            advance(Duration::from_millis(1)).await;
            assert_eq!(ticks.next().now_or_never(), Some(Some(i)));
            assert_eq!(start.elapsed(), every * u32::try_from(i).unwrap());
        }
    }
}
