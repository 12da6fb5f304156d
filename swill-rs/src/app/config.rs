//! [`Config`]: every limit and timeout of an app, in one place.
//!
//! Settings are read through getters and changed through clamping setters that take and
//! return the value, so a `Config` is always valid: a limit of zero becomes one, a timeout of
//! zero becomes one millisecond.

use std::time::Duration;

pub use super::cidr::{Cidr, CidrError};
use super::defaults::*;

/// Connection limits, timeouts and admission rules of an app.
///
/// Every setting has a getter of the same name and a `#[must_use]` setter that clamps its
/// argument; every default is a `DEFAULT_*` constant whose documentation gives the reason for
/// the number. Install it with [`Swill::config`](crate::Swill::config).
///
/// ```
/// use std::time::Duration;
/// use swill::{Config, Swill};
///
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .max_connections_per_ip(16)
///     .allow_origin("https://app.example.com")
///     .idle_timeout(Some(Duration::from_secs(30)));
/// assert_eq!(config.get_max_connections_per_ip(), 16);
/// let app = Swill::new().config(config);
/// # drop(app);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) max_message_size: usize,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) max_calls: usize,
    pub(crate) input_budget: usize,
    pub(crate) queued_input_budget: usize,
    pub(crate) max_pending_output: usize,
    pub(crate) max_queued_items: usize,
    pub(crate) max_invalid_frames: Option<u32>,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) message_timeout: Duration,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_connection_lifetime: Option<Duration>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) allowed_networks: Vec<Cidr>,
    pub(crate) denied_networks: Vec<Cidr>,
    pub(crate) decode_budget_ratio: usize,
    pub(crate) min_decode_budget: usize,
    pub(crate) offload_decode_above: usize,
    pub(crate) debug: bool,
    pub(crate) error_logs_per_second: u32,
    pub(crate) proxy_protocol: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_calls: DEFAULT_MAX_CALLS,
            input_budget: DEFAULT_INPUT_BUDGET,
            queued_input_budget: DEFAULT_QUEUED_INPUT_BUDGET,
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            max_queued_items: DEFAULT_MAX_QUEUED_ITEMS,
            max_invalid_frames: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_connection_lifetime: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            allowed_origins: Vec::new(),
            allowed_networks: Vec::new(),
            denied_networks: Vec::new(),
            decode_budget_ratio: crate::payload::DEFAULT_DECODE_BUDGET_RATIO,
            min_decode_budget: crate::payload::DEFAULT_MIN_DECODE_BUDGET,
            offload_decode_above: crate::payload::DEFAULT_OFFLOAD_DECODE_ABOVE,
            debug: false,
            error_logs_per_second: DEFAULT_ERROR_LOGS_PER_SECOND,
            proxy_protocol: false,
        }
    }
}

/// The shortest timeout a setter accepts; zero would fire before anything could happen.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

fn timeout(d: Duration) -> Duration {
    d.max(MIN_TIMEOUT)
}

