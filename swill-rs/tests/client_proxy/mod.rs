//! [`Proxy`]: a TCP relay in front of a test server that the test can cut, the way a network
//! or a restarting server drops a client's connection. Real sockets on 127.0.0.1 only.
//!
//! `cut()` drops every relayed connection (both sides see the socket close) and holds the new
//! ones (accepted, not relayed) until `open()`: between the two the test decides what happens
//! while the client is away, without any sleep.
#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::common::TimeoutExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ctl {
    /// Bumped by each cut: connections relayed before it end.
    generation: u64,
    /// Whether new connections are relayed (else held).
    open: bool,
}

/// A cuttable relay to `upstream`; dropping it ends every connection.
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    ctl: watch::Sender<Ctl>,
    accepted: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and relays to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .with_timeout()
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the proxy's address");
        let (ctl, ctl_rx) = watch::channel(Ctl {
            generation: 0,
            open: true,
        });
        let (accepted_tx, accepted) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                accepted_tx.send_modify(|n| *n += 1);
                conns.spawn(relay(client, upstream, ctl_rx.clone()));
            }
        });
        Self {
            addr,
            ctl,
            accepted,
            task,
        }
    }

    /// `ws://addr/ws` through the proxy.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Drops every relayed connection and holds new ones until [`open`](Self::open).
    pub(crate) fn cut(&self) {
        self.ctl.send_modify(|c| {
            c.generation += 1;
            c.open = false;
        });
    }

    /// Relays held and new connections again.
    pub(crate) fn open(&self) {
        self.ctl.send_modify(|c| c.open = true);
    }

    /// Connections accepted so far (relayed or held).
    pub(crate) fn accepted(&self) -> u64 {
        *self.accepted.borrow()
    }

    /// Waits until `n` connections were accepted.
    pub(crate) async fn wait_accepted(&self, n: u64) {
        let mut rx = self.accepted.clone();
        rx.wait_for(|a| *a >= n)
            .with_timeout()
            .await
            .expect("the proxy is running");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every relay.
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut ctl: watch::Receiver<Ctl>) {
    let generation = ctl.borrow().generation;
    if ctl.wait_for(|c| c.open).await.is_err() {
        return;
    }
    // A connection held across a cut is relayed as a new one.
    let generation = generation.max(ctl.borrow().generation);
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = ctl.wait_for(|c| c.generation != generation) => {}
    }
    // Both sockets drop here: the client and the server see the connection close.
}
