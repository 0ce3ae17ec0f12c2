//! The HTTP client over TLS with a test CA (rcgen): trusted through
//! `ca_certs`, refused by the built-in roots, accepted unchecked with
//! `validate_cert(false)`, a client certificate; and through a small proxy
//! written here: absolute-form requests with proxy credentials, a `CONNECT`
//! tunnel for https, and a proxy refusing `CONNECT`.

mod client_support;
mod common;

use std::path::PathBuf;
use std::sync::Arc;

use client_support::{ProxyServer, RawServer, client_error, ok, run};
use common::fresh_loop;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tornado::http::{
    HttpClient, HttpClientErrorKind, HttpClientOptions, HttpHandler, HttpHeaders, HttpRequest,
    HttpServer, HttpServerOptions, HttpServerRequest, ResponseWriter,
};
use tornado::iostream::tls::rustls::pki_types::pem::PemObject;
use tornado::iostream::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tornado::iostream::tls::rustls::server::WebPkiClientVerifier;
use tornado::iostream::tls::rustls::{self, RootCertStore, ServerConfig};

/// A CA, a server certificate for localhost and a client certificate,
/// written as PEM files in a directory of their own.
struct TestCa {
    dir: PathBuf,
    ca_pem: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: String,
    client_pem: PathBuf,
    client_key: PathBuf,
    ca_der: CertificateDer<'static>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let dir =
            std::env::temp_dir().join(format!("tornado-client-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "tornado test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(names).unwrap();
            p.extended_key_usages = vec![usage];
            let cert = p.signed_by(&key, &ca).unwrap();
            (cert, key)
        };
        let (server, server_key) = leaf(
            vec!["localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let client_pem = dir.join("client.pem");
        std::fs::write(&client_pem, client.pem()).unwrap();
        let client_key_path = dir.join("client.key");
        std::fs::write(&client_key_path, client_key.serialize_pem()).unwrap();
        TestCa {
            ca_der: ca.der().clone(),
            dir,
            ca_pem,
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_pem(),
            client_pem,
            client_key: client_key_path,
        }
    }

    fn server_config(&self, require_client_cert: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes()).unwrap();
        Arc::new(
            builder
                .with_single_cert(self.server_chain.clone(), key)
                .unwrap(),
        )
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Answers "secure <method>".
struct Hello;
impl HttpHandler for Hello {
    async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
        let body = format!("secure {}", req.method);
        let mut h = HttpHeaders::new();
        h.add("Content-Length", body.len().to_string());
        resp.write_headers(200, None, &h, body.as_bytes());
        let _ = resp.finish().await;
    }
}

fn https_server(ca: &TestCa, client_auth: bool) -> (HttpServer<Hello>, u16) {
    let server = HttpServer::with_tls(
        Hello,
        HttpServerOptions::default(),
        ca.server_config(client_auth),
    );
    let port = server.listen_on(0, Some("127.0.0.1")).unwrap()[0].port();
    (server, port)
}

fn get(
    c: &HttpClient,
    r: HttpRequest,
) -> Result<tornado::http::HttpResponse, tornado::ioloop::Error> {
    let c = c.clone();
    run(move || c.fetch_request(r))
}

#[test]
fn a_test_ca_through_ca_certs_and_the_built_in_roots_refusing_it() {
    let _l = fresh_loop();
    let ca = TestCa::new("roots");
    let (_s, port) = https_server(&ca, false);
    let url = format!("https://localhost:{port}/");
    let c = HttpClient::new(HttpClientOptions::new());
    let r = get(&c, HttpRequest::with_url(url.clone()).ca_certs(&ca.ca_pem)).unwrap();
    assert_eq!(r.text(), "secure GET");
    assert!(r.time_info.tls > std::time::Duration::ZERO);
    // Again: the pooled TLS connection is reused (no new handshake).
    let r = get(&c, HttpRequest::with_url(url.clone()).ca_certs(&ca.ca_pem)).unwrap();
    assert_eq!(r.time_info.tls, std::time::Duration::ZERO);
    assert_eq!(c.connections_opened(), 1);
    // The built-in (Mozilla) roots do not know the test CA.
    let e = client_error(get(&c, HttpRequest::with_url(url.clone())).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::Tls, "{e}");
    // Unchecked, it is accepted.
    let r = get(&c, HttpRequest::with_url(url.clone()).validate_cert(false)).unwrap();
    assert_eq!(r.code, 200);
    // Different TLS settings, a connection of their own (the refused
    // handshake opened none).
    assert_eq!(c.connections_opened(), 2);
    let e = client_error(
        get(
            &c,
            HttpRequest::with_url(url).ca_certs(ca.dir.join("missing.pem")),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Tls);
}

#[test]
fn a_client_certificate() {
    let _l = fresh_loop();
    let ca = TestCa::new("client-cert");
    let (_s, port) = https_server(&ca, true);
    let url = format!("https://localhost:{port}/");
    let c = HttpClient::new(HttpClientOptions::new());
    let r = get(
        &c,
        HttpRequest::with_url(url.clone())
            .ca_certs(&ca.ca_pem)
            .client_cert(&ca.client_pem, &ca.client_key),
    )
    .unwrap();
    assert_eq!(r.text(), "secure GET");
    // Without one the server refuses (during the handshake, or right
    // after it with TLS 1.3).
    let e = client_error(get(&c, HttpRequest::with_url(url).ca_certs(&ca.ca_pem)).unwrap_err());
    assert!(
        matches!(
            e.kind,
            HttpClientErrorKind::Tls | HttpClientErrorKind::Connection
        ),
        "{e}"
    );
}

#[test]
fn absolute_form_through_a_proxy_with_credentials() {
    let _l = fresh_loop();
    let origin = RawServer::start(|r| ok(&format!("origin saw {}", r.line())));
    let proxy = ProxyServer::start(vec![], Some("Basic dTpw"));
    let c = HttpClient::new(HttpClientOptions::new());
    let url = format!("{}/path?q=1", origin.url);
    let r = get(
        &c,
        HttpRequest::with_url(url.clone())
            .proxy("127.0.0.1", proxy.port)
            .proxy_auth("u", "p"),
    )
    .unwrap();
    assert_eq!(r.text(), "origin saw GET /path?q=1 HTTP/1.1");
    assert_eq!(
        proxy.seen.borrow()[0],
        format!("GET {url} HTTP/1.1 | Basic dTpw")
    );
    // Without the credentials: the proxy's 407.
    let e = client_error(
        get(
            &c,
            HttpRequest::with_url(url).proxy("127.0.0.1", proxy.port),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Status(407));
}

#[test]
fn https_through_a_connect_tunnel_and_a_proxy_refusing_it() {
    let _l = fresh_loop();
    let ca = TestCa::new("tunnel");
    let (_s, port) = https_server(&ca, false);
    let proxy = ProxyServer::start(vec![1], None);
    let c = HttpClient::new(HttpClientOptions::new());
    let request = |url: String| {
        HttpRequest::with_url(url)
            .ca_certs(&ca.ca_pem)
            .proxy("127.0.0.1", proxy.port)
            .proxy_auth("u", "p")
    };
    let r = get(
        &c,
        request(format!("https://localhost:{port}/")).method("DELETE"),
    )
    .unwrap();
    // TLS end to end: the certificate checked against localhost.
    assert_eq!(r.text(), "secure DELETE");
    assert!(r.time_info.tls > std::time::Duration::ZERO);
    assert_eq!(
        proxy.seen.borrow()[0],
        format!("CONNECT localhost:{port} HTTP/1.1 | Basic dTpw")
    );
    // The tunnel is kept alive and reused.
    get(&c, request(format!("https://localhost:{port}/again"))).unwrap();
    assert_eq!((c.connections_opened(), proxy.seen.borrow().len()), (1, 1));
    // Port 1 is refused by this proxy.
    let e = client_error(get(&c, request("https://localhost:1/".to_owned())).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::ProxyRefused(403), "{e}");
}
