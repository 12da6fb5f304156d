//! PROXY protocol version 2 (the binary header a TCP load balancer such as HAProxy, AWS NLB
//! or Envoy writes before the client's bytes), so that behind one the real client address is
//! seen by hooks, handlers, network filters and the per-address limits.
//!
//! The parsing is sans-IO ([`parse_prelude`], [`parse_addresses`]); [`read_header`] reads
//! exactly the header's bytes from the socket, never more, so what follows reaches the HTTP
//! layer untouched.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The 12 bytes every version 2 header starts with.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest address block accepted (addresses plus TLVs): real headers carry a few dozen
/// bytes of TLVs at most (ALPN, authority, TLS details); 2 KiB leaves room and bounds what a
/// misbehaving peer can make the server buffer.
pub const MAX_PROXY_HEADER_LEN: usize = 2048;

/// What the 16-byte prelude of a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prelude {
    /// `PROXY` (true) or `LOCAL` (false: a health check by the proxy itself; use the
    /// socket's own address).
    pub(crate) proxied: bool,
    /// Address family and transport byte.
    pub(crate) family: u8,
    /// Length of the address block that follows.
    pub(crate) len: usize,
}

/// Reads the prelude; `Err` with the reason when it is not a version 2 header.
pub(crate) fn parse_prelude(b: &[u8; 16]) -> Result<Prelude, &'static str> {
    if b[..12] != SIGNATURE {
        return Err("no PROXY protocol v2 signature");
    }
    if b[12] >> 4 != 2 {
        return Err("not PROXY protocol version 2");
    }
    let proxied = match b[12] & 0x0f {
        0 => false,
        1 => true,
        _ => return Err("unknown PROXY protocol command"),
    };
    let len = usize::from(u16::from_be_bytes([b[14], b[15]]));
    if len > MAX_PROXY_HEADER_LEN {
        return Err("PROXY protocol header too long");
    }
    Ok(Prelude {
        proxied,
        family: b[13],
        len,
    })
}

/// The client's address from the address block; `None` for families without one (UNSPEC,
/// UNIX sockets), where the socket's own address is kept.
pub(crate) fn parse_addresses(
    family: u8,
    block: &[u8],
) -> Result<Option<SocketAddr>, &'static str> {
    let short = "PROXY protocol address block too short";
    match family >> 4 {
        // AF_INET: src 4, dst 4, src port 2, dst port 2.
        0x1 => {
            let a = block.get(..12).ok_or(short)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = u16::from_be_bytes([a[8], a[9]]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        // AF_INET6: src 16, dst 16, src port 2, dst port 2.
        0x2 => {
            let a = block.get(..36).ok_or(short)?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Ok(Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)))
        }
        // AF_UNSPEC, AF_UNIX: nothing to use.
        0x0 | 0x3 => Ok(None),
        _ => Err("unknown PROXY protocol address family"),
    }
}

/// Reads one PROXY protocol v2 header from `io` and returns the client address it names
/// (`None` for a `LOCAL` connection or an address family without an IP address: keep the
/// socket's own). Reads exactly the header's bytes.
///
/// `serve` calls it itself when [`Config::proxy_protocol`](crate::Config::proxy_protocol) is
/// on; call it in your own accept loop before handing the socket to the HTTP layer.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`] when the bytes are not a valid version 2 header (the
/// connection should then be closed), or the socket's error.
pub async fn read_header<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Option<SocketAddr>> {
    let invalid = |m: &'static str| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut prelude = [0u8; 16];
    io.read_exact(&mut prelude).await?;
    let p = parse_prelude(&prelude).map_err(invalid)?;
    let mut block = vec![0u8; p.len];
    io.read_exact(&mut block).await?;
    let addr = parse_addresses(p.family, &block).map_err(invalid)?;
    Ok(addr.filter(|_| p.proxied))
}

