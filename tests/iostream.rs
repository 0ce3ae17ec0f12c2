//! Behaviours of Tornado's `iostream_test.py` that apply, on the backend
//! named by `TORNADO_IOLOOP_BACKEND`.

mod common;
mod net;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::{fd_is_open, fresh_loop};
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{TimeoutError, coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{
    AlreadyReadingError, IOStream, Regex, StreamBufferFullError, StreamClosedError, StreamOptions,
    UnsatisfiableReadError,
};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

fn err_of<T: 'static>(r: Result<T, tornado::ioloop::Error>) -> Error {
    match r {
        Err(tornado::ioloop::Error::Future(e)) => e,
        Err(other) => panic!("unexpected loop error {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

/// A connected TCP pair on loopback (std sockets; wrap them as needed).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A stream on one end, the raw std socket on the other.
fn stream_and_peer() -> (IOStream, TcpStream) {
    let (a, b) = tcp_pair();
    (IOStream::new(a).unwrap(), b)
}

fn is_closed_error(e: &Error) -> bool {
    e.is::<StreamClosedError>()
}

#[test]
fn each_read_kind_in_one_piece() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"abcdefXYZ\r\nline2;rest-of-it").unwrap();
    drop(peer);
    let got = run(move || {
        coroutine(async move {
            let a = s.read_bytes(3, false).await?;
            let b = s.read_until(b"\r\n", None).await?;
            let c = s
                .read_until_regex(&Regex::new(r"\d;").unwrap(), None)
                .await?;
            let d = s.read_into(vec![0u8; 4], false).await?;
            let e = s.read_until_close().await?;
            Ok((a, b, c, d, e))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"abc");
    assert_eq!(got.1, b"defXYZ\r\n");
    assert_eq!(got.2, b"line2;");
    assert_eq!(got.3, b"rest");
    assert_eq!(got.4, b"-of-it");
}

#[test]
fn each_read_kind_in_many_small_pieces_with_a_split_delimiter() {
    let _l = fresh_loop();
    let (s, peer) = stream_and_peer();
    let payload = b"0123456789HEAD\r\n\r\nbody-42;tail".to_vec();
    let writer = std::thread::spawn(move || {
        let mut peer = peer;
        peer.set_nodelay(true).unwrap();
        for b in payload {
            peer.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_micros(300));
        }
    });
    let got = run(move || {
        coroutine(async move {
            let a = s.read_bytes(10, false).await?;
            let b = s.read_until(b"\r\n\r\n", Some(100)).await?;
            let c = s
                .read_until_regex(&Regex::new(r"-\d+;").unwrap(), Some(100))
                .await?;
            let d = s.read_until_close().await?;
            Ok((a, b, c, d))
        })
    })
    .unwrap();
    writer.join().unwrap();
    assert_eq!(got.0, b"0123456789");
    assert_eq!(got.1, b"HEAD\r\n\r\n");
    assert_eq!(got.2, b"body-42;");
    assert_eq!(got.3, b"tail");
}

#[test]
fn partial_read_bytes_returns_what_is_there() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"hi").unwrap();
    let got = run(move || s.read_bytes(100, true)).unwrap();
    assert_eq!(got, b"hi");
}

#[test]
fn a_read_the_buffer_satisfies_needs_no_socket_wait() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"one\ntwo\n").unwrap();
    let s2 = s.clone();
    let first = run(move || s2.read_until(b"\n", None)).unwrap();
    assert_eq!(first, b"one\n");
    // "two\n" is already buffered: the future is done on return.
    let f = s.read_until(b"\n", None);
    assert!(f.done());
    assert_eq!(f.result().unwrap(), b"two\n");
}

#[test]
fn a_second_concurrent_read_is_a_typed_error() {
    let _l = fresh_loop();
    let (s, _peer) = stream_and_peer();
    let first = s.read_bytes(1, false);
    let second = s.read_bytes(1, false);
    assert!(second.exception().unwrap().is::<AlreadyReadingError>());
    assert!(!first.done(), "the first read is undisturbed");
    assert!(s.reading());
}

#[test]
fn read_until_max_bytes_is_unsatisfiable_and_closes() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"0123456789 no delimiter here").unwrap();
    let s2 = s.clone();
    let e = err_of(run(move || s2.read_until(b"\n", Some(8))));
    assert!(e.is::<UnsatisfiableReadError>(), "{e}");
    assert!(s.closed());
    let later = s.read_bytes(1000, false); // more than is buffered
    assert!(is_closed_error(&later.exception().unwrap()));
}

