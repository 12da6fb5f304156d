//! Opening a WebSocket to the server: the settings every connection attempt uses, and
//! [`dial`], the upgrade bounded by the handshake timeout.

use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::backoff::ReconnectPolicy;
pub(super) use super::transport::{Connector, Ws};
use super::ClientError;

/// Which subprotocol the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Subprotocol {
    /// `swill.v1`, the token-safe alias (default; what browsers can send too).
    #[default]
    Alias,
    /// `swill/1` exactly as the original clients send it.
    Original,
}

impl Subprotocol {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Alias => "swill.v1",
            Self::Original => "swill/1",
        }
    }
}

/// Everything the builder set; shared by the handles and the task.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) url: String,
    pub(super) subprotocol: Subprotocol,
    pub(super) headers: Vec<(String, String)>,
    pub(super) max_message_size: usize,
    pub(super) handshake_timeout: Duration,
    pub(super) reconnect: Option<ReconnectPolicy>,
    pub(super) wait_for_connection: Duration,
    pub(super) resume: bool,
    pub(super) max_resume_attempts: u32,
    /// Where connections run, when not over TCP to the URL's host.
    pub(super) connector: Option<Connector>,
    #[cfg(feature = "tls")]
    pub(super) tls: super::tls::TlsSettings,
}

/// A failed handshake as the caller should see it: an HTTP answer other than 101 becomes
/// [`ClientError::Refused`] with its status and (the start of) its body.
fn refusal(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(res) => {
            let status = res.status().as_u16();
            let body = res.body().as_deref().unwrap_or_default();
            let cut = &body[..body.len().min(super::MAX_REFUSAL_BODY)];
            ClientError::Refused {
                status,
                body: String::from_utf8_lossy(cut).trim_end().to_owned(),
            }
        }
        #[cfg(feature = "tls")]
        other => match super::tls::tls_failure(other) {
            Ok(tls) => ClientError::Tls(tls),
            Err(other) => ClientError::Connect(other),
        },
        #[cfg(not(feature = "tls"))]
        other => ClientError::Connect(other),
    }
}

/// Opens one WebSocket: the upgrade, bounded by the handshake timeout, and the subprotocol
/// check.
pub(super) async fn dial(s: &Settings) -> Result<Ws, ClientError> {
    let mut req = s
        .url
        .as_str()
        .into_client_request()
        .map_err(ClientError::Connect)?;
    let offered = s.subprotocol.as_str();
    req.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(offered));
    for (k, v) in &s.headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| {
                ClientError::Connect(tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))
            })?;
        let value = HeaderValue::from_str(v).map_err(|e| {
            ClientError::Connect(tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))
        })?;
        req.headers_mut().append(name, value);
    }
    let cfg = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .max_message_size(Some(s.max_message_size))
        .max_frame_size(Some(s.max_message_size));
    let (ws, res) = if let Some(connector) = &s.connector {
        let handshake = async {
            let io = connector
                .open()
                .await
                .map_err(|e| ClientError::Connect(tokio_tungstenite::tungstenite::Error::Io(e)))?;
            tokio_tungstenite::client_async_with_config(req, io, Some(cfg))
                .await
                .map_err(refusal)
        };
        let (ws, res) = tokio::time::timeout(s.handshake_timeout, handshake)
            .await
            .map_err(|_| ClientError::HandshakeTimeout)??;
        (Ws::Custom(ws), res)
    } else {
        #[cfg(feature = "tls")]
        let handshake = tokio_tungstenite::connect_async_tls_with_config(
            req,
            Some(cfg),
            true,
            s.tls.connector(),
        );
        #[cfg(not(feature = "tls"))]
        let handshake = tokio_tungstenite::connect_async_with_config(req, Some(cfg), true);
        let (ws, res) = tokio::time::timeout(s.handshake_timeout, handshake)
            .await
            .map_err(|_| ClientError::HandshakeTimeout)?
            .map_err(refusal)?;
        (Ws::Net(ws), res)
    };
    let selected = res
        .headers()
        .get("sec-websocket-protocol")
        .map(HeaderValue::as_bytes);
    if selected != Some(offered.as_bytes()) {
        return Err(ClientError::Subprotocol);
    }
    Ok(ws)
}
