//! An [`Application`] on several cores in one call: in pre-forked worker
//! processes ([`Application::listen_processes`]) or on one loop per thread
//! ([`listen_threads`]).

use std::io;
use std::net::SocketAddr;

use tornado_http::{HttpServer, HttpServerOptions, threaded};
use tornado_tcp::{Processes, ServerThreads};

use crate::application::Application;

impl Application {
    /// `listen_on` in several processes: binds `port` at `address`, forks
    /// the workers, and serves in each (stopping gracefully on `SIGTERM` or
    /// `SIGINT`). Returns, in each worker, the server and the bound
    /// addresses; start the worker's loop next. The parent only supervises
    /// (see `tornado_process::fork_processes`). Call it before any loop or
    /// thread exists.
    ///
    /// ```no_run
    /// use tornado_ioloop::IOLoop;
    /// use tornado_tcp::Processes;
    /// use tornado_web::Application;
    ///
    /// let app = Application::new(vec![]);
    /// let (_server, _addrs) = app.listen_processes(8888, None, &Processes::new(0))?;
    /// IOLoop::current().start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_processes(
        &self,
        port: u16,
        address: Option<&str>,
        processes: &Processes,
    ) -> io::Result<(HttpServer<Application>, Vec<SocketAddr>)> {
        let server = HttpServer::new(self.clone(), HttpServerOptions::default());
        let addrs = server.bind(port, address)?;
        server.start_processes(processes)?;
        Ok((server, addrs))
    }
}

/// Serves the application `factory` builds (once per thread, on that
/// thread: an `Application` is not `Send`) on `threads` threads (0: one per
/// core), each with its own loop, on `port` at `address`. Every thread has
/// its own `SO_REUSEPORT` socket. Stop them with the handle's
/// `shutdown(grace)`, then `join`.
///
/// ```
/// use tornado_web::{Application, listen_threads};
///
/// let threads = listen_threads(|| Application::new(vec![]), 0, Some("127.0.0.1"), 2).unwrap();
/// assert_eq!(threads.threads(), 2);
/// threads.shutdown(std::time::Duration::ZERO);
/// threads.join().unwrap();
/// ```
pub fn listen_threads<F>(
    factory: F,
    port: u16,
    address: Option<&str>,
    threads: usize,
) -> io::Result<ServerThreads>
where
    F: Fn() -> Application + Send + Sync + 'static,
{
    let mut server = threaded(factory, HttpServerOptions::default());
    server.bind(port, address)?;
    server.start(threads)
}
