//! Envelope codec: request and response envelopes read and written with MessagePack's
//! low-level grammar; payloads and metadata maps stay raw bytes (zero copy).
//!
//! Decoding first reads the array header and the seq, so that every later problem can be
//! reported with the seq (swill/1 §12.3), then checks that the message is exactly one complete
//! MessagePack value. Once the seq is read, every problem carries it, malformed or truncated
//! MessagePack after the seq included: the server answers ERROR 400 on that seq instead of
//! leaving the caller waiting (issue #11; swill/1 §12.1 would drop such a frame silently). Encoding always writes integers in shortest form (swill/1 §3).

pub use super::error::{DecodeError, DecodeErrorKind, MetadataSlot};
use super::frame::{ErrorData, RequestEnvelope, RequestType, ResponseEnvelope, ResponseType, Seq};

pub use super::limits::MAX_DEPTH;

mod encode;
pub use encode::{
    encode_error_data, encode_request, encode_response, encode_response_head, encode_response_tail,
};

type Kind = DecodeErrorKind;

/// The head of one MessagePack value: scalars fully read, containers by element count.
#[derive(Debug, Clone, Copy)]
enum Head<'a> {
    Nil,
    Bool,
    Int(i128),
    Float,
    Str(&'a [u8]),
    Bin,
    Ext,
    Array(u32),
    Map(u32),
}

#[derive(Debug, Clone)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Kind> {
        let end = self.pos.checked_add(n).ok_or(Kind::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(Kind::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Kind> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, Kind> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, Kind> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Kind> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn len32(&mut self) -> Result<usize, Kind> {
        usize::try_from(self.u32()?).map_err(|_| Kind::Truncated)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads the head of the next value.
    fn head(&mut self) -> Result<Head<'a>, Kind> {
        use rmp::Marker as M;
        let marker = match self.take(1)? {
            [b] => *b,
            _ => return Err(Kind::Truncated),
        };
        Ok(match M::from_u8(marker) {
            M::FixPos(v) => Head::Int(v.into()),
            M::FixNeg(v) => Head::Int(v.into()),
            M::Null => Head::Nil,
            M::True | M::False => Head::Bool,
            M::U8 => Head::Int(self.u8()?.into()),
            M::U16 => Head::Int(self.u16()?.into()),
            M::U32 => Head::Int(self.u32()?.into()),
            M::U64 => Head::Int(u64::from_be_bytes(self.array()?).into()),
            M::I8 => Head::Int(i8::from_be_bytes(self.array()?).into()),
            M::I16 => Head::Int(i16::from_be_bytes(self.array()?).into()),
            M::I32 => Head::Int(i32::from_be_bytes(self.array()?).into()),
            M::I64 => Head::Int(i64::from_be_bytes(self.array()?).into()),
            M::F32 => {
                self.take(4)?;
                Head::Float
            }
            M::F64 => {
                self.take(8)?;
                Head::Float
            }
            M::FixStr(n) => Head::Str(self.take(n.into())?),
            M::Str8 => {
                let n = self.u8()?;
                Head::Str(self.take(n.into())?)
            }
            M::Str16 => {
                let n = self.u16()?;
                Head::Str(self.take(n.into())?)
            }
            M::Str32 => {
                let n = self.len32()?;
                Head::Str(self.take(n)?)
            }
            M::Bin8 => {
                let n = self.u8()?;
                self.take(n.into())?;
                Head::Bin
            }
            M::Bin16 => {
                let n = self.u16()?;
                self.take(n.into())?;
                Head::Bin
            }
            M::Bin32 => {
                let n = self.len32()?;
                self.take(n)?;
                Head::Bin
            }
            M::FixExt1 => self.ext(1)?,
            M::FixExt2 => self.ext(2)?,
            M::FixExt4 => self.ext(4)?,
            M::FixExt8 => self.ext(8)?,
            M::FixExt16 => self.ext(16)?,
            M::Ext8 => {
                let n = self.u8()?;
                self.ext(n.into())?
            }
            M::Ext16 => {
                let n = self.u16()?;
                self.ext(n.into())?
            }
            M::Ext32 => {
                let n = self.len32()?;
                self.ext(n)?
            }
            M::FixArray(n) => Head::Array(n.into()),
            M::Array16 => Head::Array(self.u16()?.into()),
            M::Array32 => Head::Array(self.u32()?),
            M::FixMap(n) => Head::Map(n.into()),
            M::Map16 => Head::Map(self.u16()?.into()),
            M::Map32 => Head::Map(self.u32()?),
            M::Reserved => return Err(Kind::InvalidMarker(marker)),
        })
    }

    fn ext(&mut self, len: usize) -> Result<Head<'a>, Kind> {
        // One type byte, then the data.
        self.take(1)?;
        self.take(len)?;
        Ok(Head::Ext)
    }

    /// Skips one complete value and returns its bytes.
    fn value(&mut self) -> Result<&'a [u8], Kind> {
        let start = self.pos;
        let mut open = Open::new();
        loop {
            let children = match self.head()? {
                Head::Array(n) => u64::from(n),
                Head::Map(n) => u64::from(n) * 2,
                _ => 0,
            };
            if children > 0 {
                if open.depth() >= MAX_DEPTH {
                    return Err(Kind::TooDeep);
                }
                open.push(children);
                continue;
            }
            if open.complete_one() {
                return self.buf.get(start..self.pos).ok_or(Kind::Truncated);
            }
        }
    }

    /// Reads one value that must be nil or a map with str keys; returns the map's bytes.
    fn metadata(&mut self, slot: MetadataSlot) -> Result<Option<&'a [u8]>, Kind> {
        let start = self.pos;
        let len = match self.head()? {
            Head::Nil => return Ok(None),
            Head::Map(n) => n,
            _ => return Err(Kind::MetadataNotMap(slot)),
        };
        for _ in 0..len {
            match self.head()? {
                Head::Str(s) => {
                    if std::str::from_utf8(s).is_err() {
                        return Err(Kind::MetadataKeyNotUtf8(slot));
                    }
                }
                _ => return Err(Kind::MetadataKeyNotStr(slot)),
            }
            self.value()?;
        }
        Ok(self.buf.get(start..self.pos))
    }
}

