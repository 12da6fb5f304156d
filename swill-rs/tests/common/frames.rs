//! swill/1 frames: hex and the spec's notation, MessagePack values, the request builders
//! (every request frame is an [`envelope`]), the response decoder [`Resp`], and the
//! raw-socket checks built on them.

use rmpv::Value as V;

use super::raw_ws::{recv, send_bytes, RawWs};

/// Frame types (swill/1 §4): requests and responses share 0-2; 3 is CANCEL on a request
/// and ERROR on a response.
pub(crate) const MESSAGE: u8 = 0;
pub(crate) const END_OF_STREAM: u8 = 1;
pub(crate) const METADATA: u8 = 2;
pub(crate) const ERROR: u8 = 3;
pub(crate) const CANCEL: u8 = 3;

// ---- Bytes -------------------------------------------------------------------------------

/// Bytes from hex, whitespace ignored.
pub(crate) fn from_hex(hex: &str) -> Vec<u8> {
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(clean.len() % 2 == 0, "odd number of hex digits in {hex:?}");
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

/// Lower-case hex, no spaces.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Spec-style hex: bytes spaced freely, `"text"` stands for the UTF-8 bytes of `text`
/// (the notation of swill-1.md), e.g. `spec_hex(r#"93 01 c0 a3 "add""#)`.
pub(crate) fn spec_hex(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(start) = rest.find('"') {
        out.extend(from_hex(&rest[..start]));
        let tail = &rest[start + 1..];
        let end = tail.find('"').expect("unterminated string in spec hex");
        out.extend_from_slice(&tail.as_bytes()[..end]);
        rest = &tail[end + 1..];
    }
    out.extend(from_hex(rest));
    out
}

// ---- MessagePack values ------------------------------------------------------------------

/// Encodes any serde value as MessagePack (structs as maps).
pub(crate) fn mp(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    v.serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map())
        .unwrap();
    out
}

/// Decodes one MessagePack value.
pub(crate) fn value(bytes: &[u8]) -> V {
    rmpv::decode::read_value(&mut &bytes[..]).unwrap()
}

/// Encodes one MessagePack value (shortest forms).
pub(crate) fn encode(v: &V) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).unwrap();
    out
}

/// Any serde value as a dynamic MessagePack value (structs as maps).
pub(crate) fn mpv(v: &impl serde::Serialize) -> V {
    value(&mp(v))
}

/// A MessagePack map from string keys.
pub(crate) fn mmap(entries: &[(&str, V)]) -> V {
    V::Map(
        entries
            .iter()
            .map(|(k, v)| (V::from(*k), v.clone()))
            .collect(),
    )
}

/// The value under `key` in a MessagePack map (panics when missing).
pub(crate) fn get<'v>(map: &'v V, key: &str) -> &'v V {
    try_get(map, key).unwrap_or_else(|| panic!("no key {key:?} in {map}"))
}

/// The value under `key` in a MessagePack map, if any.
pub(crate) fn try_get<'v>(map: &'v V, key: &str) -> Option<&'v V> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The keys of a MessagePack map, in order, as strings.
pub(crate) fn keys(map: &V) -> Vec<String> {
    map.as_map()
        .unwrap_or_else(|| panic!("not a map: {map}"))
        .iter()
        .map(|(k, _)| k.as_str().unwrap_or("<non-str>").to_owned())
        .collect()
}

// ---- Request frames ----------------------------------------------------------------------

/// A request envelope `[seq, data, rpc, type, metadata]` in canonical form: the type and
/// metadata elements are written only when needed.
pub(crate) fn envelope(seq: i64, data: V, rpc: &str, kind: u8, metadata: Option<V>) -> Vec<u8> {
    let mut items = vec![V::from(seq), data, V::from(rpc)];
    if kind != MESSAGE || metadata.is_some() {
        items.push(V::from(kind));
    }
    if let Some(md) = metadata {
        items.push(md);
    }
    encode(&V::Array(items))
}

