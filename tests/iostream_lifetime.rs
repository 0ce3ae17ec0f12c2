//! How long a stream lives: a pending read or write keeps it alive after
//! the last user handle is dropped (Tornado's streams live while an
//! operation is pending), and a stream with nothing pending closes its fd
//! as soon as its last handle goes.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::Future;
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

/// True once the peer reads end of file (within a few seconds).
fn peer_sees_eof(peer: &mut TcpStream) -> bool {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).is_ok()
}

#[test]
fn a_pending_read_keeps_a_dropped_stream_alive_then_it_closes() {
    let l = fresh_loop();
    let before = l.metrics().handlers_registered;
    let (s, mut peer) = stream_and_peer();
    let reading = s.read_until(b"\n", None);
    drop(s);
    assert_eq!(
        l.metrics().handlers_registered,
        before + 1,
        "the pending read holds the stream"
    );
    let mut p = peer.try_clone().unwrap();
    let got = run(move || {
        IOLoop::current().call_later(Duration::from_millis(20), move || {
            p.write_all(b"late line\n").unwrap()
        });
        reading
    })
    .unwrap();
    assert_eq!(got, b"late line\n");
    // Finished, with no handle left: the fd is unregistered and closed.
    assert_eq!(l.metrics().handlers_registered, before);
    assert!(peer_sees_eof(&mut peer));
}

#[test]
fn callback_style_read_through_add_future_is_served() {
    let l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    let got = std::rc::Rc::new(std::cell::RefCell::new(None));
    let g = got.clone();
    let reading = s.read_bytes(5, false);
    drop(s);
    l.add_future(&reading, move |f| {
        *g.borrow_mut() = Some(f.take_result().map_err(|e| e.to_string()));
        IOLoop::current().stop();
    });
    drop(reading);
    peer.write_all(b"12345").unwrap();
    l.call_later(Duration::from_secs(10), || IOLoop::current().stop());
    l.start().unwrap();
    assert_eq!(got.borrow_mut().take(), Some(Ok(b"12345".to_vec())));
}

#[test]
fn a_pending_write_keeps_a_dropped_stream_alive_until_flushed() {
    let l = fresh_loop();
    let before = l.metrics().handlers_registered;
    let (s, mut peer) = stream_and_peer();
    const BIG: usize = 8 * 1024 * 1024;
    let writing = s.write(vec![7u8; BIG]);
    assert!(!writing.done(), "more than the socket buffers take at once");
    drop(s);
    drop(writing);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        peer.read_to_end(&mut all).map(|_| all.len())
    });
    // Run the loop until the stream let go of its fd.
    let l2 = l.clone();
    run(move || {
        tornado::r#gen::coroutine(async move {
            while l2.metrics().handlers_registered > before {
                tornado::r#gen::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), BIG, "every byte, then EOF");
}

#[test]
fn a_pending_read_on_a_dropped_stream_fails_when_the_peer_closes() {
    let l = fresh_loop();
    let before = l.metrics().handlers_registered;
    let (s, peer) = stream_and_peer();
    let reading = s.read_until(b"\n", None);
    drop(s);
    let e = match run(move || {
        IOLoop::current().call_later(Duration::from_millis(10), move || drop(peer));
        reading
    }) {
        Err(tornado::ioloop::Error::Future(e)) => e,
        other => panic!("expected a closed stream, got {:?}", other.map(|_| ())),
    };
    assert!(e.is::<StreamClosedError>(), "{e}");
    assert_eq!(l.metrics().handlers_registered, before, "no leak");
}

#[test]
fn an_idle_stream_closes_its_fd_when_its_last_handle_goes() {
    let l = fresh_loop();
    let before = l.metrics().handlers_registered;
    let (s, mut peer) = stream_and_peer();
    peer.write_all(b"one\n").unwrap();
    let s2 = s.clone();
    assert_eq!(run(move || s2.read_until(b"\n", None)).unwrap(), b"one\n");
    let s2 = s.clone();
    run(move || s2.write(b"reply".to_vec())).unwrap();
    // Reads and writes done: nothing pending holds it.
    drop(s);
    assert_eq!(l.metrics().handlers_registered, before);
    let mut got = Vec::new();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"reply");
}

#[test]
fn a_closed_stream_with_a_failed_read_is_released() {
    let l = fresh_loop();
    let before = l.metrics().handlers_registered;
    let (s, mut peer) = stream_and_peer();
    let reading = s.read_bytes(10, false);
    s.close();
    drop(s);
    assert!(reading.done());
    assert_eq!(l.metrics().handlers_registered, before);
    assert!(peer_sees_eof(&mut peer));
}

/// Closing the loop lets go of streams kept alive by their pending reads:
/// the fd is closed, nothing leaks.
#[test]
fn closing_the_loop_releases_streams_with_pending_reads() {
    let l = fresh_loop();
    let (s, mut peer) = stream_and_peer();
    let reading = s.read_until(b"\n", None);
    drop(s);
    drop(reading);
    l.close(false).unwrap();
    assert!(peer_sees_eof(&mut peer), "the stream's fd was closed");
}
