//! `Application`: routes requests to handlers (Tornado's `web.Application`).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_http::{HttpServerDelegate, RequestConnection};

use crate::delegate::WebRequest;
use crate::routing::{Route, Router};
use crate::settings::Settings;

/// The shared part of an application.
struct AppInner {
    router: Rc<Router>,
    settings: Rc<Settings>,
}

/// A web application: routes, settings, and the `HttpServerDelegate` that runs
/// them (Tornado's `Application`).
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_iostream::IOStream;
/// use tornado_web::{Application, Context, HttpError, RequestHandler, route};
///
/// #[derive(Clone)]
/// struct UserHandler;
/// impl RequestHandler for UserHandler {
///     async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
///         let id = cx.path_args()[0].clone();
///         cx.write(format!("user {id}"));
///         Ok(())
///     }
/// }
///
/// let ioloop = IOLoop::new().unwrap();
/// let app = Application::new(vec![route(r"/user/([0-9]+)", UserHandler)]);
/// let addr = app.listen_on(0, Some("127.0.0.1")).unwrap().1[0];
/// let reply = ioloop.run_sync(move || coroutine(async move {
///     let s = IOStream::connect(&addr.to_string()).await?;
///     s.write(b"GET /user/42 HTTP/1.0\r\n\r\n".to_vec()).await?;
///     s.read_until_close().await
/// }), None).unwrap();
/// assert!(reply.starts_with(b"HTTP/1.0 200 OK"));
/// assert!(reply.ends_with(b"user 42"));
/// ```
#[derive(Clone)]
pub struct Application {
    inner: Rc<AppInner>,
}

impl Application {
    /// An application with default settings.
    pub fn new(routes: Vec<Route>) -> Application {
        Self::with_settings(routes, Settings::default())
    }

    /// An application with `settings`.
    pub fn with_settings(routes: Vec<Route>, settings: Settings) -> Application {
        Application {
            inner: Rc::new(AppInner {
                router: Rc::new(Router::new(routes)),
                settings: Rc::new(settings),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Serves the application on `port` (all interfaces) with default
    /// server options; returns the server.
    pub fn listen(&self, port: u16) -> io::Result<HttpServer<Application>> {
        let server = HttpServer::new(self.clone(), HttpServerOptions::default());
        server.listen(port)?;
        Ok(server)
    }

    /// Serves on `port` at `address`; returns the server and bound addresses.
    pub fn listen_on(
        &self,
        port: u16,
        address: Option<&str>,
    ) -> io::Result<(HttpServer<Application>, Vec<SocketAddr>)> {
        let server = HttpServer::new(self.clone(), HttpServerOptions::default());
        let addrs = server.listen_on(port, address)?;
        Ok((server, addrs))
    }
}

impl HttpServerDelegate for Application {
    type Message = WebRequest;

    fn start_request(self: Rc<Self>, conn: RequestConnection) -> WebRequest {
        WebRequest::new(self.inner.router.clone(), self.inner.settings.clone(), conn)
    }
}
