use futures::{Stream, StreamExt};
use swill::{CallContext, Connection, Error, Metadata, Request, Response, State, Streaming, Swill};

#[swill::handler]
async fn unary(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

#[swill::handler]
async fn plain_return(req: Request<String>) -> String {
    req.into_data()
}

#[swill::handler]
async fn no_payload(md: Metadata, _conn: Connection, _ctx: CallContext) -> Result<Metadata, Error> {
    Ok(md)
}

#[swill::handler]
async fn server_stream(req: Request<u32>, res: Response) -> impl Stream<Item = Result<u32, Error>> {
    res.send_leading();
    futures::stream::iter((0..*req.data()).map(Ok))
}

#[swill::handler]
async fn fallible_stream(req: Request<u32>) -> Result<impl Stream<Item = Result<u32, Error>>, Error> {
    Ok(futures::stream::iter((0..*req.data()).map(Ok)))
}

#[swill::handler]
async fn client_stream(mut items: Streaming<i64>) -> Result<i64, Error> {
    let mut sum = 0;
    while let Some(x) = items.next().await {
        sum += x;
    }
    Ok(sum)
}

#[swill::handler]
async fn bidi(items: Streaming<i64>) -> impl Stream<Item = Result<i64, Error>> {
    items.map(|x| Ok(x * 2))
}

#[swill::handler]
fn blocking(req: Request<u64>) -> Result<u64, Error> {
    Ok(*req.data() + 1)
}

#[derive(Clone)]
struct Config(u32);

#[swill::handler(name = "config.get")]
async fn with_state(State(cfg): State<Config>) -> Result<u32, Error> {
    Ok(cfg.0)
}

fn main() {
    more();
    let _app = Swill::new()
        .with_state(Config(1))
        .handler(unary)
        .handler(plain_return)
        .handler(no_payload)
        .handler(server_stream)
        .handler(fallible_stream)
        .handler(client_stream)
        .handler(bidi)
        .handler(blocking)
        .handler(with_state);
}

// Shapes decided by trait resolution, not by type names (issue #7).

/// A `Result` through a type alias is a fallible single response.
type ApiResult<T> = Result<T, Error>;

#[swill::handler]
async fn alias(req: Request<i64>) -> ApiResult<i64> {
    Ok(*req.data())
}

/// An `http::Request<()>` argument is the upgrade request, not the payload.
#[swill::handler]
async fn upgrade_request(http: http::Request<()>, req: Request<u32>) -> Result<String, Error> {
    Ok(format!("{} {}", http.uri(), req.data()))
}

#[swill::handler]
async fn box_stream(req: Request<u32>) -> futures::stream::BoxStream<'static, Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok)).boxed()
}

#[swill::handler]
async fn pinned_dyn_stream(
    req: Request<u32>,
) -> std::pin::Pin<Box<dyn Stream<Item = Result<u32, Error>> + Send>> {
    Box::pin(futures::stream::iter((0..*req.data()).map(Ok)))
}

/// A named stream type.
struct Countdown(u32);

impl Stream for Countdown {
    type Item = Result<u32, Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let n = self.0;
        self.0 = n.saturating_sub(1);
        std::task::Poll::Ready((n > 0).then_some(Ok(n)))
    }
}

#[swill::handler]
async fn named_stream(req: Request<u32>) -> Countdown {
    Countdown(*req.data())
}

/// A stream of plain items.
#[swill::handler]
async fn plain_items(req: Request<u32>) -> impl Stream<Item = u32> {
    futures::stream::iter(0..*req.data())
}

/// A plain fn returning a plain value runs on the blocking pool.
#[swill::handler]
fn blocking_plain(req: Request<u64>) -> u64 {
    *req.data()
}

fn more() {
    let _app = Swill::new()
        .handler(alias)
        .handler(upgrade_request)
        .handler(box_stream)
        .handler(pinned_dyn_stream)
        .handler(named_stream)
        .handler(plain_items)
        .handler(blocking_plain);
}