#[test]
fn max_buffer_size_closes_the_stream_with_the_cause() {
    let _l = fresh_loop();
    let (a, b) = tcp_pair();
    let s = IOStream::with_options(
        a,
        StreamOptions {
            max_buffer_size: 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let writer = std::thread::spawn(move || {
        let mut b = b;
        let _ = b.write_all(&[b'x'; 64 * 1024]);
    });
    let s2 = s.clone();
    let e = err_of(run(move || s2.read_until(b"\n", None)));
    writer.join().unwrap();
    assert!(is_closed_error(&e), "{e}");
    let cause = s.error().expect("a cause");
    assert!(cause.is::<StreamBufferFullError>(), "{cause}");
}

#[test]
fn max_write_buffer_size_refuses_writes_instead_of_growing() {
    let _l = fresh_loop();
    let (a, _peer_not_reading) = tcp_pair();
    let s = IOStream::with_options(
        a,
        StreamOptions {
            max_write_buffer_size: Some(1 << 20),
            ..Default::default()
        },
    )
    .unwrap();
    let mut refused = None;
    for i in 0..200 {
        let f = s.write(vec![0u8; 256 * 1024]);
        if let Some(e) = f.exception() {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the write buffer limit was reached");
    assert!(e.is::<StreamBufferFullError>(), "{e}");
    assert!(s.write_buffer_size() <= 1 << 20);
    assert!(
        i > 0 && !s.closed(),
        "refusing a write does not close the stream"
    );
}

#[test]
fn eof_with_buffered_data_delivers_the_data_then_the_close() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"last words").unwrap();
    drop(peer);
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    s.set_close_callback(move || c.set(true));
    let got = run({
        let s = s.clone();
        move || {
            coroutine(async move {
                sleep(Duration::from_millis(20)).await; // EOF arrives first
                let a = s.read_bytes(4, false).await?;
                let b = s.read_bytes(6, false).await?;
                let c = s.read_bytes(1, false).await;
                Ok((a, b, c.map_err(|e| is_closed_error(&e))))
            })
        }
    })
    .unwrap();
    assert_eq!(got.0, b"last");
    assert_eq!(got.1, b" words");
    assert_eq!(got.2, Err(true));
    assert!(s.closed());
    assert!(s.error().is_none(), "a clean EOF has no cause");
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(closed.get(), "close callback ran");
}

#[test]
fn closing_the_loop_with_all_fds_leaves_the_socket_to_its_stream() {
    let l = fresh_loop();
    let (stream, peer) = stream_and_peer();
    let fd = stream.fileno();
    l.close(true).unwrap();
    assert!(fd_is_open(fd), "the loop closed the stream's socket");
    // The stream closes it, once (twice would abort a debug build).
    drop((stream, peer));
}

#[test]
fn close_during_a_read_and_the_close_callback() {
    let _l = fresh_loop();
    let (s, _peer) = stream_and_peer();
    let called = Rc::new(Cell::new(0));
    let c = called.clone();
    s.set_close_callback(move || c.set(c.get() + 1));
    let s2 = s.clone();
    let e = err_of(run(move || {
        let read = s2.read_bytes(10, false);
        let s3 = s2.clone();
        IOLoop::current().call_later(Duration::from_millis(5), move || s3.close());
        read
    }));
    assert!(is_closed_error(&e));
    s.close(); // twice is fine
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(called.get(), 1);
    // A close callback set after the close still runs.
    let c = called.clone();
    s.set_close_callback(move || c.set(c.get() + 10));
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(called.get(), 11);
}

#[test]
fn read_until_close_gets_the_buffer_when_closed_locally() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"partial").unwrap();
    let got = run(move || {
        let f = s.read_until_close();
        let s2 = s.clone();
        IOLoop::current().call_later(Duration::from_millis(20), move || s2.close());
        f
    })
    .unwrap();
    assert_eq!(got, b"partial");
}

#[test]
fn peer_reset_during_a_pending_write_fails_the_write_not_the_process() {
    let _l = fresh_loop();
    let (s, peer) = stream_and_peer();
    // Fill the socket buffers so the write stays pending, then reset.
    let big = vec![7u8; 8 * 1024 * 1024];
    let write = s.write(big);
    assert!(!write.done(), "the kernel cannot take 8 MiB at once");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setting SO_LINGER with a valid struct on an open socket.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&peer),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(peer); // RST
    let e = err_of(run(move || write));
    assert!(is_closed_error(&e), "{e}");
    assert!(s.closed());
    let cause = s.error().expect("the reset is the cause");
    let io = cause.downcast_ref::<std::io::Error>().expect("an io error");
    assert!(
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{io}"
    );
}

