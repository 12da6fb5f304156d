use futures::Stream;
use swill::{Error, Request};

#[swill::handler]
fn numbers(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

fn main() {
    let _app = swill::Swill::new().handler(numbers);
}
