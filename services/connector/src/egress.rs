//! Where a tenant's connection may send the connector: its endpoint is the
//! tenant's choice, so without a rule any tenant could make the connector
//! call the cloud's metadata service, the cluster's internal services or
//! the connector's own admin port, with whatever credentials it holds.
//!
//! - Only `http://` and `https://` URLs with a host and no user info (CSV
//!   folders are checked by `csv_exchange::tenant_folder`).
//! - No loopback, private, link-local, shared, multicast or reserved
//!   address ([`is_public`]), unless the deployment allows a network
//!   (`RELAIS_CONNECTOR_ALLOWED_NETWORKS`, e.g. the demo's loopback ERP).
//! - Checked when a connection is saved (an IP literal, and a name's
//!   current addresses), and again on every connection the HTTP client
//!   opens: the client resolves names through [`GuardedResolver`], which
//!   hands it only allowed addresses, so DNS cannot swap the address between
//!   the check and the connect (DNS rebinding). Redirects are not followed:
//!   an ERP API has no reason to send the connector elsewhere.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which private networks a deployment lets connections reach.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    allowed: Arc<Vec<IpNet>>,
}

impl EgressPolicy {
    /// Only public addresses.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and these networks.
    pub fn allowing(networks: Vec<IpNet>) -> Self {
        Self {
            allowed: Arc::new(networks),
        }
    }

    /// `RELAIS_CONNECTOR_ALLOWED_NETWORKS`: comma-separated CIDRs (e.g.
    /// `127.0.0.0/8,::1/128`); default none, or loopback in development
    /// mode (`RELAIS_ENV=dev`), where the demo's ERP listens.
    pub fn from_env() -> anyhow::Result<Self> {
        let raw = std::env::var("RELAIS_CONNECTOR_ALLOWED_NETWORKS").unwrap_or_default();
        let raw = if raw.trim().is_empty() && relais_platform::config::dev_mode() {
            "127.0.0.0/8,::1/128".to_owned()
        } else {
            raw
        };
        Self::parse(&raw).context("RELAIS_CONNECTOR_ALLOWED_NETWORKS")
    }

    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("{s:?} is not a network like 10.0.0.0/8"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::allowing(networks))
    }

    /// Whether a connection may reach `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed.iter().any(|n| n.contains(&ip))
    }

    /// Checks an endpoint as a tenant gave it: scheme, host, and the
    /// addresses the host has now. Says why not, for the field's error.
    pub async fn check_url(&self, endpoint: &str) -> Result<(), String> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| format!("is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http:// or https:// URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials: send them as the connection's secret".into());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => return self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.check_ip(IpAddr::V6(ip)),
            None => return Err("must name a host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        // A name that does not resolve today is accepted (the ERP may come
        // later); the client checks again on every connection.
        let Ok(Ok(addrs)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        else {
            return Ok(());
        };
        for addr in addrs {
            self.check_ip(addr.ip())
                .map_err(|why| format!("{host} resolves to {}: {why}", addr.ip()))?;
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is a loopback, private, link-local or reserved address, which connections \
                 may not reach unless the deployment allows its network"
            ))
        }
    }

    /// An HTTP client for ERP calls that connects only where this policy
    /// allows, `timeout` per request.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<reqwest::Client> {
        relais_platform::http::builder(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")
    }

    /// Checks a URL's host when it is an IP literal: the client's resolver
    /// only sees names, so an address written in the URL is checked here,
    /// before the client is used.
    pub fn check_literal(&self, endpoint: &str) -> Result<(), String> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| format!("is not a URL: {e}"))?;
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }
}

/// Resolves names with the system's resolver and keeps only the addresses
/// the policy allows: the client connects to what this returns, nothing
/// else.
struct GuardedResolver {
    policy: EgressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} resolves to no address connections may reach ({})",
                    shown.join(", ")
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether `ip` is an address of the public internet: not loopback,
/// private (RFC 1918, unique local), link-local (cloud metadata lives at
/// 169.254.169.254), shared (100.64/10), documentation, benchmarking,
/// multicast, broadcast, unspecified or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x64 && ip.segments()[1] == 0xff9b)) // NAT64: an IPv4 inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn internal_addresses_are_refused_by_default() {
        let policy = EgressPolicy::public_only();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00::1",
            "fe80::1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!policy.allows(ip(bad)), "{bad}");
        }
        for good in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(policy.allows(ip(good)), "{good}");
        }
    }

    #[test]
    fn a_deployment_may_allow_a_network() {
        let policy = EgressPolicy::parse("127.0.0.0/8, 10.20.0.0/16").unwrap_or_default();
        assert!(policy.allows(ip("127.0.0.1")));
        assert!(policy.allows(ip("10.20.3.4")));
        assert!(!policy.allows(ip("10.21.0.1")));
        assert!(!policy.allows(ip("169.254.169.254")));
        assert!(EgressPolicy::parse("not-a-network").is_err());
    }

    #[tokio::test]
    async fn endpoints_are_checked_as_given() {
        let policy = EgressPolicy::public_only();
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8800",
            "http://[::1]:8000/db",
            "http://localhost:8800",
            "ftp://erp.example.com",
            "http://user:pass@93.184.216.34/",
            "file:///etc/passwd",
        ] {
            assert!(policy.check_url(bad).await.is_err(), "{bad}");
        }
        assert!(policy.check_url("https://93.184.216.34/api").await.is_ok());
    }

    /// A loopback listener that answers every request with 200.
    async fn answering() -> Option<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let port = listener.local_addr().ok()?.port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        Some(port)
    }

    #[tokio::test]
    async fn the_client_connects_only_where_the_policy_allows() {
        let Some(port) = answering().await else {
            panic!("no loopback listener");
        };
        let url = format!("http://localhost:{port}/");
        let allowed = EgressPolicy::parse("127.0.0.0/8,::1/128")
            .and_then(|p| p.client(Duration::from_secs(2)));
        let refused = EgressPolicy::public_only().client(Duration::from_secs(2));
        let (Ok(allowed), Ok(refused)) = (allowed, refused) else {
            panic!("clients build");
        };
        // The same listener answers a client whose policy allows loopback...
        assert!(allowed.get(&url).send().await.is_ok(), "allowed client");
        // ...and is never reached by one whose policy does not.
        assert!(refused.get(&url).send().await.is_err(), "refused client");
    }
}
