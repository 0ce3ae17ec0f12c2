//! `TcpClient`: connections by host name, with a pluggable resolver and
//! happy eyeballs between IPv6 and IPv4 (Tornado's `tcpclient`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tornado_concurrent::{Error, Future};
use tornado_gen::{TimeoutError, coroutine, with_timeout};
use tornado_ioloop::IOLoop;
use tornado_iostream::{IOStream, StreamClosedError, StreamOptions};

use crate::connector::{Connector, DEFAULT_FALLBACK_DELAY};
use crate::resolver::{Family, Resolver, ThreadedResolver};

/// Why a connection could not be made. Every failure of
/// [`TcpClient::connect`] is one of these (inside the future's `Error`;
/// use `error.downcast_ref::<ConnectError>()`).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The name did not resolve (or resolved to no usable address).
    #[error("cannot resolve {host}:{port}: {source}")]
    Resolve {
        /// The name asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// The resolver's error.
        source: io::Error,
    },
    /// No connection (resolution, connect and TLS handshake included)
    /// within the timeout.
    #[error("connecting to {host}:{port} timed out after {after:?}")]
    Timeout {
        /// The name asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// The timeout given.
        after: Duration,
    },
    /// The peer refused the connection (nothing listens there). When
    /// several addresses were tried, this is the last one's outcome.
    #[error("connection to {addr} refused")]
    Refused {
        /// The address that refused.
        addr: SocketAddr,
    },
    /// The source address or port could not be bound (not a local
    /// address, port in use, port reserved…).
    #[error("cannot bind the source address {addr}: {source}")]
    Bind {
        /// The source address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// Any other failure to connect to `addr` (unreachable, reset…).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// The name the certificate was checked against.
        host: String,
        /// What went wrong.
        source: io::Error,
    },
}

impl ConnectError {
    /// True for [`ConnectError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectError::Timeout { .. })
    }

    /// True for [`ConnectError::Refused`].
    pub fn is_refused(&self) -> bool {
        matches!(self, ConnectError::Refused { .. })
    }
}

/// Copies an `io::Error` out of a shared `Error` (keeping the OS error
/// code, which is what callers match on), or describes a foreign one.
fn io_error_of(e: &Error) -> io::Error {
    let io = e.downcast_ref::<io::Error>().or_else(|| {
        e.downcast_ref::<StreamClosedError>()
            .and_then(|c| c.real_error.as_ref())
            .and_then(|r| r.downcast_ref::<io::Error>())
    });
    match io {
        Some(io) => match io.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(io.kind(), io.to_string()),
        },
        None => io::Error::other(e.to_string()),
    }
}

/// How to connect: timeout, address family, source address, stream limits
/// and TLS (Tornado's `connect` keyword arguments).
///
/// ```
/// use std::time::Duration;
/// use tornado_tcp::{ConnectOptions, Family};
///
/// let options = ConnectOptions::new()
///     .timeout(Duration::from_secs(5))
///     .family(Family::V4)
///     .source_ip("127.0.0.1".parse().unwrap())
///     .max_buffer_size(1 << 20);
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    /// Bound on the whole connect, from resolution to handshake.
    timeout: Option<Duration>,
    /// Which addresses of the name to use.
    family: Family,
    /// Local address to bind before connecting; restricts the family to
    /// its own.
    source_ip: Option<IpAddr>,
    /// Local port to bind before connecting (with the unspecified address
    /// of the family when `source_ip` is not set).
    source_port: Option<u16>,
    /// Limits of the resulting stream.
    stream_options: StreamOptions,
    /// How long the first family has alone before the other one starts.
    fallback_delay: Duration,
    /// Client TLS configuration; the certificate must name the host.
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: None,
            family: Family::Any,
            source_ip: None,
            source_port: None,
            stream_options: StreamOptions::default(),
            fallback_delay: DEFAULT_FALLBACK_DELAY,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ConnectOptions {
    /// No timeout, any family, no source binding, default stream limits.
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// Fails with [`ConnectError::Timeout`] if not connected (TLS handshake
    /// included) within `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Uses only addresses of `family`.
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// Binds the socket to `ip` before connecting.
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Binds the socket to local port `port` before connecting.
    pub fn source_port(mut self, port: u16) -> Self {
        self.source_port = Some(port);
        self
    }

    /// The most bytes the stream buffers for reading.
    pub fn max_buffer_size(mut self, bytes: usize) -> Self {
        self.stream_options.max_buffer_size = bytes;
        self
    }

    /// All the stream's limits at once.
    pub fn stream_options(mut self, options: StreamOptions) -> Self {
        self.stream_options = options;
        self
    }

    /// How long to wait on the first address family before also trying
    /// the other (default 300 ms, as Tornado).
    pub fn fallback_delay(mut self, delay: Duration) -> Self {
        self.fallback_delay = delay;
        self
    }

    /// Speaks TLS once connected, checking the certificate against the
    /// host name given to `connect`.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>,
    ) -> Self {
        self.tls = Some(config);
        self
    }

    /// The family to resolve: the source address's, if one is set.
    fn effective_family(&self) -> Result<Family, io::Error> {
        let Some(ip) = self.source_ip else {
            return Ok(self.family);
        };
        let own = if ip.is_ipv4() { Family::V4 } else { Family::V6 };
        if self.family != Family::Any && self.family != own {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the source address is not of the requested family",
            ));
        }
        Ok(own)
    }
}

