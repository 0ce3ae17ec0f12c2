//! Opening a connection for a request (Tornado's `_HTTPConnection` up to
//! the point a request can be written): TCP through the client's
//! `TcpClient` (resolver, hostname mapping, happy eyeballs, source
//! address), to the proxy when there is one, a `CONNECT` tunnel for
//! `https` through it, then the TLS handshake; all within
//! `connect_timeout`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use base64::Engine as _;
use tornado_concurrent::Error;
use tornado_gen::coroutine;
use tornado_iostream::IOStream;
use tornado_tcp::{ConnectError, ConnectOptions, Family, TcpClient};

use super::deadline::deadline;
use super::error::{HttpClientError, HttpClientErrorKind};
use super::request::HttpRequest;
use super::response::TimeInfo;
use super::url::Url;
use crate::http1::error::ReadError;
use crate::http1::head::parse_response_head;
use crate::http1::reader::Reader;

/// What a connection is opened with, besides the request.
#[derive(Clone)]
pub(crate) struct Connector {
    /// The client's TCP client (its resolver with the hostname mapping).
    pub(crate) tcp: TcpClient,
    /// The client's TLS configurations.
    #[cfg(feature = "tls")]
    pub(crate) tls: Rc<RefCell<super::tls::TlsCache>>,
}

/// The proxy a request goes through, if any: `(host, port)`.
pub(crate) fn proxy_of(r: &HttpRequest) -> Option<(String, u16)> {
    r.proxy_host
        .as_ref()
        .map(|h| (h.clone(), r.proxy_port.unwrap_or(80)))
}

/// The pool key: connections are interchangeable only if all of this
/// matches.
pub(crate) fn pool_key(r: &HttpRequest, url: &Url) -> String {
    #[cfg(feature = "tls")]
    let tls = if url.https {
        super::tls::tls_key(r)
    } else {
        String::new()
    };
    #[cfg(not(feature = "tls"))]
    let tls = "";
    let tcp = r
        .tcp_client
        .as_ref()
        .map(|c| format!("{:p}", c as *const TcpClient))
        .unwrap_or_default();
    format!(
        "{}://{}:{} proxy={:?}/{:?} from={:?} v6={} {tls} {tcp}",
        if url.https { "https" } else { "http" },
        url.host,
        url.port,
        proxy_of(r),
        r.proxy_username,
        r.network_interface,
        r.allow_ipv6,
    )
}

/// `Basic` credentials (RFC 7617).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// Opens a connection for `r` to `url`, within `connect_timeout`, noting
/// the connect and TLS times in `timing`.
pub(crate) async fn open(
    connector: &Connector,
    r: &HttpRequest,
    url: &Url,
    timing: &RefCell<TimeInfo>,
) -> Result<IOStream, Error> {
    // The stream being set up, so that the timeout can close it.
    let current: Rc<RefCell<Option<IOStream>>> = Rc::default();
    let work = coroutine(open_steps(
        connector.clone(),
        r.clone(),
        url.clone(),
        current.clone(),
    ));
    let result = match r.connect_timeout {
        Some(t) => {
            let host = url.host_port();
            deadline(t, work, move || {
                if let Some(s) = current.borrow_mut().take() {
                    s.close();
                }
                HttpClientError::new(
                    HttpClientErrorKind::Timeout,
                    format!("timed out connecting to {host} after {t:?}"),
                )
            })
            .await
        }
        None => work.await,
    };
    let (stream, info) = result?;
    let mut t = timing.borrow_mut();
    t.connect = info.connect;
    t.tls = info.tls;
    Ok(stream)
}

