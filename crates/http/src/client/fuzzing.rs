//! Entry points for the fuzz targets in `fuzz/`: the client's private URL
//! handling and response reading, reachable from outside the crate so that
//! the targets run this code rather than a copy of it. Not part of the
//! API (hidden from the docs); it may change with the fuzz targets.

use tornado_concurrent::Error;
use tornado_iostream::IOStream;

use super::url::{Url, join_url as join};
use super::{HttpClientError, HttpRequest, HttpResponse};

/// What the client makes of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `https` rather than `http`.
    pub https: bool,
    /// The host, without brackets.
    pub host: String,
    /// The port, explicit or the scheme's.
    pub port: u16,
    /// `host[:port]` as the `Host` header sends it.
    pub authority: String,
    /// The request target: path and query.
    pub target: String,
    /// `host:port` as a connection is made to it.
    pub host_port: String,
    /// The URL in absolute form, as sent to a proxy.
    pub absolute: String,
}

/// Parses `url` as the client does before a fetch.
pub fn parse_url(url: &str) -> Result<ParsedUrl, HttpClientError> {
    let u = Url::parse(url)?;
    Ok(ParsedUrl {
        host_port: u.host_port(),
        absolute: u.absolute(),
        https: u.https,
        host: u.host,
        port: u.port,
        authority: u.authority,
        target: u.target,
    })
}

/// Resolves a redirect's `Location` against `base`, as the client does.
pub fn join_url(base: &str, location: &str) -> Result<String, HttpClientError> {
    let base = Url::parse(base)?;
    Ok(join(&base, location))
}

/// Sends `request` (its URL names the target; nothing is connected) on
/// `stream` and reads the answer as a fetch does: the response and
/// whether the connection could carry another request.
pub async fn exchange(
    stream: IOStream,
    request: &HttpRequest,
) -> Result<(HttpResponse, bool), Error> {
    let url = Url::parse(&request.url)?;
    let timing = std::cell::RefCell::default();
    let started = std::time::Instant::now();
    super::exchange::exchange(stream, request, &url, started, &timing)
        .await
        .map(|x| (x.response, x.keep_alive))
        .map_err(|f| f.error)
}
