//! A real `redis-server` for the tests that need one: started on a free loopback port,
//! ready when its log says so, killed on drop. Without the binary the test is skipped,
//! except under `CI=true`, where that is a failure.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::timeout::TimeoutExt;

/// A `redis-server` child process on a loopback port, killed on drop.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: tokio::process::Child,
}

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts `redis-server` on `port` (a free one when `None`) and waits until it accepts
    /// connections and answers PING. `None` when the binary is missing outside CI.
    pub(crate) async fn start(port: Option<u16>) -> Option<Self> {
        let port = port.unwrap_or_else(free_port);
        let spawned = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "redis-server is not installed (apt-get install -y redis-server)"
                );
                eprintln!("skipped: redis-server is not installed");
                return None;
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        // The log line is the gate: no polling.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Ready to accept connections") {
                    return;
                }
            }
            panic!("redis-server exited before it was ready");
        }
        .with_timeout()
        .await;
        // Keep draining the log so redis-server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Self { port, child };
        let pong: String = redis::cmd("PING")
            .query_async(&mut server.conn().await)
            .with_timeout()
            .await
            .unwrap();
        assert_eq!(pong, "PONG");
        Some(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .with_timeout()
            .await
            .unwrap()
    }

    pub(crate) async fn numsub(&self, topic: &str) -> i64 {
        let v: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(topic)
            .query_async(&mut self.conn().await)
            .with_timeout()
            .await
            .unwrap();
        match v.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("unexpected NUMSUB reply {other:?}"),
        }
    }

    pub(crate) async fn pubsub_clients(&self) -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut self.conn().await)
            .with_timeout()
            .await
            .unwrap();
        list.lines().filter(|l| !l.trim().is_empty()).count()
    }

    pub(crate) async fn kill(mut self) -> u16 {
        self.child.kill().with_timeout().await.unwrap();
        self.port
    }
}
