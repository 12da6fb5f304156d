//! Bounds of the engine: per connection (swill/1 §12.4, §12.6, §12.1) and per message.

/// How deeply containers may nest in one message; deeper input is invalid.
///
/// Decoding here is iterative, but the layers above decode payloads recursively (rmp-serde,
/// rmpv); 1024 matches their default recursion limits, far beyond any real payload.
pub const MAX_DEPTH: usize = 1024;

/// Default for [`Limits::max_concurrent_calls`].
///
/// 1024 is far above what one well-behaved client keeps open (the TypeScript client runs one
/// call per pending promise) while capping the memory one connection can pin to a few MiB.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;

/// Default for [`Limits::max_half_closed`].
///
/// Same order as the call limit: every open call can finish early at most once, so this keeps
/// late frames of all of them from reopening calls without unbounded memory (16 bytes a seq).
pub const DEFAULT_MAX_HALF_CLOSED: usize = 1024;

/// Default for [`Limits::max_invalid_frames`]: `None`, never close.
///
/// The original drops undecodable frames and keeps the connection, so that is the compatible
/// default; a deployment facing hostile clients can set a bound.
pub const DEFAULT_MAX_INVALID_FRAMES: Option<u32> = None;

/// Bounds applied by [`ServerConn`](super::ServerConn) to one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Open calls allowed at once; the call beyond it gets ERROR 429.
    pub max_concurrent_calls: usize,
    /// Half-closed seqs remembered (calls the server finished while the client's request
    /// stream was still open); the oldest is forgotten first when full.
    pub max_half_closed: usize,
    /// Undecodable frames (no readable seq) tolerated before the connection must close with
    /// 1007; `None` never closes.
    pub max_invalid_frames: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_half_closed: DEFAULT_MAX_HALF_CLOSED,
            max_invalid_frames: DEFAULT_MAX_INVALID_FRAMES,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_concurrent_calls`].
    #[must_use]
    pub const fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// Sets [`Limits::max_half_closed`].
    #[must_use]
    pub const fn max_half_closed(mut self, n: usize) -> Self {
        self.max_half_closed = n;
        self
    }

    /// Sets [`Limits::max_invalid_frames`].
    #[must_use]
    pub const fn max_invalid_frames(mut self, n: Option<u32>) -> Self {
        self.max_invalid_frames = n;
        self
    }
}
