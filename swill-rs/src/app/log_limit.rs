//! [`LogLimit`]: at most so many error log lines per second for one kind of failure, and a
//! count of the lines it held back (runtime-free: the caller passes the time).
//!
//! A client that makes a handler panic on every call must not be able to fill the disk: 20,000
//! panicking calls in half a second wrote 6 MB of logs before this existed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the rate is counted over.
const WINDOW: Duration = Duration::from_secs(1);

/// What to do with one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it, saying how many lines of its kind were held back since the last one written.
    Log {
        /// Lines held back before this one.
        suppressed: u64,
    },
    /// Hold it back (counted).
    Suppress,
}

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// A per-second budget of log lines for one kind of failure.
#[derive(Debug)]
pub(crate) struct LogLimit {
    per_second: u32,
    window: Mutex<Window>,
}

impl LogLimit {
    /// At most `per_second` lines a second (0 holds every line back, but still counts).
    pub(crate) const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window: Mutex::new(Window {
                start: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether to write a line now.
    pub(crate) fn check(&self, now: Instant) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = w
            .start
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW);
        if fresh {
            w.start = Some(now);
            w.logged = 0;
        }
        if w.logged < self.per_second {
            w.logged += 1;
            Verdict::Log {
                suppressed: std::mem::take(&mut w.suppressed),
            }
        } else {
            w.suppressed += 1;
            Verdict::Suppress
        }
    }
}

/// The error log lines of one app, each kind with its own budget
/// ([`Config::error_logs_per_second`](crate::Config::error_logs_per_second)).
#[derive(Debug)]
pub(crate) struct ErrorLogs {
    /// A handler (or its hooks) panicked, or its result could not be encoded.
    pub(crate) handler: LogLimit,
}

impl ErrorLogs {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            handler: LogLimit::new(per_second),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_n_lines_a_second_through_and_counts_the_rest() {
        let limit = LogLimit::new(3);
        let t0 = Instant::now();
        let verdicts: Vec<_> = (0..10).map(|_| limit.check(t0)).collect();
        assert_eq!(verdicts[..3], [Verdict::Log { suppressed: 0 }; 3]);
        assert!(verdicts[3..].iter().all(|v| *v == Verdict::Suppress));
        // Still the same window.
        assert_eq!(
            limit.check(t0 + Duration::from_millis(999)),
            Verdict::Suppress
        );
        // The next window's first line reports what was held back.
        assert_eq!(
            limit.check(t0 + Duration::from_secs(1)),
            Verdict::Log { suppressed: 8 }
        );
        assert_eq!(
            limit.check(t0 + Duration::from_secs(1)),
            Verdict::Log { suppressed: 0 }
        );
    }

    #[test]
    fn zero_holds_everything_back() {
        let limit = LogLimit::new(0);
        let t0 = Instant::now();
        assert_eq!(limit.check(t0), Verdict::Suppress);
        assert_eq!(limit.check(t0 + WINDOW * 5), Verdict::Suppress);
    }
}
