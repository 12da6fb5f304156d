use swill::{Error, Request};

swill::contract! {
    pub unary double = "double": i64 => i64;
}

#[swill::handler(contract = double)]
async fn doubler(req: Request<String>) -> Result<i64, Error> {
    Ok(req.data().len() as i64 * 2)
}

fn main() {
    let _app = swill::Swill::new().handler(doubler);
}
