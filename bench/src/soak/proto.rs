//! What the soak load sends to each server, and how it checks the answers:
//! echo bytes, HTTP/1.1 requests to the `hello` example, WebSocket frames
//! to the `websocket_echo` example. Every answer is checked byte for byte
//! (HTTP: status and body; the `Date` header changes, so heads are parsed).

use std::fmt;

/// Which server the load talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `examples/echo_server.rs`: every byte comes back.
    Echo,
    /// `examples/hello.rs`: `GET /` and `GET /user/N`.
    Http,
    /// `examples/websocket_echo.rs`: every message comes back.
    Ws,
}

impl Kind {
    /// Parses `echo`, `http` (or `hello`), `ws` (or `websocket`).
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "echo" => Some(Kind::Echo),
            "http" | "hello" => Some(Kind::Http),
            "ws" | "websocket" => Some(Kind::Ws),
            _ => None,
        }
    }

    /// The name used in file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Http => "hello",
            Kind::Ws => "websocket",
        }
    }
}

/// One expected answer, checked as its bytes arrive.
#[derive(Debug)]
pub enum Expect {
    /// Exactly these bytes (echo); `got` of them already matched.
    Bytes {
        /// The bytes sent.
        data: Vec<u8>,
        /// How many came back so far.
        got: usize,
    },
    /// An HTTP/1.1 200 response with exactly this body.
    Http {
        /// The body expected.
        body: Vec<u8>,
    },
    /// A `101 Switching Protocols` with this `Sec-WebSocket-Accept`.
    WsUpgrade {
        /// The accept value the key implies.
        accept: String,
    },
    /// One unmasked, final frame of this opcode and payload.
    WsFrame {
        /// 1 text, 2 binary, 8 close.
        opcode: u8,
        /// The payload expected (for a close: the code sent, echoed).
        payload: Vec<u8>,
    },
}

/// A wrong answer: what was expected and what came.
#[derive(Debug, Clone)]
pub struct Mismatch(pub String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `Expect::check` found in the bytes received so far.
pub enum Progress {
    /// This many bytes matched; more are needed.
    More(usize),
    /// The answer is complete after this many bytes.
    Done(usize),
}

impl Expect {
    /// Checks `buf` (bytes received and not yet consumed) against this
    /// answer.
    pub fn check(&mut self, buf: &[u8]) -> Result<Progress, Mismatch> {
        match self {
            Expect::Bytes { data, got } => {
                let n = buf.len().min(data.len() - *got);
                if buf[..n] != data[*got..*got + n] {
                    let at = (0..n).find(|&i| buf[i] != data[*got + i]).unwrap_or(0);
                    return Err(Mismatch(format!(
                        "echo differs at byte {} of {}: got {:#04x}, sent {:#04x}",
                        *got + at,
                        data.len(),
                        buf[at],
                        data[*got + at]
                    )));
                }
                *got += n;
                Ok(if *got == data.len() {
                    Progress::Done(n)
                } else {
                    Progress::More(n)
                })
            }
            Expect::Http { body } => check_http(buf, body),
            Expect::WsUpgrade { accept } => check_upgrade(buf, accept),
            Expect::WsFrame { opcode, payload } => check_frame(buf, *opcode, payload),
        }
    }
}

/// The end of an HTTP head (`\r\n\r\n`), if complete; heads longer than
/// 8 KiB are wrong answers here.
fn head_end(buf: &[u8]) -> Result<Option<usize>, Mismatch> {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => Ok(Some(i + 4)),
        None if buf.len() > 8192 => Err(Mismatch("response head over 8 KiB".into())),
        None => Ok(None),
    }
}

/// The value of header `name` (case-insensitive) in a head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn check_http(buf: &[u8], body: &[u8]) -> Result<Progress, Mismatch> {
    let Some(end) = head_end(buf)? else {
        return Ok(Progress::More(0));
    };
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| Mismatch("response head is not UTF-8".into()))?;
    if !head.starts_with("HTTP/1.1 200 ") {
        let line = head.lines().next().unwrap_or("");
        return Err(Mismatch(format!("status line {line:?}, expected 200")));
    }
    let len: usize = header(head, "Content-Length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Mismatch("response without a valid Content-Length".into()))?;
    if buf.len() < end + len {
        return Ok(Progress::More(0));
    }
    if &buf[end..end + len] != body {
        return Err(Mismatch(format!(
            "body {:?}, expected {:?}",
            String::from_utf8_lossy(&buf[end..end + len]),
            String::from_utf8_lossy(body)
        )));
    }
    Ok(Progress::Done(end + len))
}