impl Config {
    /// The defaults (the same as [`Config::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest incoming WebSocket message (and frame); a larger one closes the connection
    /// with 1009. At least 1 (default [`DEFAULT_MAX_MESSAGE_SIZE`]).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1);
        self
    }

    /// Concurrent calls per connection; one more gets ERROR 429. At least 1 (default
    /// [`DEFAULT_MAX_CONCURRENT_CALLS`]).
    #[must_use]
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n.max(1);
        self
    }

    /// Bytes of incomplete incoming messages across all connections of the app (default
    /// [`DEFAULT_INPUT_BUDGET`]). A message past 64 KiB reserves its bytes as they arrive;
    /// with the budget spent, such connections wait before reading more, under their
    /// `message_timeout`. Never less than `max_message_size` (plus a margin), so that any
    /// single message can complete.
    #[must_use]
    pub fn input_budget(mut self, bytes: usize) -> Self {
        self.input_budget = bytes;
        self
    }

    /// Bytes of request-stream items received and not yet taken by their handlers, across
    /// all connections of the app (default [`DEFAULT_QUEUED_INPUT_BUDGET`]). An item that
    /// finds no room fails its call with ERROR 429; the connection and its other calls go
    /// on. Never less than `max_message_size`, so that any single item can pass.
    #[must_use]
    pub fn queued_input_budget(mut self, bytes: usize) -> Self {
        self.queued_input_budget = bytes;
        self
    }

    /// Calls running at once across all connections of the app (default
    /// [`DEFAULT_MAX_CALLS`]); a call over it gets ERROR 503 `server busy` and the
    /// connection goes on. At least 1.
    #[must_use]
    pub fn max_calls(mut self, n: usize) -> Self {
        self.max_calls = n.max(1);
        self
    }

    /// Encoded output waiting for the socket, per connection; handlers are paused above it.
    /// At least 1 (default [`DEFAULT_MAX_PENDING_OUTPUT`]).
    #[must_use]
    pub fn max_pending_output(mut self, bytes: usize) -> Self {
        self.max_pending_output = bytes.max(1);
        self
    }

    /// Queued request items per streaming-request call; one more fails that call with 429.
    /// At least 1 (default [`DEFAULT_MAX_QUEUED_ITEMS`]).
    #[must_use]
    pub fn max_queued_items(mut self, n: usize) -> Self {
        self.max_queued_items = n.max(1);
        self
    }

    /// Undecodable frames tolerated per connection before closing with 1007; `None` (the
    /// default) tolerates any number, each answered with ERROR 400 when its seq is readable.
    #[must_use]
    pub fn max_invalid_frames(mut self, n: Option<u32>) -> Self {
        self.max_invalid_frames = n;
        self
    }

    /// Open WebSocket connections of the app; one more upgrade is refused with HTTP 503. At
    /// least 1 (default [`DEFAULT_MAX_CONNECTIONS`]).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Open WebSocket connections per client address (IPv4 address or IPv6 /64); one more
    /// upgrade is refused with HTTP 429. At least 1 (default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_IP`]). Connections whose peer address is unknown (a
    /// mount that does not provide it) count toward the global limit only.
    #[must_use]
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_connections_per_ip = n.max(1);
        self
    }

    /// Time to send the upgrade request and finish the handshake. With [`serve`](crate::serve),
    /// a client that has not sent its request by then gets HTTP 408 and is disconnected; over
    /// TLS (feature `tls`), the PROXY header and the TLS handshake must also finish within it
    /// from the accept, or the socket is closed. At least 1 ms (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    #[must_use]
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = timeout(d);
        self
    }

    /// Time to finish one message once its first byte arrived (all of its fragments); pings
    /// do not extend it. Past it the connection closes with 1008. At least 1 ms (default
    /// [`DEFAULT_MESSAGE_TIMEOUT`]).
    #[must_use]
    pub fn message_timeout(mut self, d: Duration) -> Self {
        self.message_timeout = timeout(d);
        self
    }

    /// Ping interval on a quiet connection; `None` disables pings (default
    /// [`DEFAULT_PING_INTERVAL`]). At least 1 ms.
    #[must_use]
    pub fn ping_interval(mut self, d: Option<Duration>) -> Self {
        self.ping_interval = d.map(timeout);
        self
    }

    /// Time without any frame from the client before closing with 1001; `None` disables it
    /// (default [`DEFAULT_IDLE_TIMEOUT`]). At least 1 ms.
    #[must_use]
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d.map(timeout);
        self
    }

    /// Longest life of one connection; when reached it closes with 1001 (clients reconnect,
    /// which rebalances them across servers and renews credentials). `None`, the default,
    /// lets connections live as long as they are used. At least 1 ms.
    #[must_use]
    pub fn max_connection_lifetime(mut self, d: Option<Duration>) -> Self {
        self.max_connection_lifetime = d.map(timeout);
        self
    }

    /// Grace period for running calls on shutdown (default [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    #[must_use]
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Adds `origin` (e.g. `https://app.example.com`, compared case-insensitively) to the
    /// list of origins allowed to open a WebSocket. Once the list is not empty, an upgrade
    /// whose `Origin` header is present and not listed gets HTTP 403; this protects cookie-
    /// authenticated apps from cross-site WebSocket hijacking. Upgrades without an `Origin`
    /// header (non-browser clients) are not affected. With no origin added (the default)
    /// every origin is accepted.
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if !self.allowed_origins.contains(&origin) {
            self.allowed_origins.push(origin);
        }
        self
    }

    /// Adds a network clients may connect from. Once the list is not empty, an upgrade from
    /// any other address (or from an unknown one) gets HTTP 403. Empty by default: every
    /// address is allowed.
    #[must_use]
    pub fn allow_network(mut self, net: Cidr) -> Self {
        self.allowed_networks.push(net);
        self
    }

    /// Adds a network clients may not connect from: an upgrade from it gets HTTP 403, even if
    /// an allowed network contains it. Empty by default.
    #[must_use]
    pub fn deny_network(mut self, net: Cidr) -> Self {
        self.denied_networks.push(net);
        self
    }

    /// Decode budget per payload, as a multiple of its length (default
    /// [`DEFAULT_DECODE_BUDGET_RATIO`](crate::DEFAULT_DECODE_BUDGET_RATIO)): a request whose
    /// decoded value would take more memory than this (estimated) gets ERROR 413. At least 1.
    #[must_use]
    pub fn decode_budget_ratio(mut self, ratio: usize) -> Self {
        self.decode_budget_ratio = ratio.max(1);
        self
    }

    /// Smallest decode budget per payload, in bytes (default
    /// [`DEFAULT_MIN_DECODE_BUDGET`](crate::DEFAULT_MIN_DECODE_BUDGET)).
    #[must_use]
    pub fn min_decode_budget(mut self, bytes: usize) -> Self {
        self.min_decode_budget = bytes;
        self
    }

    /// Request payloads whose top-level value is an array or a map and that are at least
    /// this long decode (and validate) on tokio's blocking pool instead of the connection's
    /// worker, so that one large decode does not hold up the other connections of that worker
    /// (default [`DEFAULT_OFFLOAD_DECODE_ABOVE`](crate::DEFAULT_OFFLOAD_DECODE_ABOVE), 64 KiB;
    /// `usize::MAX` decodes everything inline). Applies to single requests and to each item
    /// of a streaming request.
    #[must_use]
    pub fn offload_decode_above(mut self, bytes: usize) -> Self {
        self.offload_decode_above = bytes;
        self
    }

    /// Debug mode: 500 errors carry the panic or error text in `data`. Off by default; never
    /// turn it on for untrusted clients.
    #[must_use]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Expect a PROXY protocol v2 header (what HAProxy, AWS NLB or Envoy send with
    /// `send-proxy-v2`) at the start of every connection [`serve`](crate::serve) accepts,
    /// and use the client address it names as the connection's peer: for hooks, handlers,
    /// network filters and the per-address connection limit. Off by default. When on, a
    /// connection without a valid header is closed, and the header must arrive within the
    /// handshake timeout. Only turn it on when nothing but the proxy can reach the listener:
    /// anyone who can connect directly can claim any address. A `LOCAL` header (the proxy's
    /// own health check) keeps the socket's address. Mounted in your own HTTP server, call
    /// [`read_proxy_header`](crate::server::read_proxy_header) in your accept loop instead.
    #[must_use]
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.proxy_protocol = on;
        self
    }

    /// At most this many error log lines per second for each kind of failure (default
    /// [`DEFAULT_ERROR_LOGS_PER_SECOND`]; 0 writes none). The lines held back are counted,
    /// and the next line written carries the count as `suppressed`. The panic message itself
    /// is printed by the process's panic hook, which swill leaves alone: see
    /// [`limit_panic_output`](crate::server::limit_panic_output).
    #[must_use]
    pub fn error_logs_per_second(mut self, lines: u32) -> Self {
        self.error_logs_per_second = lines;
        self
    }
}

