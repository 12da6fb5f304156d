use swill::{Error, Request};

#[swill::handler]
async fn two(a: Request<i64>, b: Request<i64>) -> Result<i64, Error> {
    Ok(*a.data() + *b.data())
}

fn main() {
    let _app = swill::Swill::new().handler(two);
}
