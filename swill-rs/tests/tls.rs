//! TLS (issue #11): `serve(..).tls(..)` serves `wss://` and the Rust client trusts the roots
//! it is given. Over real sockets on 127.0.0.1: unary and streaming calls over wss, a client
//! that does not trust the certificate failing with `ClientError::Tls`, the handshake
//! timeout bounding the TLS handshake, plain `ws://` to the TLS port answered with a 400,
//! the PROXY protocol header before TLS, the per-address limit over TLS, and clear errors
//! for bad certificate and key input.
#![cfg(all(feature = "tls", feature = "client"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::{SinkExt, Stream, StreamExt};
use swill::client::{Client, ClientError};
use swill::rustls::pki_types::{CertificateDer, ServerName};
use swill::server::{encode_proxy_header, TlsConfig, TlsError};
use swill::{Connection, Error, Request, Swill};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `names`, as (cert PEM, key PEM, cert DER, key DER).
struct Cert {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn cert_for(names: &[&str]) -> Cert {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).unwrap();
    Cert {
        cert_pem: cert.pem(),
        key_pem: signing_key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: signing_key.serialize_der(),
    }
}

/// Counts from 0 to `n - 1`.
#[swill::handler]
async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter(0..*req.data()).map(Ok)
}

/// The connection's peer address, as handlers see it.
#[swill::handler]
async fn peer(conn: Connection) -> Result<String, Error> {
    Ok(conn.peer_addr().map(|a| a.to_string()).unwrap_or_default())
}

fn app() -> Swill {
    Swill::new().handler(add).handler(count).handler(peer)
}

async fn spawn_tls(app: Swill, tls: TlsConfig) -> TestServer {
    spawn_with(|listener, stop| async move {
        swill::serve(listener, app)
            .tls(tls)
            .with_graceful_shutdown(stop)
            .await
    })
    .await
}

fn wss(server: &TestServer) -> String {
    format!("wss://{}/ws", server.addr)
}

/// A client that trusts `cert` only (not the compiled-in roots) and does not reconnect.
fn trusting(server: &TestServer, cert: &Cert) -> swill::client::ClientBuilder {
    Client::builder(wss(server))
        .tls_webpki_roots(false)
        .tls_root_pem(&cert.cert_pem)
        .no_reconnect()
}

async fn assert_calls_work(client: &Client) {
    let n: i64 = client.call("add", &(20, 22)).with_timeout().await.unwrap();
    assert_eq!(n, 42);
    let mut items = client.stream::<u32>("count", &4).unwrap();
    let mut got = Vec::new();
    while let Some(item) = items.next().with_timeout().await {
        got.push(item.unwrap());
    }
    assert_eq!(got, [0, 1, 2, 3]);
}

#[tokio::test]
async fn a_client_trusting_the_certificate_makes_unary_and_streaming_calls() {
    let cert = cert_for(&["localhost", "127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = spawn_tls(app(), tls).await;
    let client = trusting(&server, &cert)
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&client).await;
    // Roots given as DER work the same, next to the compiled-in ones.
    let der = Client::builder(wss(&server))
        .tls_root_der(cert.cert_der.clone())
        .no_reconnect()
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&der).await;
    client.close();
    der.close();
    server.stop().await;
}

