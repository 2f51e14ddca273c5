//! The client behind a reverse proxy: `--trusted-proxy CIDR`.
//!
//! Behind nginx or a Kubernetes ingress every request comes from the proxy's address, so
//! limits keyed on the socket address would make all clients one. For a connection from a
//! trusted proxy, the client is the last address of `X-Forwarded-For` (or, without it, of the
//! `for=` parameters of `Forwarded`, RFC 7239) that is not itself a trusted proxy: each proxy
//! appends the address it was reached from, so the rightmost untrusted entry is the one the
//! first trusted proxy saw, and everything left of it is whatever the client chose to send.
//! From any other address the headers are ignored, so a client cannot name itself someone
//! else.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A network of addresses, such as `127.0.0.1/32` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDRESS/PREFIX`, or an address alone (the one address).
    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(address.parse::<IpAddr>().map_err(|_| {
            format!("`{text}` is not an address or network such as 10.0.0.0/8 or fd00::/8")
        })?);
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`, as a dual-stack socket reports IPv4
/// peers) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The trusted proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client of a request that came from `peer` with these `X-Forwarded-For` and
    /// `Forwarded` header values (each header line one value, in order): `peer` itself
    /// unless it is trusted; else the rightmost untrusted address of the chain. A chain of
    /// trusted addresses only gives its leftmost one; an entry that is not an address (`unknown`,
    /// an obfuscated name, garbage) ends the walk at the trusted address right of it.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
        forwarded: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        if chain.iter().all(|entry| entry.is_empty()) {
            chain = forwarded
                .into_iter()
                .flat_map(|value| value.split(','))
                .filter_map(forwarded_for_parameter)
                .collect();
        }
        let mut client = peer;
        for entry in chain.iter().rev() {
            if entry.is_empty() {
                continue;
            }
            let Some(ip) = parse_node(entry) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The `for=` value of one element of a `Forwarded` header, unquoted.
fn forwarded_for_parameter(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|c| c.parse().unwrap()).collect())
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let local: Cidr = "127.0.0.1/32".parse().unwrap();
        assert!(local.contains(ip("127.0.0.1")));
        assert!(local.contains(ip("::ffff:127.0.0.1")));
        assert!(!local.contains(ip("127.0.0.2")));
        let ten: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(ten.contains(ip("10.200.3.4")) && !ten.contains(ip("11.0.0.1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "fd00::/129", "example.org", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_last_untrusted_address_and_only_behind_a_trusted_proxy() {
        let trusted = proxies(&["127.0.0.1/32", "10.0.0.0/8"]);
        let none: [&str; 0] = [];
        // nginx appends the address it was reached from.
        let client = trusted.client(ip("127.0.0.1"), ["198.51.100.9, 10.1.2.3"], none);
        assert_eq!(client, ip("198.51.100.9"));
        // Whatever the client wrote itself is left of its own address, and not believed.
        let client = trusted.client(ip("127.0.0.1"), ["6.6.6.6", "203.0.113.7"], none);
        assert_eq!(client, ip("203.0.113.7"));
        // From an untrusted peer the header is ignored.
        let client = trusted.client(ip("192.0.2.1"), ["198.51.100.9"], none);
        assert_eq!(client, ip("192.0.2.1"));
        // No header: the proxy itself; only trusted entries: the leftmost.
        assert_eq!(trusted.client(ip("10.0.0.5"), none, none), ip("10.0.0.5"));
        let client = trusted.client(ip("10.0.0.5"), ["10.9.9.9, 127.0.0.1"], none);
        assert_eq!(client, ip("10.9.9.9"));
        // Garbage ends the walk at the trusted hop to its right.
        let client = trusted.client(ip("127.0.0.1"), ["unknown, 10.0.0.7"], none);
        assert_eq!(client, ip("10.0.0.7"));
        // Ports and brackets.
        let client = trusted.client(ip("127.0.0.1"), ["[2001:db8::7]:443"], none);
        assert_eq!(client, ip("2001:db8::7"));
        let client = trusted.client(ip("127.0.0.1"), ["192.0.2.44:8080"], none);
        assert_eq!(client, ip("192.0.2.44"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let trusted = proxies(&["127.0.0.1"]);
        let none: [&str; 0] = [];
        let header = "for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\"";
        assert_eq!(
            trusted.client(ip("127.0.0.1"), none, [header]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            trusted.client(ip("127.0.0.1"), ["198.51.100.1"], [header]),
            ip("198.51.100.1")
        );
        assert_eq!(
            trusted.client(ip("127.0.0.1"), none, ["for=_hidden"]),
            ip("127.0.0.1")
        );
    }
}
