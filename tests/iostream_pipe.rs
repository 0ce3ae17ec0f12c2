//! Streams over pipes (Tornado's `TestPipeIOStream`): a write end is never
//! read, so big writes that must wait for the reader go through whole.

mod common;

use std::io::Read;
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamClosedError};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8).collect()
}

/// Tornado's `test_pipe_iostream_big_write`: 1 MiB through a pipe, both
/// ends streams on one loop; the write cannot complete at once.
#[test]
fn one_mib_through_a_pipe() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    const N: usize = 1024 * 1024;
    let (_, got) = run(move || {
        let (r, w) = (IOStream::new(r).unwrap(), IOStream::new(w).unwrap());
        let writing = w.write(pattern(N));
        assert!(!writing.done(), "a pipe takes less than 1 MiB at once");
        let writer = coroutine(async move {
            writing.await?;
            w.close();
            Ok(())
        });
        let reader = coroutine(async move {
            let first = r.read_bytes(N, false).await?;
            let after = r.read_until_close().await?;
            assert!(after.is_empty());
            Ok(first)
        });
        multi((writer, reader))
    })
    .unwrap();
    assert!(got == pattern(N), "every byte, in order");
}

/// A big write through a pipe whose reader (another thread) is slow: the
/// stream waits for room again and again, and never tries to read.
#[test]
fn a_big_write_to_a_slow_reader_thread() {
    let _l = fresh_loop();
    let (mut r, w) = std::io::pipe().unwrap();
    const N: usize = 4 * 1024 * 1024;
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if all.len() % (512 * 1024) < n {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    run(move || {
        coroutine(async move {
            let w = IOStream::new(w)?;
            // Several writes queued behind each other.
            let parts: Vec<Future<()>> = pattern(N).chunks(N / 4).map(|c| w.write(c)).collect();
            multi(parts).await?;
            w.close();
            Ok(())
        })
    })
    .unwrap();
    assert!(reader.join().unwrap() == pattern(N));
}

/// Reading the write end, or writing the read end, is a typed error that
/// leaves the stream open; the stream does not close itself on events.
#[test]
fn the_wrong_direction_fails_without_closing() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    let (rs, ws) = run(move || {
        coroutine(async move {
            let (r, w) = (IOStream::new(r)?, IOStream::new(w)?);
            let e = w.read_bytes(1, true).exception().expect("refused");
            assert!(
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::Unsupported),
                "{e}"
            );
            let e = r.write(b"x".to_vec()).exception().expect("refused");
            assert!(!e.is::<StreamClosedError>(), "{e}");
            w.write(b"still fine\n".to_vec()).await?;
            let line = r.read_until(b"\n", None).await?;
            assert_eq!(line, b"still fine\n");
            Ok((r, w))
        })
    })
    .unwrap();
    assert!(!rs.closed() && !ws.closed());
}

/// Tornado's `test_pipe_iostream`: reads of each kind across several
/// writes, then the writer's close ends `read_until_close`.
#[test]
fn reads_of_each_kind_across_writes() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    let got = run(move || {
        coroutine(async move {
            let (r, w) = (IOStream::new(r)?, IOStream::new(w)?);
            w.write(b"hel".to_vec());
            w.write(b"lo world".to_vec());
            let a = r.read_until(b" ", None).await?;
            let b = r.read_bytes(3, false).await?;
            w.write(b"ld".to_vec()).await?;
            let c = r.read_bytes(1, false).await?;
            let d = r.read_bytes(3, false).await?;
            w.close();
            let rest = r.read_until_close().await;
            Ok::<_, Error>((a, b, c, d, rest.map_err(|e| e.to_string())))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"hello ");
    assert_eq!(got.1, b"wor");
    assert_eq!(got.2, b"l");
    assert_eq!(got.3, b"dld");
    assert_eq!(got.4, Ok(Vec::new()));
}

/// Writing to a pipe whose reader is gone fails the write (EPIPE) and
/// closes the stream; nothing hangs.
#[test]
fn a_write_after_the_reader_left_fails_and_closes() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let (e, closed) = run(move || {
        coroutine(async move {
            let w = IOStream::new(w)?;
            sleep(Duration::from_millis(5)).await;
            let e = w.write(vec![1u8; 100_000]).await.unwrap_err();
            Ok((e.to_string(), w.closed()))
        })
    })
    .unwrap();
    assert!(closed, "{e}");
}

/// `shutdown_write` on a pipe's write end closes it after the queued data
/// (the reader's EOF); on a read end it is refused.
#[test]
fn shutdown_write_on_a_pipe_ends_the_reader() {
    let _l = fresh_loop();
    let (r, w) = std::io::pipe().unwrap();
    let got = run(move || {
        coroutine(async move {
            let (r, w) = (IOStream::new(r)?, IOStream::new(w)?);
            assert!(r.shutdown_write().exception().is_some());
            w.write(vec![3u8; 200_000]);
            let shut = w.shutdown_write();
            let all = r.read_until_close().await?;
            shut.await?;
            assert!(w.closed());
            Ok(all.len())
        })
    })
    .unwrap();
    assert_eq!(got, 200_000);
}
