//! Which addresses a URL import may reach. Unless the configuration allows it
//! (`[registry] import_private_addresses`), an archive URL, every address its host name
//! resolves to, and every redirect must stay off loopback, link-local, private, unique-local,
//! shared (CGNAT) and unspecified addresses: an admin's URL must not make berth a client of the
//! services on its own host or network (SSRF).
//!
//! Host names are checked where they are resolved ([`PublicOnly`] is the HTTP client's
//! resolver, so what is checked is what is connected to); IP literals, which the client never
//! resolves, are checked on the URL itself and on each redirect ([`redirect_policy`]). Proxies
//! from the environment are not used by the guarded client: a proxy would resolve names itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A refused destination: the host and the address it is or resolved to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{host}` is {address}, a {kind} address, and URL imports may not reach such addresses")]
pub struct PrivateAddress {
    /// The host name or literal of the URL.
    pub host: String,
    /// The address it is or resolved to.
    pub address: IpAddr,
    /// `loopback`, `private`, `link-local`, ...
    pub kind: &'static str,
}

/// What kind of non-public address `ip` is, if it is one.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let seg = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if seg[0] & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if seg[0] & 0xffc0 == 0xfec0 {
                Some("site-local")
            } else if seg[0] == 0x64 && seg[1] == 0xff9b {
                // NAT64 (RFC 6052): the embedded IPv4 address decides.
                let v4 = Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
                v4_kind(v4)
            } else if seg[..6] == [0; 6] {
                // IPv4-compatible (deprecated) addresses.
                Some("IPv4-compatible")
            } else {
                None
            }
        }
    }
}

fn v4_kind(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (CGNAT)")
    } else if v4.is_broadcast() || o[0] >= 240 {
        Some("reserved")
    } else if v4.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Refuses `host` when it is a non-public IP literal (names are checked when resolved).
pub fn check_literal(host: &str) -> Result<(), PrivateAddress> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>()
        && let Some(kind) = private_kind(ip)
    {
        return Err(PrivateAddress { host: host.to_owned(), address: ip, kind });
    }
    Ok(())
}

/// The HTTP client's resolver when private addresses are refused: the system's resolution,
/// then every address checked; one non-public address refuses the name (a name that resolves
/// to a public and a private address could be connected to either).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                if let Some(kind) = private_kind(a.ip()) {
                    return Err(Box::new(PrivateAddress { host: host.clone(), address: a.ip(), kind }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Follows up to 10 redirects, refusing one to a non-public IP literal.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("too many redirects");
        }
        let host = attempt.url().host_str().unwrap_or_default().to_owned();
        match check_literal(&host) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

/// The [`PrivateAddress`] somewhere in an error's chain.
pub fn find_in(e: &(dyn std::error::Error + 'static)) -> Option<PrivateAddress> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(p) = err.downcast_ref::<PrivateAddress>() {
            return Some(p.clone());
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_named() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(private_kind(ip.parse().unwrap()), Some(kind), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert_eq!(private_kind(ip.parse().unwrap()), None, "{ip}");
        }
        assert!(check_literal("[::1]").is_err());
        assert!(check_literal("127.0.0.1").is_err());
        assert!(check_literal("example.org").is_ok(), "names are checked when resolved");
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_for_loopback() {
        let err = match PublicOnly.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved"),
            Err(e) => e,
        };
        let p = find_in(&*err).expect("a PrivateAddress");
        assert_eq!(p.kind, "loopback");
    }
}
