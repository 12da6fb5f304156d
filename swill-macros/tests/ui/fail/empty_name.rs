#[swill::handler(name = "")]
async fn x() -> Result<(), swill::Error> {
    Ok(())
}

fn main() {}
