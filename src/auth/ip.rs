//! Client addresses: which address a request counts as coming from (the peer, or the
//! `X-Forwarded-For` client when the peer is a trusted proxy), and per-association IP
//! allow-lists of addresses and CIDR ranges (IPv4 and IPv6).
//!
//! Free of HTTP types so the HTTP middleware, the signed ingress and the API-key
//! authenticator share one definition. CIDR arithmetic comes from `ipnet`.

use ipnet::IpNet;
use std::net::IpAddr;

/// Most entries one association's allow-list may hold.
pub const MAX_ALLOWED_IPS: usize = 100;

/// Where the client address of a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The TCP peer (default): cannot be forged.
    Peer,
    /// The right-most `X-Forwarded-For` address that is not a trusted proxy, but only when
    /// the peer itself is a trusted proxy; otherwise the peer.
    ForwardedFor { trusted: Vec<IpNet> },
}

impl ClientIpSource {
    /// Builds the source from `server.client_ip` and `server.trusted_proxies`; the error
    /// names the bad value.
    pub fn from_config(mode: &str, trusted_proxies: &[String]) -> Result<Self, String> {
        let trusted = trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, t)| parse_net(t).map_err(|why| format!("server.trusted_proxies[{i}]: `{t}` {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        match mode {
            "peer" => Ok(ClientIpSource::Peer),
            "x-forwarded-for" if trusted.is_empty() => {
                Err("server.trusted_proxies: must list the proxies whose X-Forwarded-For is believed when server.client_ip = \"x-forwarded-for\"".into())
            }
            "x-forwarded-for" => Ok(ClientIpSource::ForwardedFor { trusted }),
            other => Err(format!("server.client_ip: `{other}` is not one of peer, x-forwarded-for")),
        }
    }

    /// The client address of a request from `peer` carrying these `X-Forwarded-For` values
    /// (every header line, in order).
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        let ClientIpSource::ForwardedFor { trusted } = self else { return peer };
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
        if !is_trusted(&peer) {
            // Anyone can write the header; only a trusted proxy's word counts.
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect();
        // Walk from the nearest hop outwards: each trusted proxy vouches for the hop before
        // it; the first untrusted address is the client. Entries left of it may be forged.
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // A garbled entry: believe nothing beyond the last address vouched for.
                return client;
            };
            client = ip;
            if !is_trusted(&ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// An address (`10.1.2.3`, `2001:db8::1`) or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`).
fn parse_net(text: &str) -> Result<IpNet, &'static str> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip.to_canonical()));
    }
    match text.parse::<IpNet>() {
        // Host bits set (`10.1.2.3/8`) name the same range as the network address.
        Ok(net) => Ok(net.trunc()),
        Err(_) => Err("is not an IP address or CIDR range"),
    }
}

/// An association's allow-list, parsed. Empty allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpNet>);

