//! `Application`: routes requests to handlers (Tornado's `web.Application`).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use regex::Regex;
use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_http::{HttpServerDelegate, RequestConnection};

use crate::context::Context;
use crate::delegate::{HandlerRun, Run, WebRequest};
use crate::error::HttpError;
use crate::handler::RequestHandler;
use crate::reverse::{ReversePattern, ReverseTable};
use crate::settings::Settings;
use crate::static_file::StaticFileHandler;
use crate::static_url::StaticUrls;
use crate::templates::TemplateStore;

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
    fn start(&self, mut cx: Context) -> Box<dyn Run> {
        let handler = self.0.clone();
        cx.compute_etag = H::compute_etag;
        cx.template_namespace = H::get_template_namespace;
        if catch_unwind(AssertUnwindSafe(|| handler.set_default_headers(&mut cx))).is_err() {
            log::error!(target: "tornado.application", "set_default_headers panicked");
        }
        Box::new(HandlerRun { handler, cx })
    }
}

/// A URL pattern and the handler serving it.
pub struct Route {
    /// The pattern anchored at both ends.
    regex: Regex,
    /// The pattern as given, for `reverse_url`.
    pattern: String,
    /// The route's name, for `reverse_url`.
    name: Option<String>,
    spec: Rc<dyn Spec>,
}

impl Route {
    /// Names the route, so that `reverse_url(name, args)` can build its
    /// URLs (Tornado's `url(..., name=...)`).
    pub fn name(mut self, name: &str) -> Route {
        self.name = Some(name.to_owned());
        self
    }
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
        pattern: pattern.to_owned(),
        name: None,
        spec: Rc::new(Cloning(handler)),
    })
}

/// The routes for requests whose host matches (all hosts: `None`).
struct HostRules {
    host: Option<Regex>,
    routes: Vec<Route>,
}

/// What a request's context shares with the application: settings,
/// templates, named routes and static hashes, but not the routes'
/// handlers (no cycle from a context back to what made it).
pub(crate) struct AppShared {
    pub(crate) settings: Rc<Settings>,
    pub(crate) templates: TemplateStore,
    pub(crate) statics: Arc<StaticUrls>,
    reverse: RefCell<Arc<ReverseTable>>,
}

impl AppShared {
    /// The named routes as they are now.
    pub(crate) fn reverse_table(&self) -> Arc<ReverseTable> {
        self.reverse.borrow().clone()
    }
}

/// The shared part of an application.
struct AppInner {
    rules: RefCell<Vec<HostRules>>,
    default_handler: RefCell<Option<Rc<dyn Spec>>>,
    shared: Rc<AppShared>,
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
/// let app = Application::new(vec![route(r"/user/([0-9]+)", UserHandler).name("user")]);
/// assert_eq!(app.reverse_url("user", &["7"]).unwrap(), "/user/7");
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

    /// An application with `settings`. With `static_path` set, a
    /// [`StaticFileHandler`] serves it under `static_url_prefix` (and
    /// `/favicon.ico` and `/robots.txt` from it), ahead of `routes`.
    pub fn with_settings(mut routes: Vec<Route>, settings: Settings) -> Application {
        if let Some(dir) = &settings.static_path {
            let prefix = regex::escape(&settings.static_url_prefix);
            let handler = StaticFileHandler::new(dir);
            let mut statics = vec![
                route(&format!("{prefix}(.*)"), handler.clone()),
                route(r"/(favicon\.ico)", handler.clone()),
                route(r"/(robots\.txt)", handler),
            ];
            statics.append(&mut routes);
            routes = statics;
        }
        let shared = Rc::new(AppShared {
            statics: Arc::new(StaticUrls::new(&settings)),
            settings: Rc::new(settings),
            templates: TemplateStore::default(),
            reverse: RefCell::default(),
        });
        let app = Application {
            inner: Rc::new(AppInner {
                rules: RefCell::new(Vec::new()),
                default_handler: RefCell::new(None),
                shared,
            }),
        };
        app.insert_rules(None, routes);
        app
    }

