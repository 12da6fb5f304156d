//! A ClientConn and a ServerConn joined in memory (after quinn-proto's `tests/util.rs`).

use bytes::Bytes;

use super::*;
use crate::protocol::{ClientConn, ClientEvent, Event, ServerConn};

/// The two engines and everything each has produced for the test to inspect.
struct Pair {
    client: ClientConn,
    server: ServerConn,
    server_events: Vec<Event>,
    client_events: Vec<ClientEvent>,
    /// Every frame the client sent, in order.
    wire_up: Vec<Bytes>,
}

impl Pair {
    fn new(limits: Limits) -> Self {
        Self {
            client: ClientConn::new(),
            server: ServerConn::new(limits),
            server_events: Vec::new(),
            client_events: Vec::new(),
            wire_up: Vec::new(),
        }
    }

    /// Moves frames both ways until both sides are idle (bounded).
    fn drive(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(f) = self.client.poll_transmit() {
                self.wire_up.push(f.clone());
                self.server
                    .handle_message(f, &router)
                    .expect("server keeps the connection");
                moved = true;
            }
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            while let Some(f) = self.server.poll_transmit() {
                self.client.handle_message(f).expect("valid response");
                moved = true;
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
        panic!("pair did not settle");
    }

    fn server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    fn reply(&mut self, seq: Seq, data: &'static [u8]) {
        self.server.send_message(seq, ok_write(data)).unwrap();
    }
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

const MD: &[u8] = b"\x81\xa1k\xa1v";

#[test]
fn unary_call_with_metadata() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("unary", Shape::UNARY, Some(b"\x92\x01\x02"), Some(MD));
    assert_eq!(seq, Seq(1));
    p.drive();
    let ev = p.server_events();
    assert_eq!(
        ev,
        [Event::Open {
            seq,
            handler: 0,
            shape: Shape::UNARY,
            payload: Some(b(b"\x92\x01\x02")),
            metadata: Some(b(MD))
        }]
    );
    p.server.set_leading(seq, b(MD)).unwrap();
    p.server.set_trailing(seq, b(b"\x80")).unwrap();
    p.reply(seq, b"\x03");
    p.drive();
    assert_eq!(
        p.client_events(),
        [ClientEvent::Message {
            seq,
            data: b(b"\x03"),
            leading: Some(b(MD)),
            trailing: Some(b(b"\x80")),
            last: true
        }]
    );
    assert_eq!((p.client.open_calls(), p.server.open_calls()), (0, 0));
}

#[test]
fn unary_call_without_data_sends_nil() {
    let mut p = Pair::new(Limits::default());
    let seq = p.client.open("unary", Shape::UNARY, None, None);
    p.drive();
    assert!(matches!(&p.server_events()[..], [Event::Open { payload: Some(d), .. }] if d == NIL));
    assert_eq!(p.wire_up, [msg(seq.0, "unary", NIL)]);
}

#[test]
fn server_streaming_call_with_eager_metadata() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("server", Shape::SERVER_STREAMING, Some(b"\x02"), None);
    p.drive();
    p.server_events();
    p.server.send_metadata(seq).unwrap();
    p.reply(seq, b"\x00");
    p.reply(seq, b"\x01");
    p.server.set_trailing(seq, b(MD)).unwrap();
    p.server.send_end(seq).unwrap();
    p.drive();
    let item = |d: &'static [u8]| ClientEvent::Message {
        seq,
        data: b(d),
        leading: None,
        trailing: None,
        last: false,
    };
    assert_eq!(
        p.client_events(),
        [
            ClientEvent::Metadata {
                seq,
                leading: b(EMPTY_MAP)
            },
            item(b"\x00"),
            item(b"\x01"),
            ClientEvent::End {
                seq,
                leading: None,
                trailing: Some(b(MD))
            },
        ]
    );
    assert!(!p.client.is_open(seq));
}

