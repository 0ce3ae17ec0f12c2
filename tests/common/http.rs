//! A raw HTTP/1.1 client for the server tests: IOStreams on the test's
//! loop, so that every byte on the wire is checked.

use std::net::SocketAddr;
use std::time::Duration;

use tornado::concurrent::Error;
use tornado::iostream::IOStream;

/// A response as read off the wire.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        super::head::header(&self.head, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn parse_head(head: &[u8]) -> Result<Resp, Error> {
    let head = String::from_utf8(head.to_vec()).map_err(Error::new)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg(format!("bad status line in {head:?}")))?;
    Ok(Resp {
        status,
        head,
        body: Vec::new(),
    })
}

/// Reads one response: by `Content-Length`, chunked, or to the close.
pub async fn read_response(s: &IOStream, head_request: bool) -> Result<Resp, Error> {
    let mut r = parse_head(&s.read_until(b"\r\n\r\n", None).await?)?;
    if head_request || r.status == 204 || r.status == 304 || r.status < 200 {
        return Ok(r);
    }
    if let Some(n) = r.header("Content-Length") {
        let n: usize = n.parse().map_err(Error::new)?;
        if n > 0 {
            r.body = s.read_bytes(n, false).await?;
        }
    } else if r
        .header("Transfer-Encoding")
        .is_some_and(|v| v == "chunked")
    {
        loop {
            let line = s.read_until(b"\r\n", None).await?;
            let size = std::str::from_utf8(&line[..line.len() - 2]).map_err(Error::new)?;
            let size = usize::from_str_radix(size, 16).map_err(Error::new)?;
            let data = s.read_bytes(size + 2, false).await?;
            assert_eq!(&data[size..], b"\r\n", "chunk terminator");
            if size == 0 {
                break;
            }
            r.body.extend_from_slice(&data[..size]);
        }
    } else {
        r.body = s.read_until_close().await?;
    }
    Ok(r)
}

pub async fn connect(addr: SocketAddr) -> Result<IOStream, Error> {
    IOStream::connect(&addr.to_string()).await
}

/// Sends `request` on a new connection and reads everything until close.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, Error> {
    let s = connect(addr).await?;
    s.write(request.to_vec()).await?;
    s.read_until_close().await
}

/// Sends `request` alone on a connection; returns the one response and
/// whether the server then closed the connection (within 2 s: send
/// `Connection: close` or HTTP/1.0 when a close is expected, else the
/// answer takes the full wait).
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Result<(Resp, bool), Error> {
    let s = connect(addr).await?;
    s.write(request.to_vec()).await?;
    let r = read_response(&s, request.starts_with(b"HEAD")).await?;
    let rest = tornado::r#gen::with_timeout(Duration::from_secs(2), s.read_until_close()).await;
    let closed = matches!(rest, Ok(ref b) if b.is_empty());
    Ok((r, closed))
}
