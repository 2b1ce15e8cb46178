//! Who the client is: the address a request came from, or, when it came through a proxy
//! the deployment trusts, the address that proxy says it forwarded for.
//!
//! `X-Forwarded-For` is a list each proxy appends its own peer to, so only its right end
//! can be believed: the address is read from the right, skipping the trusted proxies, and
//! the first one that is not trusted is the client. Anyone can write the left end, so a
//! header sent straight to Warden (by a peer that is not a trusted proxy) is ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: addresses and networks. Empty (the
/// default) trusts none, and every client is the address it connects from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`); the
    /// error names the entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map(unmapped)
                    .map_err(|_| {
                        format!(
                            "`{e}` in `trusted_proxies` is neither an IP address nor a network \
                             such as `10.0.0.0/8`"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Several headers count as one list, in order. Entries are split on the raw
        // bytes: a byte that is not text spoils its own entry only, not the entries a
        // proxy appended after it.
        let hops: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match std::str::from_utf8(hop).ok().and_then(parse_hop) {
                // What a proxy we trust says it forwarded for.
                Some(addr) => {
                    client = addr;
                    if !self.trusts(addr) {
                        break;
                    }
                }
                // Garbage (or `unknown`) cannot be the client: the trusted hop that
                // passed it on is as far as the list can be believed.
                None => break,
            }
        }
        client
    }
}

/// One entry of `X-Forwarded-For`: an address, possibly in brackets or with a port
/// (`1.2.3.4:5678`, `[::1]`, `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let bare = hop
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(hop);
    if let Ok(addr) = bare.parse::<IpAddr>() {
        return Some(addr.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// A network written in IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) as the IPv4 network it
/// maps, since addresses are compared in their IPv4 form.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let none = TrustedProxies::default();
        assert!(none.is_empty());
        assert_eq!(
            none.client(ip("10.0.0.7"), &headers(&["203.0.113.5"])),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_from_the_right() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.1"]).unwrap();
        // One proxy.
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
        // The client wrote a fake address first; the proxy appended the real one.
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["1.1.1.1, 203.0.113.5"])),
            ip("203.0.113.5")
        );
        // Two trusted proxies in a chain, the list split over two headers.
        assert_eq!(
            t.client(
                ip("10.0.0.7"),
                &headers(&["1.1.1.1, 203.0.113.5", "192.0.2.1"])
            ),
            ip("203.0.113.5")
        );
        // Ports and IPv6.
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["[2001:db8::9]:4711"])),
            ip("2001:db8::9")
        );
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["203.0.113.5:4711"])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_even_with_a_header() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            t.client(ip("198.51.100.2"), &headers(&["10.0.0.1"])),
            ip("198.51.100.2")
        );
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["203.0.113.5, unknown"])),
            ip("10.0.0.7")
        );
        assert_eq!(
            t.client(
                ip("10.0.0.7"),
                &headers(&["203.0.113.5, 10.0.0.3, nonsense"])
            ),
            ip("10.0.0.7")
        );
        assert_eq!(
            t.client(
                ip("10.0.0.7"),
                &headers(&["203.0.113.5, nonsense, 10.0.0.3"])
            ),
            ip("10.0.0.3")
        );
        // No header: the proxy itself.
        assert_eq!(t.client(ip("10.0.0.7"), &headers(&[])), ip("10.0.0.7"));
        // Every hop trusted: the leftmost.
        assert_eq!(
            t.client(ip("10.0.0.7"), &headers(&["10.1.1.1, 10.2.2.2"])),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let t = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        assert_eq!(
            t.client(ip("::ffff:127.0.0.1"), &headers(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn a_byte_that_is_not_text_spoils_its_entry_only() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.5").unwrap(),
        );
        assert_eq!(t.client(ip("10.0.0.7"), &h), ip("203.0.113.5"));
    }

    #[test]
    fn bracketed_ipv6_and_mapped_networks() {
        let t = TrustedProxies::parse(&["::ffff:10.0.0.0/104"]).unwrap();
        assert_eq!(
            t.client(ip("10.1.2.3"), &headers(&["[2001:db8::9]"])),
            ip("2001:db8::9")
        );
        assert_eq!(
            t.client(ip("::ffff:10.1.2.3"), &headers(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
        // Outside the network: not trusted.
        assert_eq!(
            t.client(ip("11.0.0.1"), &headers(&["203.0.113.5"])),
            ip("11.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8", "proxy.internal"]).unwrap_err();
        assert!(err.contains("`proxy.internal`"), "{err}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }
}
