//! `.with_timeout()` on any future: a test that would hang fails instead, naming the await.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

/// How long any one await of a test may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds a future by [`TIMEOUT`] (jsonrpsee's `TimeoutFutureExt`).
pub(crate) trait TimeoutExt: Future + Sized {
    /// The future's output, or a panic naming the call site after [`TIMEOUT`].
    #[track_caller]
    fn with_timeout(self) -> impl Future<Output = Self::Output> {
        let at = Location::caller();
        async move {
            match tokio::time::timeout(TIMEOUT, self).await {
                Ok(v) => v,
                Err(_) => panic!("timed out after {TIMEOUT:?} at {at}"),
            }
        }
    }
}

impl<F: Future> TimeoutExt for F {}