#[test]
fn client_streaming_call_opened_by_metadata() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("client", Shape::CLIENT_STREAMING, None, Some(MD));
    p.client.send_item(seq, b"\x01").unwrap();
    p.client.send_item(seq, b"\x02").unwrap();
    p.client.send_end(seq).unwrap();
    assert_eq!(
        p.client.send_item(seq, b"\x03"),
        Err(ClientSendError::RequestEnded)
    );
    assert_eq!(p.client.send_end(seq), Err(ClientSendError::RequestEnded));
    p.drive();
    assert_eq!(
        p.server_events(),
        [
            Event::Open {
                seq,
                handler: 2,
                shape: Shape::CLIENT_STREAMING,
                payload: None,
                metadata: Some(b(MD))
            },
            Event::Message {
                seq,
                payload: b(b"\x01")
            },
            Event::Message {
                seq,
                payload: b(b"\x02")
            },
            Event::EndOfStream { seq },
        ]
    );
    // [1, nil, "client", 2, {"k": "v"}], then items and END_OF_STREAM [1, nil, "client", 1].
    assert_eq!(
        p.wire_up[0],
        req(1, "client", RequestType::Metadata, NIL, Some(MD))
    );
    assert_eq!(p.wire_up[3], ctl(1, "client", RequestType::EndOfStream));
    p.reply(seq, b"\x03");
    p.drive();
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Message { last: true, .. }]
    ));
}

#[test]
fn metadata_opening_without_metadata_sends_an_empty_map() {
    let mut p = Pair::new(Limits::default());
    p.client.open("bidi", Shape::BIDI, None, None);
    p.drive();
    assert_eq!(
        p.wire_up,
        [req(1, "bidi", RequestType::Metadata, NIL, Some(EMPTY_MAP))]
    );
    assert!(
        matches!(&p.server_events()[..], [Event::Open { payload: None, metadata: Some(m), .. }] if m == EMPTY_MAP)
    );
}

#[test]
fn bidi_call_interleaves() {
    let mut p = Pair::new(Limits::default());
    let seq = p.client.open("bidi", Shape::BIDI, Some(b"\x01"), None);
    p.drive();
    assert_eq!(p.server_events().len(), 1);
    p.reply(seq, b"\x02");
    p.client.send_item(seq, b"\x02").unwrap();
    p.drive();
    p.reply(seq, b"\x04");
    // The server ends first; the client's request side is still open.
    p.server.send_end(seq).unwrap();
    p.drive();
    let ev = p.client_events();
    assert_eq!(ev.len(), 3);
    assert!(matches!(ev[2], ClientEvent::End { .. }));
    // The client closed its request side on its own so the server forgets the seq.
    assert_eq!(
        p.wire_up.last(),
        Some(&ctl(1, "bidi", RequestType::EndOfStream))
    );
    assert_eq!(
        p.server_events(),
        [Event::Message {
            seq,
            payload: b(b"\x02")
        }]
    );
    assert_eq!(
        p.client.send_item(seq, b"\x05"),
        Err(ClientSendError::NotOpen)
    );
}

#[test]
fn cancel_stops_everything() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("server", Shape::SERVER_STREAMING, Some(b"\x14"), None);
    p.drive();
    p.reply(seq, b"\x00");
    // Queued before the cancel arrives: the client tolerates the late item.
    p.client.cancel(seq);
    p.client.cancel(seq);
    p.drive();
    assert_eq!(p.client_events(), []);
    let ev = p.server_events();
    assert_eq!(
        ev[1],
        Event::Cancelled {
            seq,
            reason: CancelReason::Client
        }
    );
    assert_eq!(p.server.send_end(seq), Err(SendError::NotOpen));
    assert_eq!(p.wire_up.len(), 2, "one CANCEL only");
    assert_eq!(p.wire_up[1], ctl(1, "server", RequestType::Cancel));
}