#[tokio::test]
async fn certificates_load_from_files_and_der() {
    let cert = cert_for(&["127.0.0.1"]);
    let dir = std::env::temp_dir().join(format!("swill-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, &cert.cert_pem).unwrap();
    std::fs::write(&key_path, &cert.key_pem).unwrap();
    let from_files = TlsConfig::from_pem_files(&cert_path, &key_path);
    let _ = std::fs::remove_dir_all(&dir);
    let from_der = TlsConfig::from_der(vec![cert.cert_der.clone()], cert.key_der.clone()).unwrap();
    for tls in [from_files.unwrap(), from_der] {
        let server = spawn_tls(app(), tls).await;
        let client = trusting(&server, &cert)
            .connect()
            .with_timeout()
            .await
            .unwrap();
        assert_calls_work(&client).await;
        client.close();
        server.stop().await;
    }
}

#[tokio::test]
async fn a_client_not_trusting_the_certificate_fails_with_a_tls_error() {
    let cert = cert_for(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = spawn_tls(app(), tls).await;

    // Only the compiled-in roots: the self-signed certificate is not among them.
    let err = Client::builder(wss(&server))
        .no_reconnect()
        .connect()
        .with_timeout()
        .await
        .unwrap_err();
    let ClientError::Tls(tls_err) = &err else {
        panic!("expected ClientError::Tls, got {err:?}");
    };
    assert!(
        matches!(tls_err, swill::rustls::Error::InvalidCertificate(_)),
        "{tls_err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("TLS") && text.contains("certificate"),
        "{text}"
    );

    // Trusted, but issued for another name: refused as well.
    let other = cert_for(&["other.test"]);
    let tls = TlsConfig::from_pem(other.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap();
    let misnamed = spawn_tls(app(), tls).await;
    let err = trusting(&misnamed, &other)
        .connect()
        .with_timeout()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Tls(swill::rustls::Error::InvalidCertificate(_))
        ),
        "{err:?}"
    );

    // Roots that are not PEM are reported at connect, as a TLS error.
    let err = Client::builder(wss(&server))
        .tls_root_pem("not a certificate")
        .connect()
        .with_timeout()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");

    // The server is unharmed by the failed handshakes.
    let client = trusting(&server, &cert)
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&client).await;
    client.close();
    server.stop().await;
    misnamed.stop().await;
}

/// Reads until the server closes the socket; what it sent before.
async fn read_to_close(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    // An error (a reset) is a close as well.
    let _ = stream.read_to_end(&mut got).with_timeout().await;
    got
}

#[tokio::test]
async fn the_handshake_timeout_bounds_the_tls_handshake() {
    let cert = cert_for(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let timeout = Duration::from_millis(300);
    let server = spawn_tls(app().tune(|c| c.handshake_timeout(timeout)), tls).await;

    // Opens TCP and sends nothing: dropped once the timeout passes, without an answer.
    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut silent).await, b"");
    assert!(started.elapsed() >= timeout, "closed before the timeout");

    // Starts a TLS record and never finishes it: dropped the same way.
    let mut partial = TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .with_timeout()
        .await
        .unwrap();
    let _ = read_to_close(&mut partial).await;

    // Finishes TLS but sends no request: the 408 comes over TLS, as it does without it.
    let mut roots = swill::rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert_der.clone()))
        .unwrap();
    let config = swill::rustls::ClientConfig::builder_with_provider(Arc::new(
        swill::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = swill::tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr)
        .with_timeout()
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut idle = connector.connect(name, tcp).with_timeout().await.unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    let client = trusting(&server, &cert)
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&client).await;
    client.close();
    server.stop().await;
}

#[tokio::test]
async fn plain_ws_to_the_tls_port_is_refused_with_a_400() {
    let cert = cert_for(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = spawn_tls(app(), tls).await;
    let err = Client::builder(server.url())
        .no_reconnect()
        .connect()
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(err.refused_status(), Some(400), "{err:?}");
    assert!(err.to_string().contains("wss://"), "{err}");
    let client = trusting(&server, &cert)
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&client).await;
    client.close();
    server.stop().await;
}

