//! A minimal client WebSocket for the workloads whose generator reads many small frames
//! (fan-out subscribers, `count` streams): one socket read for many frames, no allocation
//! per frame, pings answered. It is what keeps the generator's core from being the limit
//! there; tokio-tungstenite costs about as much per frame as the server does.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::STALL_TIMEOUT;

/// Socket read size.
const READ_CHUNK: usize = 64 << 10;

/// A client WebSocket: a TCP stream, the bytes read and not yet parsed.
pub(crate) struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

/// A masked client frame (binary or pong) with `payload`.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x2e];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// The next complete server frame at the start of `buf`: its opcode, header length and
/// payload length, or `None` when it is not all there yet.
fn parse(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, String> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x80 == 0 {
        return Err("the server fragmented a frame".into());
    }
    if b1 & 0x80 != 0 {
        return Err("the server masked a frame".into());
    }
    let (head, len) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(l) => (4, u16::from_be_bytes([l[0], l[1]]) as usize),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(l) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(l);
                (
                    10,
                    usize::try_from(u64::from_be_bytes(a)).map_err(|e| e.to_string())?,
                )
            }
            None => return Ok(None),
        },
        n => (2, n as usize),
    };
    Ok((buf.len() >= head + len).then_some((b0 & 0x0f, head, len)))
}

impl RawWs {
    /// Opens `url` (`ws://host:port/path`) with the swill subprotocol.
    pub(crate) async fn connect(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("the raw reader needs a ws:// URL, not {url}"))?;
        let (host, path) = match rest.split_once('/') {
            Some((h, p)) => (h, format!("/{p}")),
            None => (rest, "/".to_owned()),
        };
        let mut tcp = tokio::time::timeout(STALL_TIMEOUT, TcpStream::connect(host))
            .await
            .map_err(|_| format!("connecting to {url} timed out"))?
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c3dpbGwtYmVuY2gtZmFub3V0\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: swill.v1\r\n\r\n"
        );
        tcp.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = tokio::time::timeout(STALL_TIMEOUT, tcp.read_buf(&mut buf))
                .await
                .map_err(|_| format!("{url}: no handshake answer"))?
                .map_err(|e| e.to_string())?;
            if n == 0 || buf.len() > 16 << 10 {
                return Err(format!("{url}: bad handshake answer"));
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return Err(format!("{url}: upgrade refused: {}", head.trim()));
        }
        Ok(Self {
            tcp,
            buf,
            start: end,
        })
    }

    pub(crate) async fn send_binary(&mut self, payload: &[u8]) -> Result<(), String> {
        self.tcp
            .write_all(&client_frame(0x2, payload))
            .await
            .map_err(|e| e.to_string())
    }

    /// Calls `f` on every binary frame's payload until it returns `false` (the frame that
    /// made it return `false` was the last one wanted); answers pings on the way.
    pub(crate) async fn frames(
        &mut self,
        mut f: impl FnMut(&[u8]) -> Result<bool, String>,
    ) -> Result<(), String> {
        loop {
            while let Some((op, head, len)) = parse(&self.buf[self.start..])? {
                let p = self.start + head..self.start + head + len;
                self.start = p.end;
                match op {
                    0x2 => {
                        if !f(&self.buf[p])? {
                            return Ok(());
                        }
                    }
                    0x9 => {
                        let pong = client_frame(0xa, &self.buf[p]);
                        self.tcp.write_all(&pong).await.map_err(|e| e.to_string())?;
                    }
                    0xa => {}
                    0x8 => return Err("the server closed the connection".into()),
                    op => return Err(format!("unexpected frame opcode {op}")),
                }
            }
            // Keep only the incomplete frame, then read more after it.
            self.buf.drain(..self.start);
            self.start = 0;
            self.buf.reserve(READ_CHUNK);
            let n = tokio::time::timeout(STALL_TIMEOUT, self.tcp.read_buf(&mut self.buf))
                .await
                .map_err(|_| format!("no frame for {STALL_TIMEOUT:?}"))?
                .map_err(|e| format!("connection failed: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_parsed_only_when_complete() {
        assert_eq!(parse(&[0x82]).unwrap(), None);
        assert_eq!(parse(&[0x82, 3, 1, 2]).unwrap(), None);
        assert_eq!(parse(&[0x82, 3, 1, 2, 3, 9]).unwrap(), Some((2, 2, 3)));
        let mut long = vec![0x82, 126, 0x01, 0x00];
        long.extend(vec![0u8; 256]);
        assert_eq!(parse(&long).unwrap(), Some((2, 4, 256)));
        assert_eq!(parse(&long[..100]).unwrap(), None);
        assert!(parse(&[0x02, 0]).is_err());
        assert!(parse(&[0x82, 0x81]).is_err());
    }

    #[test]
    fn client_frames_are_masked() {
        let f = client_frame(0x2, b"abcde");
        assert_eq!(f[..2], [0x82, 0x85]);
        let mask = &f[2..6];
        let back: Vec<u8> = f[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(back, b"abcde");
    }
}
