//! `HttpClient` (Tornado's `AsyncHTTPClient`): one per loop by default,
//! at most `max_clients` requests at once with a FIFO queue behind them,
//! request defaults, hostname mapping, a resolver, and a pool of
//! keep-alive connections.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::Future;
use tornado_gen::coroutine;
use tornado_ioloop::{IOLoop, Remote};
use tornado_iostream::IOStream;
use tornado_tcp::{Family, Resolver, TcpClient, ThreadedResolver};

use super::connect::Connector;
use super::deadline::deadline;
use super::error::{HttpClientError, HttpClientErrorKind};
use super::flow;
use super::pool::Pool;
use super::request::HttpRequest;
use super::response::HttpResponse;

/// How an [`HttpClient`] is set up (Tornado's `AsyncHTTPClient.configure`
/// and `initialize` arguments).
///
/// ```
/// use std::time::Duration;
/// use tornado_http::httpclient::{HttpClient, HttpClientOptions, HttpRequest};
/// let options = HttpClientOptions::new()
///     .max_clients(2)
///     .defaults(HttpRequest::default().user_agent("bot/1").request_timeout(Duration::from_secs(5)))
///     .hostname_mapping("api.test", "127.0.0.1");
/// # let ioloop = tornado_ioloop::IOLoop::new().unwrap();
/// let client = HttpClient::new(options);
/// client.close();
/// ```
#[derive(Clone)]
pub struct HttpClientOptions {
    /// Requests in flight at most; more wait in a FIFO queue (default 10).
    pub max_clients: usize,
    /// Options applied to every request that did not set them itself.
    pub defaults: HttpRequest,
    /// Host names connected to as other names or addresses.
    pub hostname_mapping: HashMap<String, String>,
    /// Resolves host names (default: `getaddrinfo` on the executor).
    pub resolver: Option<Rc<dyn Resolver>>,
    /// Largest response body, unless a request sets its own.
    pub max_body_size: Option<usize>,
    /// Largest response head, unless a request sets its own.
    pub max_header_size: Option<usize>,
    /// How long an idle keep-alive connection is kept (default 60 s).
    pub idle_timeout: Duration,
    /// Idle connections kept per host (scheme, host, port, proxy and TLS
    /// settings) at most (default: `max_clients`, as many as can be busy
    /// at once; 0 turns connection reuse off).
    pub max_idle_per_host: usize,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        HttpClientOptions {
            max_clients: 10,
            defaults: HttpRequest::default(),
            hostname_mapping: HashMap::new(),
            resolver: None,
            max_body_size: None,
            max_header_size: None,
            idle_timeout: Duration::from_secs(60),
            max_idle_per_host: usize::MAX,
        }
    }
}

impl HttpClientOptions {
    /// Tornado's defaults.
    pub fn new() -> HttpClientOptions {
        HttpClientOptions::default()
    }
    /// Sets `max_clients` (at least 1).
    pub fn max_clients(mut self, n: usize) -> Self {
        self.max_clients = n.max(1);
        self
    }
    /// Sets the request defaults.
    pub fn defaults(mut self, defaults: HttpRequest) -> Self {
        self.defaults = defaults;
        self
    }
    /// Connects to `to` (a name or an address) whenever a URL names `host`;
    /// TLS still checks the certificate against `host`.
    pub fn hostname_mapping(mut self, host: &str, to: &str) -> Self {
        self.hostname_mapping.insert(host.to_owned(), to.to_owned());
        self
    }
    /// Resolves names with `resolver`.
    pub fn resolver(mut self, resolver: impl Resolver + 'static) -> Self {
        self.resolver = Some(Rc::new(resolver));
        self
    }
    /// Sets the default largest response body.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = Some(bytes);
        self
    }
    /// Sets the default largest response head.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = Some(bytes);
        self
    }
    /// Sets how long idle connections are kept.
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }
    /// Sets how many idle connections are kept per host.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }
}

/// The hostname mapping in front of the client's resolver.
struct MappingResolver {
    map: HashMap<String, String>,
    inner: Rc<dyn Resolver>,
}

impl Resolver for MappingResolver {
    fn resolve(&self, host: &str, port: u16, family: Family) -> Future<Vec<std::net::SocketAddr>> {
        let host = self.map.get(host).map_or(host, String::as_str);
        self.inner.resolve(host, port, family)
    }
}

