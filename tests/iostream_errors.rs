//! Tornado's `TestIOStreamMixin` error cases and `TestIOStreamWebMixin`:
//! read errors inline and on events (through a transport that fails on
//! demand), and a client stream talking to a server that answers one
//! request and closes.

mod common;

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamClosedError, Transport};
use tornado::tcp::{TcpHandler, TcpServer};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

/// A Unix socket whose reads fail with `message` once `fail` is set.
struct Faulty {
    inner: UnixStream,
    fail: Rc<Cell<bool>>,
    message: &'static str,
}

// SAFETY: `read_uninit` either fails or returns what the Unix socket's own
// (conforming) `read_uninit` returned.
unsafe impl Transport for Faulty {
    fn fd(&self) -> RawFd {
        Transport::fd(&self.inner)
    }
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        if self.fail.get() {
            return Err(io::Error::other(self.message));
        }
        self.inner.read_uninit(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Transport::write_vectored(&mut self.inner, bufs)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Transport::shutdown_write(&mut self.inner)
    }
}

/// A stream over a `Faulty` transport, its switch, and its peer stream.
fn faulty_pair(message: &'static str) -> (IOStream, Rc<Cell<bool>>, IOStream) {
    let (a, b) = UnixStream::pair().unwrap();
    let fail = Rc::new(Cell::new(false));
    let s = IOStream::new(Faulty {
        inner: a,
        fail: fail.clone(),
        message,
    })
    .unwrap();
    (s, fail, IOStream::new(b).unwrap())
}

fn real_error(e: &Error) -> Option<String> {
    e.downcast_ref::<StreamClosedError>()?
        .real_error
        .as_ref()
        .map(|r| r.to_string())
}

/// Tornado's `test_inline_read_error` (and `test_read_until_close_with_error`):
/// a read that fails when it is started fails its future with the cause;
/// the stream closes; nothing is logged (the caller has the error).
#[test]
fn an_inline_read_error_fails_the_read_without_a_log() {
    common::capture_logs();
    let _l = fresh_loop();
    for until_close in [false, true] {
        let (s, fail, _peer) = faulty_pair("inline boom");
        fail.set(true);
        let f = if until_close {
            s.read_until_close()
        } else {
            s.read_bytes(1, false)
        };
        let e = f.exception().expect("failed at once");
        assert_eq!(real_error(&e).as_deref(), Some("inline boom"), "{e}");
        assert!(s.closed());
    }
    assert!(
        common::logs_containing("inline boom").is_empty(),
        "inline errors are not logged"
    );
}

/// Tornado's `test_async_read_error_logging`: a read that fails when the
/// loop reports data is logged once, and closes the stream.
#[test]
fn an_asynchronous_read_error_is_logged_once() {
    common::capture_logs();
    let _l = fresh_loop();
    let (s, fail, peer) = faulty_pair("async boom");
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    s.set_close_callback(move || c.set(true));
    let reading = s.read_bytes(1, false);
    fail.set(true);
    let e = match run(move || {
        peer.write(b"a".to_vec());
        reading
    }) {
        Err(tornado::ioloop::Error::Future(e)) => e,
        other => panic!("expected a failed read, got {:?}", other.map(|_| ())),
    };
    assert_eq!(real_error(&e).as_deref(), Some("async boom"), "{e}");
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(closed.get());
    let logged = common::logs_containing("error on read: async boom");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].0, "tornado.general");
    assert_eq!(logged[0].1, log::Level::Warn);
}

/// Tornado's `HelloHandler` application, as raw TCP: answers one request
/// with "Hello" and closes when asked to (or on HTTP/1.0).
struct Hello;

impl TcpHandler for Hello {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        while let Ok(head) = stream.read_until(b"\r\n\r\n", Some(8192)).await {
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let close = head.contains("http/1.0") || head.contains("connection: close");
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello".to_vec();
            if stream.write(reply).await.is_err() || close {
                stream.close();
                return;
            }
        }
    }
}

/// A client stream connected to a fresh `Hello` server.
fn hello_client() -> (TcpServer<Hello>, IOStream) {
    let server = TcpServer::new(Hello);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let conn = TcpStream::connect(addr).unwrap();
    (server, IOStream::new(conn).unwrap())
}

/// `test_read_until_close` and `test_connection_closed`: the response
/// written just before the server's close is all read.
#[test]
fn read_until_close_gets_the_response_before_the_close() {
    let _l = fresh_loop();
    let (_server, s) = hello_client();
    let data = run(move || {
        coroutine(async move {
            s.write(b"GET / HTTP/1.0\r\n\r\n".to_vec());
            s.read_until_close().await
        })
    })
    .unwrap();
    assert!(data.starts_with(b"HTTP/1.1 200"));
    assert!(data.ends_with(b"Hello"));
}

/// `test_read_zero_bytes`: a zero-byte read between two reads.
#[test]
fn a_zero_byte_read_between_reads() {
    let _l = fresh_loop();
    let (_server, s) = hello_client();
    let got = run(move || {
        coroutine(async move {
            s.write(b"GET / HTTP/1.0\r\n\r\n".to_vec());
            let a = s.read_bytes(9, false).await?;
            let zero = s.read_bytes(0, false).await?;
            let b = s.read_bytes(3, false).await?;
            s.close();
            Ok((a, zero, b))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"HTTP/1.1 ");
    assert!(got.1.is_empty());
    assert_eq!(got.2, b"200");
}

/// `test_future_interface`: write, a line, the head, a body by length.
#[test]
fn a_request_through_the_future_interface() {
    let _l = fresh_loop();
    let (_server, s) = hello_client();
    let got = run(move || {
        coroutine(async move {
            s.write(b"GET / HTTP/1.1\r\n\r\n".to_vec()).await?;
            let first = s.read_until(b"\r\n", None).await?;
            let head = s.read_until(b"\r\n\r\n", None).await?;
            let head = String::from_utf8_lossy(&head).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| Error::msg("no length"))?;
            let body = s.read_bytes(length, false).await?;
            s.close();
            Ok((first, body))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"HTTP/1.1 200 OK\r\n");
    assert_eq!(got.1, b"Hello");
}

/// `test_future_close_while_reading`: a read larger than the response
/// fails with `StreamClosedError` when the server closes.
#[test]
fn a_read_longer_than_the_response_fails_closed() {
    let _l = fresh_loop();
    let (_server, s) = hello_client();
    let got = run(move || {
        coroutine(async move {
            s.write(b"GET / HTTP/1.0\r\n\r\n".to_vec()).await?;
            Ok(s.read_bytes(1024 * 1024, false)
                .await
                .map_err(|e| e.is::<StreamClosedError>()))
        })
    })
    .unwrap();
    assert_eq!(got, Err(true));
}

/// `test_future_read_until_close`: the body comes through before the
/// close; after it, a read fails at once.
#[test]
fn after_read_until_close_a_read_fails_at_once() {
    let _l = fresh_loop();
    let (_server, s) = hello_client();
    let s2 = s.clone();
    let body = run(move || {
        coroutine(async move {
            s2.write(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec())
                .await?;
            s2.read_until(b"\r\n\r\n", None).await?;
            s2.read_until_close().await
        })
    })
    .unwrap();
    assert_eq!(body, b"Hello");
    let f = s.read_bytes(1, false);
    assert!(f.exception().is_some_and(|e| e.is::<StreamClosedError>()));
}
