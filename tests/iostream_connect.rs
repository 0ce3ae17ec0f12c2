//! `IOStream::connect_socket`: finishing a connect started on a socket set
//! up by hand (bound to a source address), its timeout, and cancelling it.

mod common;
mod net;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use net::{failure, full_listener, idle, run, syn_sent_to};
use socket2::{Domain, SockAddr, Socket, Type};
use tornado::concurrent::Future;
use tornado::r#gen::{TimeoutError, coroutine};
use tornado::iostream::{IOStream, StreamClosedError, StreamOptions};

/// A non-blocking socket bound to `source`, its connect to `to` started.
fn started(source: Option<SocketAddr>, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).unwrap();
    if let Some(s) = source {
        socket.bind(&SockAddr::from(s)).unwrap();
    }
    match socket.connect(&SockAddr::from(to)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => panic!("connect: {e}"),
    }
    socket.into()
}

#[test]
fn connects_a_socket_bound_by_hand() {
    let _l = fresh_loop();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let source: SocketAddr = "127.0.0.3:0".parse().unwrap();
    let socket = started(Some(source), to);
    let got = run(move || {
        coroutine(async move {
            let stream = IOStream::connect_socket(socket, StreamOptions::default(), None).await?;
            stream.write(b"ping".to_vec()).await?;
            Ok(stream)
        })
    });
    let stream = got.unwrap_or_else(|e| panic!("{e}"));
    let (_conn, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), source.ip());
    assert!(!stream.closed());
}

#[test]
fn refused_and_timed_out() {
    let _l = fresh_loop();
    let port = net::refusing_port();
    let socket = started(None, SocketAddr::from(([127, 0, 0, 1], port)));
    let e = failure(run(move || {
        IOStream::connect_socket(socket, StreamOptions::default(), None)
    }));
    let cause = e
        .downcast_ref::<StreamClosedError>()
        .and_then(|c| c.real_error.clone())
        .expect("a closed stream with its cause");
    let io = cause
        .downcast_ref::<std::io::Error>()
        .expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

    let (_full, port, _queued) = full_listener();
    let socket = started(None, SocketAddr::from(([127, 0, 0, 1], port)));
    let e = failure(run(move || {
        IOStream::connect_socket(
            socket,
            StreamOptions::default(),
            Some(Duration::from_millis(50)),
        )
    }));
    assert!(e.is::<TimeoutError>(), "{e}");
    idle(Duration::from_millis(10));
    assert_eq!(syn_sent_to(port), 0, "the timed-out socket is closed");
}

#[test]
fn cancelling_closes_the_socket_at_once() {
    let _l = fresh_loop();
    let (_full, port, _queued) = full_listener();
    let socket = started(None, SocketAddr::from(([127, 0, 0, 1], port)));
    let connecting: Future<IOStream> =
        IOStream::connect_socket(socket, StreamOptions::default(), None);
    idle(Duration::from_millis(20));
    assert_eq!(syn_sent_to(port), 1, "the SYN waits on the full queue");
    assert!(connecting.cancel());
    idle(Duration::from_millis(10));
    assert_eq!(syn_sent_to(port), 0);
}
