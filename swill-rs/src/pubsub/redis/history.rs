//! Topic history in Redis: a Redis Stream per topic for the messages and a small hash for
//! the numbering (epoch, last offset), both written by one Lua script together with the
//! `PUBLISH`, so that two instances can never hand out the same position and live messages
//! go out in position order.
//!
//! Keys of topic `t` (one hash tag, so both live in one cluster slot):
//! - `swill.history.{t}.s`: the stream; each entry has fields `o` (offset) and `p` (the
//!   MessagePack payload). Trimmed to the history's length on every append, and by age (its
//!   IDs are Redis server milliseconds); expires when the topic is idle for the max age.
//! - `swill.history.{t}.m`: the hash `{e: epoch, o: last offset}`. It outlives the stream
//!   (see [`RedisConfig::history_meta_ttl`](super::RedisConfig::history_meta_ttl)); when it
//!   is gone (expired, or Redis was flushed) the next use starts a new epoch, so old
//!   positions are never mistaken for new ones.
//!
//! A message of a topic with history travels on the pub/sub channel as a frame that starts
//! with the byte `0xc1` (never used by MessagePack, so plain payloads cannot start with it),
//! then `epoch:offset:`, then the payload.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::super::{History, HistoryRead, Message, Position, PubSubError};

/// The first byte of a positioned frame on a pub/sub channel.
pub(super) const POSITIONED: u8 = 0xc1;

pub(super) fn stream_key(topic: &str) -> String {
    format!("swill.history.{{{topic}}}.s")
}

pub(super) fn meta_key(topic: &str) -> String {
    format!("swill.history.{{{topic}}}.m")
}

/// KEYS: stream, meta. ARGV: payload, channel, max_len, max_age_ms, new_epoch, meta_ttl_ms.
/// Returns {epoch, offset}.
pub(super) const PUBLISH: &str = r"
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 0)
end
local offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'o', offset, 'p', ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[2], (ARGV[7] or '') .. '\193' .. epoch .. ':' .. offset .. ':' .. ARGV[1])
return {epoch, offset}
";

/// KEYS: stream, meta. ARGV: since_epoch ('' for none), since_offset, limit, max_age_ms,
/// new_epoch, meta_ttl_ms. Returns {epoch, top, recoverable (0/1), payload...}.
pub(super) const READ: &str = r"
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 0)
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local top = tonumber(redis.call('HGET', KEYS[2], 'o'))
local out = {epoch, top, 0}
if ARGV[1] == '' or ARGV[1] ~= epoch then
  return out
end
local since = tonumber(ARGV[2])
local count = top - since
if count < 0 or count > tonumber(ARGV[3]) then
  return out
end
if count == 0 then
  out[3] = 1
  return out
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[4]))
local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', count)
if #entries ~= count then
  return out
end
local oldest = entries[#entries][2]
local first
for i = 1, #oldest, 2 do
  if oldest[i] == 'o' then first = tonumber(oldest[i + 1]) end
end
if first ~= since + 1 then
  return out
end
out[3] = 1
for i = #entries, 1, -1 do
  local fields = entries[i][2]
  for j = 1, #fields, 2 do
    if fields[j] == 'p' then table.insert(out, fields[j + 1]) end
  end
end
return out
";

/// Milliseconds, at least 1.
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A fresh epoch name, unique across instances and restarts.
pub(super) fn new_epoch() -> String {
    super::super::instance_id()
}

/// Reads a positioned frame: `0xc1 epoch ':' offset ':' payload`.
pub(super) fn parse_frame(topic: String, frame: Vec<u8>) -> Option<Message> {
    let rest = frame.strip_prefix(&[POSITIONED])?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let epoch = std::str::from_utf8(&rest[..colon]).ok()?;
    let rest = &rest[colon + 1..];
    let colon = rest.iter().position(|&b| b == b':')?;
    let offset: u64 = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    let start = 1 + epoch.len() + 1 + colon + 1;
    let epoch: Arc<str> = Arc::from(epoch);
    let mut frame = Bytes::from(frame);
    let payload = frame.split_off(start);
    Some(Message::new(topic, payload).at(Position::new(epoch, offset)))
}

/// Turns the READ script's reply into a [`HistoryRead`].
pub(super) fn parse_read(
    topic: &Arc<str>,
    reply: Vec<redis::Value>,
) -> Result<HistoryRead, PubSubError> {
    let bad = || PubSubError::Unavailable("unexpected reply from the redis history script".into());
    let mut it = reply.into_iter();
    let epoch = it.next().and_then(text).ok_or_else(bad)?;
    let top = it.next().and_then(int).ok_or_else(bad)?;
    let recoverable = it.next().and_then(int).ok_or_else(bad)? == 1;
    let epoch: Arc<str> = Arc::from(epoch);
    let missed = if recoverable {
        let payloads: Vec<Vec<u8>> = it.map(bytes).collect::<Option<_>>().ok_or_else(bad)?;
        let first = top - payloads.len() as u64 + 1;
        Some(
            payloads
                .into_iter()
                .zip(first..)
                .map(|(p, offset)| {
                    Message::new(topic.clone(), Bytes::from(p))
                        .at(Position::new(epoch.clone(), offset))
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(HistoryRead {
        top: Position::new(epoch, top),
        missed,
    })
}

/// Turns the PUBLISH script's reply into the message's position.
pub(super) fn parse_position(reply: Vec<redis::Value>) -> Result<Position, PubSubError> {
    let bad = || PubSubError::Unavailable("unexpected reply from the redis publish script".into());
    let mut it = reply.into_iter();
    let epoch = it.next().and_then(text).ok_or_else(bad)?;
    let offset = it.next().and_then(int).ok_or_else(bad)?;
    Ok(Position::new(epoch, offset))
}

/// The script arguments of a topic's history settings: max_len, max_age_ms.
pub(super) fn limits(h: &History) -> (usize, u64) {
    (h.get_max_len(), ms(h.get_max_age()))
}

fn bytes(v: redis::Value) -> Option<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn text(v: redis::Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn int(v: redis::Value) -> Option<u64> {
    match v {
        redis::Value::Int(n) => u64::try_from(n).ok(),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_frames_round_trip() {
        let mut frame = vec![POSITIONED];
        frame.extend_from_slice(b"ab12:42:");
        frame.extend_from_slice(&[0x93, 1, 2, 3]);
        let m = parse_frame("t".into(), frame).unwrap();
        assert_eq!(m.topic(), "t");
        assert_eq!(m.position(), Some(&Position::new("ab12", 42)));
        assert_eq!(&m.payload()[..], &[0x93, 1, 2, 3]);
        // A payload that contains colons is kept whole.
        let mut frame = vec![POSITIONED];
        frame.extend_from_slice(b"e:1::x:");
        assert_eq!(
            &parse_frame("t".into(), frame).unwrap().payload()[..],
            b":x:"
        );
    }

    #[test]
    fn malformed_frames_are_refused() {
        for bad in [
            &b"\x93\x01"[..],
            b"\xc1",
            b"\xc1e",
            b"\xc1e:",
            b"\xc1e:x:",
            b"\xc1e:1",
        ] {
            assert!(parse_frame("t".into(), bad.to_vec()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn keys_share_a_hash_tag() {
        assert_eq!(stream_key("room.a"), "swill.history.{room.a}.s");
        assert_eq!(meta_key("room.a"), "swill.history.{room.a}.m");
    }
}