impl IpAllowList {
    /// Parses and normalises `allowedIps`; the error names the first bad entry by index.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        if entries.len() > MAX_ALLOWED_IPS {
            return Err(format!("allowedIps may list at most {MAX_ALLOWED_IPS} entries"));
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let net = parse_net(e).map_err(|why| format!("allowedIps[{i}] `{e}` {why}"))?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Entries as stored: single addresses without a prefix, ranges as `network/len`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|n| if n.prefix_len() == n.max_prefix_len() { n.addr().to_string() } else { n.to_string() })
            .collect()
    }

    /// Parses stored entries, skipping any that do not parse (they were validated on write;
    /// a skipped entry can only narrow the list, never widen it).
    pub fn from_stored(entries: &[String]) -> Self {
        Self(entries.iter().filter_map(|e| parse_net(e).ok()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may call. An unknown address is allowed only by an empty list.
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(ip) = ip else { return false };
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Checks a stored allow-list against a client address (the common case, an empty list,
/// parses nothing).
pub fn stored_list_allows(entries: &[String], ip: Option<IpAddr>) -> bool {
    entries.is_empty() || IpAllowList::from_stored(entries).allows(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(entries: &[&str]) -> Result<IpAllowList, String> {
        IpAllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn allow_lists_match_addresses_and_ranges() {
        let l = list(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"]).unwrap();
        assert!(l.allows(Some(ip("10.200.3.4"))));
        assert!(l.allows(Some(ip("192.168.1.7"))));
        assert!(!l.allows(Some(ip("192.168.1.8"))));
        assert!(l.allows(Some(ip("2001:db8:ffff::1"))));
        assert!(!l.allows(Some(ip("2001:db9::1"))));
        assert!(l.allows(Some(ip("::1"))));
        assert!(!l.allows(Some(ip("127.0.0.1"))));
        // An IPv4-mapped IPv6 peer (dual-stack listener) matches IPv4 entries.
        assert!(l.allows(Some(ip("::ffff:10.1.1.1"))));
        assert!(!l.allows(None), "unknown address is refused by a non-empty list");
        assert!(IpAllowList::default().allows(None));
    }

    #[test]
    fn entries_are_normalised_and_bad_ones_named() {
        let l = list(&[" 10.1.2.3/8 ", "2001:DB8:0:0::1", "10.0.0.0/8", "1.2.3.4/32"]).unwrap();
        assert_eq!(l.to_strings(), vec!["10.0.0.0/8", "2001:db8::1", "1.2.3.4"]);
        assert_eq!(list(&["10.0.0.1", "10.0.0.300"]).unwrap_err(), "allowedIps[1] `10.0.0.300` is not an IP address or CIDR range");
        assert!(list(&["10.0.0.0/33"]).unwrap_err().contains("allowedIps[0]"));
        assert!(list(&["2001:db8::/129"]).unwrap_err().contains("allowedIps[0]"));
        assert!(list(&["example.com"]).unwrap_err().contains("`example.com`"));
        assert!(list(&[""]).unwrap_err().contains("allowedIps[0]"));
        let many: Vec<String> = (0..=MAX_ALLOWED_IPS).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect();
        assert!(IpAllowList::parse(&many).unwrap_err().contains("at most"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer_only = ClientIpSource::from_config("peer", &[]).unwrap();
        assert_eq!(peer_only.resolve(ip("127.0.0.1"), ["203.0.113.9"]), ip("127.0.0.1"));

        let xff = ClientIpSource::from_config("x-forwarded-for", &["127.0.0.0/8".into(), "10.0.0.0/8".into()]).unwrap();
        // Trusted peer: the right-most untrusted hop is the client.
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["198.51.100.1, 203.0.113.9, 10.1.1.1"]), ip("203.0.113.9"));
        // Several header lines count as one list, in order.
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["198.51.100.1", "203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["[2001:db8::5]:443"]), ip("2001:db8::5"));
        // No header, or only trusted hops: the left-most vouched-for address.
        assert_eq!(xff.resolve(ip("127.0.0.1"), []), ip("127.0.0.1"));
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["10.2.2.2"]), ip("10.2.2.2"));
        // Garbage stops the walk at the last vouched-for hop.
        assert_eq!(xff.resolve(ip("127.0.0.1"), ["203.0.113.9, junk, 10.2.2.2"]), ip("10.2.2.2"));
        // Untrusted peer: the header is ignored.
        assert_eq!(xff.resolve(ip("192.0.2.1"), ["203.0.113.9"]), ip("192.0.2.1"));

        assert!(ClientIpSource::from_config("x-forwarded-for", &[]).unwrap_err().contains("server.trusted_proxies"));
        assert!(ClientIpSource::from_config("header", &[]).unwrap_err().contains("server.client_ip"));
        assert!(ClientIpSource::from_config("peer", &["nope".into()]).unwrap_err().contains("server.trusted_proxies[0]"));
    }
}
