//! The app-wide input budget (`Config::input_budget`): incomplete messages past 64 KiB
//! reserve their bytes; with the budget spent, such connections wait before reading more
//! while small messages flow, and go on as soon as another message completes.
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::SinkExt;
use rmpv::Value as V;
use swill::{Config, Error, Request, Swill};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[swill::handler]
async fn len(req: Request<Bytes>) -> usize {
    req.data().len()
}

#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

const KIB: usize = 1024;

fn fragment(bytes: &[u8], first: bool, fin: bool) -> Message {
    let opcode = if first {
        OpCode::Data(Data::Binary)
    } else {
        OpCode::Data(Data::Continue)
    };
    Message::Frame(Frame::message(Bytes::copy_from_slice(bytes), opcode, fin))
}

/// A CALL of `len` with `n` bytes of bin, as one message.
fn len_call(seq: i64, n: usize) -> Vec<u8> {
    envelope(seq, V::Binary(vec![7; n]), "len", 0, None)
}

#[tokio::test]
async fn incomplete_messages_share_the_budget_and_small_ones_flow() {
    // The budget in force is at least max_message_size + 512 KiB: 1.5 MiB here.
    let config = Config::default()
        .max_message_size(1024 * KIB)
        .input_budget(0)
        .message_timeout(Duration::from_secs(20));
    let server = spawn(Swill::new().config(config).handler(len).handler(add)).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut c = raw_ws(&server.url(), "swill/1").await;

    // A: 900 KiB of a 1000 KiB message, held open.
    let a_msg = len_call(1, 1000 * KIB);
    let (a_head, a_tail) = a_msg.split_at(900 * KIB);
    a.send(fragment(a_head, true, false))
        .with_timeout()
        .await
        .unwrap();
    // (a round trip on another connection does not order A's bytes; a small message on A
    // itself cannot interleave with A's fragments. C's answer shows the server is serving.)
    send_bytes(&mut c, envelope(1, mpv(&(2, 3)), "add", 0, None)).await;
    assert_eq!(recv_resp(&mut c).await.data, V::from(5));

    // B: a whole 1000 KiB message. With A holding about 900 KiB of the 1.5 MiB, B's reads
    // stop part way; its sender runs in a task because its writes back up in TCP.
    let mut b = raw_ws(&server.url(), "swill/1").await;
    let b_msg = len_call(1, 1000 * KIB);
    let (b_head, b_tail) = b_msg.split_at(900 * KIB);
    let (b_head, b_tail) = (b_head.to_vec(), b_tail.to_vec());
    let mut b_task = tokio::spawn(async move {
        b.send(fragment(&b_head, true, false)).await.unwrap();
        b.send(fragment(&b_tail, false, true)).await.unwrap();
        let got = recv_resp(&mut b).await;
        (got.data, b)
    });

    // Small messages are never held back by the budget.
    for seq in 2..5 {
        send_bytes(&mut c, envelope(seq, mpv(&(seq, 1)), "add", 0, None)).await;
        assert_eq!(recv_resp(&mut c).await.data, V::from(seq + 1));
    }

    // B's message cannot complete while A holds its part of the budget. (Absence sends no
    // signal: it is watched for a while, after C's answers showed the server at work.)
    let early = tokio::time::timeout(Duration::from_millis(300), &mut b_task).await;
    assert!(
        early.is_err(),
        "B completed although the input budget was spent"
    );

    // A completes; it is answered, and its bytes go back, so B can finish too.
    a.send(fragment(a_tail, false, true))
        .with_timeout()
        .await
        .unwrap();
    assert_eq!(recv_resp(&mut a).await.data, V::from(1000 * KIB as u64));
    let (b_len, b) = b_task.with_timeout().await.unwrap();
    assert_eq!(b_len, V::from(1000 * KIB as u64));
    drop((a, b, c));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_waiting_for_the_budget_still_hits_its_message_timeout() {
    let config = Config::default()
        .max_message_size(1024 * KIB)
        .input_budget(0)
        .message_timeout(Duration::from_millis(500));
    let server = spawn(Swill::new().config(config).handler(len).handler(add)).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut b = raw_ws(&server.url(), "swill/1").await;
    let msg = len_call(1, 1000 * KIB);
    // A and B each send 900 KiB of a message and stop: together more than the 1.5 MiB
    // budget, so one of them waits for room that never comes.
    a.send(fragment(&msg[..900 * KIB], true, false))
        .with_timeout()
        .await
        .unwrap();
    let b_send = tokio::spawn(async move {
        let _ = b.send(fragment(&msg[..900 * KIB], true, false)).await;
        b
    });
    // Both are closed by the message timeout (1008), the waiting one included.
    let (code, _) = expect_close(&mut a).await;
    assert_eq!(code, 1008);
    let mut b = b_send.with_timeout().await.unwrap();
    let (code, _) = expect_close(&mut b).await;
    assert_eq!(code, 1008);
    // Their bytes went back: a new large message fits.
    let mut c = raw_ws(&server.url(), "swill/1").await;
    send_bytes(&mut c, len_call(7, 1000 * KIB)).await;
    assert_eq!(recv_resp(&mut c).await.data, V::from(1000 * KIB as u64));
    drop(c);
    server.stop().await;
}
