//! The ordered publisher: every publish of this process, plain or with history, reaches Redis
//! in the order `publish` was called, pipelined.
//!
//! A publish is queued when it is made, not when its future is first polled, and one task
//! sends the queue. Whatever queued while a batch was on the wire goes as the next batch: one
//! pipeline (one write, one round trip) of up to [`MAX_BATCH`] commands or about
//! [`MAX_BATCH_BYTES`]. One batch is in flight at a time, so Redis runs the commands in queue
//! order, and the messages one publisher publishes to a topic reach every subscriber, on
//! every instance, in that order, however many publish calls are in flight. (Futures that
//! each send a command on a shared multiplexed connection do not keep it: with some fifty or
//! more in flight, later publishes were seen to overtake earlier ones.) A lone publish costs
//! one round trip, as before; under load the batch shares it.
//!
//! A publish that waited longer than the command timeout in the queue fails without being
//! sent, so an outage fails publishes fast instead of queueing them; a batch that Redis does
//! not answer within the timeout fails as a whole (its messages may or may not have gone out,
//! as with any timed-out command).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::unavailable;
use crate::pubsub::PubSubError;

/// The most commands one pipeline carries.
pub(super) const MAX_BATCH: usize = 512;
/// The size past which a batch takes no further command (a command is never split, so a
/// batch of one large message may be larger).
pub(super) const MAX_BATCH_BYTES: usize = 1 << 20;

/// Why a publish that waited out the command timeout in the queue fails, unsent.
pub(super) const NOT_SENT: &str =
    "not sent: the publish waited longer than the command timeout for redis";

/// One queued publish.
struct Job {
    cmd: redis::Cmd,
    /// About what it puts on the wire: the message and the topic.
    size: usize,
    /// An `EVALSHA` of the publish script, to be sent again after `SCRIPT LOAD` when Redis
    /// answers `NOSCRIPT`.
    script: bool,
    queued: Instant,
    reply: oneshot::Sender<Result<Value, PubSubError>>,
}

/// The handle of the publisher task; the task ends when the handle is dropped.
pub(super) struct Publisher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Publisher {
    /// Spawns the task that sends the queue on `conn`; `script` is the publish script (loaded
    /// when Redis does not know it).
    pub(super) fn start(
        conn: ConnectionManager,
        script: Arc<redis::Script>,
        timeout: Duration,
    ) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let task = Task {
            conn,
            script,
            timeout,
        };
        tokio::spawn(task.run(rx));
        Self { jobs }
    }

    /// Queues `cmd` now and resolves to Redis's reply. `script` marks an `EVALSHA` of the
    /// publish script; `size` is about the bytes it sends.
    pub(super) fn send(
        &self,
        cmd: redis::Cmd,
        size: usize,
        script: bool,
    ) -> impl Future<Output = Result<Value, PubSubError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let queued = self
            .jobs
            .send(Job {
                cmd,
                size,
                script,
                queued: Instant::now(),
                reply,
            })
            .is_ok();
        async move {
            if !queued {
                return Err(stopped());
            }
            rx.await.unwrap_or_else(|_| Err(stopped()))
        }
    }
}

fn stopped() -> PubSubError {
    unavailable("the redis publisher task stopped")
}

struct Task {
    conn: ConnectionManager,
    script: Arc<redis::Script>,
    timeout: Duration,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // A command of the last batch that Redis refused with `NOSCRIPT` heads the next one.
        let mut again = Vec::new();
        loop {
            if again.is_empty() {
                let Some(first) = rx.recv().await else {
                    return;
                };
                batch.push(first);
            } else {
                batch.append(&mut again);
            }
            let mut bytes: usize = batch.iter().map(|j| j.size).sum();
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                let Ok(job) = rx.try_recv() else { break };
                bytes += job.size;
                batch.push(job);
            }
            let reload = self.send(&mut batch, &mut again).await;
            if reload {
                if let Err(e) = self.script.load_async(&mut self.conn).await {
                    tracing::warn!(error = %e, "cannot load the redis publish script");
                    for job in again.drain(..) {
                        let _ = job.reply.send(Err(unavailable(&e)));
                    }
                }
            }
        }
    }

    /// Sends `batch` as one pipeline and answers every job; the script commands Redis did
    /// not know go to `again`, in order, and the result says whether there are any.
    async fn send(&mut self, batch: &mut Vec<Job>, again: &mut Vec<Job>) -> bool {
        let now = Instant::now();
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut sent = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            if now.saturating_duration_since(job.queued) >= self.timeout {
                let _ = job.reply.send(Err(unavailable(NOT_SENT)));
                continue;
            }
            sent.push((job.reply, job.script));
            pipe.add_command(job.cmd);
        }
        if sent.is_empty() {
            return false;
        }
        let replies =
            match tokio::time::timeout(self.timeout, pipe.query_async(&mut self.conn)).await {
                Ok(Ok(Value::Array(replies))) if replies.len() == sent.len() => replies,
                Ok(Ok(_)) => {
                    fail(
                        sent,
                        &unavailable("unexpected reply from redis to a pipeline"),
                    );
                    return false;
                }
                Ok(Err(e)) => {
                    fail(sent, &unavailable(e));
                    return false;
                }
                Err(_) => {
                    fail(sent, &unavailable("redis did not answer in time"));
                    return false;
                }
            };
        for (((reply, script), value), cmd) in sent.into_iter().zip(replies).zip(pipe.cmd_iter()) {
            match value {
                Value::ServerError(e) if script && e.kind() == Some(ServerErrorKind::NoScript) => {
                    again.push(Job {
                        cmd: cmd.clone(),
                        size: 0,
                        script,
                        queued: now,
                        reply,
                    });
                }
                Value::ServerError(e) => {
                    let _ = reply.send(Err(unavailable(redis::RedisError::from(e))));
                }
                value => {
                    let _ = reply.send(Ok(value));
                }
            }
        }
        !again.is_empty()
    }
}

type Sent = Vec<(oneshot::Sender<Result<Value, PubSubError>>, bool)>;

fn fail(sent: Sent, e: &PubSubError) {
    for (reply, ..) in sent {
        let _ = reply.send(Err(e.clone()));
    }
}
