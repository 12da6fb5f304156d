use swill::{Error, Streaming};

#[swill::handler]
fn sum(items: Streaming<i64>) -> Result<i64, Error> {
    let _ = items;
    Ok(0)
}

fn main() {
    let _app = swill::Swill::new().handler(sum);
}
