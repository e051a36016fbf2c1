//! Which URLs a callback may go to (no SSRF): http(s) only, at most 2048 characters, no
//! credentials in the URL, and — unless `callbacks.allow_private_targets` — no host that is
//! or resolves to a loopback, private, link-local, shared, unspecified, multicast or
//! documentation address. Checked when a URL is set (literal addresses, and a resolution)
//! and again at connect time by [`guarded_resolver`], the HTTP client's resolver, so a name
//! that resolves to a public address at set time and to a private one later (DNS rebinding)
//! is still refused. Redirects are never followed. Depends on `net` (the resolver's type) and `reqwest`'s URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const MAX_URL_CHARS: usize = 2048;

/// Why a callback URL is refused (the message names what is wrong, not the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Invalid(String),
    #[error("targets a loopback, private, link-local or otherwise non-public address ({0}); not allowed")]
    Private(String),
    #[error("host `{0}` does not resolve")]
    Unresolvable(String),
}

/// The callback target rule, built from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Checks a URL's form and, unless private targets are allowed, that its host is not a
    /// non-public address literal. Returns the URL as it will be stored.
    pub fn check_form(&self, raw: &str) -> Result<String, TargetError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TargetError::Invalid("must not be empty (use null to clear it)".into()));
        }
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(TargetError::Invalid(format!("must be at most {MAX_URL_CHARS} characters")));
        }
        let url = reqwest::Url::parse(raw).map_err(|e| TargetError::Invalid(format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Invalid("must be an http:// or https:// URL".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Invalid("must not carry credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(TargetError::Invalid("must not carry a #fragment".into()));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => return Err(TargetError::Invalid("must name a host".into())),
        };
        if !self.allow_private {
            match literal_ip(&host) {
                Some(ip) if !is_public(ip) => return Err(TargetError::Private(ip.to_string())),
                Some(_) => {}
                None => {
                    let d = host.trim_end_matches('.');
                    if d == "localhost" || d.ends_with(".localhost") {
                        return Err(TargetError::Private(d.to_string()));
                    }
                }
            }
        }
        Ok(url.to_string())
    }

    /// [`Self::check_form`], then (unless private targets are allowed) resolves the host and
    /// refuses it when any address it resolves to is not public.
    pub async fn check(&self, raw: &str) -> Result<String, TargetError> {
        let url = self.check_form(raw)?;
        if self.allow_private {
            return Ok(url);
        }
        let parsed = reqwest::Url::parse(&url).map_err(|e| TargetError::Invalid(e.to_string()))?;
        if let Some(host) = parsed.host_str().filter(|h| literal_ip(h).is_none()) {
            let port = parsed.port_or_known_default().unwrap_or(443);
            resolve_public(host, port).await?;
        }
        Ok(url)
    }
}

/// The public addresses `host` resolves to; an error if it resolves to none, or to any that
/// is not public (a name mixing both is refused: the client could pick either).
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let lookup = tokio::time::timeout(std::time::Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(it)) => it.collect(),
        _ => return Err(TargetError::Unresolvable(host.to_string())),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable(host.to_string()));
    }
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(TargetError::Private(format!("{host} resolves to {}", bad.ip())));
    }
    Ok(addrs)
}

/// The address a URL host names literally (`[::1]` with its brackets, as URLs write it).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Whether an address is reachable on the public internet (the SSRF rule).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(a),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10 shared address space (carrier-grade NAT).
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking, 240.0.0.0/4 reserved.
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // 64:ff9b::/96 NAT64 and ::/96 IPv4-compatible could reach private IPv4 space.
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || (s[0..6] == [0, 0, 0, 0, 0, 0]))
}

/// The HTTP client's resolver when private targets are refused: a name is connected to only
/// through the public addresses it resolves to at that moment (DNS rebinding gets nowhere).
pub fn guarded_resolver() -> crate::net::ResolveFn {
    std::sync::Arc::new(|host: String| {
        Box::pin(async move {
            resolve_public(&host, 0).await.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_public() {
        let p = TargetPolicy { allow_private: false };
        for bad in [
            "http://127.0.0.1/x",
            "http://localhost:8080/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
        ] {
            assert!(matches!(p.check_form(bad), Err(TargetError::Private(_))), "{bad}");
        }
        for invalid in ["ftp://example.com/", "not a url", "", "http://user:pw@example.com/", "https://example.com/#x"] {
            assert!(matches!(p.check_form(invalid), Err(TargetError::Invalid(_))), "{invalid}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(matches!(p.check_form(&long), Err(TargetError::Invalid(_))));
        assert!(p.check_form("https://hooks.example.com/jood?x=1").is_ok());
        assert!(p.check_form("http://8.8.8.8/").is_ok());
        assert!(TargetPolicy { allow_private: true }.check_form("http://127.0.0.1:9/").is_ok());
    }
}
