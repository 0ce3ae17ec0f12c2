//! TCP half-close: `shutdown_write` sends EOF and keeps reading;
//! `set_keep_open_after_eof` keeps a stream writable after its peer's EOF
//! (the proxy example relies on both).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::r#gen::{coroutine, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamClosedError};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

fn stream_and_peer() -> (IOStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (IOStream::new(client).unwrap(), server)
}

#[test]
fn kept_open_after_eof_a_stream_answers_however_late() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    s.set_keep_open_after_eof(true);
    peer.write_all(b"request").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let s2 = s.clone();
    let req = run(move || {
        coroutine(async move {
            let req = s2.read_until_close().await?;
            // Many iterations later: still open, still writable.
            sleep(Duration::from_millis(30)).await;
            assert!(!s2.closed());
            let again = s2.read_bytes(1, false).await;
            assert!(again.is_err_and(|e| e.is::<StreamClosedError>()));
            s2.write(b"late answer".to_vec()).await?;
            Ok(req)
        })
    })
    .unwrap();
    assert_eq!(req, b"request");
    s.close();
    let mut back = Vec::new();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"late answer");
}

#[test]
fn by_default_a_stream_closes_after_eof_once_flushed() {
    let _l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"request").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let s2 = s.clone();
    run(move || {
        coroutine(async move {
            let req = s2.read_until_close().await?;
            // Answering at once still works (the close waits a turn).
            s2.write(req).await?;
            sleep(Duration::from_millis(10)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(s.closed());
    let mut back = Vec::new();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"request");
}

#[test]
fn shutdown_write_sends_eof_after_the_queued_data_and_keeps_reading() {
    let _l = fresh_loop();
    let (s, peer) = stream_and_peer();
    let echo = std::thread::spawn(move || {
        let mut peer = peer;
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap(); // ends at our FIN
        peer.write_all(&got).unwrap();
        got.len()
    });
    const N: usize = 3 * 1024 * 1024;
    let s2 = s.clone();
    let back = run(move || {
        coroutine(async move {
            // Queued behind a large write: the FIN goes after it.
            let writing = s2.write(vec![5u8; N]);
            let shut = s2.shutdown_write();
            assert!(s2.write(b"too late".to_vec()).exception().is_some());
            writing.await?;
            shut.await?;
            assert!(!s2.closed(), "the reading half is still open");
            s2.read_until_close().await
        })
    })
    .unwrap();
    assert_eq!(echo.join().unwrap(), N);
    assert!(back.len() == N && back.iter().all(|b| *b == 5));
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(s.closed(), "both halves done: closed");
}

/// After our FIN the peer sends a lot and closes: the hang-up (both
/// directions shut) is not an error, and every byte still waiting in the
/// kernel is read before the EOF.
#[test]
fn a_hang_up_after_shutdown_write_loses_no_data() {
    let _l = fresh_loop();
    let (s, peer) = stream_and_peer();
    const N: usize = 1024 * 1024;
    let peer = std::thread::spawn(move || {
        let mut peer = peer;
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        peer.write_all(&vec![9u8; N]).unwrap();
        // Dropped: FIN. With ours already sent, the socket hangs up.
    });
    let got = run(move || {
        coroutine(async move {
            s.shutdown_write().await?;
            // Let the peer write everything and close before we read.
            sleep(Duration::from_millis(100)).await;
            let mut total = 0;
            loop {
                match s.read_bytes(16 * 1024, true).await {
                    Ok(chunk) => {
                        total += chunk.len();
                        // A slow reader: the loop polls (and sees the
                        // hang-up) while data still waits in the kernel.
                        sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) if e.is::<StreamClosedError>() => {
                        assert!(s.error().is_none(), "a clean end: {:?}", s.error());
                        return Ok(total);
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    })
    .unwrap();
    peer.join().unwrap();
    assert_eq!(got, N);
}

/// A line server answering a client that sends many lines and then
/// half-closes: every line is answered, although the EOF was seen long
/// before the last line was read (the stream closes only once everything
/// the peer sent was read and every answer flushed).
#[test]
fn every_buffered_line_is_answered_after_the_peer_half_closed() {
    let _l = fresh_loop();
    let (s, peer) = stream_and_peer();
    const LINES: usize = 200;
    let line = {
        let mut l = vec![b'x'; 10 * 1024 - 1];
        l.push(b'\n');
        l
    };
    let expected = LINES * line.len();
    let client = std::thread::spawn(move || {
        let mut peer = peer;
        let mut sending = peer.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            for _ in 0..LINES {
                sending.write_all(&line).unwrap();
            }
            sending.shutdown(Shutdown::Write).unwrap();
        });
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // A slow reader: the server's answers often wait for room.
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            if total % (16 * 1024) < 4096 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        writer.join().unwrap();
        total
    });
    run(move || {
        coroutine(async move {
            // Let the whole request and the EOF arrive first.
            sleep(Duration::from_millis(100)).await;
            while let Ok(line) = s.read_until(b"\n", None).await {
                s.write(line).await?;
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(client.join().unwrap(), expected);
}
