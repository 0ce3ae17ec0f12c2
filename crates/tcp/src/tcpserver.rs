//! `TcpServer`: one coroutine per accepted connection (Tornado's
//! `tcpserver`).

use std::cell::{Cell, RefCell};
use std::future::Future as StdFuture;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::rc::Rc;
use std::time::Duration;

use slab::Slab;
use tornado_concurrent::{Error, Future};
use tornado_gen::{coroutine, sleep, spawn};
use tornado_ioloop::IOLoop;
use tornado_iostream::{IOStream, StreamOptions, Transport};

use crate::netutil::{AcceptHandle, Acceptor, add_accept_handler, bind_sockets};

/// A server-side TLS configuration, as `with_tls` takes it (a placeholder
/// type without the `tls` feature, where it is never constructed).
#[cfg(feature = "tls")]
pub(crate) type ServerTls = std::sync::Arc<tornado_iostream::tls::rustls::ServerConfig>;
#[cfg(not(feature = "tls"))]
pub(crate) type ServerTls = std::convert::Infallible;

/// What a [`TcpServer`] does with each connection.
///
/// ```
/// use std::net::SocketAddr;
/// use tornado_iostream::IOStream;
/// use tornado_tcp::TcpHandler;
///
/// struct Echo;
/// impl TcpHandler for Echo {
///     async fn handle_stream(&self, stream: IOStream, _addr: SocketAddr) {
///         while let Ok(data) = stream.read_bytes(64 * 1024, true).await {
///             if stream.write(data).await.is_err() {
///                 break;
///             }
///         }
///     }
/// }
/// ```
pub trait TcpHandler: 'static {
    /// Serves one connection; the stream is closed when the returned future
    /// ends (unless the handler kept a handle to it elsewhere). A panic is
    /// logged and closes that connection only.
    fn handle_stream(&self, stream: IOStream, address: SocketAddr) -> impl StdFuture<Output = ()>;
}

/// State shared by the server's accept handlers and connections.
struct Shared<H> {
    /// Serves every connection, through `&self`.
    handler: H,
    /// Limits for accepted streams.
    options: StreamOptions,
    /// TLS for accepted connections, if any.
    #[cfg(feature = "tls")]
    tls: Option<tornado_iostream::tls::TlsConfig>,
    /// Open connections, so that a shutdown can close the stragglers.
    connections: RefCell<Slab<IOStream>>,
    /// Accept handlers of every listening socket.
    accepting: RefCell<Vec<AcceptHandle>>,
    /// Sockets bound by `bind` and not yet served: `start` takes them.
    bound: RefCell<Vec<TcpListener>>,
    /// False once stopped: no new connections are served.
    serving: Cell<bool>,
}

/// A TCP server that hands each connection, as an [`IOStream`], to a
/// coroutine of its [`TcpHandler`] (Tornado's `TCPServer`).
///
/// ```no_run
/// # use std::net::SocketAddr;
/// # use tornado_iostream::IOStream;
/// # use tornado_ioloop::IOLoop;
/// # use tornado_tcp::{TcpHandler, TcpServer};
/// # struct Echo;
/// # impl TcpHandler for Echo {
/// #     async fn handle_stream(&self, _s: IOStream, _a: SocketAddr) {}
/// # }
/// TcpServer::new(Echo).listen(8888).unwrap();
/// IOLoop::current().start().unwrap();
/// ```
pub struct TcpServer<H: TcpHandler> {
    /// Shared by every clone, accept handler and connection coroutine.
    shared: Rc<Shared<H>>,
}

impl<H: TcpHandler> Clone for TcpServer<H> {
    fn clone(&self) -> Self {
        TcpServer {
            shared: self.shared.clone(),
        }
    }
}

impl<H: TcpHandler> TcpServer<H> {
    /// A server for `handler`, not yet listening.
    pub fn new(handler: H) -> TcpServer<H> {
        Self::with_options(handler, StreamOptions::default())
    }

    /// A server whose streams get `options` (buffer limits).
    pub fn with_options(handler: H, options: StreamOptions) -> TcpServer<H> {
        Self::build(handler, options, None)
    }

    /// A server that does a TLS handshake on each connection before its
    /// handler sees it.
    #[cfg(feature = "tls")]
    pub fn with_tls(
        handler: H,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ServerConfig>,
    ) -> TcpServer<H> {
        Self::build(handler, StreamOptions::default(), Some(config))
    }

