use swill::Error;

#[swill::handler]
async fn takes_string(name: String) -> Result<String, Error> {
    Ok(name)
}

fn main() {
    let _app = swill::Swill::new().handler(takes_string);
}
