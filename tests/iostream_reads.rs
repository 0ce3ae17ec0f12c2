//! The read and write behaviours of Tornado's `TestReadWriteMixin` (one
//! stream reads, the other writes), over a loopback TCP pair: zero-byte
//! reads and writes, every `read_into` variant, `max_bytes` on
//! `read_until` and `read_until_regex`, reads around the peer's close, and
//! many mixed reads.

mod common;

use std::cell::Cell;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{
    IOStream, Regex, StreamClosedError, StreamOptions, UnsatisfiableReadError,
};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

/// A reading and a writing stream, connected over loopback.
fn pair_with(options: StreamOptions) -> (IOStream, IOStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (
        IOStream::with_options(server, options).unwrap(),
        IOStream::new(client).unwrap(),
    )
}

fn pair() -> (IOStream, IOStream) {
    pair_with(StreamOptions::default())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A flag set by the stream's close callback.
fn close_flag(s: &IOStream) -> Rc<Cell<bool>> {
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    s.set_close_callback(move || c.set(true));
    closed
}

/// Runs the loop until `flag` is set (or fails after a few seconds).
fn wait_for(flag: &Rc<Cell<bool>>) {
    let flag = flag.clone();
    run(move || {
        coroutine(async move {
            for _ in 0..5000 {
                if flag.get() {
                    return Ok(());
                }
                sleep(ms(1)).await;
            }
            Err(Error::msg("the flag was never set"))
        })
    })
    .unwrap();
}

#[test]
fn zero_byte_writes_and_reads_complete_at_once() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let w = ws.write(Vec::new());
    assert!(
        w.done() && w.exception().is_none(),
        "an empty write is done"
    );
    // Also behind queued data: done once what precedes it is written.
    ws.write(b"abc".to_vec());
    let after = ws.write(Vec::new());
    let got = run(move || {
        coroutine(async move {
            after.await?;
            let first = rs.read_bytes(1, false).await?;
            let zero = rs.read_bytes(0, false).await?;
            let zero_partial = rs.read_bytes(0, true).await?;
            let rest = rs.read_bytes(2, false).await?;
            Ok((first, zero, zero_partial, rest))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"a");
    assert!(got.1.is_empty() && got.2.is_empty());
    assert_eq!(got.3, b"bc");
}

/// Tornado's `test_read_bytes_partial` (and `test_write_memoryview`: a
/// borrowed slice is written like an owned buffer).
#[test]
fn partial_reads_respect_the_limit() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            let f = rs.read_bytes(50, true);
            ws.write(&b"hello"[..]);
            let a = f.await?;
            let f = rs.read_bytes(3, true);
            ws.write(&b"world"[..]);
            let b = f.await?;
            let c = rs.read_bytes(2, true).await?;
            let exact = rs.read_bytes(4, false);
            ws.write(&b"hello"[..]);
            Ok((a, b, c, exact.await?))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"hello");
    assert_eq!(got.1, b"wor");
    assert_eq!(got.2, b"ld");
    assert_eq!(got.3, b"hell");
}

/// Tornado's `test_read_into`: an exact read waits for the whole buffer;
/// data already buffered feeds the next read; a buffered read completes at
/// once.
#[test]
fn read_into_exact() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            let f = rs.read_into(vec![0; 10], false);
            ws.write(b"hello".to_vec()).await?;
            sleep(ms(20)).await;
            assert!(rs.reading() && !f.done(), "5 of 10 bytes: still reading");
            ws.write(b"world!!".to_vec());
            let a = f.await?;
            assert!(!rs.reading());
            // "!!" is buffered: it starts the next one.
            let f = rs.read_into(vec![0; 10], false);
            sleep(ms(20)).await;
            assert!(rs.reading());
            ws.write(b"1234567890".to_vec());
            let b = f.await?;
            // "90" buffered; with more written, a 4-byte read is served
            // from the buffer.
            ws.write(b"abcdefghi".to_vec()).await?;
            sleep(ms(20)).await;
            let c = rs.read_into(vec![0; 4], false);
            let c = c.await?;
            let d = rs.read_bytes(7, false).await?;
            Ok((a, b, c, d))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"helloworld");
    assert_eq!(got.1, b"!!12345678");
    assert_eq!(got.2, b"90ab");
    assert_eq!(got.3, b"cdefghi");
}

