//! [`ClientError`]: what can go wrong with a call from the client's side.

use crate::error::Error;

/// What can go wrong with a call from the client's side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an ERROR frame.
    #[error("the server answered with {0}")]
    Rpc(Error),
    /// The connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    /// The server answered the upgrade with an HTTP error instead of switching protocols:
    /// for example a `before_connection` hook's 401, a limit's 429 or 503, or a 403 for an
    /// origin or network. 401 and 403 end reconnecting (a retry would be refused the same
    /// way); others are retried with the reconnect policy.
    #[error("the server refused the connection: {status}{}", body_suffix(.body))]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// The response body, as text (at most [`MAX_REFUSAL_BODY`] bytes of it).
        body: String,
    },
    /// The server did not select a swill subprotocol.
    #[error("the server did not accept the swill subprotocol")]
    Subprotocol,
    /// The client is closed ([`Client::close`](super::Client::close), reconnecting gave up or is off, or every
    /// handle was dropped): the call was not sent, or was ended by the close.
    #[error("the client is closed")]
    Closed,
    /// The connection dropped while the call was in flight. The call was not sent again (it
    /// may not be idempotent): whether the server ran it is unknown.
    #[error("the connection dropped while the call was in flight")]
    Disconnected,
    /// The call was made while the client was reconnecting, and no connection came within
    /// [`ClientBuilder::wait_for_connection`](super::ClientBuilder::wait_for_connection).
    #[error("no connection to the server")]
    Unavailable,
    /// A connection attempt did not finish within [`ClientBuilder::handshake_timeout`](super::ClientBuilder::handshake_timeout).
    #[error("the connection handshake timed out")]
    HandshakeTimeout,
    /// TLS failed (feature `tls`) on a `wss://` URL: the server's certificate is not trusted
    /// (its root is neither a compiled-in root nor one given with
    /// [`ClientBuilder::tls_root_pem`](super::ClientBuilder::tls_root_pem)), has expired or
    /// is not for the URL's host; or the TLS handshake failed; or the roots given to the
    /// builder could not be read. Retried with the reconnect policy, like other failed
    /// attempts (a server may be given a new certificate).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("TLS failed: {0}")]
    Tls(#[source] rustls::Error),
    /// A request could not be encoded.
    #[error("cannot encode the request")]
    Encode(#[source] rmp_serde::encode::Error),
    /// A reply could not be decoded into the expected type.
    #[error("cannot decode the reply")]
    Decode(#[source] rmp_serde::decode::Error),
    /// The call was used out of order (e.g. an item after `end`).
    #[error("the call no longer accepts this")]
    Finished,
}

/// How much of a refused upgrade's body [`ClientError::Refused`] keeps: enough for any
/// human-readable reason, not a way for a server to make the client hold megabytes.
pub const MAX_REFUSAL_BODY: usize = 4096;

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl ClientError {
    /// The HTTP status of a refused upgrade ([`Refused`](Self::Refused)).
    pub fn refused_status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error, when this is one.
    pub fn rpc(&self) -> Option<&Error> {
        match self {
            Self::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the call failed for want of a connection ([`Disconnected`](Self::Disconnected),
    /// [`Unavailable`](Self::Unavailable) or [`Closed`](Self::Closed)) rather than by the
    /// server's answer or the data.
    pub fn is_connection(&self) -> bool {
        matches!(self, Self::Disconnected | Self::Unavailable | Self::Closed)
    }
}
