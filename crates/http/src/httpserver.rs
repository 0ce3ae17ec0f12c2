//! The HTTP/1.1 server (Tornado's `httpserver`): a `TcpHandler` running the
//! `http1` connection loop on each connection, which hands each request to
//! a delegate (an [`HttpServerDelegate`]'s, or an [`HttpHandler`]'s through
//! a whole-body delegate) and waits for its response before reading the
//! next, so pipelined requests are answered in order.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_iostream::{IOStream, StreamOptions};
use tornado_tcp::{TcpHandler, TcpServer};

pub use crate::http1::connection::{Detached, RequestConnection};
pub use crate::http1::delegate::{HttpHandler, HttpMessageDelegate, HttpServerDelegate};
pub use crate::http1::options::HttpServerOptions;
use crate::http1::server::{Served, serve, simple_response};

/// The connection-level handler given to the TCP server.
pub struct Connections<H: HttpServerDelegate> {
    handler: Rc<H>,
    options: Rc<HttpServerOptions>,
    /// Connections open now (for `max_connections`).
    open: Rc<Cell<usize>>,
}

/// An HTTP/1.x server (Tornado's `HTTPServer`).
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
/// use tornado_http::httputil::{HttpHeaders, HttpServerRequest};
/// use tornado_http::response::ResponseWriter;
/// use tornado_ioloop::IOLoop;
/// use tornado_iostream::IOStream;
///
/// struct Hello;
/// impl HttpHandler for Hello {
///     async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
///         let body = format!("hello {}", req.path);
///         let mut h = HttpHeaders::new();
///         h.add("Content-Length", body.len().to_string());
///         resp.write_headers(200, None, &h, body.as_bytes());
///         let _ = resp.finish().await;
///     }
/// }
///
/// let ioloop = IOLoop::new().unwrap();
/// let server = HttpServer::new(Hello, HttpServerOptions::default());
/// let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
/// let reply = ioloop.run_sync(move || coroutine(async move {
///     let s = IOStream::connect(&addr.to_string()).await?;
///     s.write(b"GET /x HTTP/1.0\r\n\r\n".to_vec()).await?;
///     s.read_until_close().await
/// }), None).unwrap();
/// assert!(reply.ends_with(b"\r\n\r\nhello /x"));
/// ```
pub struct HttpServer<H: HttpServerDelegate> {
    tcp: TcpServer<Connections<H>>,
}

impl<H: HttpServerDelegate> HttpServer<H> {
    /// A server for `handler` with `options`, not yet listening.
    pub fn new(handler: H, options: HttpServerOptions) -> HttpServer<H> {
        let stream_options = StreamOptions {
            max_buffer_size: options.max_buffer_size,
            read_chunk_size: options.chunk_size,
            ..StreamOptions::default()
        };
        Self::from_tcp(
            |c| TcpServer::with_options(c, stream_options),
            handler,
            options,
        )
    }

    /// A server that speaks HTTPS. Its streams keep the default limits
    /// (`chunk_size` still bounds the body pieces delegates receive, but
    /// not the socket reads; `max_buffer_size` is not applied).
    #[cfg(feature = "tls")]
    pub fn with_tls(
        handler: H,
        mut options: HttpServerOptions,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ServerConfig>,
    ) -> HttpServer<H> {
        options.protocol = "https".to_owned();
        Self::from_tcp(|c| TcpServer::with_tls(c, config), handler, options)
    }

    fn from_tcp(
        make: impl FnOnce(Connections<H>) -> TcpServer<Connections<H>>,
        handler: H,
        options: HttpServerOptions,
    ) -> Self {
        HttpServer {
            tcp: make(Connections {
                handler: Rc::new(handler),
                options: Rc::new(options),
                open: Rc::new(Cell::new(0)),
            }),
        }
    }

    /// The request handler.
    pub fn handler(&self) -> &H {
        &self.tcp.handler().handler
    }

    /// Listens on `port` on every interface.
    pub fn listen(&self, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.tcp.listen(port)
    }

    /// Listens on `port` at `address`; returns the bound addresses.
    pub fn listen_on(&self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        self.tcp.listen_on(port, address)
    }

    /// Serves already-listening sockets.
    pub fn add_sockets(&self, sockets: Vec<TcpListener>) -> io::Result<()> {
        self.tcp.add_sockets(sockets)
    }

    /// The underlying TCP server (stop, shutdown, connection count).
    pub fn tcp(&self) -> &TcpServer<Connections<H>> {
        &self.tcp
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.tcp.stop();
    }

    /// Stops accepting, lets open connections finish for up to `grace`,
    /// then closes the rest.
    pub fn shutdown(&self, grace: Duration) -> Future<()> {
        self.tcp.shutdown(grace)
    }
}

impl<H: HttpServerDelegate> TcpHandler for Connections<H> {
    async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
        let open = self.open.clone();
        open.set(open.get() + 1);
        struct Open(Rc<Cell<usize>>);
        impl Drop for Open {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let _open = Open(open);
        if self
            .options
            .max_connections
            .is_some_and(|max| self.open.get() > max)
        {
            let _ = stream
                .write(simple_response(503, "too many connections"))
                .await;
            stream.close();
            return;
        }
        match serve(&stream, address, &self.handler, &self.options).await {
            // Reads abandoned on a timeout still hold handles to the
            // stream: close it, not just drop ours, so the peer sees the end.
            Served::Closed => stream.close(),
            Served::Detached => {}
        }
    }
}