/// Tornado's `test_read_into_partial`.
#[test]
fn read_into_partial() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            let f = rs.read_into(vec![0; 10], true);
            ws.write(b"hello".to_vec());
            let a = f.await?;
            assert!(!rs.reading());
            ws.write(b"world!1234567890".to_vec()).await?;
            sleep(ms(20)).await;
            // More than fits: a full buffer despite `partial`.
            let b = rs.read_into(vec![0; 10], true).await?;
            // The rest is buffered: served at once, partially.
            let c = rs.read_into(vec![0; 10], true);
            assert!(c.done(), "served from the buffer without waiting");
            Ok((a, b, c.await?))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"hello", "truncated to what was read");
    assert_eq!(got.1, b"world!1234");
    assert_eq!(got.2, b"567890");
}

/// Tornado's `test_read_into_zero_bytes`.
#[test]
fn read_into_an_empty_buffer_is_done_at_once() {
    let _l = fresh_loop();
    let (rs, _ws) = pair();
    let f = rs.read_into(Vec::new(), false);
    assert!(f.done());
    assert_eq!(f.take_result().unwrap(), Vec::<u8>::new());
    assert!(!rs.reading());
}

/// `read_into` while the peer closes: what was buffered is not lost to a
/// partial read, and an exact read the data cannot fill fails "closed".
#[test]
fn read_into_when_the_peer_closes() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            let f = rs.read_into(vec![0; 10], false);
            ws.write(b"abc".to_vec()).await?;
            ws.close();
            let exact = f.await;
            Ok(exact.map_err(|e| e.is::<StreamClosedError>()))
        })
    })
    .unwrap();
    assert_eq!(got, Err(true));

    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            ws.write(b"abc".to_vec()).await?;
            ws.close();
            sleep(ms(20)).await;
            let partial = rs.read_into(vec![0; 10], true).await?;
            let after = rs.read_into(vec![0; 1], true).await;
            Ok((partial, after.map_err(|e| e.is::<StreamClosedError>())))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"abc");
    assert_eq!(got.1, Err(true));

    // A local close during a pending read_into fails it.
    let (rs, _ws) = pair();
    let f = rs.read_into(vec![0; 10], false);
    rs.close();
    assert!(f.exception().is_some_and(|e| e.is::<StreamClosedError>()));
}

/// Tornado's `test_read_until_max_bytes` and
/// `test_read_until_regex_max_bytes`: within the limit, exactly at it,
/// and beyond it (the read fails, the stream closes).
#[test]
fn read_until_and_regex_with_max_bytes_out_of_line() {
    let _l = fresh_loop();
    let re = Regex::new("def").unwrap();
    for regex in [false, true] {
        let (rs, ws) = pair();
        let closed = close_flag(&rs);
        let read = {
            let rs = rs.clone();
            let re = re.clone();
            move |max| {
                if regex {
                    rs.read_until_regex(&re, Some(max))
                } else {
                    rs.read_until(b"def", Some(max))
                }
            }
        };
        let r = read.clone();
        let w = ws.clone();
        let got = run(move || {
            coroutine(async move {
                let f = r(50);
                w.write(b"abcdef".to_vec());
                let roomy = f.await?;
                let f = r(6);
                w.write(b"abcdef".to_vec());
                let just = f.await?;
                let f = r(5);
                w.write(b"123456".to_vec());
                Ok((
                    roomy,
                    just,
                    f.await.map_err(|e| e.is::<UnsatisfiableReadError>()),
                ))
            })
        })
        .unwrap();
        assert_eq!(got.0, b"abcdef");
        assert_eq!(got.1, b"abcdef");
        assert_eq!(got.2, Err(true), "regex={regex}");
        wait_for(&closed);
    }
}

