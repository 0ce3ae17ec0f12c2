//! A raw HTTP/1.0 exchange for tests that check the server byte by byte,
//! without the HTTP client in the way.
#![allow(dead_code)]

use std::net::SocketAddr;

use tornado::concurrent::Future;
use tornado::r#gen::coroutine;
use tornado::iostream::IOStream;

/// A parsed response: status, headers (name lower-cased), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `headers` as HTTP/1.0 and reads the reply to
/// the close.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Future<Reply> {
    let mut req = format!("{method} {path} HTTP/1.0\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    coroutine(async move {
        let s = IOStream::connect(&addr.to_string()).await?;
        s.write(req.into_bytes()).await?;
        let raw = s.read_until_close().await?;
        Ok(parse(&raw))
    })
}

/// Splits a raw response into its parts.
pub fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}
