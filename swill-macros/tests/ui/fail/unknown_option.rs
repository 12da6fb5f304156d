#[swill::handler(nmae = "x")]
async fn x() -> Result<(), swill::Error> {
    Ok(())
}

fn main() {}
