swill::contract! {
    pub unary double = "double": i64 => i64;
}

#[swill::handler(contract = double, name = "twice")]
async fn doubler(req: swill::Request<i64>) -> i64 {
    req.data() * 2
}

fn main() {}
