swill::contract! {
    pub streaming count = "count": u32 => u32;
}

fn main() {}
