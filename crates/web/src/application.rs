//! `Application`: routes requests to handlers (Tornado's `web.Application`).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use regex::Regex;
use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_http::{HttpServerDelegate, RequestConnection};

use crate::context::Context;
use crate::delegate::{HandlerRun, Run, WebRequest};
use crate::handler::RequestHandler;
use crate::settings::Settings;

/// A matched route: its index and its decoded unnamed and named groups.
type Match = (usize, Vec<String>, Vec<(String, String)>);

/// A route matched, but a group is not UTF-8 once percent-decoded.
struct BadGroup;

/// Starts one request with a handler type.
pub(crate) trait Spec {
    /// A fresh handler for the request in `cx`.
    fn start(&self, cx: Context) -> Box<dyn Run>;
}

/// A handler value to clone per request.
struct Cloning<H>(H);

impl<H: RequestHandler + Clone> Spec for Cloning<H> {
    fn start(&self, cx: Context) -> Box<dyn Run> {
        Box::new(HandlerRun {
            handler: self.0.clone(),
            cx,
        })
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
struct AppInner {
    routes: Vec<Route>,
    settings: Rc<Settings>,
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
            inner: Rc::new(AppInner {
                routes,
                settings: Rc::new(settings),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn settings_rc(&self) -> Rc<Settings> {
        self.inner.settings.clone()
    }

    /// Routes the request in `cx`, filling its path arguments: the route's
    /// handler spec, or the error status (404, or 400 for a path group
    /// that is not UTF-8).
    pub(crate) fn route_for(&self, cx: &mut Context) -> Result<&dyn Spec, u16> {
        match self.find(&cx.request.path) {
            Some(Ok((i, args, kwargs))) => {
                cx.path_args = args;
                cx.path_kwargs = kwargs;
                Ok(&*self.inner.routes[i].spec)
            }
            Some(Err(BadGroup)) => Err(400),
            None => Err(404),
        }
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

impl HttpServerDelegate for Application {
    type Message = WebRequest;

    fn start_request(self: Rc<Self>, conn: RequestConnection) -> WebRequest {
        WebRequest::new((*self).clone(), conn)
    }
}