    /// Every constructor's body; `tls` is ignored without the feature.
    pub(crate) fn build(
        handler: H,
        options: StreamOptions,
        tls: Option<ServerTls>,
    ) -> TcpServer<H> {
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        TcpServer {
            shared: Rc::new(Shared {
                handler,
                options,
                #[cfg(feature = "tls")]
                tls: tls.map(tornado_iostream::tls::TlsConfig::Server),
                connections: RefCell::new(Slab::new()),
                accepting: RefCell::new(Vec::new()),
                bound: RefCell::new(Vec::new()),
                serving: Cell::new(true),
            }),
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.shared.handler
    }

    /// Listens on `port` on every interface, on the current loop.
    pub fn listen(&self, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.listen_on(port, None)
    }

    /// Listens on `port` at `address`; returns the bound addresses (useful
    /// with port 0).
    pub fn listen_on(&self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        let sockets = bind_sockets(port, address, None, false)?;
        let addrs = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        self.add_sockets(sockets)?;
        Ok(addrs)
    }

    /// Binds `port` at `address` now and serves it from [`start`]
    /// (Tornado's `bind`): bind early, for instance before dropping
    /// privileges, and serve later. Returns the bound addresses.
    ///
    /// For serving on several threads, see [`ThreadedServer`].
    ///
    /// [`start`]: TcpServer::start
    /// [`ThreadedServer`]: crate::ThreadedServer
    pub fn bind(&self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        let sockets = bind_sockets(port, address, None, false)?;
        let addrs = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        self.shared.bound.borrow_mut().extend(sockets);
        Ok(addrs)
    }

    /// Starts serving the sockets of earlier [`bind`](TcpServer::bind)
    /// calls on the current loop (Tornado's `start(1)`); for several
    /// processes see [`start_processes`](TcpServer::start_processes).
    pub fn start(&self) -> io::Result<()> {
        self.add_sockets(self.take_bound())
    }

    /// The sockets of earlier `bind` calls, not served yet (for
    /// `start_processes`, which serves them in each worker).
    pub(crate) fn take_bound(&self) -> Vec<TcpListener> {
        std::mem::take(&mut *self.shared.bound.borrow_mut())
    }

    /// Serves connections arriving on already-listening sockets.
    pub fn add_sockets(&self, sockets: Vec<TcpListener>) -> io::Result<()> {
        for s in sockets {
            self.add_socket(s)?;
        }
        Ok(())
    }

    /// Serves connections arriving on one listening TCP socket.
    pub fn add_socket(&self, socket: TcpListener) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        self.add_acceptor(socket)
    }

    /// Serves connections arriving on a listening Unix socket.
    pub fn add_unix_socket(&self, socket: UnixListener) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        self.add_acceptor(socket)
    }

    fn add_acceptor<L>(&self, listener: L) -> io::Result<()>
    where
        L: Acceptor,
        L::Stream: Transport,
    {
        let shared = self.shared.clone();
        let handle = add_accept_handler(listener, move |conn, addr| {
            handle_connection(&shared, conn, addr)
        })?;
        self.shared.accepting.borrow_mut().push(handle);
        Ok(())
    }

    /// Stops accepting: listening sockets are closed. Open connections go
    /// on; see [`shutdown`](TcpServer::shutdown).
    pub fn stop(&self) {
        self.shared.serving.set(false);
        self.shared.bound.borrow_mut().clear();
        for handle in self.shared.accepting.borrow_mut().drain(..) {
            handle.remove();
        }
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.shared.connections.borrow().len()
    }

    /// Graceful shutdown: stops accepting, lets open connections finish for
    /// up to `grace`, then closes those still open. Resolves when none is
    /// left.
    pub fn shutdown(&self, grace: Duration) -> Future<()> {
        self.stop();
        let shared = self.shared.clone();
        coroutine(async move {
            let deadline = IOLoop::current().time() + grace;
            while !shared.connections.borrow().is_empty() && IOLoop::current().time() < deadline {
                sleep(Duration::from_millis(10)).await;
            }
            let stragglers: Vec<IOStream> = shared
                .connections
                .borrow()
                .iter()
                .map(|(_, s)| s.clone())
                .collect();
            if !stragglers.is_empty() {
                log::info!(
                    target: "tornado.general",
                    "shutdown: closing {} connection(s) still open after {grace:?}",
                    stragglers.len()
                );
            }
            for s in stragglers {
                s.close();
            }
            // Their coroutines see the close at their next read or write.
            while !shared.connections.borrow().is_empty() {
                sleep(Duration::from_millis(1)).await;
            }
            Ok::<(), Error>(())
        })
    }
}

/// Tornado's `_handle_connection`: wraps the socket (with TLS if
/// configured) and runs the handler's coroutine.
fn handle_connection<H: TcpHandler, T: Transport>(
    shared: &Rc<Shared<H>>,
    conn: T,
    addr: SocketAddr,
) {
    if !shared.serving.get() {
        return;
    }
    let stream = match IOStream::with_options(conn, shared.options) {
        Ok(s) => s,
        Err(e) => {
            log::error!(target: "tornado.general", "cannot set up a stream for {addr}: {e}");
            return;
        }
    };
    let key = shared.connections.borrow_mut().insert(stream.clone());
    // Removes the connection from the registry however the coroutine ends:
    // normally, by error, or by a panic (the drop still runs).
    let registered = Registered(shared.clone(), key);
    #[cfg(feature = "tls")]
    if let Some(tls) = shared.tls.clone() {
        spawn(async move {
            let stream = match stream.start_tls(tls).await {
                Ok(s) => s,
                Err(e) => {
                    log::debug!(target: "tornado.general", "TLS handshake with {addr} failed: {e}");
                    return Ok(());
                }
            };
            // The registry must close the TLS stream, not the old
            // (detached) handle.
            if let Some(slot) = registered.0.connections.borrow_mut().get_mut(registered.1) {
                *slot = stream.clone();
            }
            registered.0.handler.handle_stream(stream, addr).await;
            Ok::<(), Error>(())
        });
        return;
    }
    // Captures only what the handler is called with: a coroutine keeps its
    // captures beside the future it awaits, for every idle connection.
    spawn(async move {
        registered.0.handler.handle_stream(stream, addr).await;
        Ok::<(), Error>(())
    });
}

/// A connection in the server's registry until its coroutine ends (its
/// drop removes it, whether the coroutine returned, failed or panicked).
struct Registered<H: TcpHandler>(Rc<Shared<H>>, usize);

impl<H: TcpHandler> Drop for Registered<H> {
    fn drop(&mut self) {
        self.0.connections.borrow_mut().try_remove(self.1);
    }
}
