//! Procedural macros for swill. Use them through `swill` (`#[swill::handler]`).
//!
//! The attribute is thin: it reads the name, the doc comment and the call shape from the
//! signature, and emits one registration call into `swill::__private`. All behaviour lives in
//! `swill` itself.

mod expand;
mod parse;

use proc_macro::TokenStream;

/// Marks an `async fn` (or a plain `fn` for blocking single calls) as a swill handler.
///
/// The function becomes a unit value of the same name that `Swill::handler` accepts; the
/// original function stays callable as `name::call(...)`. As with any unit value, a local
/// variable in the same module cannot take the handler's name (it would be read as a pattern).
///
/// Options: `name = "math.add"` (the rpc name; default: the function name),
/// `stream` (force a streaming response when the return type hides it), and
/// `crate = "path"` (where swill is, for re-exports).
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(args.into(), item.into()) {
        Ok(h) => expand::expand(&h).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