/// A non-blocking TCP connection factory (Tornado's `TCPClient`).
///
/// `connect` resolves the name with its [`Resolver`] (by default on the
/// executor), then races the addresses happy-eyeballs style: the first
/// family's addresses in order, the other family joining after 300 ms or
/// at the first failure. Failures are [`ConnectError`]s.
///
/// ```
/// use std::net::TcpListener;
/// use std::time::Duration;
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_tcp::{ConnectError, OverrideResolver, TcpClient, ThreadedResolver};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let port = listener.local_addr().unwrap().port();
/// let resolver = OverrideResolver::new(ThreadedResolver).map("example.test", 80, "127.0.0.1", port);
/// let ioloop = IOLoop::new().unwrap();
/// ioloop.run_sync(move || coroutine(async move {
///     let client = TcpClient::with_resolver(resolver);
///     let stream = client.connect("example.test", 80, Some(Duration::from_secs(5))).await?;
///     stream.write(b"hi".to_vec()).await?;
///     drop(listener); // nothing listens any more: refused
///     let e = client.connect("127.0.0.1", port, None).await.err().unwrap();
///     assert!(e.downcast_ref::<ConnectError>().unwrap().is_refused());
///     Ok(())
/// }), None).unwrap();
/// ```
#[derive(Clone)]
pub struct TcpClient {
    /// Resolves every name this client connects to.
    resolver: Rc<dyn Resolver>,
}

impl Default for TcpClient {
    fn default() -> Self {
        TcpClient::new()
    }
}

impl TcpClient {
    /// A client with the default resolver ([`ThreadedResolver`]).
    pub fn new() -> TcpClient {
        TcpClient::with_resolver(ThreadedResolver)
    }

    /// A client that resolves names with `resolver`.
    pub fn with_resolver(resolver: impl Resolver + 'static) -> TcpClient {
        TcpClient {
            resolver: Rc::new(resolver),
        }
    }

    /// Connects to `host:port` (a name or an IP literal), failing with
    /// [`ConnectError::Timeout`] after `timeout`.
    pub fn connect(&self, host: &str, port: u16, timeout: Option<Duration>) -> Future<IOStream> {
        let mut options = ConnectOptions::new();
        options.timeout = timeout;
        self.connect_with(host, port, &options)
    }

    /// Connects with explicit [`ConnectOptions`].
    pub fn connect_with(
        &self,
        host: &str,
        port: u16,
        options: &ConnectOptions,
    ) -> Future<IOStream> {
        let host = host.to_owned();
        let opts = options.clone();
        let resolver = self.resolver.clone();
        let start = IOLoop::current().time();
        coroutine(async move {
            // Every stage gets what is left of the one deadline.
            let left = |stage: &str| -> Result<Option<Duration>, Error> {
                let Some(t) = opts.timeout else {
                    return Ok(None);
                };
                let left = t.saturating_sub(IOLoop::current().time() - start);
                if left.is_zero() {
                    log::debug!(target: "tornado.general", "connect to {host}:{port}: no time left for {stage}");
                    return Err(timeout_error(&host, port, t));
                }
                Ok(Some(left))
            };
            let family = opts
                .effective_family()
                .map_err(|source| ConnectError::Bind {
                    addr: SocketAddr::new(
                        opts.source_ip.expect("checked"),
                        opts.source_port.unwrap_or(0),
                    ),
                    source,
                })?;
            let resolving = resolver.resolve(&host, port, family);
            let resolved = match left("resolution")? {
                Some(d) => with_timeout(d, resolving).await,
                None => resolving.await,
            };
            let addrs = resolved.map_err(|e| match e.is::<TimeoutError>() {
                true => timeout_error(&host, port, opts.timeout.unwrap_or_default()),
                false => ConnectError::Resolve {
                    host: host.clone(),
                    port,
                    source: io_error_of(&e),
                }
                .into(),
            })?;
            let attempt_opts = opts.clone();
            let (_connector, connecting) = Connector::start(
                &addrs,
                opts.fallback_delay,
                left("connect")?,
                move |addr| start_attempt(addr, &attempt_opts),
                |stream: IOStream| stream.close(),
            );
            let (addr, stream) = connecting.await.map_err(|e| {
                if e.is::<TimeoutError>() {
                    timeout_error(&host, port, opts.timeout.unwrap_or_default())
                } else {
                    e
                }
            })?;
            log::debug!(target: "tornado.general", "connected to {host}:{port} at {addr}");
            #[cfg(feature = "tls")]
            if let Some(config) = &opts.tls {
                return handshake(stream, config.clone(), &host, port, left("TLS")?, &opts).await;
            }
            Ok(stream)
        })
    }
}

