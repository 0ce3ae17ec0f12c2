//! Listening sockets and the accept handler (Tornado's `netutil`).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tornado_ioloop::{Events, IOLoop, Trigger};

/// The listen backlog used when none is given: the largest the OS allows.
/// The kernel clamps it to its own maximum (`net.core.somaxconn` on Linux),
/// so a burst of connections is not dropped as with Tornado's 128.
pub const DEFAULT_BACKLOG: i32 = i32::MAX;

/// Creates listening sockets for `port` on `address` (all interfaces, IPv4
/// and IPv6, when `None`), as Tornado's `bind_sockets`. With port 0 every
/// socket gets the same ephemeral port. `reuse_port` sets `SO_REUSEPORT`,
/// so several threads or processes can each listen on the port.
pub fn bind_sockets(
    port: u16,
    address: Option<&str>,
    backlog: Option<i32>,
    reuse_port: bool,
) -> io::Result<Vec<TcpListener>> {
    let addrs: Vec<SocketAddr> = match address {
        None | Some("") => {
            let mut v = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
            if ipv6_available() {
                v.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
            }
            v
        }
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let mut v: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
            v.dedup();
            v
        }
    };
    let mut sockets = Vec::with_capacity(addrs.len());
    let mut bound_port = None;
    for mut addr in addrs {
        // Port 0: the first socket picks the port, the others reuse it.
        if port == 0 {
            if let Some(p) = bound_port {
                addr.set_port(p);
            }
        }
        let listener = bind_one(addr, backlog.unwrap_or(DEFAULT_BACKLOG), reuse_port)?;
        bound_port = Some(listener.local_addr()?.port());
        sockets.push(listener);
    }
    Ok(sockets)
}

fn ipv6_available() -> bool {
    Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).is_ok()
}

/// One listening socket: non-blocking, close-on-exec, `SO_REUSEADDR`, and
/// IPv6 sockets IPv6-only (the IPv4 socket serves IPv4).
fn bind_one(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// A listening Unix socket at `path` (a stale socket file is replaced;
/// anything else there is an error), with permissions `mode`.
pub fn bind_unix_socket(path: &Path, mode: u32, backlog: Option<i32>) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    socket.listen(backlog.unwrap_or(DEFAULT_BACKLOG))?;
    Ok(socket.into())
}

/// A listening socket the accept handler can serve.
pub trait Acceptor: AsRawFd + 'static {
    /// What an accepted connection is.
    type Stream: 'static;
    /// Accepts one connection, with the peer's address (an unspecified
    /// address for Unix sockets, whose peers are unnamed).
    fn accept_one(&self) -> io::Result<(Self::Stream, SocketAddr)>;
}

impl Acceptor for TcpListener {
    type Stream = TcpStream;
    fn accept_one(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept()
    }
}

impl Acceptor for UnixListener {
    type Stream = UnixStream;
    fn accept_one(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, _) = self.accept()?;
        Ok((s, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)))
    }
}

/// First pause after running out of fds; doubled while still out, to 1 s.
const EMFILE_FIRST_PAUSE: Duration = Duration::from_millis(10);
const EMFILE_MAX_PAUSE: Duration = Duration::from_secs(1);

/// Most connections accepted per readiness event, so that one busy listener
/// cannot hold the loop (Tornado uses its backlog size).
const ACCEPTS_PER_EVENT: usize = 128;

/// Stops an accept handler; see [`add_accept_handler`].
pub struct AcceptHandle {
    /// Shared with the registered handler and any pending resume timer.
    state: Rc<AcceptState>,
}

/// The shared state of one accept handler.
struct AcceptState {
    /// The loop the listener is registered on.
    ioloop: IOLoop,
    /// The listener's fd, valid while the `AcceptLoop` owning it lives.
    fd: RawFd,
    /// False once removed: a pending resume must not re-register.
    active: Cell<bool>,
    /// The current pause while out of fds; zero when accepting normally.
    pause: Cell<Duration>,
    /// The pending resume timeout while paused.
    resume: Cell<Option<tornado_ioloop::Timeout>>,
}

impl AcceptHandle {
    /// Stops accepting (the listener itself is dropped by the caller).
    pub fn remove(&self) {
        let s = &self.state;
        if s.active.replace(false) {
            if let Some(t) = s.resume.take() {
                s.ioloop.remove_timeout(t);
            }
            let _ = s.ioloop.remove_handler(s.fd);
        }
    }