/// Open containers kept in place by a skip-walk before it spills to the heap: payloads
/// rarely nest deeper, so walking one allocates nothing.
const OPEN_INLINE: usize = 16;

/// The remaining element counts of a skip-walk's open containers, innermost last: the first
/// [`OPEN_INLINE`] levels in place, deeper ones on the heap.
pub(crate) struct Open {
    inline: [u64; OPEN_INLINE],
    spill: Vec<u64>,
    depth: usize,
}

impl Open {
    pub(crate) const fn new() -> Self {
        Self {
            inline: [0; OPEN_INLINE],
            spill: Vec::new(),
            depth: 0,
        }
    }

    /// How many containers are open.
    pub(crate) const fn depth(&self) -> usize {
        self.depth
    }

    /// Opens a container of `children` values (more than 0).
    pub(crate) fn push(&mut self, children: u64) {
        match self.inline.get_mut(self.depth) {
            Some(slot) => *slot = children,
            None => self.spill.push(children),
        }
        self.depth += 1;
    }

    /// Counts one complete value against the innermost open container, closing the ones it
    /// completes; `true` once no container is open (the walk's value is complete).
    pub(crate) fn complete_one(&mut self) -> bool {
        while let Some(top) = self.depth.checked_sub(1) {
            let left = match self.inline.get_mut(top) {
                Some(l) => l,
                None => match self.spill.last_mut() {
                    Some(l) => l,
                    None => return true,
                },
            };
            *left = left.saturating_sub(1);
            if *left > 0 {
                return false;
            }
            if top >= OPEN_INLINE {
                self.spill.pop();
            }
            self.depth = top;
        }
        true
    }
}

