//! [`Cidr`]: a network in CIDR notation, for the allow and deny lists of [`Config`].
//!
//! [`Config`]: super::Config

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single address), for
/// [`Config::allow_network`](super::Config::allow_network) and
/// [`Config::deny_network`](super::Config::deny_network).
///
/// ```
/// use swill::Cidr;
///
/// let net: Cidr = "192.168.0.0/16".parse().unwrap();
/// assert!(net.contains("192.168.4.2".parse().unwrap()));
/// assert!(!net.contains("10.0.0.1".parse().unwrap()));
/// // IPv4-mapped IPv6 peers match IPv4 networks.
/// assert!(net.contains("::ffff:192.168.4.2".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A string that is not a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("invalid network address")]
    Address,
    /// The prefix length is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("invalid prefix length {0}")]
    Prefix(String),
}

impl Cidr {
    /// The network of `addr` with a `prefix`-bit mask; the host bits of `addr` are cleared.
    ///
    /// # Errors
    /// When `prefix` exceeds 32 for IPv4 or 128 for IPv6.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::Prefix(prefix.to_string()));
        }
        let addr = match addr {
            // The masked value has at most 32 significant bits.
            IpAddr::V4(a) => IpAddr::V4((mask(u32::from(a).into(), prefix, 32) as u32).into()),
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), prefix, 128).into()),
        };
        Ok(Self { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are
    /// compared as the IPv4 address they carry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u32::from(ip).into(), self.prefix, 32) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(ip), self.prefix, 128) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `ip` with IPv4-mapped IPv6 addresses turned into IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Keeps the top `prefix` bits of a `width`-bit value.
fn mask(value: u128, prefix: u8, width: u32) -> u128 {
    let host_bits = width - u32::from(prefix).min(width);
    if host_bits >= 128 {
        return 0;
    }
    value >> host_bits << host_bits
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| CidrError::Prefix(p.to_owned()))?,
        };
        Self::new(addr, prefix)
    }
}

impl From<IpAddr> for Cidr {
    /// The network holding `addr` alone.
    fn from(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_matches() {
        let net: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains("10.200.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::9".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let any6: Cidr = "::/0".parse().unwrap();
        assert!(any6.contains("::1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(one.prefix(), 32);
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Prefix("33".into()))
        );
        assert_eq!("nope/8".parse::<Cidr>(), Err(CidrError::Address));
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }
}
