//! Flow control and buffer limits (Tornado's `test_small_reads_from_large_buffer`,
//! `test_small_read_untils_from_large_buffer`, `test_flow_control`,
//! `test_read_bytes_partial`-style reads under `max_buffer_size`): a
//! consumer slower than its peer, with a small buffer, is served, never
//! killed; the rest waits in the kernel.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamBufferFullError, StreamClosedError, StreamOptions};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

const KIB: usize = 1024;

fn small_buffer(max: usize) -> StreamOptions {
    StreamOptions {
        max_buffer_size: max,
        ..Default::default()
    }
}

/// 100 KiB waiting in the kernel, a 10 KiB buffer, 100 reads of 1 KiB by
/// `read_bytes`: every read is served and the buffer stays within its limit.
#[test]
fn small_reads_from_a_large_backlog_with_a_small_buffer() {
    let _l = fresh_loop();
    let (a, mut b) = tcp_pair();
    let s = IOStream::with_options(a, small_buffer(10 * KIB)).unwrap();
    let mut data = Vec::new();
    for i in 0..100u8 {
        data.extend(std::iter::repeat_n(i, KIB));
    }
    // From a thread: the kernel may not hold it all before we read.
    let writer = std::thread::spawn(move || b.write_all(&data).map(|_| b));
    let got = run(move || {
        coroutine(async move {
            let mut most = 0;
            for i in 0..100u8 {
                let chunk = s.read_bytes(KIB, false).await?;
                assert_eq!(chunk, vec![i; KIB], "read {i}");
                most = most.max(s.read_buffer_size());
            }
            Ok(most)
        })
    })
    .unwrap();
    assert!(got <= 10 * KIB, "buffered at most the limit ({got})");
    writer.join().unwrap().unwrap();
}

/// The same with `read_until`: 100 lines of 1 KiB.
#[test]
fn small_read_untils_from_a_large_backlog_with_a_small_buffer() {
    let _l = fresh_loop();
    let (a, mut b) = tcp_pair();
    let s = IOStream::with_options(a, small_buffer(10 * KIB)).unwrap();
    let mut line = vec![b'a'; KIB - 1];
    line.push(b'\n');
    let data = line.repeat(100);
    let writer = std::thread::spawn(move || b.write_all(&data).map(|_| b));
    let n = run(move || {
        coroutine(async move {
            for _ in 0..100 {
                let got = s.read_until(b"\n", None).await?;
                assert_eq!(got.len(), KIB);
                assert!(s.read_buffer_size() <= 10 * KIB);
            }
            Ok(100)
        })
    })
    .unwrap();
    assert_eq!(n, 100);
    writer.join().unwrap().unwrap();
}

/// A read that needs more than the buffer may hold still fails, typed.
#[test]
fn a_read_larger_than_the_buffer_limit_fails_with_buffer_full() {
    let _l = fresh_loop();
    let (a, mut b) = tcp_pair();
    let s = IOStream::with_options(a, small_buffer(4 * KIB)).unwrap();
    b.write_all(&[1u8; 16 * KIB]).unwrap();
    let s2 = s.clone();
    let r = run(move || s2.read_bytes(8 * KIB, false));
    assert!(r.is_err());
    assert!(s.closed());
    let cause = s.error().expect("a cause");
    assert!(cause.is::<StreamBufferFullError>(), "{cause}");
}

/// Tornado's `test_flow_control`: a fast writer and a slow reader with a
/// small buffer; everything arrives, in order, and the reader never holds
/// more than its limit.
#[test]
fn flow_control_between_a_fast_writer_and_a_slow_reader() {
    let _l = fresh_loop();
    let (a, b) = tcp_pair();
    const TOTAL: usize = 2 * 1024 * KIB;
    let got = run(move || {
        let writer = coroutine(async move {
            let w = IOStream::new(a)?;
            let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
            w.write(data).await?;
            w.close();
            Ok(0usize)
        });
        let reader = coroutine(async move {
            let r = IOStream::with_options(b, small_buffer(64 * KIB))?;
            let mut seen = 0usize;
            let mut most = 0;
            loop {
                match r.read_bytes(16 * KIB, true).await {
                    Ok(chunk) => {
                        for (k, byte) in chunk.iter().enumerate() {
                            assert_eq!(*byte, ((seen + k) % 251) as u8);
                        }
                        seen += chunk.len();
                        most = most.max(r.read_buffer_size());
                        if seen % (256 * KIB) < 16 * KIB {
                            // Slower than the writer now and then.
                            sleep(Duration::from_millis(2)).await;
                        }
                    }
                    Err(e) if e.is::<StreamClosedError>() => break,
                    Err(e) => return Err(e),
                }
            }
            assert!(most <= 64 * KIB, "buffered at most the limit ({most})");
            Ok(seen)
        });
        multi((writer, reader))
    })
    .unwrap();
    assert_eq!(got.1, TOTAL);
}
