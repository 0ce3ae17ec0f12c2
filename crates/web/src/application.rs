//! `Application`: routes requests to handlers (Tornado's `web.Application`).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use regex::Regex;
use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_http::{HttpServerDelegate, RequestConnection};

use crate::delegate::WebRequest;
use crate::error::HttpError;
use crate::handler::RequestHandler;
use crate::reverse::{ReversePattern, ReverseTable};
use crate::routing::{Route, Router, route};
use crate::settings::Settings;
use crate::static_file::StaticFileHandler;
use crate::static_url::StaticUrls;
use crate::templates::TemplateStore;

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
    router: Rc<Router>,
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
                router: Rc::default(),
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
        self.inner.router.insert(host, routes);
    }

    /// Serves requests no route matches with `handler` instead of the 404
    /// page (Tornado's `default_handler_class`).
    pub fn set_default_handler<H: RequestHandler + Clone>(&self, handler: H) {
        self.inner.router.set_default(handler);
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
        WebRequest::new(self.inner.router.clone(), self.inner.shared.clone(), conn)
    }
}
