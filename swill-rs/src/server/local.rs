//! In-process connections (features `server` and `client`): the Rust client talks to a
//! [`SwillService`] over an in-memory pipe, through the same HTTP upgrade, hooks, limits,
//! decoding, validation and handlers a network client gets, without a socket.

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use super::SwillService;
use crate::client::{Client, ClientBuilder};

/// Bytes each direction of an in-process pipe holds before the writer waits: the size of
/// a socket buffer, so that batching behaves as over loopback.
const PIPE_CAPACITY: usize = 64 * 1024;

impl SwillService {
    /// A client builder whose connections reach this service in the same process: each
    /// connection attempt opens an in-memory pipe and serves it as [`serve`](crate::serve)
    /// serves a socket (HTTP/1.1 upgrade, `before_connection` hooks, every limit, the whole
    /// call path). Set headers (a token, a cookie) on the builder as for a network client.
    ///
    /// The pipe has no peer address: `Connection::peer_addr` is `None`, the per-address
    /// limit and network filters do not apply. Made for tests that want the full call path
    /// without a port; `Request::detached` calls a handler function alone.
    ///
    /// ```
    /// use swill::{Error, Request, Swill};
    ///
    /// #[swill::handler]
    /// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    ///     let (a, b) = req.into_data();
    ///     Ok(a + b)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), swill::client::ClientError> {
    /// let service = Swill::new().handler(add).into_service();
    /// let client = service.in_process_client().connect().await?;
    /// assert_eq!(client.call::<i64>("add", &(2, 3)).await?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn in_process_client(&self) -> ClientBuilder {
        let url = format!("ws://in-process{}", self.ws_path());
        let svc = self.clone();
        Client::builder(url).connector(move || {
            let (client_end, server_end) = tokio::io::duplex(PIPE_CAPACITY);
            let svc = svc.clone();
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(server_end), TowerToHyperService::new(svc))
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "in-process connection error");
                }
            });
            std::future::ready(Ok(client_end))
        })
    }

    /// Connects a client to this service in the same process (see
    /// [`in_process_client`](Self::in_process_client)).
    ///
    /// # Errors
    /// When the upgrade is refused (a `before_connection` hook, a limit).
    pub async fn connect_in_process(&self) -> Result<Client, crate::client::ClientError> {
        self.in_process_client().connect().await
    }
}