/// Getters, one per setting. They carry a `get_` prefix because the setters, builder-style,
/// take the plain names (as [`std::process::Command`] does).
impl Config {
    /// Largest incoming message. See [`Config::max_message_size`](Self::max_message_size).
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Input budget across the app. See [`Config::input_budget`](Self::input_budget).
    pub fn get_input_budget(&self) -> usize {
        self.input_budget
    }

    /// Budget of queued request items across the app. See
    /// [`Config::queued_input_budget`](Self::queued_input_budget).
    pub fn get_queued_input_budget(&self) -> usize {
        self.queued_input_budget
    }

    /// The queued-input budget in force: at least one message of the maximum size.
    pub(crate) fn effective_queued_input_budget(&self) -> usize {
        self.queued_input_budget.max(self.max_message_size)
    }

    /// The input budget in force: at least one message of the maximum size plus the read
    /// that may cross its end.
    pub(crate) fn effective_input_budget(&self) -> usize {
        self.input_budget
            .max(self.max_message_size.saturating_add(512 << 10))
    }

    /// Calls running across the app. See [`Config::max_calls`](Self::max_calls).
    pub fn get_max_calls(&self) -> usize {
        self.max_calls
    }

    /// Concurrent calls per connection. See [`Config::max_concurrent_calls`](Self::max_concurrent_calls).
    pub fn get_max_concurrent_calls(&self) -> usize {
        self.max_concurrent_calls
    }

