use swill::{Error, Request};

struct NotSerializable;

#[swill::handler]
async fn bad_reply(req: Request<u32>) -> Result<NotSerializable, Error> {
    let _ = req;
    Ok(NotSerializable)
}

fn main() {
    let _app = swill::Swill::new().handler(bad_reply);
}