/// Tornado's `..._max_bytes_inline` and `..._max_bytes_ignores_extra`:
/// the data is there before the read; a match that ends past the limit
/// does not count.
#[test]
fn read_until_and_regex_with_max_bytes_inline() {
    let _l = fresh_loop();
    let re = Regex::new("def").unwrap();
    for (regex, data) in [
        (false, &b"123456"[..]),
        (true, b"123456"),
        (false, b"abcdef"),
        (true, b"abcdef"),
    ] {
        let (rs, ws) = pair();
        let closed = close_flag(&rs);
        let (r, re2) = (rs.clone(), re.clone());
        let got = run(move || {
            coroutine(async move {
                ws.write(data.to_vec()).await?;
                sleep(ms(20)).await;
                let f = if regex {
                    r.read_until_regex(&re2, Some(5))
                } else {
                    r.read_until(b"def", Some(5))
                };
                Ok(f.await.map_err(|e| e.is::<UnsatisfiableReadError>()))
            })
        })
        .unwrap();
        assert_eq!(got, Err(true), "regex={regex} data={data:?}");
        wait_for(&closed);
        assert!(rs.closed());
    }
}

/// `max_bytes` and a close before the delimiter: the read fails with
/// `StreamClosedError`, not `UnsatisfiableReadError` (Tornado's
/// `test_read_until_unsatisfied_after_close`), for both kinds.
#[test]
fn a_close_before_the_delimiter_is_a_closed_error() {
    let _l = fresh_loop();
    let re = Regex::new("done").unwrap();
    for regex in [false, true] {
        let (rs, ws) = pair();
        let re = re.clone();
        let got = run(move || {
            coroutine(async move {
                let f = if regex {
                    rs.read_until_regex(&re, Some(4096))
                } else {
                    rs.read_until(b"done", Some(4096))
                };
                ws.write(vec![b'x'; 2048]).await?;
                ws.write(b"foo".to_vec());
                ws.close();
                Ok(f.await.map_err(|e| e.is::<StreamClosedError>()))
            })
        })
        .unwrap();
        assert_eq!(got, Err(true), "regex={regex}");
    }
}

/// Tornado's `test_read_until_with_close_after_second_packet`: the
/// delimiter arrives in a packet smaller than the first, with the close.
#[test]
fn a_delimiter_arriving_with_the_close_is_found() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            let f = rs.read_until(b"done", None);
            sleep(ms(20)).await;
            ws.write(vec![b'x'; 2048]).await?;
            ws.write(b"done".to_vec());
            ws.close();
            f.await
        })
    })
    .unwrap();
    assert_eq!(got.len(), 2052);
    assert!(got.ends_with(b"done"));
}

/// Tornado's `test_future_delayed_close_callback`,
/// `test_read_until_close_after_close` and `test_close_buffered_data`:
/// data that arrived before the close is read after it, and the close
/// callback waits for it.
#[test]
fn data_before_the_close_is_read_after_it() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            ws.write(b"12".to_vec());
            let a = rs.read_bytes(1, false).await?;
            ws.close();
            let b = rs.read_bytes(1, false).await?;
            Ok((a, b))
        })
    })
    .unwrap();
    assert_eq!((got.0.as_slice(), got.1.as_slice()), (&b"1"[..], &b"2"[..]));

    let (rs, ws) = pair();
    let got = run(move || {
        coroutine(async move {
            ws.write(b"1234".to_vec());
            ws.close();
            let a = rs.read_bytes(1, false).await?;
            let rest = rs.read_until_close().await?;
            Ok((a, rest))
        })
    })
    .unwrap();
    assert_eq!(got.1, b"234");

    // The data still in the kernel (a read chunk smaller than what came).
    let (rs, ws) = pair_with(StreamOptions {
        read_chunk_size: 256,
        ..Default::default()
    });
    let got = run(move || {
        coroutine(async move {
            ws.write(vec![b'A'; 512]);
            let a = rs.read_bytes(256, false).await?;
            ws.close();
            sleep(ms(10)).await;
            let b = rs.read_bytes(256, false).await?;
            Ok((a, b))
        })
    })
    .unwrap();
    assert_eq!(got.0, vec![b'A'; 256]);
    assert_eq!(got.1, vec![b'A'; 256]);
}

