//! The command end to end: `swill-dev-cert` writes a certificate and key, `serve` serves
//! `wss://` with them, and the Rust client trusting `cert.pem` makes unary and streaming
//! calls; without it the client is refused with a TLS error. Existing files are kept
//! without `--force`.

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::{Stream, StreamExt};
use swill::client::{Client, ClientError};
use swill::server::TlsConfig;
use swill::{Error, Request, Swill};

/// How long any one await may take.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f).await.expect("timed out")
}

#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

#[swill::handler]
async fn count(req: Request<u32>) -> impl Stream<Item = Result<u32, Error>> {
    futures::stream::iter(0..*req.data()).map(Ok)
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("swill-dev-cert-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dev_cert(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_swill-dev-cert"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run swill-dev-cert")
}

#[tokio::test]
async fn the_generated_certificate_serves_wss_to_a_client_that_trusts_it() {
    let dir = TempDir::new("serve");
    let out = dev_cert(&dir.0, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for hint in [
        "--tls-cert",
        "NODE_EXTRA_CA_CERTS",
        "tls_root_pem",
        "certutil",
    ] {
        assert!(printed.contains(hint), "the help names {hint}: {printed}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.0.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key.pem is private: {mode:o}");
    }

    let tls = TlsConfig::from_pem_files(dir.0.join("cert.pem"), dir.0.join("key.pem")).unwrap();
    let listener = within(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        swill::serve(listener, Swill::new().handler(add).handler(count))
            .tls(tls)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );

    let pem = std::fs::read(dir.0.join("cert.pem")).unwrap();
    // By IP address and by name: the default certificate lists both.
    for url in [
        format!("wss://{addr}/ws"),
        format!("wss://localhost:{}/ws", addr.port()),
    ] {
        if url.contains("localhost") && !resolves_to_loopback_v4() {
            continue;
        }
        let client = within(
            Client::builder(&url)
                .tls_root_pem(&pem)
                .no_reconnect()
                .connect(),
        )
        .await
        .unwrap();
        let n: i64 = within(client.call("add", &(2, 3))).await.unwrap();
        assert_eq!(n, 5);
        let items: Vec<u32> = within(
            client
                .stream::<u32>("count", &3)
                .unwrap()
                .collect::<Vec<_>>(),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(items, [0, 1, 2]);
        client.close();
    }

    let err = within(
        Client::builder(format!("wss://{addr}/ws"))
            .no_reconnect()
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");

    let _ = stop_tx.send(());
    within(server).await.unwrap().unwrap();
}

/// Whether `localhost` resolves to 127.0.0.1 here (the server listens on IPv4 only).
fn resolves_to_loopback_v4() -> bool {
    use std::net::ToSocketAddrs;
    ("localhost", 1)
        .to_socket_addrs()
        .map(|mut a| a.any(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST))
        .unwrap_or(false)
}

#[test]
fn existing_files_are_kept_without_force() {
    let dir = TempDir::new("force");
    assert!(dev_cert(&dir.0, &["--host", "dev.test"]).status.success());
    let first = std::fs::read(dir.0.join("cert.pem")).unwrap();
    let again = dev_cert(&dir.0, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read(dir.0.join("cert.pem")).unwrap(), first);
    assert!(dev_cert(&dir.0, &["--force"]).status.success());
    assert_ne!(std::fs::read(dir.0.join("cert.pem")).unwrap(), first);
    let bad = dev_cert(&dir.0, &["--days", "9999"]);
    assert_eq!(bad.status.code(), Some(2));
}
