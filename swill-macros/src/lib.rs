//! Procedural macros for swill. Use them through `swill` (`#[swill::handler]`).
//!
//! The attribute is thin: it reads the name and the doc comment, and emits one registration
//! call into `swill::__private`. It reads no type names: the call shape comes from trait
//! resolution on the function's argument and return types, inside `swill`.

mod expand;
mod parse;

use proc_macro::TokenStream;

/// Marks an `async fn` (or a plain `fn` for blocking single calls) as a swill handler.
///
/// The function becomes a unit value of the same name that `Swill::handler` accepts; the
/// original function stays callable as `name::call(...)`. As with any unit value, a local
/// variable in the same module cannot take the handler's name (it would be read as a pattern).
///
/// Options: `name = "math.add"` (the rpc name; default: the function name) and
/// `crate = "path"` (where swill is, for re-exports).
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(args.into(), item.into()) {
        Ok(h) => expand::expand(&h).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