/// Length in bytes of the first MessagePack value in `buf`.
///
/// Iterative (no recursion, whatever the input); nesting deeper than [`MAX_DEPTH`] is refused.
///
/// # Errors
///
/// [`DecodeErrorKind::Truncated`], [`DecodeErrorKind::InvalidMarker`] or
/// [`DecodeErrorKind::TooDeep`].
pub fn skip_value(buf: &[u8]) -> Result<usize, DecodeErrorKind> {
    Reader::new(buf).value().map(<[u8]>::len)
}

/// Reads the array header and the seq: everything needed before a seq is known.
fn envelope_start(msg: &[u8]) -> Result<(Reader<'_>, u32, Seq), DecodeError> {
    let unreadable = |k| DecodeError::unreadable(k);
    if msg.is_empty() {
        return Err(unreadable(Kind::Empty));
    }
    let mut r = Reader::new(msg);
    let len = match r.head().map_err(unreadable)? {
        Head::Array(0) => return Err(unreadable(Kind::EmptyArray)),
        Head::Array(n) => n,
        _ => return Err(unreadable(Kind::NotAnArray)),
    };
    let seq = match r.head().map_err(unreadable)? {
        Head::Int(v) => Seq(i64::try_from(v).map_err(|_| unreadable(Kind::SeqOutOfRange))?),
        _ => return Err(unreadable(Kind::SeqNotInt)),
    };
    // The message must be one complete value. A truncated or malformed one still started
    // with a complete array header and integer seq, so it is answered on that seq: the
    // caller learns its call failed instead of waiting forever.
    match Reader::new(msg).value() {
        Ok(v) if v.len() == msg.len() => {}
        Ok(_) => return Err(DecodeError::at(seq, Kind::TrailingBytes)),
        Err(k) => return Err(DecodeError::at(seq, k)),
    }
    Ok((r, len, seq))
}

/// Decodes a request envelope (swill/1 §4) without copying anything.
///
/// Accepts 3 or more elements; elements after the fifth are skipped.
///
/// # Errors
///
/// A [`DecodeError`] whose `seq` is `Some` when the message starts with an array header and
/// a complete integer seq (§12.3; also when the rest is truncated or malformed MessagePack)
/// and `None` otherwise (§12.1).
pub fn decode_request(msg: &[u8]) -> Result<RequestEnvelope<'_>, DecodeError> {
    let (mut r, len, seq) = envelope_start(msg)?;
    let at = |k| DecodeError::at(seq, k);
    if len < 3 {
        return Err(at(Kind::TooFewElements { min: 3, got: len }));
    }
    let data = r.value().map_err(at)?;
    let rpc = match r.head().map_err(at)? {
        Head::Str(s) => std::str::from_utf8(s).map_err(|_| at(Kind::RpcNotUtf8))?,
        _ => return Err(at(Kind::RpcNotStr)),
    };
    let mut kind = RequestType::Message;
    if len >= 4 {
        kind = match r.head().map_err(at)? {
            Head::Int(v) => RequestType::from_code(v).ok_or(at(Kind::UnknownRequestType(v)))?,
            _ => return Err(at(Kind::RequestTypeNotInt)),
        };
    }
    let mut metadata = None;
    if len >= 5 {
        metadata = r.metadata(MetadataSlot::Request).map_err(at)?;
    }
    Ok(RequestEnvelope {
        seq,
        data,
        rpc,
        kind,
        metadata,
        array_len: len,
    })
}

