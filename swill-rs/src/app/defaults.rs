//! The default of every [`Config`](super::Config) setting, each with the reason for its
//! number.

use std::time::Duration;

/// Default largest incoming message: 16 MiB, what the original inherits from uvicorn
/// (swill/1 §12.4).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// Default bound on concurrent calls per connection; one more gets ERROR 429.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;
/// Default bound on encoded-but-unsent output per connection. Handlers are not polled for
/// more output while it is exceeded, so a client that stops reading costs at most this much.
pub const DEFAULT_MAX_PENDING_OUTPUT: usize = 1 << 20;
/// Default bound on request items queued for a streaming-request handler that reads slower
/// than its client sends. One more fails that call with 429 (swill/1 has no flow control, and
/// pausing the socket would stall the connection's other calls). 1024 items absorb bursts;
/// clients that upload faster than the handler consumes should wait for acknowledgements.
pub const DEFAULT_MAX_QUEUED_ITEMS: usize = 1024;
/// Default time the client has to send its upgrade request and finish the WebSocket
/// handshake: ten seconds cover a slow mobile link, and a slowloris client holds a socket
/// no longer than that.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between server pings on a quiet connection.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Default time without any frame from the client (pongs included) before the connection is
/// closed: two missed pings and a margin.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time running calls get to finish during a graceful shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to finish one message once its first byte arrived: as long as
/// an idle connection may stay silent. Pings in between do not extend it, so a message left
/// incomplete (a first fragment, then only pings) cannot pin its buffer for longer. A full
/// 16 MiB message fits in it down to about 2.3 Mbit/s.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = DEFAULT_IDLE_TIMEOUT;
/// Default bound on open WebSocket connections per app; one more is refused with HTTP 503.
/// Ten thousand stays well below the file-descriptor limit servers are usually given
/// (65,536), leaving descriptors for the handlers' own sockets and files. At the default
/// limits one connection's own buffers can reach about 17 MiB (`docs/reliability.md`), so
/// an operator who raises this should plan the memory for it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default bound on the bytes of incomplete incoming messages across all connections of an
/// app. A message that grows past 64 KiB before it is complete reserves its bytes from this
/// budget; when it is spent, such connections stop reading until room is free (or their
/// `message_timeout` closes them), while smaller messages flow as before. 256 MiB is sixteen
/// messages of the default maximum size being received at once, far more than APIs with
/// large uploads usually see, while 20 connections sending half of a 16 MiB message each
/// (285 MB when unbounded) no longer take more than that.
pub const DEFAULT_INPUT_BUDGET: usize = 256 << 20;
/// Default bound on the bytes of request-stream items received but not yet taken by their
/// handlers, across all connections of an app; an item that finds no room fails its call
/// with ERROR 429. Without it, the per-call bound on queued items (`max_queued_items`, each
/// up to `max_message_size`) multiplies with the calls and connections: a handler that does
/// not read could be sent 1,024 items of 16 MiB on each of its calls. A handler that keeps
/// up holds about one item at a time, so 256 MiB is only reached when handlers fall far
/// behind, and then failing their calls beats running out of memory.
pub const DEFAULT_QUEUED_INPUT_BUDGET: usize = 256 << 20;
/// Default bound on the calls running at once across all connections of an app; one more
/// gets ERROR 503 `server busy`. The per-connection limits multiply with the connection
/// count (1,000 connections × 1,024 endless streams held 1.23 GB, about 1.2 KiB a call);
/// this bound does not: a hundred thousand such calls take on the order of 120 MiB, while
/// ten thousand connections can still run ten calls each.
pub const DEFAULT_MAX_CALLS: usize = 100_000;
/// Default bound on open WebSocket connections from one client address (an IPv4 address or
/// an IPv6 /64); one more is refused with HTTP 429. A tenth of
/// [`DEFAULT_MAX_CONNECTIONS`]: one host cannot take the whole server, and a NAT gateway
/// with hundreds of browsers behind it still fits.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = DEFAULT_MAX_CONNECTIONS / 10;

/// Default number of error log lines per second for each kind of failure (a handler that
/// panicked, a result that cannot be encoded): enough to see that something is wrong and
/// what, not enough for a client that makes every call fail to fill the disk. Lines held
/// back are counted and the count is logged with the next line written.
pub const DEFAULT_ERROR_LOGS_PER_SECOND: u32 = 10;
