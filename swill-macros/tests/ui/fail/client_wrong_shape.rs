swill::contract! {
    pub unary double = "double": i64 => i64;
}

async fn run(client: swill::client::Client) {
    let _ = client.to(double).stream(&2);
}

fn main() {
    drop(run);
}
