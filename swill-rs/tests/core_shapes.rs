//! Every call shape over a real socket: byte-exact frame sequences with exact metadata
//! placement (swill/1 §5, §7.3, §7.4), the typed client for each shape, and many concurrent
//! calls on one connection matched by seq.
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::{Stream, StreamExt};
use swill::client::Client;
use swill::{Error, Metadata, Request, Response, State, Streaming, Swill};
use tokio::sync::watch;

#[swill::handler]
async fn echo_metadata(md: Metadata, res: Response) -> Result<Metadata, Error> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    Ok(md)
}

#[swill::handler]
async fn count(req: Request<u64>, res: Response) -> impl Stream<Item = Result<u64, Error>> {
    let n = *req.data();
    res.set_leading(Metadata::new().with("count", n));
    res.send_leading();
    res.set_trailing(Metadata::new().with("done", true));
    futures::stream::iter((0..n).map(Ok))
}

#[swill::handler]
async fn count_lead(req: Request<u64>, res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.set_leading(Metadata::new().with("lead", 1));
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler]
async fn empty_stream(res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    futures::stream::empty()
}

/// Sums the request stream; the request metadata comes back as trailing metadata.
#[swill::handler]
async fn sum(md: Metadata, res: Response, mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut total = 0;
    while let Some(x) = items.next().await {
        total += x;
    }
    if !md.is_empty() {
        res.set_trailing(md);
    }
    Ok(total)
}

#[swill::handler]
async fn double(items: Streaming<i64>) -> impl Stream<Item = Result<i64, Error>> {
    items.map(|x| Ok(x * 2))
}

#[swill::handler]
async fn echo_text(items: Streaming<String>) -> impl Stream<Item = Result<String, Error>> {
    items.map(Ok)
}

/// Answers after two items, without waiting for the client's END_OF_STREAM.
#[swill::handler]
async fn first_two(
    State(runs): State<Arc<AtomicUsize>>,
    mut items: Streaming<i64>,
) -> Result<i64, Error> {
    runs.fetch_add(1, Ordering::SeqCst);
    let a = items.next().await.unwrap_or(0);
    let b = items.next().await.unwrap_or(0);
    Ok(a + b)
}

#[swill::handler]
async fn deny(res: Response) -> Result<(), Error> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    Err(Error::forbidden("denied"))
}

#[swill::handler]
async fn fail() -> Result<(), Error> {
    Err(Error::new(418, "teapot").with_data(Metadata::new().with("why", "fixture")))
}

/// A stream that fails after one item, with metadata set: the ERROR carries none.
#[swill::handler]
async fn fail_midway(res: Response) -> impl Stream<Item = Result<u64, Error>> {
    res.set_leading(Metadata::new().with("lead", 1));
    res.set_trailing(Metadata::new().with("trail", 2));
    futures::stream::iter([Ok(7), Err(Error::new(409, "midway"))])
}

/// Which `held` calls the test has let go.
#[derive(Clone, Debug)]
struct Releases(Arc<watch::Sender<BTreeSet<u64>>>);

impl Releases {
    fn new() -> Self {
        Self(Arc::new(watch::channel(BTreeSet::new()).0))
    }

    fn release(&self, n: u64) {
        self.0.send_modify(|set| {
            set.insert(n);
        });
    }
}

/// Logs `started <n>`, waits until the test releases `n`, logs `done <n>`, answers `n`.
#[swill::handler]
async fn held(req: Request<u64>, State(log): State<Log>, State(r): State<Releases>) -> u64 {
    let n = *req.data();
    log.push(format!("started {n}"));
    let _ = r.0.subscribe().wait_for(|set| set.contains(&n)).await;
    log.push(format!("done {n}"));
    n
}

fn app() -> Swill {
    Swill::new()
        .with_state(Arc::new(AtomicUsize::new(0)))
        .with_state(Log::new())
        .with_state(Releases::new())
        .handler(add)
        .handler(echo_metadata)
        .handler(count)
        .handler(count_lead)
        .handler(empty_stream)
        .handler(sum)
        .handler(double)
        .handler(first_two)
        .handler(deny)
        .handler(fail)
        .handler(fail_midway)
        .handler(held)
        .handler(echo_text)
}

// ---- Byte-exact frames ----------------------------------------------------------------------

