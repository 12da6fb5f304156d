#[swill::handler]
async fn generic<T>(req: swill::Request<T>) -> Result<(), swill::Error> {
    let _ = req;
    Ok(())
}

fn main() {}