#[tokio::test]
async fn the_proxy_header_comes_before_tls_and_the_per_address_limit_holds() {
    let cert = cert_for(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = spawn_tls(
        app().tune(|c| c.proxy_protocol(true).max_connections_per_ip(1)),
        tls,
    )
    .await;
    let mut roots = swill::rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert_der.clone()))
        .unwrap();
    let config = Arc::new(
        swill::rustls::ClientConfig::builder_with_provider(Arc::new(
            swill::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let real: std::net::SocketAddr = "203.0.113.7:4321".parse().unwrap();
    let (addr, url) = (server.addr, wss(&server));
    let open = |config: Arc<swill::rustls::ClientConfig>| {
        let url = url.clone();
        async move {
            let mut tcp = TcpStream::connect(addr).with_timeout().await.unwrap();
            tcp.write_all(&encode_proxy_header(real, addr))
                .with_timeout()
                .await
                .unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let tls = swill::tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .with_timeout()
                .await
                .unwrap();
            let mut req = url.into_client_request().unwrap();
            req.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("swill/1"),
            );
            tokio_tungstenite::client_async(req, tls)
                .with_timeout()
                .await
        }
    };
    let (mut ws, _) = open(config.clone()).await.unwrap();
    ws.send(Message::Binary(request(1, &(), "peer").into()))
        .with_timeout()
        .await
        .unwrap();
    let r = loop {
        match ws.next().with_timeout().await.unwrap().unwrap() {
            Message::Binary(b) => break Resp::decode(&b),
            _ => continue,
        }
    };
    assert_eq!(r.kind, MESSAGE, "{r:?}");
    assert_eq!(r.data.as_str(), Some("203.0.113.7:4321"));

    // A second connection from the same (proxied) address is over the limit.
    let refused = open(config).await.unwrap_err();
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 429),
        other => panic!("expected a 429, got {other:?}"),
    }
    drop(ws);
    server.stop().await;
}

#[test]
fn bad_certificate_input_gives_errors_that_name_it() {
    let cert = cert_for(&["127.0.0.1"]);
    let dir = std::env::temp_dir().join(format!("swill-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.pem");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let junk = dir.join("junk.pem");
    std::fs::write(&cert_path, &cert.cert_pem).unwrap();
    std::fs::write(&key_path, &cert.key_pem).unwrap();
    std::fs::write(&junk, "hello\n").unwrap();

    let e = TlsConfig::from_pem_files(&missing, &key_path).unwrap_err();
    assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("certificate") && text.contains(&*missing.to_string_lossy()),
        "{text}"
    );
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

    let e = TlsConfig::from_pem_files(&junk, &key_path).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    assert!(e.to_string().contains(&*junk.to_string_lossy()), "{e}");

    // The certificate file given as the key.
    let e = TlsConfig::from_pem_files(&cert_path, &cert_path).unwrap_err();
    assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");
    assert!(e.to_string().contains("private key"), "{e}");

    // A key that does not belong to the certificate.
    let other = cert_for(&["127.0.0.1"]);
    let e = TlsConfig::from_pem(cert.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(e, TlsError::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("given in memory"), "{e}");

    let e = TlsConfig::from_der(Vec::new(), cert.key_der.clone()).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    let e = TlsConfig::from_der(vec![cert.cert_der.clone()], b"junk".to_vec()).unwrap_err();
    assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mounted under hyper with an accept loop of one's own: `TlsConfig::acceptor` terminates
/// TLS and the app's service is served on the TLS stream (the guide's pattern).
#[tokio::test]
async fn the_acceptor_serves_the_app_mounted_in_hyper() {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let cert = cert_for(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let acceptor = tls.acceptor();
    let svc = app().into_service();
    let server = spawn_with(|listener, mut stop| async move {
        loop {
            let (tcp, _) = tokio::select! {
                () = &mut stop => return Ok(()),
                accepted = listener.accept() => accepted?,
            };
            let (acceptor, svc) = (acceptor.clone(), svc.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(TIMEOUT, acceptor.accept(tcp));
                let Ok(Ok(stream)) = handshake.await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .with_upgrades()
                    .await;
            });
        }
    })
    .await;
    let client = trusting(&server, &cert)
        .connect()
        .with_timeout()
        .await
        .unwrap();
    assert_calls_work(&client).await;
    client.close();
    server.stop().await;
}
