//! TLS for [`serve`](crate::serve) (feature `tls`): `wss://` with rustls, on swill's own
//! serving path.
//!
//! [`TlsConfig`] holds a rustls server configuration, made from PEM files, PEM or DER in
//! memory, or a [`rustls::ServerConfig`] of your own. [`Serve::tls`](super::Serve::tls) (or
//! [`Swill::serve_tls`](crate::Swill::serve_tls)) serves it. Per accepted socket, in this
//! order: the PROXY protocol header (when [`Config::proxy_protocol`](crate::Config::proxy_protocol)
//! is on: the load balancer writes it before the client's TLS bytes), the TLS handshake, then
//! HTTP and the WebSocket upgrade. The PROXY header and the TLS handshake share one
//! deadline, the [handshake timeout](crate::Config::handshake_timeout) counted from the
//! accept: a client that opens TCP and never finishes TLS is dropped when it passes. The
//! upgrade request then has the handshake timeout again, as without TLS.
//!
//! A client that speaks plain HTTP to the TLS port (a `ws://` URL for a `wss://` server)
//! gets a plain-text `400` saying so, and the socket closes.
//!
//! Mounted under axum or hyper instead ([`Swill::into_route`](crate::Swill::into_route),
//! [`Swill::into_service`](crate::Swill::into_service)), the TLS acceptor is the host
//! server's: terminate TLS in your accept loop (for example with
//! [`TlsConfig::acceptor`]) or in a proxy in front, and serve the decrypted stream.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// The stream a TLS connection is served on.
pub(crate) type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a client that speaks plain HTTP to the TLS port is answered before the socket closes.
const PLAIN_HTTP_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 56\r\n\r\n\
this port serves TLS: connect with wss:// (or https://)\n";

/// A TLS server configuration for [`Serve::tls`](super::Serve::tls): the certificate chain
/// and private key the server presents, with rustls' safe defaults (TLS 1.2 and 1.3, the
/// `ring` provider) and ALPN `http/1.1`.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let tls = swill::server::TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
/// swill::serve(listener, swill::Swill::new()).tls(tls).await
/// # }
/// # drop(run());
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Why a [`TlsConfig`] could not be made. The message names the file (or says the input was
/// in memory) and what was wrong with it.
///
/// It converts into an [`io::Error`] (kind [`InvalidInput`](io::ErrorKind::InvalidInput), or
/// the read's own kind), so `?` works in a function returning `io::Result`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error reading it.
        #[source]
        source: io::Error,
    },
    /// The input is not valid PEM.
    #[error("the TLS {what} {origin} is not valid PEM: {source}")]
    Pem {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// Where it came from: `file <path>` or `given in memory`.
        origin: String,
        /// What the PEM parser said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate input holds no certificate.
    #[error("the TLS certificate {origin} holds no CERTIFICATE section")]
    NoCertificate {
        /// Where it came from: `file <path>` or `given in memory`.
        origin: String,
    },
    /// The key input holds no private key (PKCS#8, PKCS#1 or SEC1), or the DER given is not
    /// one.
    #[error("the TLS private key {origin} holds no private key (PKCS#8, RSA or EC)")]
    NoKey {
        /// Where it came from: `file <path>` or `given in memory`.
        origin: String,
    },
    /// rustls refused the certificate and key: for example a key that does not match the
    /// certificate, or a key type it does not support.
    #[error("the TLS certificate {cert} and private key {key} are not usable: {source}")]
    Config {
        /// Where the certificate came from.
        cert: String,
        /// Where the key came from.
        key: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        let kind = match &e {
            TlsError::Read { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        Self::new(kind, e)
    }
}

const IN_MEMORY: &str = "given in memory";

fn file_origin(path: &Path) -> String {
    format!("file {}", path.display())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn parse_chain(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            origin: origin.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_owned(),
        });
    }
    Ok(chain)
}

fn parse_key(pem: &[u8], origin: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            origin: origin.to_owned(),
        },
        source => TlsError::Pem {
            what: "private key",
            origin: origin.to_owned(),
            source,
        },
    })
}

impl TlsConfig {
    /// Reads the certificate chain (PEM, the server's certificate first, then any
    /// intermediates) and the private key (PEM: PKCS#8, PKCS#1 or SEC1) from files, as
    /// `swill-dev-cert` writes them or a certificate authority issues them.
    ///
    /// # Errors
    /// When a file cannot be read, is not PEM, holds no certificate or key, or the key does
    /// not fit the certificate; the error names the file.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let (cert_origin, key_origin) = (file_origin(cert), file_origin(key));
        let chain = parse_chain(&read("certificate", cert)?, &cert_origin)?;
        let key = parse_key(&read("private key", key)?, &key_origin)?;
        Self::build(chain, key, &cert_origin, &key_origin)
    }

    /// The same from PEM in memory (for example from a secret store).
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files), without the file part.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = parse_chain(cert_pem, IN_MEMORY)?;
        let key = parse_key(key_pem, IN_MEMORY)?;
        Self::build(chain, key, IN_MEMORY, IN_MEMORY)
    }

    /// The same from DER: the chain's certificates (the server's first) and the private key
    /// (PKCS#8, PKCS#1 or SEC1, told apart by their structure).
    ///
    /// # Errors
    /// When the key is none of those, or the certificate and key are not usable together.
    pub fn from_der(cert_chain: Vec<Vec<u8>>, key_der: Vec<u8>) -> Result<Self, TlsError> {
        if cert_chain.is_empty() {
            return Err(TlsError::NoCertificate {
                origin: IN_MEMORY.to_owned(),
            });
        }
        let chain = cert_chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::try_from(key_der).map_err(|_| TlsError::NoKey {
            origin: IN_MEMORY.to_owned(),
        })?;
        Self::build(chain, key, IN_MEMORY, IN_MEMORY)
    }

    /// Serves a rustls configuration of your own (client certificates, a certificate
    /// resolver for several names, other protocol versions). Set its `alpn_protocols` to
    /// `[b"http/1.1"]` if clients send ALPN (browsers do), or leave it empty.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_origin: &str,
        key_origin: &str,
    ) -> Result<Self, TlsError> {
        let refused = |source| TlsError::Config {
            cert: cert_origin.to_owned(),
            key: key_origin.to_owned(),
            source,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(refused)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// A tokio-rustls acceptor for this configuration, for an accept loop of your own (for
    /// example when mounting the app in axum or hyper).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}

/// Takes the TLS handshake on an accepted socket, by `deadline`; `None` (logged at debug)
/// when it fails, is late, or the client spoke plain HTTP (which is answered with a 400).
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    mut stream: TcpStream,
    deadline: Instant,
    peer: std::net::SocketAddr,
) -> Option<ServerStream> {
    let handshake = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 1 && first[0] != TLS_HANDSHAKE_RECORD {
            // Not TLS: most likely plain HTTP from a `ws://` URL. Tell it, then close.
            stream.write_all(PLAIN_HTTP_RESPONSE).await?;
            let _ = stream.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "plain text on the TLS port; answered 400",
            ));
        }
        acceptor.accept(stream).await
    };
    match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "closed: TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "closed: no TLS handshake in time");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_has_the_right_length() {
        let head_end = PLAIN_HTTP_RESPONSE
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        let body = &PLAIN_HTTP_RESPONSE[head_end + 4..];
        assert!(body.ends_with(b"\n"));
        assert_eq!(body.len(), 56, "content-length says 56");
    }
}
