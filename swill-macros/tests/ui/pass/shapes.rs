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