/// Tornado's `test_close_callback_with_pending_read` and
/// `test_future_close_callback`.
#[test]
fn the_close_callback_runs_with_a_read_pending_and_not_before() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let closed = close_flag(&rs);
    let c = closed.clone();
    let pending = run(move || {
        coroutine(async move {
            ws.write(b"OK\r\n".to_vec());
            let line = rs.read_until(b"\r\n", None).await?;
            assert_eq!(line, b"OK\r\n");
            assert!(!c.get(), "not closed while the peer is open");
            ws.close();
            Ok(rs.read_until(b"\r\n", None))
        })
    })
    .unwrap();
    wait_for(&closed);
    assert!(
        pending
            .exception()
            .is_some_and(|e| e.is::<StreamClosedError>())
    );
}

/// Tornado's `test_large_read_until`: 4 MiB in 1 KiB writes, then the
/// delimiter (linear, not quadratic).
#[test]
fn a_large_read_until() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    let n = run(move || {
        coroutine(async move {
            for _ in 0..4096 {
                ws.write(vec![b'A'; 1024]);
            }
            ws.write(b"\r\n".to_vec());
            Ok(rs.read_until(b"\r\n", None).await?.len())
        })
    })
    .unwrap();
    assert_eq!(n, 4096 * 1024 + 2);
}

/// Tornado's `test_future_write`: many concurrent writers clogging the
/// socket; every write future resolves and every byte arrives.
#[test]
fn concurrent_writes_all_resolve() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    const M: usize = 5000;
    const N: usize = 100;
    const PRODUCERS: usize = 10;
    let got = run(move || {
        let mut tasks: Vec<Future<usize>> = (0..PRODUCERS)
            .map(|_| {
                let ws = ws.clone();
                coroutine(async move {
                    for _ in 0..N {
                        ws.write(vec![b'x'; M]).await?;
                    }
                    Ok(0)
                })
            })
            .collect();
        tasks.push(coroutine(async move {
            let mut read = 0;
            while read < M * N * PRODUCERS {
                read += rs.read_bytes(M, false).await?.len();
            }
            Ok(read)
        }));
        multi(tasks)
    })
    .unwrap();
    assert_eq!(got[PRODUCERS], M * N * PRODUCERS);
}

/// Tornado's `test_many_mixed_reads`: random sizes, alternating
/// `read_bytes` and `read_into`, against random-sized writes; the bytes
/// match.
#[test]
fn many_mixed_reads() {
    let _l = fresh_loop();
    let (rs, ws) = pair();
    const TOTAL: usize = 1_000_000;
    // A small deterministic generator (xorshift): the same sizes each run.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
    let data: Vec<u8> = {
        let mut s = 7u64;
        (0..TOTAL).map(|_| next(&mut s) as u8).collect()
    };
    let expected = data.clone();
    let got = run(move || {
        let produce = coroutine(async move {
            let mut s = 42u64;
            let mut at = 0;
            while at < TOTAL {
                let size = (1 + next(&mut s) as usize % 1000).min(TOTAL - at);
                ws.write(data[at..at + size].to_vec()).await?;
                at += size;
            }
            Ok(Vec::<u8>::new())
        });
        let consume = coroutine(async move {
            let mut s = 4242u64;
            let mut out = Vec::with_capacity(TOTAL);
            while out.len() < TOTAL {
                let size = (1 + next(&mut s) as usize % 1000).min(TOTAL - out.len());
                let chunk = if next(&mut s).is_multiple_of(2) {
                    rs.read_bytes(size, false).await?
                } else {
                    rs.read_into(vec![0; size], false).await?
                };
                assert_eq!(chunk.len(), size);
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        });
        multi((produce, consume))
    })
    .unwrap();
    assert!(got.1 == expected, "the bytes match");
}
