//! Serving in several processes (Tornado's `TCPServer.start(n)`): the
//! sockets are bound in the parent, `fork_processes` makes the workers,
//! and each worker serves on its own loop and stops gracefully when the
//! supervising parent forwards `SIGTERM` or `SIGINT`.
//!
//! Two ways to share a port between workers:
//!
//! - **one shared socket** (the default, as Tornado): every worker accepts
//!   from the socket the parent bound. Works everywhere; the kernel wakes
//!   every worker's loop for each new connection and whichever accepts
//!   first serves it, so a busy worker may still take more than its share;
//! - **`SO_REUSEPORT`** ([`Processes::reuse_port`]): each worker binds its
//!   own socket to the port and the kernel spreads new connections between
//!   the sockets by a hash of their addresses (Linux, FreeBSD 12+). The
//!   balance is better and no worker is woken for nothing; but a
//!   connection queued on a worker that dies is reset, and another process
//!   of the same user could join the group. The parent binds first (so
//!   errors and the port chosen for port 0 are known before forking), then
//!   closes its socket so that it never holds one of the group.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_gen::spawn;
use tornado_ioloop::IOLoop;
use tornado_process::fork_processes;

use crate::netutil::bind_sockets;
use crate::signals::{SIGINT, SIGTERM, wait_for_signal};
use crate::tcpserver::{TcpHandler, TcpServer};

/// How long open connections may finish after `SIGTERM`, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How [`TcpServer::start_processes`] (and the HTTP and web entry points
/// built on it) runs its workers.
#[derive(Debug, Clone)]
pub struct Processes {
    /// Worker processes; 0 is one per core.
    pub count: usize,
    /// Restarts of failed workers allowed in all (`None`: Tornado's 100).
    pub max_restarts: Option<u32>,
    /// Each worker binds its own `SO_REUSEPORT` socket (see the module
    /// docs) instead of sharing the parent's.
    pub reuse_port: bool,
    /// On `SIGTERM`/`SIGINT`, the time open connections get to finish.
    pub grace: Duration,
}

impl Processes {
    /// `count` workers (0: one per core), a shared socket, default restarts
    /// and grace period.
    pub fn new(count: usize) -> Processes {
        Processes {
            count,
            max_restarts: None,
            reuse_port: false,
            grace: DEFAULT_GRACE,
        }
    }

    /// At most `n` restarts of failed workers in all.
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }

    /// One `SO_REUSEPORT` socket per worker (`true`) or one shared (`false`).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The grace period of a signalled graceful stop.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

impl<H: TcpHandler> TcpServer<H> {
    /// Tornado's `start(num_processes)`: forks the workers (see
    /// [`tornado_process::fork_processes`]) and, in each, serves the sockets
    /// of earlier [`bind`](TcpServer::bind) calls on the worker's current
    /// loop, and shuts the server down gracefully (then stops that loop) on
    /// `SIGTERM` or `SIGINT`. Returns the worker's task id, in each worker;
    /// the parent only supervises and exits when the workers are done.
    ///
    /// Call it before any loop or thread exists; then start the loop:
    ///
    /// ```no_run
    /// # use std::net::SocketAddr;
    /// # use tornado_iostream::IOStream;
    /// # use tornado_ioloop::IOLoop;
    /// # use tornado_tcp::{Processes, TcpHandler, TcpServer};
    /// # struct Echo;
    /// # impl TcpHandler for Echo {
    /// #     async fn handle_stream(&self, _s: IOStream, _a: SocketAddr) {}
    /// # }
    /// let server = TcpServer::new(Echo);
    /// server.bind(8888, None)?;
    /// server.start_processes(&Processes::new(0))?;
    /// IOLoop::current().start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_processes(&self, processes: &Processes) -> io::Result<usize> {
        let sockets = self.take_bound();
        let addrs = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        let sockets = if processes.reuse_port {
            // The parent must hold no socket of the group: the kernel would
            // queue connections on it that nobody accepts.
            drop(sockets);
            None
        } else {
            Some(sockets)
        };
        let id = fork_processes(processes.count, processes.max_restarts)?;
        let sockets = match sockets {
            Some(s) => s,
            None => rebind_all(&addrs)?,
        };
        self.add_sockets(sockets)?;
        let (server, grace) = (self.clone(), processes.grace);
        shutdown_on_signals(move || server.shutdown(grace))?;
        Ok(id)
    }
}

/// An `SO_REUSEPORT` listener on each of `addrs`.
fn rebind_all(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        let ip = a.ip().to_string();
        out.extend(bind_sockets(a.port(), Some(&ip), None, true)?);
    }
    Ok(out)
}

/// On the first `SIGTERM` or `SIGINT`, runs `shutdown` (typically a
/// server's graceful `shutdown(grace)`) on the current loop and stops the
/// loop once it is done, so that `IOLoop::start` returns and the process
/// can exit normally.
pub fn shutdown_on_signals<F>(shutdown: F) -> io::Result<()>
where
    F: FnOnce() -> Future<()> + 'static,
{
    let signalled = wait_for_signal(&[SIGTERM, SIGINT])?;
    spawn(async move {
        let sig = signalled.await?;
        log::info!(target: "tornado.general", "got signal {sig}: stopping gracefully");
        let outcome = shutdown().await;
        // Stopped even if the shutdown failed (`spawn` logs the error).
        IOLoop::current().stop();
        outcome
    });
    Ok(())
}