#[tokio::test]
async fn single_reply_carries_leading_and_trailing_metadata() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(
        &mut ws,
        r#"95 02 c0 ad "echo_metadata" 00 81 a4 "auth" a5 "token""#,
    )
    .await;
    expect_frame(
        &mut ws,
        r#"95 02 81 a4 "auth" a5 "token" 00 81 a4 "lead" 01 81 a5 "trail" 02"#,
    )
    .await;
    // Without request metadata the handler sees an empty map, which travels as 80.
    send_spec(&mut ws, r#"93 03 c0 ad "echo_metadata""#).await;
    expect_frame(&mut ws, r#"95 03 80 00 81 a4 "lead" 01 81 a5 "trail" 02"#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn eager_metadata_frame_then_items_then_end_with_trailing() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 03 03 a5 "count""#).await;
    expect_frame(&mut ws, r#"95 03 c0 02 81 a5 "count" 03 c0"#).await;
    expect_frame(&mut ws, "95 03 00 00 c0 c0").await;
    expect_frame(&mut ws, "95 03 01 00 c0 c0").await;
    expect_frame(&mut ws, "95 03 02 00 c0 c0").await;
    expect_frame(&mut ws, r#"95 03 c0 01 c0 81 a4 "done" c3"#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn leading_metadata_rides_on_the_first_stream_item_only() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 04 02 aa "count_lead""#).await;
    expect_frame(&mut ws, r#"95 04 00 00 81 a4 "lead" 01 c0"#).await;
    expect_frame(&mut ws, "95 04 01 00 c0 c0").await;
    expect_frame(&mut ws, "95 04 c0 01 c0 c0").await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn empty_stream_end_carries_leading_and_trailing() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 05 c0 ac "empty_stream""#).await;
    expect_frame(&mut ws, r#"95 05 c0 01 81 a4 "lead" 01 81 a5 "trail" 02"#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn error_frames_carry_no_metadata() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    // deny set leading and trailing metadata before failing: both slots stay nil.
    send_spec(&mut ws, r#"93 0a c0 a4 "deny""#).await;
    expect_frame(
        &mut ws,
        r#"95 0a 82 a4 "code" cd 01 93 a7 "message" a6 "denied" 03 c0 c0"#,
    )
    .await;
    // Error data travels under "data", after code and message.
    send_spec(&mut ws, r#"93 0b c0 a4 "fail""#).await;
    expect_frame(
        &mut ws,
        r#"95 0b 83 a4 "code" cd 01 a2 a7 "message" a6 "teapot" a4 "data" 81 a3 "why" a7 "fixture" 03 c0 c0"#,
    )
    .await;
    // A stream failing after an item: the item took the leading metadata, the ERROR has none.
    send_spec(&mut ws, r#"93 0c c0 ab "fail_midway""#).await;
    expect_frame(&mut ws, r#"95 0c 07 00 81 a4 "lead" 01 c0"#).await;
    expect_frame(
        &mut ws,
        r#"95 0c 82 a4 "code" cd 01 99 a7 "message" a6 "midway" 03 c0 c0"#,
    )
    .await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn streaming_request_opened_by_message() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 06 01 a3 "sum""#).await;
    send_spec(&mut ws, r#"93 06 02 a3 "sum""#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    send_spec(&mut ws, r#"94 06 c0 a3 "sum" 01"#).await;
    expect_frame(&mut ws, "95 06 03 00 c0 c0").await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn streaming_request_opened_by_metadata_keeps_that_metadata() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"95 07 c0 a3 "sum" 02 81 a1 "k" a1 "v""#).await;
    // Metadata on a later MESSAGE is ignored (§7.2).
    send_spec(&mut ws, r#"95 07 05 a3 "sum" 00 81 a1 "x" a1 "y""#).await;
    send_spec(&mut ws, r#"93 07 06 a3 "sum""#).await;
    send_spec(&mut ws, r#"94 07 c0 a3 "sum" 01"#).await;
    expect_frame(&mut ws, r#"95 07 0b 00 c0 81 a1 "k" a1 "v""#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn bidi_calls_interleave_on_one_connection() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 08 01 a6 "double""#).await;
    expect_frame(&mut ws, "95 08 02 00 c0 c0").await;
    send_spec(&mut ws, r#"95 09 c0 a6 "double" 02 80"#).await;
    send_spec(&mut ws, r#"93 09 0a a6 "double""#).await;
    expect_frame(&mut ws, "95 09 14 00 c0 c0").await;
    send_spec(&mut ws, r#"93 08 02 a6 "double""#).await;
    expect_frame(&mut ws, "95 08 04 00 c0 c0").await;
    send_spec(&mut ws, r#"94 08 c0 a6 "double" 01"#).await;
    expect_frame(&mut ws, "95 08 c0 01 c0 c0").await;
    // Call 9 is still open after 8 ended.
    send_spec(&mut ws, r#"93 09 0b a6 "double""#).await;
    expect_frame(&mut ws, "95 09 16 00 c0 c0").await;
    send_spec(&mut ws, r#"94 09 c0 a6 "double" 01"#).await;
    expect_frame(&mut ws, "95 09 c0 01 c0 c0").await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test]
async fn early_answer_half_closes_the_call_and_late_items_do_not_reopen_it() {
    let runs = Arc::new(AtomicUsize::new(0));
    let server = spawn(app().with_state(runs.clone())).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 0b 01 a9 "first_two""#).await;
    send_spec(&mut ws, r#"93 0b 02 a9 "first_two""#).await;
    expect_frame(&mut ws, "95 0b 03 00 c0 c0").await;
    // Late items of the half-closed call are dropped: no answer, no second run.
    send_spec(&mut ws, r#"93 0b 03 a9 "first_two""#).await;
    send_spec(&mut ws, r#"95 0b c0 a9 "first_two" 02 80"#).await;
    send_spec(&mut ws, r#"93 0b 04 a9 "first_two""#).await;
    expect_silence(&mut ws, Duration::from_millis(200)).await;
    send_spec(&mut ws, r#"94 0b c0 a9 "first_two" 01"#).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran again");
    assert_add_works(&mut ws, 12).await;
    server.stop().await;
}

#[tokio::test]
async fn zero_and_negative_seqs_are_answered_and_echoed() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    send_spec(&mut ws, r#"93 00 92 01 02 a3 "add""#).await;
    expect_frame(&mut ws, "95 00 03 00 c0 c0").await;
    send_spec(&mut ws, r#"93 ff 92 01 02 a3 "add""#).await;
    expect_frame(&mut ws, "95 ff 03 00 c0 c0").await;
    send_spec(&mut ws, r#"93 d1 fe d4 92 01 02 a3 "add""#).await;
    expect_frame(&mut ws, "95 d1 fe d4 03 00 c0 c0").await;
    server.stop().await;
}

#[tokio::test]
async fn seq_is_echoed_in_shortest_form() {
    let server = spawn(app()).await;
    let mut ws = server.raw_ws().await;
    // seq 300 as uint16, then seq 5 written non-minimally as uint32.
    send_spec(&mut ws, r#"93 cd 01 2c 92 01 02 a3 "add""#).await;
    expect_frame(&mut ws, "95 cd 01 2c 03 00 c0 c0").await;
    send_spec(&mut ws, r#"93 ce 00 00 00 05 92 01 02 a3 "add""#).await;
    expect_frame(&mut ws, "95 05 03 00 c0 c0").await;
    server.stop().await;
}

// ---- The typed client ----------------------------------------------------------------------

#[tokio::test]
async fn client_single_call_sends_and_receives_metadata() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let md = Metadata::new().with("auth", "token").with("n", 3);
    let reply = client
        .rpc("echo_metadata")
        .metadata(md.clone())
        .call::<Metadata>(&())
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(reply.data, md);
    assert_eq!(reply.leading, Some(Metadata::new().with("lead", 1)));
    assert_eq!(reply.trailing, Some(Metadata::new().with("trail", 2)));
    let n: i64 = client.call("add", &(2, 3)).with_timeout().await.unwrap();
    assert_eq!(n, 5);
    server.stop().await;
}

#[tokio::test]
async fn client_server_stream_reads_items_and_both_metadata() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let mut s = client.stream::<u64>("count", &3).unwrap();
    let mut items = Vec::new();
    while let Some(item) = s.next().with_timeout().await {
        items.push(item.unwrap());
        assert!(items.len() <= 3);
    }
    assert_eq!(items, [0, 1, 2]);
    assert_eq!(s.leading(), Some(&Metadata::new().with("count", 3)));
    assert_eq!(s.trailing(), Some(&Metadata::new().with("done", true)));

    let mut empty = client.stream::<u64>("empty_stream", &()).unwrap();
    assert!(empty.next().with_timeout().await.is_none());
    assert_eq!(empty.leading(), Some(&Metadata::new().with("lead", 1)));
    assert_eq!(empty.trailing(), Some(&Metadata::new().with("trail", 2)));

    let mut lead = client.stream::<u64>("count_lead", &1).unwrap();
    assert_eq!(lead.next().with_timeout().await.unwrap().unwrap(), 0);
    assert_eq!(lead.leading(), Some(&Metadata::new().with("lead", 1)));
    assert!(lead.next().with_timeout().await.is_none());
    assert_eq!(lead.trailing(), None);
    server.stop().await;
}

#[tokio::test]
async fn client_stream_request_with_metadata() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut sink, reply) = client.client_stream::<i64, i64>("sum").unwrap();
    for i in 1..=10 {
        sink.send(&i).unwrap();
    }
    sink.end().unwrap();
    assert_eq!(reply.with_timeout().await.unwrap().data, 55);

    let md = Metadata::new().with("k", "v");
    let (mut sink, reply) = client
        .rpc("sum")
        .metadata(md.clone())
        .client_stream::<i64, i64>()
        .unwrap();
    sink.send(&4).unwrap();
    drop(sink); // dropping the sink ends the request stream
    let reply = reply.with_timeout().await.unwrap();
    assert_eq!(reply.data, 4);
    assert_eq!(reply.trailing, Some(md));
    server.stop().await;
}

#[tokio::test]
async fn client_bidi_items_interleave() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut sink, mut replies) = client.bidi::<i64, i64>("double").unwrap();
    for i in 0..20 {
        sink.send(&i).unwrap();
        assert_eq!(replies.next().with_timeout().await.unwrap().unwrap(), i * 2);
    }
    sink.end().unwrap();
    assert!(replies.next().with_timeout().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn client_bidi_upload_larger_than_the_socket_buffers_before_reading() {
    // 32 MiB each way: the server's output backs up while the client is still writing, so
    // the client must keep reading while its writes wait, or both sides wait forever.
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let (mut sink, mut replies) = client.bidi::<String, String>("echo_text").unwrap();
    let item = "z".repeat(16 * 1024);
    for _ in 0..2000 {
        sink.send(&item).unwrap();
    }
    sink.end().unwrap();
    let mut n = 0;
    while let Some(r) = replies.next().with_timeout().await {
        assert_eq!(r.unwrap().len(), item.len());
        n += 1;
        assert!(n <= 2000);
    }
    assert_eq!(n, 2000);
    server.stop().await;
}

#[tokio::test]
async fn client_sees_errors_with_code_message_and_data() {
    let server = spawn(app()).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let err = client
        .call::<()>("fail", &())
        .with_timeout()
        .await
        .unwrap_err();
    let err = err.rpc().expect("an rpc error");
    assert_eq!(err.code().as_i64(), 418);
    assert_eq!(err.message(), "teapot");
    let data = err.data().expect("error data");
    assert_eq!(data.to_string(), r#"{"why": "fixture"}"#);

    let mut s = client.stream::<u64>("fail_midway", &()).unwrap();
    assert_eq!(s.next().with_timeout().await.unwrap().unwrap(), 7);
    let err = s.next().with_timeout().await.unwrap().unwrap_err();
    assert_eq!(err.rpc().unwrap().code().as_i64(), 409);
    assert!(s.next().with_timeout().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn hundred_concurrent_calls_complete_out_of_order_and_match_by_seq() {
    let (log, releases) = (Log::new(), Releases::new());
    let server = spawn(app().with_state(log.clone()).with_state(releases.clone())).await;
    let client = Client::connect(server.url()).with_timeout().await.unwrap();
    let calls = tokio::spawn({
        let client = client.clone();
        let calls = (0..100u64).map(move |n| {
            let client = client.clone();
            async move { (n, client.call::<u64>("held", &n).await) }
        });
        futures::future::join_all(calls)
    });
    // All hundred are running at once, each waiting for the test.
    log.wait_until(|e| e.iter().filter(|e| e.starts_with("started")).count() == 100)
        .await;
    // Let them go last first, each once the one before has finished.
    for n in (0..100u64).rev() {
        releases.release(n);
        log.wait_for(&format!("done {n}")).await;
    }
    for (n, got) in calls.with_timeout().await.unwrap() {
        assert_eq!(got.unwrap(), n, "call {n} got another call's reply");
    }
    let order: Vec<u64> = log
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("done ")?.parse().ok())
        .collect();
    assert_eq!(order.len(), 100);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_ne!(
        order, sorted,
        "calls did not run concurrently (finished in issue order)"
    );
    assert_eq!(order, (0..100).rev().collect::<Vec<u64>>());
    server.stop().await;
}

#[tokio::test]
async fn raw_concurrent_calls_reply_by_seq_as_they_finish() {
    let (log, releases) = (Log::new(), Releases::new());
    let server = spawn(app().with_state(log.clone()).with_state(releases.clone())).await;
    let mut ws = server.raw_ws().await;
    send_bytes(&mut ws, request(1, &0u64, "held")).await;
    send_bytes(&mut ws, request(2, &50u64, "held")).await;
    send_bytes(&mut ws, request(3, &99u64, "held")).await;
    log.expect_all(&["started 0", "started 50", "started 99"])
        .await;
    // Let seq 3 go first, then 2, then 1: the replies come 3, 2, 1.
    releases.release(99);
    expect_frame(&mut ws, "95 03 63 00 c0 c0").await;
    releases.release(50);
    expect_frame(&mut ws, "95 02 32 00 c0 c0").await;
    releases.release(0);
    expect_frame(&mut ws, "95 01 00 00 c0 c0").await;
    server.stop().await;
}
