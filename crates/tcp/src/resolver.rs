//! Name resolution (Tornado's `netutil.Resolver` family): a trait, the
//! default resolver that runs `getaddrinfo` on the executor, and an
//! override map for tests and for pinning names.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use tornado_concurrent::Future;
use tornado_gen::try_run_in_executor;

/// Which address family a resolution may return (Tornado's `family`
/// argument: `AF_UNSPEC`, `AF_INET`, `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    /// Both; in the order the system prefers.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// True if `addr` belongs to this family.
    pub fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// Turns a host name and port into addresses, without blocking the loop.
///
/// `resolve` returns a future of the addresses in the order they should be
/// tried; it fails with an `io::Error` when the name does not resolve. The
/// future may resolve on a later loop iteration (as the default resolver
/// does) or at once (as an IP literal does).
///
/// ```
/// use std::net::SocketAddr;
/// use tornado_concurrent::Future;
/// use tornado_tcp::{Family, Resolver};
///
/// /// Every name is the loopback address.
/// struct Loopback;
/// impl Resolver for Loopback {
///     fn resolve(&self, _host: &str, port: u16, _family: Family) -> Future<Vec<SocketAddr>> {
///         Future::resolved(vec![SocketAddr::from(([127, 0, 0, 1], port))])
///     }
/// }
/// let addrs = Loopback.resolve("example.test", 80, Family::Any);
/// assert_eq!(addrs.take_result().unwrap()[0].to_string(), "127.0.0.1:80");
/// ```
pub trait Resolver {
    /// The addresses of `host` on `port`, restricted to `family`.
    fn resolve(&self, host: &str, port: u16, family: Family) -> Future<Vec<SocketAddr>>;
}

impl<R: Resolver + ?Sized> Resolver for Rc<R> {
    fn resolve(&self, host: &str, port: u16, family: Family) -> Future<Vec<SocketAddr>> {
        (**self).resolve(host, port, family)
    }
}

/// Parses an IP literal, with or without the brackets of `[::1]`.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Keeps the addresses of `family`; an empty result is an error naming
/// the host, as `getaddrinfo` would give.
fn filter(
    host: &str,
    family: Family,
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> io::Result<Vec<SocketAddr>> {
    let mut kept: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        // getaddrinfo lists an address once per socket type; keep one.
        if family.admits(&a) && !kept.contains(&a) {
            kept.push(a);
        }
    }
    if kept.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no {family:?} address for {host}"),
        ));
    }
    Ok(kept)
}

/// The default resolver (Tornado's `DefaultExecutorResolver`): IP literals
/// at once, names with the system's `getaddrinfo` on the default executor,
/// so a slow DNS server never blocks the loop.
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_tcp::{Family, Resolver, ThreadedResolver};
///
/// let ioloop = IOLoop::new().unwrap();
/// let addrs = ioloop
///     .run_sync(|| ThreadedResolver.resolve("localhost", 80, Family::V4), None)
///     .unwrap();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadedResolver;

impl Resolver for ThreadedResolver {
    fn resolve(&self, host: &str, port: u16, family: Family) -> Future<Vec<SocketAddr>> {
        if let Some(ip) = ip_literal(host) {
            return match filter(host, family, [SocketAddr::new(ip, port)]) {
                Ok(v) => Future::resolved(v),
                Err(e) => Future::failed(e),
            };
        }
        let host = host.to_owned();
        try_run_in_executor(move || {
            let found = (host.as_str(), port).to_socket_addrs()?;
            filter(&host, family, found)
        })
    }
}

/// Where an overridden name goes.
#[derive(Debug, Clone)]
enum Target {
    /// Another name (or literal) and port, resolved by the inner resolver.
    Name(String, u16),
    /// Fixed addresses, returned as they are (filtered by family).
    Addrs(Vec<SocketAddr>),
}

/// Resolves some names by a fixed map and the rest with another resolver
/// (Tornado's `OverrideResolver`). Tests use it to send a real-looking name
/// to a local server, or to hand the client a chosen list of addresses.
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_tcp::{Family, OverrideResolver, Resolver, ThreadedResolver};
///
/// let resolver = OverrideResolver::new(ThreadedResolver)
///     .map("example.test", 80, "127.0.0.1", 8080);
/// let ioloop = IOLoop::new().unwrap();
/// let addrs = ioloop
///     .run_sync(move || resolver.resolve("example.test", 80, Family::Any), None)
///     .unwrap();
/// assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
/// ```
pub struct OverrideResolver<R> {
    /// Resolves names that are not in `map`, and the names `map` points to.
    inner: R,
    /// `(host, port)` as asked (host lowercased) to where it really goes.
    map: HashMap<(String, u16), Target>,
}

impl<R: Resolver> OverrideResolver<R> {
    /// An override resolver with an empty map over `inner`.
    pub fn new(inner: R) -> OverrideResolver<R> {
        OverrideResolver {
            inner,
            map: HashMap::new(),
        }
    }

    /// Sends `host:port` to `to_host:to_port` (which `inner` resolves).
    pub fn map(mut self, host: &str, port: u16, to_host: &str, to_port: u16) -> Self {
        self.map.insert(
            (host.to_ascii_lowercase(), port),
            Target::Name(to_host.to_owned(), to_port),
        );
        self
    }

    /// Makes `host:port` resolve to exactly `addrs`, in this order.
    pub fn map_addrs(mut self, host: &str, port: u16, addrs: Vec<SocketAddr>) -> Self {
        self.map
            .insert((host.to_ascii_lowercase(), port), Target::Addrs(addrs));
        self
    }
}

impl<R: Resolver> Resolver for OverrideResolver<R> {
    fn resolve(&self, host: &str, port: u16, family: Family) -> Future<Vec<SocketAddr>> {
        match self.map.get(&(host.to_ascii_lowercase(), port)) {
            Some(Target::Name(h, p)) => self.inner.resolve(h, *p, family),
            Some(Target::Addrs(addrs)) => match filter(host, family, addrs.iter().copied()) {
                Ok(v) => Future::resolved(v),
                Err(e) => Future::failed(e),
            },
            None => self.inner.resolve(host, port, family),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_brackets() {
        assert_eq!(ip_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("127.0.0.1"), Some([127, 0, 0, 1].into()));
        for not_ip in ["localhost", "", " 127.0.0.1", "4.4.4.4<", "[::1", "a\0"] {
            assert_eq!(ip_literal(not_ip), None, "{not_ip:?}");
        }
    }

    #[test]
    fn filter_keeps_order_drops_duplicates_and_other_families() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "[::1]:1".parse().unwrap();
        let c: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert_eq!(
            filter("h", Family::Any, [b, a, b, c, a]).unwrap(),
            vec![b, a, c]
        );
        assert_eq!(filter("h", Family::V4, [b, a, c]).unwrap(), vec![a, c]);
        let e = filter("h", Family::V6, [a, c]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("h"), "{e}");
    }
}
