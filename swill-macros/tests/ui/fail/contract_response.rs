use swill::{Error, Request};

swill::contract! {
    pub unary double = "double": i64 => i64;
}

#[swill::handler(contract = double)]
async fn doubler(req: Request<i64>) -> Result<String, Error> {
    Ok((req.data() * 2).to_string())
}

fn main() {
    let _app = swill::Swill::new().handler(doubler);
}
