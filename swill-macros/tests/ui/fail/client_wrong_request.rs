swill::contract! {
    pub unary double = "double": i64 => i64;
}

async fn run(client: swill::client::Client) {
    let _: Result<i64, _> = client.to(double).call(&"two").await;
}

fn main() {
    drop(run);
}