#[test]
fn early_answer_to_a_client_stream_is_half_closed() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("client", Shape::CLIENT_STREAMING, Some(b"\x01"), None);
    p.drive();
    p.reply(seq, b"\x01");
    // Sent before the answer arrives: dropped by the server, never a new call.
    p.client.send_item(seq, b"\x02").unwrap();
    p.drive();
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Message { last: true, .. }]
    ));
    assert_eq!(p.server_events().len(), 1, "only the Open");
    assert_eq!(p.server.open_calls(), 0);
    // The client's automatic END_OF_STREAM freed the seq on the server.
    let mut again = ServerConn::new(Limits::default());
    again
        .handle_message(msg(1, "client", b"\x01"), &router)
        .unwrap();
    assert!(again.is_open(seq));
}

#[test]
fn errors_end_calls_on_both_sides() {
    let mut p = Pair::new(Limits::default().max_concurrent_calls(1));
    let a = p.client.open("bidi", Shape::BIDI, Some(b"\x01"), None);
    let b2 = p.client.open("unary", Shape::UNARY, Some(b"\x01"), None);
    let c = p.client.open("nope", Shape::UNARY, Some(b"\x01"), None);
    p.drive();
    let err = |seq, code, message: &str| ClientEvent::Error {
        seq,
        code,
        message: message.into(),
        data: None,
    };
    assert_eq!(
        p.client_events(),
        [
            err(b2, 429, TOO_MANY_CALLS_MESSAGE),
            err(c, 404, NOT_FOUND_MESSAGE)
        ]
    );
    p.server
        .send_error(a, 418, "teapot", Some(b"\x81\xa1x\x01"))
        .unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        [ClientEvent::Error {
            seq: a,
            code: 418,
            message: "teapot".into(),
            data: Some(b(b"\x81\xa1x\x01"))
        }]
    );
    assert_eq!((p.client.open_calls(), p.server.open_calls()), (0, 0));
}

#[test]
fn duplicate_seq_from_a_misbehaving_client_is_dropped() {
    let mut p = Pair::new(Limits::default());
    let seq = p
        .client
        .open("client", Shape::CLIENT_STREAMING, Some(b"\x01"), None);
    p.drive();
    p.server_events();
    p.server
        .handle_message(msg(seq.0, "unary", b"\x01"), &router)
        .unwrap();
    assert_eq!(p.server.poll_event(), None);
    assert_eq!(p.server.poll_transmit(), None);
    p.client.send_item(seq, b"\x02").unwrap();
    p.drive();
    assert_eq!(
        p.server_events(),
        [Event::Message {
            seq,
            payload: b(b"\x02")
        }]
    );
}

#[test]
fn client_ignores_unknown_seqs_and_reports_bad_frames() {
    let mut c = ClientConn::new();
    assert_eq!(
        c.handle_message(resp(7, ResponseType::Message, b"\x01", None, None)),
        Ok(())
    );
    assert_eq!(c.poll_event(), None);
    let err = c
        .handle_message(Bytes::from_static(b"\x95\x01\xc0\x04\xc0\xc0"))
        .unwrap_err();
    assert_eq!(err.seq, Some(Seq(1)));
    // An error map without a code: an error of unknown code.
    let seq = c.open("x", Shape::UNARY, None, None);
    c.handle_message(Bytes::from_static(
        b"\x95\x01\x81\xa7message\xa1x\x03\xc0\xc0",
    ))
    .unwrap();
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Error {
            seq,
            code: UNKNOWN_ERROR_CODE,
            message: "x".into(),
            data: None
        })
    );
    assert!(!c.is_open(seq));
}

#[test]
fn client_commands_check_the_call() {
    let mut c = ClientConn::new();
    let u = c.open("unary", Shape::UNARY, Some(b"\x01"), None);
    assert_eq!(c.send_item(u, b"\x01"), Err(ClientSendError::NotStreaming));
    assert_eq!(c.send_end(Seq(99)), Err(ClientSendError::NotOpen));
    c.cancel(Seq(99));
    let s = c.open("bidi", Shape::BIDI, Some(b"\x01"), None);
    assert_eq!(s, Seq(2));
    assert_eq!(c.close(), [u, s]);
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.open("unary", Shape::UNARY, None, None), Seq(3));
}