fn check_upgrade(buf: &[u8], accept: &str) -> Result<Progress, Mismatch> {
    let Some(end) = head_end(buf)? else {
        return Ok(Progress::More(0));
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    if !head.starts_with("HTTP/1.1 101 ") {
        let line = head.lines().next().unwrap_or("");
        return Err(Mismatch(format!("upgrade answered {line:?}")));
    }
    match header(&head, "Sec-WebSocket-Accept") {
        Some(a) if a == accept => Ok(Progress::Done(end)),
        other => Err(Mismatch(format!(
            "Sec-WebSocket-Accept {other:?}, expected {accept:?}"
        ))),
    }
}

fn check_frame(buf: &[u8], opcode: u8, payload: &[u8]) -> Result<Progress, Mismatch> {
    if buf.len() < 2 {
        return Ok(Progress::More(0));
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 != 0x80 | opcode {
        return Err(Mismatch(format!(
            "frame byte 0 is {b0:#04x}, expected a final frame of opcode {opcode}"
        )));
    }
    if b1 & 0x80 != 0 {
        return Err(Mismatch("server frame is masked".into()));
    }
    let (len, at) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return Ok(Progress::More(0)),
        n => (n as usize, 2),
    };
    if len != payload.len() {
        return Err(Mismatch(format!(
            "frame of {len} bytes, expected {}",
            payload.len()
        )));
    }
    if buf.len() < at + len {
        return Ok(Progress::More(0));
    }
    if &buf[at..at + len] != payload {
        return Err(Mismatch(
            "frame payload differs from the message sent".into(),
        ));
    }
    Ok(Progress::Done(at + len))
}

/// The bytes of one message: a pattern that differs per connection and
/// per message, so that a byte delivered to the wrong place shows.
pub fn pattern(conn: usize, seq: u64, len: usize) -> Vec<u8> {
    let seed = (conn as u64)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(17));
    (0..len as u64)
        .map(|i| (i.wrapping_mul(7).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// An HTTP request to `hello` and the body it must get: `GET /` or
/// `GET /user/N` by the parity of `seq`.
pub fn http_request(conn: usize, seq: u64) -> (Vec<u8>, Expect) {
    let (path, body) = if seq.is_multiple_of(2) {
        ("/".to_owned(), b"Hello, world".to_vec())
    } else {
        let id = (conn as u64) * 1000 + seq;
        (
            format!("/user/{id}"),
            format!("{{\"id\":{id}}}").into_bytes(),
        )
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: soak\r\n\r\n");
    (req.into_bytes(), Expect::Http { body })
}

/// A WebSocket upgrade request and its expected answer.
pub fn ws_upgrade(conn: usize, seq: u64) -> (Vec<u8>, Expect) {
    let raw = pattern(conn, seq, 16);
    let key = base64(&raw);
    let mut input = key.clone().into_bytes();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64(&sha1(&input));
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    (req.into_bytes(), Expect::WsUpgrade { accept })
}

/// A masked client frame.
pub fn ws_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A binary message of `len` bytes and its echo.
pub fn ws_message(conn: usize, seq: u64, len: usize) -> (Vec<u8>, Expect) {
    let payload = pattern(conn, seq, len);
    let mask = (seq as u32 ^ conn as u32).to_be_bytes();
    (
        ws_frame(2, &payload, mask),
        Expect::WsFrame { opcode: 2, payload },
    )
}

/// A close frame with code 1000 and the server's answer (the same code).
pub fn ws_close() -> (Vec<u8>, Expect) {
    let payload = 1000u16.to_be_bytes().to_vec();
    (
        ws_frame(8, &payload, [1, 2, 3, 4]),
        Expect::WsFrame { opcode: 8, payload },
    )
}

/// One request or message of about `len` bytes for `kind` (HTTP requests
/// have their own size), and its answer.
pub fn exchange(kind: Kind, conn: usize, seq: u64, len: usize) -> (Vec<u8>, Expect) {
    match kind {
        Kind::Echo => {
            let data = pattern(conn, seq, len.max(1));
            (data.clone(), Expect::Bytes { data, got: 0 })
        }
        Kind::Http => http_request(conn, seq),
        Kind::Ws => ws_message(conn, seq, len),
    }
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (c.get(1).copied().unwrap_or(0) as u32) << 8
            | c.get(2).copied().unwrap_or(0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SHA-1 (FIPS 180-4), only for checking `Sec-WebSocket-Accept`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_accept_of_the_rfc_example() {
        // RFC 6455 section 1.3's key and accept value.
        let mut input = b"dGhlIHNhbXBsZSBub25jZQ==".to_vec();
        input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        assert_eq!(base64(&sha1(&input)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn http_answer_checked_in_pieces() {
        let mut e = Expect::Http {
            body: b"Hello, world".to_vec(),
        };
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDate: x\r\n\r\nHello, world";
        assert!(matches!(e.check(&ok[..20]), Ok(Progress::More(0))));
        assert!(matches!(e.check(ok), Ok(Progress::Done(n)) if n == ok.len()));
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, World";
        assert!(e.check(bad).is_err());
    }

    #[test]
    fn echo_mismatch_is_found_early() {
        let data = pattern(3, 4, 100);
        let mut e = Expect::Bytes {
            data: data.clone(),
            got: 0,
        };
        assert!(matches!(e.check(&data[..40]), Ok(Progress::More(40))));
        let mut wrong = data[40..60].to_vec();
        wrong[5] ^= 1;
        assert!(e.check(&wrong).is_err());
    }
}
