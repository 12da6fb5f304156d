//! Admission before any hook runs: the network allow and deny lists and the `Origin`
//! allow-list of a [`Config`], applied to an upgrade (or a guarded page).

use std::net::IpAddr;

use super::Config;

/// Why an upgrade is refused before any hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) enum Refusal {
    /// The peer's address is denied, or not in the allow list.
    Network,
    /// The `Origin` header is not in the allow list.
    Origin,
}

#[cfg_attr(not(feature = "server"), allow(dead_code))]
impl Config {
    /// Applies the network lists to `peer` (unknown when the mount does not provide it).
    pub(crate) fn admit_peer(&self, peer: Option<IpAddr>) -> Result<(), Refusal> {
        if self.allowed_networks.is_empty() && self.denied_networks.is_empty() {
            return Ok(());
        }
        let Some(ip) = peer else {
            // Without an address no deny rule can be checked: refuse when a list says who
            // may connect, accept when only denials were configured.
            return if self.allowed_networks.is_empty() {
                Ok(())
            } else {
                Err(Refusal::Network)
            };
        };
        if self.denied_networks.iter().any(|n| n.contains(ip)) {
            return Err(Refusal::Network);
        }
        if !self.allowed_networks.is_empty()
            && !self.allowed_networks.iter().any(|n| n.contains(ip))
        {
            return Err(Refusal::Network);
        }
        Ok(())
    }

    /// Applies the origin allow list to the request's `Origin` header values.
    pub(crate) fn admit_origin<'a>(
        &self,
        mut origins: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), Refusal> {
        if self.allowed_origins.is_empty() {
            return Ok(());
        }
        let listed = |o: &[u8]| {
            let o = o.trim_ascii();
            let o = o.strip_suffix(b"/").unwrap_or(o);
            self.allowed_origins
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(o))
        };
        // Every Origin value present must be listed (a request with two is suspicious).
        if origins.all(listed) {
            Ok(())
        } else {
            Err(Refusal::Origin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_rules() {
        let open = Config::default();
        assert_eq!(open.admit_peer(None), Ok(()));
        assert_eq!(
            open.admit_origin([&b"https://evil.example"[..]].into_iter()),
            Ok(())
        );
        let c = Config::default()
            .allow_origin("https://App.example.com/")
            .allow_network("10.0.0.0/8".parse().unwrap())
            .deny_network("10.9.0.0/16".parse().unwrap());
        assert_eq!(c.get_allowed_origins(), ["https://app.example.com"]);
        assert_eq!(
            c.admit_origin([&b"https://app.EXAMPLE.com"[..]].into_iter()),
            Ok(())
        );
        assert_eq!(c.admit_origin(std::iter::empty()), Ok(()));
        assert_eq!(
            c.admit_origin([&b"https://app.example.com.evil"[..]].into_iter()),
            Err(Refusal::Origin)
        );
        assert_eq!(c.admit_peer(Some("10.1.1.1".parse().unwrap())), Ok(()));
        assert_eq!(
            c.admit_peer(Some("10.9.1.1".parse().unwrap())),
            Err(Refusal::Network)
        );
        assert_eq!(
            c.admit_peer(Some("192.0.2.1".parse().unwrap())),
            Err(Refusal::Network)
        );
        assert_eq!(c.admit_peer(None), Err(Refusal::Network));
    }
}
