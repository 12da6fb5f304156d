//! [`limit_panic_output`]: a rate limit on what the process's panic hook prints.

use std::sync::Arc;
use std::time::Instant;

use crate::app::log_limit::{LogLimit, Verdict};

/// Lets the process's panic hook print at most `per_second` panics a second, and says how
/// many it skipped when it prints the next one.
///
/// swill catches a handler's panic per call (the client gets a 500, the connection and the
/// other calls go on), but the panic hook Rust runs first still prints the message, and with
/// `RUST_BACKTRACE` a backtrace, for every one: a client that makes a handler panic on
/// purpose can make the server write megabytes a second. Call this once at start-up to bound
/// that. It wraps the hook installed at the time of the call (the default one, or yours), so
/// install your own hook first. swill never changes the panic hook by itself: it is the
/// process's, not the library's.
///
/// ```no_run
/// swill::server::limit_panic_output(10);
/// ```
pub fn limit_panic_output(per_second: u32) {
    let limit = Arc::new(LogLimit::new(per_second));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Verdict::Log { suppressed } = limit.check(Instant::now()) {
            if suppressed > 0 {
                eprintln!("swill: {suppressed} more panics were not printed (limit_panic_output)");
            }
            previous(info);
        }
    }));
}
