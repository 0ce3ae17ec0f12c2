//! `Application`: routes requests to handlers (Tornado's `web.Application`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

use regex::Regex;
use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
use tornado_http::httputil::HttpServerRequest;
use tornado_http::response::ResponseWriter;

use crate::context::Context;
use crate::error::HttpError;
use crate::handler::{RequestHandler, execute, send_error};

/// Application-wide settings (Tornado's settings dictionary, typed).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The secret that signs cookies (`set_signed_cookie`).
    pub cookie_secret: Option<String>,
    /// Error pages show the error (development only).
    pub serve_traceback: bool,
    /// Gzip responses to clients that accept it.
    pub compress_response: bool,
    /// Application values of the user's own.
    pub extra: std::collections::HashMap<String, String>,
}

/// A matched route: its index and its decoded unnamed and named groups.
type Match = (usize, Vec<String>, Vec<(String, String)>);

/// A route matched, but a group is not UTF-8 once percent-decoded.
struct BadGroup;

/// Runs one request through a handler type.
trait Spec {
    fn run(&self, cx: Context) -> Pin<Box<dyn std::future::Future<Output = ()>>>;
}

/// A handler value to clone per request.
struct Cloning<H>(H);

impl<H: RequestHandler + Clone> Spec for Cloning<H> {
    fn run(&self, mut cx: Context) -> Pin<Box<dyn std::future::Future<Output = ()>>> {
        let mut h = self.0.clone();
        Box::pin(async move { execute(&mut h, &mut cx).await })
    }
}

/// A URL pattern and the handler serving it.
pub struct Route {
    /// The pattern anchored at both ends.
    regex: Regex,
    spec: Box<dyn Spec>,
}

/// A route: `pattern` is a regular expression matched against the whole
/// path; its groups become the handler's path arguments.
///
/// # Panics
/// If `pattern` is not a valid regular expression (a programming error,
/// found at start-up); see [`try_route`] to get it as an error.
pub fn route<H: RequestHandler + Clone>(pattern: &str, handler: H) -> Route {
    try_route(pattern, handler).unwrap_or_else(|e| panic!("invalid route pattern {pattern:?}: {e}"))
}

/// As [`route`], returning an invalid pattern as an error.
pub fn try_route<H: RequestHandler + Clone>(
    pattern: &str,
    handler: H,
) -> Result<Route, regex::Error> {
    Ok(Route {
        regex: Regex::new(&format!("^(?:{pattern})$"))?,
        spec: Box::new(Cloning(handler)),
    })
}

/// The shared part of an application.
pub(crate) struct AppInner {
    routes: Vec<Route>,
    pub(crate) settings: Settings,
}

/// A web application: routes, settings, and the `HttpHandler` that runs
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
            inner: Rc::new(AppInner { routes, settings }),
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

    /// Finds the route for `path`: its index and decoded groups.
    fn find(&self, path: &str) -> Option<Result<Match, BadGroup>> {
        for (i, r) in self.inner.routes.iter().enumerate() {
            // Without groups, a match test is all it takes (and much cheaper).
            if r.regex.captures_len() == 1 {
                if r.regex.is_match(path) {
                    return Some(Ok((i, Vec::new(), Vec::new())));
                }
                continue;
            }
            if let Some(caps) = r.regex.captures(path) {
                // Not UTF-8 once decoded: a 400, as Tornado's
                // "Invalid unicode in path argument".
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| BadGroup)
                };
                let mut args = Vec::new();
                let mut kwargs = Vec::new();
                for (name, m) in r.regex.capture_names().zip(caps.iter()).skip(1) {
                    let value = match m {
                        Some(m) => match decode(m.as_str()) {
                            Ok(v) => v,
                            Err(e) => return Some(Err(e)),
                        },
                        None => String::new(),
                    };
                    match name {
                        Some(n) => kwargs.push((n.to_owned(), value)),
                        None => args.push(value),
                    }
                }
                return Some(Ok((i, args, kwargs)));
            }
        }
        None
    }
}

/// The default error page for requests no route serves: 404, or 400 when a
/// path group is not UTF-8 (Tornado's `ErrorHandler`).
#[derive(Clone)]
struct NotFound;
impl RequestHandler for NotFound {}

impl HttpHandler for Application {
    async fn handle_request(&self, request: HttpServerRequest, response: ResponseWriter) {
        let found = self.find(&request.path);
        let mut cx = Context::new(request, response, self.inner.clone());
        let status = match found {
            Some(Ok((i, args, kwargs))) => {
                cx.path_args = args;
                cx.path_kwargs = kwargs;
                self.inner.routes[i].spec.run(cx).await;
                return;
            }
            Some(Err(BadGroup)) => 400,
            None => 404,
        };
        send_error(&mut NotFound, &mut cx, &HttpError::new(status));
        log::warn!(target: "tornado.access", "{status} {} {} ({})", cx.request().method, cx.request().uri, cx.request().remote_ip);
    }
}