/// Decodes a response envelope (swill/1 §5) without copying anything.
///
/// Accepts 2 or more elements, filling missing slots with their defaults; elements after the
/// fifth are skipped.
///
/// # Errors
///
/// A [`DecodeError`], with `seq` when it was readable.
pub fn decode_response(msg: &[u8]) -> Result<ResponseEnvelope<'_>, DecodeError> {
    let (mut r, len, seq) = envelope_start(msg)?;
    let at = |k| DecodeError::at(seq, k);
    if len < 2 {
        return Err(at(Kind::TooFewElements { min: 2, got: len }));
    }
    let data = r.value().map_err(at)?;
    let mut kind = ResponseType::Message;
    if len >= 3 {
        kind = match r.head().map_err(at)? {
            Head::Int(v) => ResponseType::from_code(v).ok_or(at(Kind::UnknownResponseType(v)))?,
            _ => return Err(at(Kind::ResponseTypeNotInt)),
        };
    }
    let mut leading = None;
    if len >= 4 {
        leading = r.metadata(MetadataSlot::Leading).map_err(at)?;
    }
    let mut trailing = None;
    if len >= 5 {
        trailing = r.metadata(MetadataSlot::Trailing).map_err(at)?;
    }
    Ok(ResponseEnvelope {
        seq,
        data,
        kind,
        leading,
        trailing,
        array_len: len,
    })
}

/// What [`decode_error_data_lenient`] could read from an error map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartialErrorData<'a> {
    /// `code`, when present and an integer that fits an `i64`.
    pub code: Option<i64>,
    /// `message`, when present and a valid str.
    pub message: Option<&'a str>,
    /// Raw bytes of `data`, when present.
    pub data: Option<&'a [u8]>,
}

/// Reads whatever it can from an ERROR frame's data (swill/1 §6.1); unknown keys are skipped.
///
/// # Errors
///
/// [`DecodeErrorKind::ErrorDataNotMap`] when `data` is not a map, or a grammar error when the
/// map is malformed.
pub fn decode_error_data_lenient(data: &[u8]) -> Result<PartialErrorData<'_>, DecodeErrorKind> {
    let mut r = Reader::new(data);
    let Head::Map(len) = r.head()? else {
        return Err(Kind::ErrorDataNotMap);
    };
    let mut out = PartialErrorData::default();
    for _ in 0..len {
        let key = match r.head()? {
            Head::Str(k) => Some(k),
            Head::Array(_) | Head::Map(_) => return Err(Kind::ErrorDataNotMap),
            _ => None,
        };
        let mut value = r.clone();
        let raw = r.value()?;
        match key {
            Some(b"code") => {
                if let Head::Int(v) = value.head()? {
                    out.code = i64::try_from(v).ok();
                }
            }
            Some(b"message") => {
                if let Head::Str(s) = value.head()? {
                    out.message = std::str::from_utf8(s).ok();
                }
            }
            Some(b"data") => out.data = Some(raw),
            _ => {}
        }
    }
    Ok(out)
}

/// Decodes an ERROR frame's data: a map with an integer `code`, a str `message` and an
/// optional `data` (swill/1 §6.1).
///
/// # Errors
///
/// When the map is malformed or `code` or `message` is missing or of the wrong type.
pub fn decode_error_data(data: &[u8]) -> Result<ErrorData<'_>, DecodeErrorKind> {
    let p = decode_error_data_lenient(data)?;
    Ok(ErrorData {
        code: p.code.ok_or(Kind::ErrorCodeMissing)?,
        message: p.message.ok_or(Kind::ErrorMessageMissing)?,
        data: p.data,
    })
}

/// Whether `bytes` is exactly one complete MessagePack value.
pub fn is_one_value(bytes: &[u8]) -> bool {
    // Scalars (most stream items) by their marker alone; containers by the full walk.
    if let Some(n) = bytes.first().and_then(|m| scalar_len(*m)) {
        return n == bytes.len();
    }
    matches!(skip_value(bytes), Ok(n) if n == bytes.len())
}

/// The encoded length of a scalar that its marker alone determines: nil, bool, int, float.
const fn scalar_len(marker: u8) -> Option<usize> {
    Some(match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xca | 0xce | 0xd2 => 5,
        0xcb | 0xcf | 0xd3 => 9,
        _ => return None,
    })
}

/// Whether `bytes` is exactly one MessagePack map with str keys: valid metadata.
pub fn is_metadata_map(bytes: &[u8]) -> bool {
    let mut r = Reader::new(bytes);
    matches!(r.metadata(MetadataSlot::Request), Ok(Some(_))) && r.at_end()
}

#[cfg(test)]
mod tests;
