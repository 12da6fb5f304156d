//! Compile-time behaviour of `#[swill::handler]`: every shape compiles; misuse gets our own
//! error text. Regenerate `.stderr` files with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
