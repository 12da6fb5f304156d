//! The client's connection task: owns the socket and the [`ClientConn`] engine.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::ClientError;
use crate::protocol::{ClientConn, ClientEvent, Seq, Shape};
use crate::Error;

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
    fn as_str(self) -> &'static str {
        match self {
            Self::Alias => "swill.v1",
            Self::Original => "swill/1",
        }
    }
}

pub(super) enum Command {
    Open {
        id: u64,
        rpc: String,
        shape: Shape,
        data: Option<Vec<u8>>,
        metadata: Option<Bytes>,
        reply: mpsc::UnboundedSender<Reply>,
    },
    Item {
        id: u64,
        data: Vec<u8>,
    },
    End {
        id: u64,
    },
    Cancel {
        id: u64,
    },
}

#[derive(Debug)]
pub(super) enum Reply {
    Metadata(Bytes),
    Message {
        data: Bytes,
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    End {
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    Error(Error),
}

pub(super) async fn connect(
    url: &str,
    subprotocol: Subprotocol,
    headers: &[(String, String)],
    max_message_size: usize,
) -> Result<(mpsc::UnboundedSender<Command>, &'static str), ClientError> {
    let mut req = url.into_client_request().map_err(ClientError::Connect)?;
    let offered = subprotocol.as_str();
    req.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(offered));
    for (k, v) in headers {
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
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size));
    let (ws, res) = tokio_tungstenite::connect_async_with_config(req, Some(cfg), true)
        .await
        .map_err(ClientError::Connect)?;
    let selected = res
        .headers()
        .get("sec-websocket-protocol")
        .map(HeaderValue::as_bytes);
    if selected != Some(offered.as_bytes()) {
        return Err(ClientError::Subprotocol);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(ws, rx));
    Ok((tx, offered))
}

struct Open {
    seq: Seq,
    reply: mpsc::UnboundedSender<Reply>,
}

async fn run<S>(ws: tokio_tungstenite::WebSocketStream<S>, mut rx: mpsc::UnboundedReceiver<Command>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut engine = ClientConn::new();
    let mut by_id: HashMap<u64, Open> = HashMap::new();
    let mut by_seq: HashMap<Seq, u64> = HashMap::new();
    let mut commands_open = true;
    // Reading never waits for writing: a server that stops reading until we read its
    // replies (output backpressure) would otherwise deadlock a large upload.
    let (mut sink, mut stream) = ws.split();
    let mut outq: VecDeque<Bytes> = VecDeque::new();
    let mut unflushed = false;
    loop {
        while let Some(frame) = engine.poll_transmit() {
            outq.push_back(frame);
        }
        let want_write = unflushed || !outq.is_empty();
        if !commands_open && by_id.is_empty() && !want_write {
            let _ = sink.close().await;
            return;
        }
        tokio::select! {
            cmd = rx.recv(), if commands_open => match cmd {
                Some(cmd) => {
                    apply(cmd, &mut engine, &mut by_id, &mut by_seq);
                    // Take whatever else is queued before writing: one flush for the batch.
                    while let Ok(cmd) = rx.try_recv() {
                        apply(cmd, &mut engine, &mut by_id, &mut by_seq);
                    }
                }
                None => commands_open = false,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Err(e) = engine.handle_message(bytes) {
                        tracing::debug!(error = %e, "ignoring an undecodable frame from the server");
                    }
                    while let Some(ev) = engine.poll_event() {
                        deliver(ev, &mut by_id, &mut by_seq);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "client connection failed");
                    break;
                }
                None => break,
            },
            res = write_all(&mut sink, &mut outq, &mut unflushed), if want_write => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "client connection failed");
                    return;
                }
            }
        }
    }
    // Every reply channel drops here: open calls end with ClientError::Closed.
}

/// Moves queued frames into the socket and flushes. Cancel-safe: a frame leaves `outq` only
/// when the sink has taken it, so a `select!` may drop this future at any await.
async fn write_all<W>(
    sink: &mut W,
    outq: &mut VecDeque<Bytes>,
    unflushed: &mut bool,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    W: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    std::future::poll_fn(|cx| {
        while !outq.is_empty() {
            std::task::ready!(Pin::new(&mut *sink).poll_ready(cx))?;
            if let Some(frame) = outq.pop_front() {
                Pin::new(&mut *sink).start_send(Message::Binary(frame))?;
                *unflushed = true;
            }
        }
        std::task::ready!(Pin::new(&mut *sink).poll_flush(cx))?;
        *unflushed = false;
        Poll::Ready(Ok(()))
    })
    .await
}

fn apply(
    cmd: Command,
    engine: &mut ClientConn,
    by_id: &mut HashMap<u64, Open>,
    by_seq: &mut HashMap<Seq, u64>,
) {
    match cmd {
        Command::Open {
            id,
            rpc,
            shape,
            data,
            metadata,
            reply,
        } => {
            let seq = engine.open(&rpc, shape, data.as_deref(), metadata.as_deref());
            by_id.insert(id, Open { seq, reply });
            by_seq.insert(seq, id);
        }
        Command::Item { id, data } => {
            if let Some(open) = by_id.get(&id) {
                let _ = engine.send_item(open.seq, &data);
            }
        }
        Command::End { id } => {
            if let Some(open) = by_id.get(&id) {
                let _ = engine.send_end(open.seq);
            }
        }
        Command::Cancel { id } => {
            if let Some(open) = by_id.remove(&id) {
                by_seq.remove(&open.seq);
                engine.cancel(open.seq);
            }
        }
    }
}

fn deliver(ev: ClientEvent, by_id: &mut HashMap<u64, Open>, by_seq: &mut HashMap<Seq, u64>) {
    let (seq, reply, last) = match ev {
        ClientEvent::Metadata { seq, leading } => (seq, Reply::Metadata(leading), false),
        ClientEvent::Message {
            seq,
            data,
            leading,
            trailing,
            last,
        } => (
            seq,
            Reply::Message {
                data,
                leading,
                trailing,
            },
            last,
        ),
        ClientEvent::End {
            seq,
            leading,
            trailing,
        } => (seq, Reply::End { leading, trailing }, true),
        ClientEvent::Error {
            seq,
            code,
            message,
            data,
        } => {
            let mut err = Error::new(code, message);
            if let Some(raw) = data {
                if let Ok(v) = rmpv::decode::read_value(&mut &raw[..]) {
                    err = err.with_value(v);
                }
            }
            (seq, Reply::Error(err), true)
        }
        #[allow(unreachable_patterns)]
        _ => return,
    };
    let Some(id) = by_seq.get(&seq).copied() else {
        return;
    };
    if let Some(open) = by_id.get(&id) {
        let _ = open.reply.send(reply);
    }
    if last {
        by_seq.remove(&seq);
        by_id.remove(&id);
    }
}