fn timeout_error(host: &str, port: u16, after: Duration) -> Error {
    ConnectError::Timeout {
        host: host.to_owned(),
        port,
        after,
    }
    .into()
}

/// Creates, binds and starts connecting one socket; the future fails with
/// a [`ConnectError`] naming `addr`. Cancelling it closes the socket.
fn start_attempt(addr: SocketAddr, opts: &ConnectOptions) -> Future<IOStream> {
    let socket = match open_socket(addr, opts) {
        Ok(s) => s,
        Err(e) => return Future::failed(e),
    };
    let inner = IOStream::connect_socket(socket.into(), opts.stream_options, None);
    let outer = Future::new();
    // Cancelling the outer attempt (a loser of the race) cancels the inner
    // one, which closes the socket.
    let i = inner.clone();
    outer.add_done_callback(move |o: Future<IOStream>| {
        if o.cancelled() {
            i.cancel();
        }
    });
    let o = outer.clone();
    inner.add_done_callback(move |i| {
        if o.done() {
            return;
        }
        let _ = match i.take_result() {
            Ok(stream) => o.set_result(stream),
            Err(e) => o.set_exception(attempt_error(addr, &e)),
        };
    });
    outer
}

/// The socket for one attempt: bound if asked, with its connect started.
fn open_socket(addr: SocketAddr, opts: &ConnectOptions) -> Result<Socket, ConnectError> {
    let connect_error = |source: io::Error| ConnectError::Connect { addr, source };
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(connect_error)?;
    if opts.source_ip.is_some() || opts.source_port.is_some() {
        let ip = opts.source_ip.unwrap_or(match addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let local = SocketAddr::new(ip, opts.source_port.unwrap_or(0));
        socket
            .bind(&SockAddr::from(local))
            .map_err(|source| ConnectError::Bind {
                addr: local,
                source,
            })?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(ConnectError::Refused { addr })
        }
        Err(e) => Err(connect_error(e)),
    }
}

/// Types the failure of one attempt.
fn attempt_error(addr: SocketAddr, e: &Error) -> Error {
    if e.is::<ConnectError>() {
        return e.clone();
    }
    let source = io_error_of(e);
    if source.kind() == io::ErrorKind::ConnectionRefused {
        return ConnectError::Refused { addr }.into();
    }
    ConnectError::Connect { addr, source }.into()
}

#[cfg(feature = "tls")]
async fn handshake(
    stream: IOStream,
    config: std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>,
    host: &str,
    port: u16,
    left: Option<Duration>,
    opts: &ConnectOptions,
) -> Result<IOStream, Error> {
    use tornado_iostream::tls::{TlsConfig, rustls::pki_types::ServerName};
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tls_error = |source: io::Error| -> Error {
        ConnectError::Tls {
            host: host.to_owned(),
            source,
        }
        .into()
    };
    let server_name = ServerName::try_from(bare.to_owned())
        .map_err(|e| tls_error(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let tls = TlsConfig::Client {
        config,
        server_name,
    };
    let handshaking = stream.start_tls(tls);
    let done = match left {
        Some(d) => with_timeout(d, handshaking).await,
        None => handshaking.await,
    };
    done.map_err(|e| {
        if e.is::<TimeoutError>() {
            timeout_error(host, port, opts.timeout.unwrap_or_default())
        } else {
            tls_error(io_error_of(&e))
        }
    })
}
