//! Procedural macros for swill. Use them through `swill` (`#[swill::handler]`).