/// Encodes a header naming `src` → `dst` (both of one family), for tests and tools.
pub fn encode_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(0x21); // version 2, PROXY
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            out.push(0x11); // AF_INET, STREAM
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (s, d) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                IpAddr::V6(ip) => ip,
            };
            out.push(0x21); // AF_INET6, STREAM
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prelude(bytes: &[u8]) -> [u8; 16] {
        bytes[..16].try_into().unwrap()
    }

    #[test]
    fn ipv4_and_ipv6_headers_round_trip() {
        let src: SocketAddr = "10.1.2.3:4444".parse().unwrap();
        let dst: SocketAddr = "192.168.0.1:443".parse().unwrap();
        let h = encode_header(src, dst);
        let p = parse_prelude(&prelude(&h)).unwrap();
        assert!(p.proxied);
        assert_eq!(p.len, 12);
        assert_eq!(parse_addresses(p.family, &h[16..]).unwrap(), Some(src));

        let src: SocketAddr = "[2001:db8::7]:5000".parse().unwrap();
        let dst: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let h = encode_header(src, dst);
        let p = parse_prelude(&prelude(&h)).unwrap();
        assert_eq!(p.len, 36);
        assert_eq!(parse_addresses(p.family, &h[16..]).unwrap(), Some(src));
    }

    #[test]
    fn tlvs_after_the_addresses_are_skipped() {
        let src: SocketAddr = "10.0.0.9:1".parse().unwrap();
        let mut h = encode_header(src, "10.0.0.1:2".parse().unwrap());
        // A PP2_TYPE_AUTHORITY TLV of 11 bytes.
        h[14..16].copy_from_slice(&(12u16 + 3 + 11).to_be_bytes());
        h.extend_from_slice(&[0x02, 0, 11]);
        h.extend_from_slice(b"example.com");
        let p = parse_prelude(&prelude(&h)).unwrap();
        assert_eq!(
            parse_addresses(p.family, &h[16..16 + p.len]).unwrap(),
            Some(src)
        );
    }

    #[test]
    fn bad_headers_are_refused_with_a_reason() {
        let good = encode_header("1.2.3.4:5".parse().unwrap(), "5.6.7.8:9".parse().unwrap());
        let mut http = [0u8; 16];
        http.copy_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(parse_prelude(&http).unwrap_err().contains("signature"));
        let mut v1 = prelude(&good);
        v1[12] = 0x11;
        assert!(parse_prelude(&v1).unwrap_err().contains("version"));
        let mut cmd = prelude(&good);
        cmd[12] = 0x2f;
        assert!(parse_prelude(&cmd).unwrap_err().contains("command"));
        let mut long = prelude(&good);
        long[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(parse_prelude(&long).unwrap_err().contains("too long"));
        assert!(parse_addresses(0x11, &[0; 11]).is_err());
        assert!(parse_addresses(0x21, &[0; 35]).is_err());
        assert!(parse_addresses(0x41, &[]).is_err());
        assert_eq!(parse_addresses(0x00, &[]), Ok(None));
        assert_eq!(parse_addresses(0x31, &[0; 216]), Ok(None));
    }

    #[tokio::test]
    async fn read_header_takes_exactly_the_header_and_honours_local() {
        let src: SocketAddr = "10.1.2.3:4444".parse().unwrap();
        let mut bytes = encode_header(src, "10.0.0.1:80".parse().unwrap());
        bytes.extend_from_slice(b"GET /");
        let mut r = &bytes[..];
        assert_eq!(read_header(&mut r).await.unwrap(), Some(src));
        assert_eq!(r, b"GET /", "what follows the header is left unread");

        let mut local = encode_header(src, "10.0.0.1:80".parse().unwrap());
        local[12] = 0x20;
        assert_eq!(read_header(&mut &local[..]).await.unwrap(), None);

        let e = read_header(&mut &b"GET / HTTP/1.1\r\nHost: x\r\n"[..])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