/// A MESSAGE request `[seq, data, rpc]`, as the TypeScript client writes it.
pub(crate) fn request(seq: i64, data: &impl serde::Serialize, rpc: &str) -> Vec<u8> {
    envelope(seq, mpv(data), rpc, MESSAGE, None)
}

/// A control frame `[seq, nil, rpc, kind]`: [`END_OF_STREAM`] or [`CANCEL`].
pub(crate) fn control(seq: i64, rpc: &str, kind: u8) -> Vec<u8> {
    envelope(seq, V::Nil, rpc, kind, None)
}

/// Sends a frame given as plain hex.
pub(crate) async fn send_hex(ws: &mut RawWs, hex: &str) {
    send_bytes(ws, from_hex(hex)).await;
}

/// Sends a frame written in spec notation (see [`spec_hex`]).
pub(crate) async fn send_spec(ws: &mut RawWs, spec: &str) {
    send_bytes(ws, spec_hex(spec)).await;
}

// ---- Response frames ---------------------------------------------------------------------

/// One response envelope, decoded: `[seq, data, type, leading, trailing]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resp {
    pub(crate) seq: i64,
    pub(crate) data: V,
    pub(crate) kind: u8,
    pub(crate) leading: V,
    pub(crate) trailing: V,
}

impl Resp {
    /// Decodes a response frame (panics unless it has the five elements).
    pub(crate) fn decode(bytes: &[u8]) -> Self {
        let v = value(bytes);
        let items = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
        assert_eq!(items.len(), 5, "responses have five elements: {v}");
        Self {
            seq: items[0].as_i64().unwrap(),
            data: items[1].clone(),
            kind: u8::try_from(items[2].as_u64().unwrap()).unwrap(),
            leading: items[3].clone(),
            trailing: items[4].clone(),
        }
    }

    /// The `code` of an ERROR frame's map (panics for other frames).
    pub(crate) fn error_code(&self) -> i64 {
        assert_eq!(self.kind, ERROR, "expected an ERROR frame, got {self:?}");
        get(&self.data, "code").as_i64().unwrap()
    }

    /// The `message` of an ERROR frame's map.
    pub(crate) fn error_message(&self) -> String {
        assert_eq!(self.kind, ERROR, "expected an ERROR frame, got {self:?}");
        get(&self.data, "message").as_str().unwrap().to_owned()
    }
}

/// `[seq, {"code": code, "message": message}, 3, nil, nil]`, shortest-form encoded.
pub(crate) fn error_frame(seq: i64, code: i64, message: &str) -> Vec<u8> {
    encode(&V::Array(vec![
        V::from(seq),
        mmap(&[("code", V::from(code)), ("message", V::from(message))]),
        V::from(ERROR),
        V::Nil,
        V::Nil,
    ]))
}

/// The next response envelope, decoded.
pub(crate) async fn recv_resp(ws: &mut RawWs) -> Resp {
    Resp::decode(&recv(ws).await)
}

/// Sends a MESSAGE request of `data` (no metadata) and returns the next response, which
/// must be for `seq`.
pub(crate) async fn call(ws: &mut RawWs, seq: i64, rpc: &str, data: V) -> Resp {
    send_bytes(ws, envelope(seq, data, rpc, MESSAGE, None)).await;
    let r = recv_resp(ws).await;
    assert_eq!(r.seq, seq, "{r:?}");
    r
}

/// Receives the next binary frame and asserts it is exactly `spec` (see [`spec_hex`]).
pub(crate) async fn expect_frame(ws: &mut RawWs, spec: &str) {
    let got = recv(ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&spec_hex(spec)),
        "frame differs from {spec}: got {:?}",
        value(&got)
    );
}

/// Receives the next binary frame and asserts it is [`error_frame`]`(seq, code, message)`.
pub(crate) async fn expect_error(ws: &mut RawWs, seq: i64, code: i64, message: &str) {
    let got = recv(ws).await;
    assert_eq!(
        to_hex(&got),
        to_hex(&error_frame(seq, code, message)),
        "expected ERROR {code} {message:?} on seq {seq}, got {:?}",
        value(&got)
    );
}