#[test]
fn large_transfers_both_ways_keep_their_integrity() {
    let _l = fresh_loop();
    let (a, b) = tcp_pair();
    const N: usize = 16 * 1024 * 1024;
    let data: Vec<u8> = (0..N).map(|i| (i * 7 + i / 4096) as u8).collect();
    let expect = data.clone();
    let (ok1, ok2) = run(move || {
        let (a, b) = (IOStream::new(a).unwrap(), IOStream::new(b).unwrap());
        let (a2, b2) = (a.clone(), b.clone());
        let d1 = data.clone();
        let one = coroutine(async move {
            let w = a.write(d1);
            let back = a.read_bytes(N, false).await?;
            w.await?;
            Ok(back)
        });
        let two = coroutine(async move {
            let got = b.read_bytes(N, false).await?;
            b.write(got.clone()).await?;
            Ok(got)
        });
        let _ = (a2, b2);
        multi((one, two))
    })
    .unwrap();
    assert!(ok1 == expect, "echoed data intact");
    assert!(ok2 == expect, "received data intact");
}

#[test]
fn pipe_streams() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    let got = run(move || {
        coroutine(async move {
            let (r, w) = (IOStream::new(r)?, IOStream::new(w)?);
            w.write(b"through a pipe\n".to_vec()).await?;
            let line = r.read_until(b"\n", None).await?;
            w.write(b"eof next".to_vec()).await?;
            w.close();
            let rest = r.read_until_close().await?;
            Ok((line, rest))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"through a pipe\n");
    assert_eq!(got.1, b"eof next");
}

#[test]
fn unix_socket_streams_and_half_close() {
    let _l = fresh_loop();
    let (a, b) = UnixStream::pair().unwrap();
    let got = run(move || {
        coroutine(async move {
            let b = IOStream::new(b)?;
            // The peer half-closes after writing; it can still read.
            let peer = std::thread::spawn(move || {
                let mut a = a;
                a.write_all(b"request").unwrap();
                a.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = Vec::new();
                a.read_to_end(&mut back).unwrap();
                back
            });
            let req = b.read_until_close().await?;
            Ok((req, peer))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"request");
    // Reading hit EOF so the stream closed; the peer sees its own EOF.
    assert_eq!(got.1.join().unwrap(), b"");
}

#[test]
fn connect_refused_and_timeout_are_typed() {
    let _l = fresh_loop();
    // A port with nothing listening: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = err_of(run(move || IOStream::connect(&format!("127.0.0.1:{port}"))));
    let refused = e
        .downcast_ref::<StreamClosedError>()
        .and_then(|c| c.real_error.clone())
        .or_else(|| Some(e.clone()))
        .unwrap();
    assert!(
        refused.to_string().to_lowercase().contains("refused"),
        "{e}"
    );

    // A listener whose accept queue is full drops new SYNs on loopback, so
    // a connect to it hangs until our timeout.
    let (full, port, _queued) = net::full_listener();
    let e = err_of(run(move || {
        IOStream::connect_timeout(
            &format!("127.0.0.1:{port}"),
            Some(Duration::from_millis(50)),
        )
    }));
    assert!(e.is::<TimeoutError>(), "{e}");
    drop(full);
}

#[test]
fn connect_and_talk() {
    let _l = fresh_loop();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        c.write_all(&buf).unwrap();
    });
    let got = run(move || {
        coroutine(async move {
            let s = IOStream::connect(&format!("localhost:{}", addr.port())).await;
            // "localhost" may resolve to ::1 first; fall back to the literal.
            let s = match s {
                Ok(s) => s,
                Err(_) => IOStream::connect(&addr.to_string()).await?,
            };
            s.set_nodelay(true)?;
            s.write(b"hello".to_vec()).await?;
            s.read_bytes(5, false).await
        })
    })
    .unwrap();
    server.join().unwrap();
    assert_eq!(got, b"hello");
}

#[test]
fn dropping_every_handle_closes_the_fd() {
    let l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    let before = l.metrics().handlers_registered;
    drop(s);
    assert_eq!(l.metrics().handlers_registered, before - 1);
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees EOF");
}

#[test]
fn idle_streams_hold_no_buffers() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(&[1u8; 100_000]).unwrap();
    let s2 = s.clone();
    let got = run(move || s2.read_bytes(100_000, false)).unwrap();
    assert_eq!(got.len(), 100_000);
    assert_eq!(s.read_buffer_size(), 0);
    assert_eq!(s.write_buffer_size(), 0);
    let _ = Error::msg("");
}

#[test]
fn read_until_limited_fails_the_read_but_keeps_the_stream() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"0123456789abcdef\n").unwrap();
    let s2 = s.clone();
    let e = err_of(run(move || s2.read_until_limited(b"\n", 8)));
    assert!(e.is::<UnsatisfiableReadError>(), "{e}");
    assert!(!s.closed(), "the stream stays open to answer");
    let s2 = s.clone();
    let rest = run(move || s2.read_until(b"\n", None)).unwrap();
    assert_eq!(rest, b"0123456789abcdef\n", "the buffer is intact");
}
