use swill::{Error, Request};

swill::contract! {
    pub server_stream count = "count": u32 => u32;
}

#[swill::handler(contract = count)]
async fn counter(req: Request<u32>) -> Result<u32, Error> {
    Ok(*req.data())
}

fn main() {
    let _app = swill::Swill::new().handler(counter);
}
