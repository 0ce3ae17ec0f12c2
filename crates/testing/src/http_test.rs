//! `AsyncHttpTestCase` (Tornado's `AsyncHTTPTestCase`): an application
//! served on an ephemeral loopback port on a fresh loop, fetched with the
//! project's HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_http::httpclient::{FetchOptions, HttpResponse, fetch};
use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_ioloop::IOLoop;
use tornado_web::Application;

use crate::async_test::get_async_test_timeout;

/// An application under test: its own loop (current while the case
/// lives), its server on `127.0.0.1` and an ephemeral port, and a client.
/// Dropping it stops the server, closes its connections and the loop,
/// and gives the thread back its previous loop.
///
/// ```
/// use tornado_http::httpclient::FetchOptions;
/// use tornado_testing::AsyncHttpTestCase;
/// use tornado_web::{Application, Context, HttpError, RequestHandler, route};
///
/// #[derive(Clone)]
/// struct Hello;
/// impl RequestHandler for Hello {
///     async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
///         cx.write("hello");
///         Ok(())
///     }
/// }
///
/// let t = AsyncHttpTestCase::new(|| Application::new(vec![route("/", Hello)]));
/// let r = t.fetch("/", FetchOptions::new()).unwrap();
/// assert_eq!((r.code, r.text()), (200, "hello".to_owned()));
/// assert_eq!(t.fetch("/nope", FetchOptions::new()).unwrap().code, 404);
/// ```
pub struct AsyncHttpTestCase {
    ioloop: IOLoop,
    previous: Option<IOLoop>,
    server: Option<HttpServer<Application>>,
    app: Application,
    addr: SocketAddr,
    protocol: &'static str,
    #[cfg(feature = "tls")]
    client_tls: Option<std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>>,
}

impl AsyncHttpTestCase {
    /// Makes a fresh loop current, builds the application with `get_app`
    /// on it and serves it over HTTP.
    ///
    /// # Panics
    /// If the loop or the listening socket cannot be made (the test cannot
    /// run at all).
    pub fn new(get_app: impl FnOnce() -> Application) -> AsyncHttpTestCase {
        Self::start(
            get_app,
            |app| HttpServer::new(app, HttpServerOptions::default()),
            "http",
        )
    }

    /// As [`new`](Self::new) with the server speaking HTTPS, on a
    /// self-signed certificate for `localhost` and `127.0.0.1` made for
    /// this case, which [`fetch`](Self::fetch) trusts (Tornado's
    /// `AsyncHTTPSTestCase`).
    #[cfg(feature = "tls")]
    pub fn https(get_app: impl FnOnce() -> Application) -> AsyncHttpTestCase {
        let (server, client) = tls_configs();
        let mut case = Self::start(
            get_app,
            move |app| HttpServer::with_tls(app, HttpServerOptions::default(), server),
            "https",
        );
        case.client_tls = Some(client);
        case
    }

    fn start(
        get_app: impl FnOnce() -> Application,
        serve: impl FnOnce(Application) -> HttpServer<Application>,
        protocol: &'static str,
    ) -> AsyncHttpTestCase {
        let previous = IOLoop::try_current();
        let ioloop =
            IOLoop::new().unwrap_or_else(|e| panic!("cannot create the test's IOLoop: {e}"));
        ioloop.make_current();
        let app = get_app();
        let server = serve(app.clone());
        let addr = server
            .listen_on(0, Some("127.0.0.1"))
            .unwrap_or_else(|e| panic!("cannot listen for the test server: {e}"))[0];
        AsyncHttpTestCase {
            ioloop,
            previous,
            server: Some(server),
            app,
            addr,
            protocol,
            #[cfg(feature = "tls")]
            client_tls: None,
        }
    }

    /// The application under test.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// The test's loop.
    pub fn io_loop(&self) -> &IOLoop {
        &self.ioloop
    }

    /// The server's port.
    pub fn get_http_port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` on the test server.
    pub fn get_url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.protocol, self.addr.port())
    }

    /// Fetches `path` (or an absolute URL) and waits for the response, the
    /// loop running meanwhile. Unlike the client's default, an error
    /// status is a response, not an error (`raise_error` off, as Tornado's
    /// test `fetch`); an error is a transport failure or the test timeout
    /// (`ASYNC_TEST_TIMEOUT`, default 5 s).
    pub fn fetch(
        &self,
        path: &str,
        options: FetchOptions,
    ) -> Result<HttpResponse, tornado_ioloop::Error> {
        let (url, options) = self.prepare_fetch(path, options);
        self.run_sync(move || fetch(&url, options))
    }

    /// The future of a fetch, for use inside [`run_sync`](Self::run_sync)
    /// (e.g. several requests at once).
    pub fn fetch_future(&self, path: &str, options: FetchOptions) -> Future<HttpResponse> {
        let (url, options) = self.prepare_fetch(path, options);
        fetch(&url, options)
    }

    /// The URL of `path` and the options as the case's fetches use them.
    fn prepare_fetch(&self, path: &str, options: FetchOptions) -> (String, FetchOptions) {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            self.get_url(path)
        };
        #[allow(unused_mut)]
        let mut options = options.raise_error(false);
        #[cfg(feature = "tls")]
        if let (Some(tls), None) = (&self.client_tls, &options.tls) {
            options = options.tls(tls.clone());
        }
        (url, options)
    }

    /// Runs the case's loop (made current meanwhile, so that several cases
    /// can live at once) until `f`'s future is done, within the test
    /// timeout.
    pub fn run_sync<T: 'static>(
        &self,
        f: impl FnOnce() -> Future<T> + 'static,
    ) -> Result<T, tornado_ioloop::Error> {
        let previous = IOLoop::try_current();
        self.ioloop.make_current();
        let result = self.ioloop.run_sync(f, Some(get_async_test_timeout()));
        if let Some(p) = previous.filter(|p| !p.is_closed()) {
            p.make_current();
        }
        result
    }
}

impl Drop for AsyncHttpTestCase {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
            let done = server.shutdown(Duration::ZERO);
            let _ = self
                .ioloop
                .run_sync(move || done, Some(Duration::from_secs(5)));
        }
        let _ = self.ioloop.close(true);
        if let Some(p) = self.previous.take().filter(|p| !p.is_closed()) {
            p.make_current();
        }
    }
}

/// A server and a client TLS configuration from a fresh self-signed
/// certificate for `localhost` and `127.0.0.1`.
#[cfg(feature = "tls")]
fn tls_configs() -> (
    std::sync::Arc<tornado_iostream::tls::rustls::ServerConfig>,
    std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>,
) {
    use std::sync::Arc;
    use tornado_iostream::tls::rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
    };
    use tornado_iostream::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("the generated certificate");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("the generated certificate");
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}