    /// Unsent output per connection. See [`Config::max_pending_output`](Self::max_pending_output).
    pub fn get_max_pending_output(&self) -> usize {
        self.max_pending_output
    }

    /// Decode budget ratio. See [`Config::decode_budget_ratio`](Self::decode_budget_ratio).
    pub fn get_decode_budget_ratio(&self) -> usize {
        self.decode_budget_ratio
    }

    /// Smallest decode budget. See [`Config::min_decode_budget`](Self::min_decode_budget).
    pub fn get_min_decode_budget(&self) -> usize {
        self.min_decode_budget
    }

    /// Payload size from which decodes run on the blocking pool. See
    /// [`Config::offload_decode_above`](Self::offload_decode_above).
    pub fn get_offload_decode_above(&self) -> usize {
        self.offload_decode_above
    }

    /// The payload decoding budget these settings describe.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn budget(&self) -> crate::payload::Budget {
        crate::payload::Budget {
            ratio: self.decode_budget_ratio,
            min: self.min_decode_budget,
            offload_above: self.offload_decode_above,
        }
    }

    /// Queued request items per streaming-request call. See [`Config::max_queued_items`](Self::max_queued_items).
    pub fn get_max_queued_items(&self) -> usize {
        self.max_queued_items
    }

    /// Undecodable frames tolerated per connection. See [`Config::max_invalid_frames`](Self::max_invalid_frames).
    pub fn get_max_invalid_frames(&self) -> Option<u32> {
        self.max_invalid_frames
    }

    /// Open connections of the app. See [`Config::max_connections`](Self::max_connections).
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// Open connections per client address. See [`Config::max_connections_per_ip`](Self::max_connections_per_ip).
    pub fn get_max_connections_per_ip(&self) -> usize {
        self.max_connections_per_ip
    }

    /// Handshake deadline. See [`Config::handshake_timeout`](Self::handshake_timeout).
    pub fn get_handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Deadline for finishing one message. See [`Config::message_timeout`](Self::message_timeout).
    pub fn get_message_timeout(&self) -> Duration {
        self.message_timeout
    }

    /// Ping interval. See [`Config::ping_interval`](Self::ping_interval).
    pub fn get_ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    /// Idle deadline. See [`Config::idle_timeout`](Self::idle_timeout).
    pub fn get_idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// Longest connection life. See [`Config::max_connection_lifetime`](Self::max_connection_lifetime).
    pub fn get_max_connection_lifetime(&self) -> Option<Duration> {
        self.max_connection_lifetime
    }

    /// Shutdown grace period. See [`Config::shutdown_timeout`](Self::shutdown_timeout).
    pub fn get_shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Allowed origins, lower-cased (empty: every origin). See [`Config::allow_origin`](Self::allow_origin).
    pub fn get_allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// Allowed networks (empty: every address). See [`Config::allow_network`](Self::allow_network).
    pub fn get_allowed_networks(&self) -> &[Cidr] {
        &self.allowed_networks
    }

    /// Denied networks. See [`Config::deny_network`](Self::deny_network).
    pub fn get_denied_networks(&self) -> &[Cidr] {
        &self.denied_networks
    }

    /// See [`Config::proxy_protocol`](Self::proxy_protocol).
    pub fn get_proxy_protocol(&self) -> bool {
        self.proxy_protocol
    }

    /// See [`Config::error_logs_per_second`](Self::error_logs_per_second).
    pub fn get_error_logs_per_second(&self) -> u32 {
        self.error_logs_per_second
    }

    /// Whether debug mode is on. See [`Config::debug`](Self::debug).
    pub fn get_debug(&self) -> bool {
        self.debug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_clamp() {
        let c = Config::default()
            .max_concurrent_calls(0)
            .max_connections(0)
            .max_connections_per_ip(0)
            .max_message_size(0)
            .handshake_timeout(Duration::ZERO)
            .idle_timeout(Some(Duration::ZERO));
        assert_eq!(c.get_max_concurrent_calls(), 1);
        assert_eq!(c.get_max_connections(), 1);
        assert_eq!(c.get_max_connections_per_ip(), 1);
        assert_eq!(c.get_max_message_size(), 1);
        assert_eq!(c.get_handshake_timeout(), MIN_TIMEOUT);
        assert_eq!(c.get_idle_timeout(), Some(MIN_TIMEOUT));
    }
}