/// The client's state, shared by its handles and its requests.
pub(crate) struct Inner {
    pub(crate) options: HttpClientOptions,
    pub(crate) connector: Connector,
    pub(crate) pool: Rc<RefCell<Pool>>,
    /// Requests holding a slot.
    active: Cell<usize>,
    /// Requests waiting for a slot, oldest first; a waiter whose future is
    /// already done (timed out, or the client closed) is skipped.
    waiting: RefCell<VecDeque<Future<()>>>,
    closed: Cell<bool>,
}

impl Inner {
    /// A slot for one request: at once if fewer than `max_clients` run,
    /// else when one ends.
    pub(crate) fn acquire(&self) -> Future<()> {
        if self.active.get() < self.options.max_clients {
            self.active.set(self.active.get() + 1);
            return Future::resolved(());
        }
        let waiter = Future::new();
        self.waiting.borrow_mut().push_back(waiter.clone());
        waiter
    }

    /// Gives a slot back: straight to the oldest live waiter, if any.
    pub(crate) fn release(&self) {
        loop {
            let next = self.waiting.borrow_mut().pop_front();
            match next {
                Some(w) if w.done() => continue,
                Some(w) => {
                    let _ = w.set_result(());
                    return;
                }
                None => {
                    self.active.set(self.active.get().saturating_sub(1));
                    return;
                }
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }
}

/// Where a request is, for its timeout to say and to stop it there.
pub(crate) enum Phase {
    /// Waiting for a slot.
    Queued(Future<()>),
    /// Connecting or exchanging on this stream (if one is open yet).
    Running(Option<IOStream>),
    /// The request timed out: whatever the abandoned work gets next (a
    /// slot granted in the same iteration, a connection just opened) it
    /// gives back at once.
    TimedOut,
}

/// An asynchronous HTTP client (Tornado's `AsyncHTTPClient`). Handles are
/// cheap clones of one client; the client lives on the loop it was made
/// on.
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_http::httpclient::{HttpClient, HttpRequest};
/// use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
/// use tornado_http::httputil::{HttpHeaders, HttpServerRequest};
/// use tornado_http::response::ResponseWriter;
/// use tornado_ioloop::IOLoop;
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
/// let ioloop = IOLoop::new().unwrap();
/// ioloop.make_current();
/// let server = HttpServer::new(Hello, HttpServerOptions::default());
/// let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
/// let codes = ioloop.run_sync(move || coroutine(async move {
///     let client = HttpClient::current();
///     let mut codes = Vec::new();
///     for _ in 0..3 {
///         let r = client.fetch_request(HttpRequest::with_url(format!("http://{addr}/"))).await?;
///         codes.push(r.code);
///     }
///     assert_eq!(client.connections_opened(), 1); // kept alive and reused
///     Ok(codes)
/// }), None).unwrap();
/// assert_eq!(codes, [200, 200, 200]);
/// ```
#[derive(Clone)]
pub struct HttpClient {
    pub(crate) inner: Rc<Inner>,
}

thread_local! {
    /// The shared client of each loop of this thread (Tornado keeps one
    /// instance per loop), and the options new ones are made with.
    static SHARED: RefCell<Vec<(Remote, HttpClient)>> = const { RefCell::new(Vec::new()) };
    static CONFIGURED: RefCell<Option<HttpClientOptions>> = const { RefCell::new(None) };
}

impl HttpClient {
    /// A new client (Tornado's `force_instance=True`) on the current loop.
    pub fn new(options: HttpClientOptions) -> HttpClient {
        let resolver: Rc<dyn Resolver> = options
            .resolver
            .clone()
            .unwrap_or_else(|| Rc::new(ThreadedResolver));
        let resolver: Rc<dyn Resolver> = if options.hostname_mapping.is_empty() {
            resolver
        } else {
            Rc::new(MappingResolver {
                map: options.hostname_mapping.clone(),
                inner: resolver,
            })
        };
        // More idle connections than can ever be busy at once would only
        // wait for their idle timeout.
        let max_idle = options.max_idle_per_host.min(options.max_clients);
        let pool = Pool::new(max_idle, options.idle_timeout);
        HttpClient {
            inner: Rc::new(Inner {
                connector: Connector {
                    tcp: TcpClient::with_resolver(resolver),
                    #[cfg(feature = "tls")]
                    tls: Rc::default(),
                },
                pool: Rc::new(RefCell::new(pool)),
                options,
                active: Cell::new(0),
                waiting: RefCell::default(),
                closed: Cell::new(false),
            }),
        }
    }

    /// The current loop's shared client, made on first use with the
    /// options of [`HttpClient::configure`] (or the defaults).
    pub fn current() -> HttpClient {
        let remote = IOLoop::current().remote();
        SHARED.with(|shared| {
            let mut shared = shared.borrow_mut();
            // Clients of closed loops go (their loop is gone for good).
            shared.retain(|(r, c)| !r.is_closed() && !c.inner.is_closed());
            if let Some((_, c)) = shared.iter().find(|(r, _)| r.same_loop(&remote)) {
                return c.clone();
            }
            let options = CONFIGURED.with(|c| c.borrow().clone()).unwrap_or_default();
            let client = HttpClient::new(options);
            shared.push((remote, client.clone()));
            client
        })
    }

    /// Sets the options of the shared clients made from now on, on this
    /// thread (Tornado's `AsyncHTTPClient.configure`).
    pub fn configure(options: HttpClientOptions) {
        CONFIGURED.with(|c| *c.borrow_mut() = Some(options));
    }

    /// A blocking client with a loop of its own (Tornado's `HTTPClient`).
    pub fn blocking() -> super::blocking::BlockingHttpClient {
        super::blocking::BlockingHttpClient::new(HttpClientOptions::default())
    }

    /// Fetches `url` with `options` (whose own `url` is replaced).
    pub fn fetch(&self, url: &str, options: HttpRequest) -> Future<HttpResponse> {
        let mut request = options;
        request.url = url.to_owned();
        self.fetch_request(request)
    }

    /// Fetches `request` (Tornado's `fetch`). The future fails with an
    /// [`HttpClientError`] (inside a `tornado_concurrent::Error`); with
    /// `raise_error` false a non-2xx response resolves with its `error`
    /// set instead.
    pub fn fetch_request(&self, request: HttpRequest) -> Future<HttpResponse> {
        let inner = &self.inner;
        if inner.is_closed() {
            return Future::failed(HttpClientError::new(
                HttpClientErrorKind::Closed,
                "fetch on a closed HttpClient",
            ));
        }
        let mut request = request.with_defaults(&inner.options.defaults);
        use super::request::Opt;
        if let (Some(n), false) = (
            inner.options.max_body_size,
            request.is_set(Opt::MaxBodySize),
        ) {
            request.max_body_size = n;
        }
        if let (Some(n), false) = (
            inner.options.max_header_size,
            request.is_set(Opt::MaxHeaderSize),
        ) {
            request.max_header_size = n;
        }
        let started = Instant::now();
        let phase = Rc::new(RefCell::new(Phase::Running(None)));
        let timeout = request.request_timeout;
        let work = coroutine(flow::run(
            self.inner.clone(),
            request,
            phase.clone(),
            started,
        ));
        let Some(t) = timeout else {
            return work;
        };
        let max_clients = inner.options.max_clients;
        deadline(t, work, move || {
            let mut phase = phase.borrow_mut();
            let message = match &mut *phase {
                Phase::Queued(waiter) => {
                    // Out of the queue: the slot goes to the next one.
                    let _ = waiter.set_exception(HttpClientError::new(
                        HttpClientErrorKind::Timeout,
                        "timed out in the queue",
                    ));
                    format!(
                        "request timed out after {t:?} while waiting in the queue \
                         (max_clients {max_clients})"
                    )
                }
                Phase::Running(stream) => {
                    if let Some(s) = stream.take() {
                        s.close();
                    }
                    format!("request timed out after {t:?}")
                }
                Phase::TimedOut => format!("request timed out after {t:?}"),
            };
            *phase = Phase::TimedOut;
            HttpClientError::new(HttpClientErrorKind::Timeout, message)
        })
    }

    /// Closes the client: idle connections are closed, queued requests
    /// fail with `Closed`, and so does every later fetch. Requests in
    /// flight finish.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return;
        }
        inner.pool.borrow_mut().clear();
        let waiting: Vec<_> = inner.waiting.borrow_mut().drain(..).collect();
        for w in waiting {
            let _ = w.set_exception(HttpClientError::new(
                HttpClientErrorKind::Closed,
                "the HttpClient was closed",
            ));
        }
    }

    /// TCP connections this client opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.inner.pool.borrow().opened
    }

    /// Idle keep-alive connections held now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.borrow().idle_count()
    }

    /// Requests running now (at most `max_clients`).
    pub fn active_requests(&self) -> usize {
        self.inner.active.get()
    }

    /// Requests waiting for a slot now.
    pub fn queued_requests(&self) -> usize {
        self.inner
            .waiting
            .borrow()
            .iter()
            .filter(|w| !w.done())
            .count()
    }
}