/// The steps of [`open`], returning the stream and the times measured.
async fn open_steps(
    connector: Connector,
    r: HttpRequest,
    url: Url,
    current: Rc<RefCell<Option<IOStream>>>,
) -> Result<(IOStream, TimeInfo), Error> {
    let mut info = TimeInfo::default();
    let started = Instant::now();
    let mut options = ConnectOptions::new();
    if let Some(t) = r.connect_timeout {
        options = options.timeout(t);
    }
    if let Some(ip) = r.network_interface {
        options = options.source_ip(ip);
    }
    if !r.allow_ipv6 {
        options = options.family(Family::V4);
    }
    let proxy = proxy_of(&r);
    let (host, port) = match &proxy {
        Some((h, p)) => (h.clone(), *p),
        None => (url.host.clone(), url.port),
    };
    let tcp = r.tcp_client.clone().unwrap_or(connector.tcp.clone());
    let stream = tcp
        .connect_with(&host, port, &options)
        .await
        .map_err(|e| connect_error(e, &host, port))?;
    *current.borrow_mut() = Some(stream.clone());
    if proxy.is_some() && url.https {
        tunnel(&stream, &r, &url).await?;
    }
    info.connect = started.elapsed();
    if !url.https {
        return Ok((stream, info));
    }
    #[cfg(feature = "tls")]
    {
        use tornado_iostream::tls::TlsConfig;
        use tornado_iostream::tls::rustls::pki_types::ServerName;
        let tls_started = Instant::now();
        let config = connector.tls.borrow_mut().config_for(&r)?;
        let server_name = ServerName::try_from(url.host.clone()).map_err(|e| {
            HttpClientError::new(
                HttpClientErrorKind::InvalidUrl,
                format!("{} is not a TLS server name: {e}", url.host),
            )
        })?;
        let stream = stream
            .start_tls(TlsConfig::Client {
                config,
                server_name,
            })
            .await
            .map_err(|e| {
                HttpClientError::new(
                    HttpClientErrorKind::Tls,
                    format!("TLS handshake with {}: {e}", url.host_port()),
                )
            })?;
        *current.borrow_mut() = Some(stream.clone());
        info.tls = tls_started.elapsed();
        Ok((stream, info))
    }
    #[cfg(not(feature = "tls"))]
    {
        stream.close();
        Err(HttpClientError::new(
            HttpClientErrorKind::InvalidUrl,
            "https needs the tls feature",
        )
        .into())
    }
}

/// Asks the proxy on `stream` for a tunnel to `url`'s host (`CONNECT`),
/// failing with `ProxyRefused` unless it answers 2xx.
async fn tunnel(stream: &IOStream, r: &HttpRequest, url: &Url) -> Result<(), Error> {
    let target = url.host_port();
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(user) = &r.proxy_username {
        let auth = basic_auth(user, r.proxy_password.as_deref().unwrap_or(""));
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let closed = |e| super::exchange::read_error(ReadError::Closed(Some(e)));
    stream.write(head.into_bytes()).await.map_err(closed)?;
    let mut reader = Reader::new(stream.clone());
    let raw = reader
        .read_head(r.max_header_size)
        .await
        .map_err(super::exchange::read_error)?;
    let answer = parse_response_head(&raw).map_err(|e| super::exchange::read_error(e.into()))?;
    if !(200..300).contains(&answer.code) {
        stream.close();
        return Err(HttpClientError::new(
            HttpClientErrorKind::ProxyRefused(answer.code),
            format!(
                "proxy refused CONNECT {target}: {} {}",
                answer.code, answer.reason
            ),
        )
        .into());
    }
    if !reader.buffered().is_empty() {
        // Bytes after the proxy's answer and before our handshake: not
        // a tunnel we can trust.
        stream.close();
        return Err(HttpClientError::new(
            HttpClientErrorKind::MalformedResponse,
            "proxy sent data after its CONNECT answer",
        )
        .into());
    }
    Ok(())
}

/// Maps a connection failure to its kind.
fn connect_error(e: Error, host: &str, port: u16) -> Error {
    if e.is::<HttpClientError>() {
        return e;
    }
    let kind = match e.downcast_ref::<ConnectError>() {
        Some(c) if c.is_timeout() => HttpClientErrorKind::Timeout,
        Some(c) if c.is_refused() => HttpClientErrorKind::ConnectionRefused,
        _ => HttpClientErrorKind::Connection,
    };
    HttpClientError::new(kind, format!("connecting to {host}:{port}: {e}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        // RFC 7617's example.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn pool_keys_separate_what_differs() {
        let u = Url::parse("http://h:1/a").unwrap();
        let same = Url::parse("http://h:1/b").unwrap();
        let r = HttpRequest::with_url("");
        assert_eq!(pool_key(&r, &u), pool_key(&r, &same));
        let other_port = Url::parse("http://h:2/").unwrap();
        assert_ne!(pool_key(&r, &u), pool_key(&r, &other_port));
        let https = Url::parse("https://h:1/").unwrap();
        assert_ne!(pool_key(&r, &u), pool_key(&r, &https));
        assert_ne!(pool_key(&r, &u), pool_key(&r.clone().proxy("p", 3), &u));
        #[cfg(feature = "tls")]
        assert_ne!(
            pool_key(&r, &https),
            pool_key(&r.clone().validate_cert(false), &https)
        );
    }
}
