//! `wss://` for the client (feature `tls`): which roots it trusts, and TLS failures as
//! [`ClientError::Tls`].
//!
//! By default the client trusts the Mozilla root certificates compiled in from
//! `webpki-roots` (the same set on every platform), plus any roots given to the builder
//! ([`ClientBuilder::tls_root_pem`], [`ClientBuilder::tls_root_der`]), such as the one
//! `swill-dev-cert` writes. The configuration is built once, at
//! [`ClientBuilder::connect`], and reused by every reconnect.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::Connector;

use super::{ClientBuilder, ClientError};

/// What the builder was told about TLS.
#[derive(Debug, Clone)]
pub(super) struct TlsSettings {
    /// Trust the compiled-in Mozilla roots.
    webpki_roots: bool,
    /// Extra roots, as PEM (parsed at connect, so that a bad one is reported there).
    pem_roots: Vec<Vec<u8>>,
    /// Extra roots, as DER.
    der_roots: Vec<CertificateDer<'static>>,
    /// A configuration of the caller's own, used as it is.
    custom: Option<Arc<ClientConfig>>,
    /// The configuration in use, once built.
    resolved: Option<Arc<ClientConfig>>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            webpki_roots: true,
            pem_roots: Vec::new(),
            der_roots: Vec::new(),
            custom: None,
            resolved: None,
        }
    }
}

fn bad_roots(reason: String) -> ClientError {
    ClientError::Tls(rustls::Error::General(reason))
}

impl TlsSettings {
    /// Builds the rustls configuration from what the builder was told.
    pub(super) fn resolve(&mut self) -> Result<(), ClientError> {
        if let Some(custom) = &self.custom {
            self.resolved = Some(custom.clone());
            return Ok(());
        }
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for pem in &self.pem_roots {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad_roots(format!("the root certificate PEM is not valid: {e}")))?;
            if certs.is_empty() {
                return Err(bad_roots(
                    "the root certificate PEM holds no CERTIFICATE section".to_owned(),
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(ClientError::Tls)?;
            }
        }
        for cert in &self.der_roots {
            roots.add(cert.clone()).map_err(ClientError::Tls)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ClientError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        self.resolved = Some(Arc::new(config));
        Ok(())
    }

    /// The connector for `wss://` URLs (`ws://` ones ignore it).
    pub(super) fn connector(&self) -> Option<Connector> {
        self.resolved.clone().map(Connector::Rustls)
    }
}

/// The rustls error inside a failed handshake, when TLS is what failed.
pub(super) fn tls_failure(
    e: tokio_tungstenite::tungstenite::Error,
) -> Result<rustls::Error, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::error::TlsError;
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Ok(tls.clone()),
            None => Err(Error::Io(io)),
        },
        Error::Tls(TlsError::Rustls(tls)) => Ok(*tls),
        other => Err(other),
    }
}

/// TLS options (feature `tls`).
impl ClientBuilder {
    /// Also trusts the root certificate(s) in `pem` (every `CERTIFICATE` section) for
    /// `wss://` URLs: for example the `cert.pem` that `swill-dev-cert` writes, or a private
    /// certificate authority. A PEM that cannot be read fails
    /// [`connect`](Self::connect) with [`ClientError::Tls`].
    ///
    /// ```
    /// # let pem = b"";
    /// let builder = swill::client::Client::builder("wss://localhost:8443/ws").tls_root_pem(pem);
    /// # drop(builder);
    /// ```
    pub fn tls_root_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.settings.tls.pem_roots.push(pem.as_ref().to_vec());
        self
    }

    /// Also trusts the root certificate `der` (DER-encoded) for `wss://` URLs.
    pub fn tls_root_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.settings
            .tls
            .der_roots
            .push(CertificateDer::from(der.into()));
        self
    }

    /// Whether the Mozilla roots compiled in from `webpki-roots` are trusted (default
    /// `true`). With `false`, only the roots given with [`tls_root_pem`](Self::tls_root_pem)
    /// and [`tls_root_der`](Self::tls_root_der) are.
    pub fn tls_webpki_roots(mut self, on: bool) -> Self {
        self.settings.tls.webpki_roots = on;
        self
    }

    /// Uses a rustls client configuration of your own for `wss://` URLs (client
    /// certificates, the platform's verifier, other roots); the other `tls_*` options are
    /// then ignored.
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.settings.tls.custom = Some(config);
        self
    }
}