    /// Adds routes for requests whose host (without port) matches
    /// `host_pattern` (a regex over the whole name), tried before the
    /// routes for all hosts; host rules are tried in the order added, and
    /// a host whose routes do not match the path falls through to the next
    /// (Tornado's `add_handlers`).
    ///
    /// # Panics
    /// If `host_pattern` is not a valid regular expression.
    pub fn add_handlers(&self, host_pattern: &str, routes: Vec<Route>) {
        let host = Regex::new(&format!("(?i)^(?:{host_pattern})$"))
            .unwrap_or_else(|e| panic!("invalid host pattern {host_pattern:?}: {e}"));
        self.insert_rules(Some(host), routes);
    }

    fn insert_rules(&self, host: Option<Regex>, routes: Vec<Route>) {
        let mut table = (*self.inner.shared.reverse_table()).clone();
        for r in &routes {
            if let Some(name) = &r.name {
                table
                    .named
                    .insert(name.clone(), ReversePattern::parse(&r.pattern));
            }
        }
        *self.inner.shared.reverse.borrow_mut() = Arc::new(table);
        let mut rules = self.inner.rules.borrow_mut();
        let wildcard = rules.iter().position(|r| r.host.is_none());
        match (host.is_some(), wildcard) {
            (true, Some(i)) => rules.insert(i, HostRules { host, routes }),
            (false, Some(i)) => rules[i].routes.extend(routes),
            (_, None) => rules.push(HostRules { host, routes }),
        }
    }

    /// Serves requests no route matches with `handler` instead of the 404
    /// page (Tornado's `default_handler_class`).
    pub fn set_default_handler<H: RequestHandler + Clone>(&self, handler: H) {
        *self.inner.default_handler.borrow_mut() = Some(Rc::new(Cloning(handler)));
    }

    /// The URL of the route named `name` with `args` in its groups
    /// (percent-encoded): Tornado's `reverse_url`. An unknown name, a
    /// pattern that cannot be reversed or a wrong number of arguments is
    /// an error.
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String, HttpError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        self.inner
            .shared
            .reverse_table()
            .reverse(name, &args)
            .map_err(|e| HttpError::new(500).with_log_message(e))
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.shared.settings
    }

    pub(crate) fn shared(&self) -> Rc<AppShared> {
        self.inner.shared.clone()
    }

    /// Routes the request in `cx`, filling its path arguments: the route's
    /// handler spec, or the error status (404, or 400 for a path group
    /// that is not UTF-8).
    pub(crate) fn route_for(&self, cx: &mut Context) -> Result<Rc<dyn Spec>, u16> {
        let host = cx.host_name();
        let rules = self.inner.rules.borrow();
        for rule in rules.iter() {
            if rule.host.as_ref().is_some_and(|h| !h.is_match(&host)) {
                continue;
            }
            match find(&rule.routes, &cx.request.path) {
                Some(Ok((i, args, kwargs))) => {
                    cx.path_args = args;
                    cx.path_kwargs = kwargs;
                    return Ok(rule.routes[i].spec.clone());
                }
                Some(Err(BadGroup)) => return Err(400),
                None => {}
            }
        }
        match &*self.inner.default_handler.borrow() {
            Some(spec) => Ok(spec.clone()),
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
}

/// Finds the route for `path` among `routes`: its index and decoded groups.
fn find(routes: &[Route], path: &str) -> Option<Result<Match, BadGroup>> {
    for (i, r) in routes.iter().enumerate() {
        // Without groups, a match test is all it takes (and much cheaper).
        if r.regex.captures_len() == 1 {
            if r.regex.is_match(path) {
                return Some(Ok((i, Vec::new(), Vec::new())));
            }
            continue;
        }
        if let Some(caps) = r.regex.captures(path) {
            let mut args = Vec::new();
            let mut kwargs = Vec::new();
            for (name, m) in r.regex.capture_names().zip(caps.iter()).skip(1) {
                let value = match m {
                    // Not UTF-8 once decoded: a 400, as Tornado's
                    // "Invalid unicode in path argument".
                    Some(m) => match crate::arguments::decode_path_argument(m.as_str()) {
                        Some(v) => v,
                        None => return Some(Err(BadGroup)),
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

impl HttpServerDelegate for Application {
    type Message = WebRequest;

    fn start_request(self: Rc<Self>, conn: RequestConnection) -> WebRequest {
        WebRequest::new((*self).clone(), conn)
    }
}
