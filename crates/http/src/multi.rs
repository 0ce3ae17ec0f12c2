//! An HTTP server on several cores, in one call: in several processes
//! ([`HttpServer::start_processes`], Tornado's `HTTPServer.start(n)`) or on
//! several threads of one process ([`threaded`], one loop per thread, on
//! `tornado-tcp`'s `ThreadedServer`).
//!
//! Only the public API of [`HttpServer`] is used here (`new`, `tcp`), so
//! that the connection code can change without touching this file.

use std::io;
use std::net::SocketAddr;

use tornado_iostream::IOStream;
use tornado_tcp::{Processes, TcpHandler, ThreadedServer};

use crate::http1::HttpServerDelegate;
use crate::httpserver::{HttpServer, HttpServerOptions};

impl<H: HttpServerDelegate> HttpServer<H> {
    /// Binds `port` at `address` (every interface for `None`) now, to be
    /// served by [`start_processes`](HttpServer::start_processes) (Tornado's
    /// `bind`). Returns the bound addresses.
    pub fn bind(&self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        self.tcp().bind(port, address)
    }

    /// Tornado's `start(num_processes)`: forks the workers and serves the
    /// bound sockets in each, stopping gracefully on `SIGTERM`/`SIGINT`
    /// (see `TcpServer::start_processes`). Returns the worker's task id in
    /// each worker; start the worker's loop next.
    ///
    /// ```no_run
    /// # use tornado_http::{HttpHandler, HttpServer, HttpServerOptions};
    /// # use tornado_http::{HttpServerRequest, ResponseWriter};
    /// # use tornado_ioloop::IOLoop;
    /// # use tornado_tcp::Processes;
    /// # struct App;
    /// # impl HttpHandler for App {
    /// #     async fn handle_request(&self, _r: HttpServerRequest, _w: ResponseWriter) {}
    /// # }
    /// let server = HttpServer::new(App, HttpServerOptions::default());
    /// server.bind(8888, Some("127.0.0.1"))?;
    /// server.start_processes(&Processes::new(0))?; // one worker per core
    /// IOLoop::current().start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_processes(&self, processes: &Processes) -> io::Result<usize> {
        self.tcp().start_processes(processes)
    }
}

/// One thread's HTTP server as a TCP handler: the connection code of an
/// [`HttpServer`] made on that thread, under the thread's `TcpServer`.
pub struct HttpThread<H: HttpServerDelegate>(HttpServer<H>);

impl<H: HttpServerDelegate> TcpHandler for HttpThread<H> {
    fn handle_stream(
        &self,
        stream: IOStream,
        address: SocketAddr,
    ) -> impl std::future::Future<Output = ()> {
        self.0.tcp().handler().handle_stream(stream, address)
    }
}

/// An HTTP server on several threads, each with its own loop and its own
/// handler, made on that thread by `factory` (handlers need not be
/// `Send`). `bind` the ports, then `start(n)`; the returned handle stops
/// the threads (`shutdown(grace)`) and waits for them (`join`).
///
/// ```
/// use std::io::{Read, Write};
/// use tornado_http::{HttpHandler, HttpHeaders, HttpServerOptions, HttpServerRequest, ResponseWriter};
///
/// struct Hello;
/// impl HttpHandler for Hello {
///     async fn handle_request(&self, _req: HttpServerRequest, resp: ResponseWriter) {
///         let mut h = HttpHeaders::new();
///         h.add("Content-Length", "5");
///         resp.write_headers(200, None, &h, b"hello");
///         let _ = resp.finish().await;
///     }
/// }
///
/// let mut server = tornado_http::threaded(|| Hello, HttpServerOptions::default());
/// let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
/// let threads = server.start(2).unwrap();
/// let mut conn = std::net::TcpStream::connect(addr).unwrap();
/// conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
/// let mut reply = String::new();
/// conn.read_to_string(&mut reply).unwrap();
/// assert!(reply.ends_with("hello"));
/// threads.shutdown(std::time::Duration::from_secs(1));
/// threads.join().unwrap();
/// ```
pub fn threaded<H, F>(
    factory: F,
    options: HttpServerOptions,
) -> ThreadedServer<impl Fn() -> HttpThread<H> + Send + Sync + 'static>
where
    H: HttpServerDelegate,
    F: Fn() -> H + Send + Sync + 'static,
{
    ThreadedServer::new(move || HttpThread(HttpServer::new(factory(), options.clone())))
}