    /// True while accepting is paused because the process is out of fds.
    pub fn paused(&self) -> bool {
        self.state.pause.get() > Duration::ZERO
    }
}

/// True for "out of file descriptors" (process or system limit), and for
/// the buffer-space errors that mean the same kind of temporary shortage.
fn out_of_fds(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Calls `callback(connection, address)` on the current loop for each
/// connection accepted on `listener` (Tornado's `add_accept_handler`).
///
/// When the process runs out of file descriptors, accepting pauses (the
/// handler is unregistered, so the loop does not spin on the still-pending
/// connection), one warning is logged, and accepting resumes by itself
/// after a pause that doubles up to a second while fds stay short.
pub fn add_accept_handler<L: Acceptor>(
    listener: L,
    callback: impl FnMut(L::Stream, SocketAddr) + 'static,
) -> io::Result<AcceptHandle> {
    let ioloop = IOLoop::current();
    let fd = listener.as_raw_fd();
    let state = Rc::new(AcceptState {
        ioloop: ioloop.clone(),
        fd,
        active: Cell::new(true),
        pause: Cell::new(Duration::ZERO),
        resume: Cell::new(None),
    });
    let handler = Rc::new(RefCell::new(AcceptLoop {
        listener,
        callback,
        state: state.clone(),
    }));
    register(&handler)?;
    Ok(AcceptHandle { state })
}

/// The listener and the user's callback.
struct AcceptLoop<L, F> {
    /// Owned here: dropped (closed) with the handler once removed.
    listener: L,
    /// Gets each accepted connection.
    callback: F,
    /// The same state the `AcceptHandle` holds.
    state: Rc<AcceptState>,
}

fn register<L: Acceptor, F: FnMut(L::Stream, SocketAddr) + 'static>(
    handler: &Rc<RefCell<AcceptLoop<L, F>>>,
) -> io::Result<()> {
    let state = handler.borrow().state.clone();
    let h = handler.clone();
    state
        .ioloop
        .add_handler_owned_elsewhere(state.fd, Events::READ, Trigger::Level, move |_, _| {
            accept_ready(&h)
        })
        .map_err(io::Error::from)
}

fn accept_ready<L: Acceptor, F: FnMut(L::Stream, SocketAddr) + 'static>(
    handler: &Rc<RefCell<AcceptLoop<L, F>>>,
) {
    for _ in 0..ACCEPTS_PER_EVENT {
        let accepted = handler.borrow().listener.accept_one();
        match accepted {
            Ok((stream, addr)) => {
                let state = handler.borrow().state.clone();
                if state.pause.replace(Duration::ZERO) > Duration::ZERO {
                    log::warn!(target: "tornado.general", "file descriptors available again; accepting on fd {}", state.fd);
                }
                // The callback may remove this handler; it runs with the
                // listener borrowed only for the accept call above.
                let mut h = handler.borrow_mut();
                (h.callback)(stream, addr);
                if !state.active.get() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The peer gave up before we accepted: nothing to do.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) if out_of_fds(&e) => {
                pause_accepting(handler, e);
                return;
            }
            Err(e) => {
                log::error!(target: "tornado.general", "error accepting on fd {}: {e}", handler.borrow().state.fd);
                return;
            }
        }
    }
}

/// Out of fds: unregister, and try again after a growing pause.
fn pause_accepting<L: Acceptor, F: FnMut(L::Stream, SocketAddr) + 'static>(
    handler: &Rc<RefCell<AcceptLoop<L, F>>>,
    e: io::Error,
) {
    let state = handler.borrow().state.clone();
    let previous = state.pause.get();
    let pause = if previous.is_zero() {
        log::warn!(
            target: "tornado.general",
            "out of file descriptors ({e}); pausing accept on fd {} until some are free",
            state.fd
        );
        EMFILE_FIRST_PAUSE
    } else {
        (previous * 2).min(EMFILE_MAX_PAUSE)
    };
    state.pause.set(pause);
    let _ = state.ioloop.remove_handler(state.fd);
    let h = handler.clone();
    let s = state.clone();
    let t = state.ioloop.call_later(pause, move || {
        s.resume.set(None);
        if !s.active.get() {
            return;
        }
        if let Err(e) = register(&h) {
            log::error!(target: "tornado.general", "cannot resume accepting on fd {}: {e}", s.fd);
            return;
        }
        // Connections may be waiting already; an edge backend would not
        // report them again, so try now.
        accept_ready(&h);
    });
    state.resume.set(Some(t));
}
