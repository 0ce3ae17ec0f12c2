//! Behaviours of Tornado's `tcpclient_test.py` that apply: connecting by
//! name and literal on each family, refusals and timeouts as typed errors,
//! source address and port binding, resolver overrides, and the happy
//! eyeballs fallback between families. Loopback only.

mod common;
mod net;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::fresh_loop;
use net::{failure, full_listener, ipv6_loopback, refusing_port, run, syn_sent_to};
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, sleep};
use tornado::iostream::{IOStream, StreamBufferFullError, StreamClosedError};
use tornado::tcp::{
    ConnectError, ConnectOptions, Family, OverrideResolver, Resolver, TcpClient, TcpHandler,
    TcpServer, ThreadedResolver,
};

/// A server that hands each accepted stream and peer address to the test.
struct Collect {
    accepted: Rc<RefCell<Vec<(IOStream, SocketAddr)>>>,
}

impl TcpHandler for Collect {
    async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
        self.accepted.borrow_mut().push((stream, address));
    }
}

type Accepted = Rc<RefCell<Vec<(IOStream, SocketAddr)>>>;

/// A collecting server on `address` (port 0); its port and its streams.
fn start_server(address: &str) -> (TcpServer<Collect>, u16, Accepted) {
    let accepted: Accepted = Rc::default();
    let server = TcpServer::new(Collect {
        accepted: accepted.clone(),
    });
    let port = server.listen_on(0, Some(address)).unwrap()[0].port();
    (server, port, accepted)
}

/// Waits for the server's next accepted stream.
async fn next_accepted(accepted: &Accepted) -> (IOStream, SocketAddr) {
    for _ in 0..2000 {
        if let Some(s) = accepted.borrow_mut().pop() {
            return s;
        }
        sleep(Duration::from_millis(1)).await;
    }
    panic!("the server accepted nothing");
}

/// Tornado's `do_test_connect`: connect, send "hello", the server reads
/// it. Returns the peer address the server saw.
fn do_test_connect(
    server_address: &str,
    host: &'static str,
    options: ConnectOptions,
) -> Result<SocketAddr, Error> {
    let (server, port, accepted) = start_server(server_address);
    let result = run(move || {
        coroutine(async move {
            let stream = TcpClient::new().connect_with(host, port, &options).await?;
            let (server_stream, peer) = next_accepted(&accepted).await;
            stream.write(b"hello".to_vec()).await?;
            assert_eq!(server_stream.read_bytes(5, false).await?, b"hello");
            stream.close();
            Ok(peer)
        })
    });
    server.stop();
    result
}

fn connect_error(e: &Error) -> &ConnectError {
    e.downcast_ref::<ConnectError>()
        .unwrap_or_else(|| panic!("not a ConnectError: {e}"))
}

#[test]
fn connect_ipv4_ipv4() {
    let _l = fresh_loop();
    let peer = do_test_connect("127.0.0.1", "127.0.0.1", ConnectOptions::new()).unwrap();
    assert!(peer.is_ipv4());
}

#[test]
fn connect_ipv4_server_by_name() {
    // "localhost" may list ::1 first: that attempt is refused and the
    // client falls back to 127.0.0.1 at once.
    let _l = fresh_loop();
    let peer = do_test_connect("127.0.0.1", "localhost", ConnectOptions::new()).unwrap();
    assert!(peer.ip().is_loopback());
}

#[test]
fn connect_ipv6_ipv6() {
    if !ipv6_loopback() {
        eprintln!("skipped: ::1 is not available");
        return;
    }
    let _l = fresh_loop();
    let peer = do_test_connect("::1", "::1", ConnectOptions::new()).unwrap();
    assert!(peer.is_ipv6());
    let peer = do_test_connect("::1", "[::1]", ConnectOptions::new()).unwrap();
    assert!(peer.is_ipv6());
}

#[test]
fn connect_dual_stack_server_by_name_and_by_family() {
    let _l = fresh_loop();
    let peer = do_test_connect("localhost", "localhost", ConnectOptions::new()).unwrap();
    assert!(peer.ip().is_loopback());
    let v4 = ConnectOptions::new().family(Family::V4);
    assert!(
        do_test_connect("localhost", "localhost", v4)
            .unwrap()
            .is_ipv4()
    );
}

#[test]
fn refused_is_typed() {
    let _l = fresh_loop();
    let port = refusing_port();
    let e = failure(run(move || {
        TcpClient::new().connect("127.0.0.1", port, None)
    }));
    let ce = connect_error(&e);
    assert!(ce.is_refused(), "{ce}");
    assert!(
        matches!(ce, ConnectError::Refused { addr } if addr.port() == port),
        "{ce}"
    );
}

#[test]
fn source_ip_is_bound() {
    let _l = fresh_loop();
    // Any 127/8 address is local on Linux: the server sees which one.
    let source: IpAddr = "127.0.0.2".parse().unwrap();
    let options = ConnectOptions::new().source_ip(source);
    let peer = do_test_connect("127.0.0.1", "127.0.0.1", options).unwrap();
    assert_eq!(peer.ip(), source);
}

#[test]
fn source_ip_that_is_not_local_fails_to_bind() {
    let _l = fresh_loop();
    // Binding fails before anything is sent: no packet leaves the host.
    let options = ConnectOptions::new().source_ip("8.8.8.8".parse().unwrap());
    let e = do_test_connect("127.0.0.1", "127.0.0.1", options).unwrap_err();
    assert!(
        matches!(connect_error(&e), ConnectError::Bind { source, .. }
            if source.kind() == std::io::ErrorKind::AddrNotAvailable),
        "{e}"
    );
}

#[test]
fn source_port_is_bound() {
    let _l = fresh_loop();
    let free = refusing_port();
    let options = ConnectOptions::new().source_port(free);
    let peer = do_test_connect("127.0.0.1", "127.0.0.1", options).unwrap();
    assert_eq!(peer.port(), free);
}

#[test]
fn source_port_in_use_fails_to_bind() {
    let _l = fresh_loop();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let options = ConnectOptions::new()
        .source_ip("127.0.0.1".parse().unwrap())
        .source_port(port);
    let e = do_test_connect("127.0.0.1", "127.0.0.1", options).unwrap_err();
    assert!(
        matches!(connect_error(&e), ConnectError::Bind { addr, source }
            if addr.port() == port && source.kind() == std::io::ErrorKind::AddrInUse),
        "{e}"
    );
}

#[test]
fn source_ip_of_the_wrong_family_is_refused() {
    let _l = fresh_loop();
    let options = ConnectOptions::new()
        .family(Family::V6)
        .source_ip("127.0.0.1".parse().unwrap());
    let e = do_test_connect("127.0.0.1", "127.0.0.1", options).unwrap_err();
    assert!(
        matches!(connect_error(&e), ConnectError::Bind { .. }),
        "{e}"
    );
}

/// Never answers (Tornado's `TimeoutResolver`).
struct NeverResolver;

impl Resolver for NeverResolver {
    fn resolve(&self, _host: &str, _port: u16, _family: Family) -> Future<Vec<SocketAddr>> {
        Future::new()
    }
}

#[test]
fn timeout_while_resolving() {
    let _l = fresh_loop();
    let started = Instant::now();
    let e = failure(run(|| {
        TcpClient::with_resolver(NeverResolver).connect(
            "example.test",
            80,
            Some(Duration::from_millis(50)),
        )
    }));
    assert!(connect_error(&e).is_timeout(), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn timeout_while_connecting_cancels_the_attempt() {
    let _l = fresh_loop();
    let (_full, port, _queued) = full_listener();
    let e = run(move || {
        coroutine(async move {
            let connecting =
                TcpClient::new().connect("127.0.0.1", port, Some(Duration::from_millis(300)));
            // The attempt is in flight: the SYN waits for a full queue.
            sleep(Duration::from_millis(100)).await;
            assert_eq!(syn_sent_to(port), 1);
            connecting.await.map(|_| ())
        })
    })
    .unwrap_err();
    let ce = connect_error(&e);
    assert!(
        matches!(ce, ConnectError::Timeout { port: p, after, .. }
            if *p == port && *after == Duration::from_millis(300)),
        "{ce}"
    );
    // The timed-out attempt's socket was closed.
    assert_eq!(syn_sent_to(port), 0);
}

#[test]
fn resolver_override_sends_a_name_to_a_local_server() {
    let _l = fresh_loop();
    let (server, port, accepted) = start_server("127.0.0.1");
    let resolver =
        OverrideResolver::new(ThreadedResolver).map("example.test", 80, "127.0.0.1", port);
    let client = TcpClient::with_resolver(resolver);
    let got = run(move || {
        coroutine(async move {
            let stream = client.connect("example.test", 80, None).await?;
            let (server_stream, _) = next_accepted(&accepted).await;
            server_stream.write(b"pong\n".to_vec()).await?;
            stream.read_until(b"\n", None).await
        })
    })
    .unwrap();
    assert_eq!(got, b"pong\n");
    server.stop();
}

#[test]
fn resolution_failure_is_typed() {
    let _l = fresh_loop();
    // A name mapped to IPv4 addresses only, asked for IPv6: no address.
    let resolver = OverrideResolver::new(ThreadedResolver).map_addrs(
        "v4only.test",
        80,
        vec!["127.0.0.1:80".parse().unwrap()],
    );
    let options = ConnectOptions::new().family(Family::V6);
    let e = failure(run(move || {
        TcpClient::with_resolver(resolver).connect_with("v4only.test", 80, &options)
    }));
    assert!(
        matches!(connect_error(&e), ConnectError::Resolve { host, port: 80, .. } if host == "v4only.test"),
        "{e}"
    );
}

#[test]
fn happy_eyeballs_falls_back_when_the_primary_hangs() {
    if !ipv6_loopback() {
        eprintln!("skipped: ::1 is not available");
        return;
    }
    let _l = fresh_loop();
    // Primary (IPv4): a listener whose queue is full, so the SYN hangs.
    // Secondary (IPv6): a working server.
    let (_full, hanging, _queued) = full_listener();
    let (server, port6, accepted) = start_server("::1");
    let resolver = OverrideResolver::new(ThreadedResolver).map_addrs(
        "dual.test",
        80,
        vec![
            SocketAddr::from(([127, 0, 0, 1], hanging)),
            SocketAddr::new("::1".parse().unwrap(), port6),
        ],
    );
    let options = ConnectOptions::new()
        .fallback_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(10));
    let started = Instant::now();
    let (peer, in_flight_after) = run(move || {
        coroutine(async move {
            let stream = TcpClient::with_resolver(resolver)
                .connect_with("dual.test", 80, &options)
                .await?;
            let (server_stream, peer) = next_accepted(&accepted).await;
            stream.write(b"x".to_vec()).await?;
            server_stream.read_bytes(1, false).await?;
            Ok((peer, syn_sent_to(hanging)))
        })
    })
    .unwrap();
    assert!(peer.is_ipv6(), "the secondary family won: {peer}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    // The hanging primary attempt lost, and its socket is closed.
    assert_eq!(in_flight_after, 0);
    server.stop();
}

#[test]
fn happy_eyeballs_falls_back_at_once_when_the_primary_is_refused() {
    if !ipv6_loopback() {
        eprintln!("skipped: ::1 is not available");
        return;
    }
    let _l = fresh_loop();
    let (server, port6, accepted) = start_server("::1");
    let resolver = OverrideResolver::new(ThreadedResolver).map_addrs(
        "dual.test",
        80,
        vec![
            SocketAddr::from(([127, 0, 0, 1], refusing_port())),
            SocketAddr::new("::1".parse().unwrap(), port6),
        ],
    );
    // A fallback delay far beyond the test: only the refusal can start the
    // secondary family in time.
    let options = ConnectOptions::new()
        .fallback_delay(Duration::from_secs(3600))
        .timeout(Duration::from_secs(10));
    let peer = run(move || {
        coroutine(async move {
            let _stream = TcpClient::with_resolver(resolver)
                .connect_with("dual.test", 80, &options)
                .await?;
            Ok(next_accepted(&accepted).await.1)
        })
    })
    .unwrap();
    assert!(peer.is_ipv6());
    server.stop();
}

#[test]
fn every_address_refused_reports_the_last() {
    let _l = fresh_loop();
    let (a, b) = (refusing_port(), refusing_port());
    let resolver = OverrideResolver::new(ThreadedResolver).map_addrs(
        "down.test",
        80,
        vec![
            SocketAddr::from(([127, 0, 0, 1], a)),
            SocketAddr::from(([127, 0, 0, 1], b)),
        ],
    );
    let e = failure(run(move || {
        TcpClient::with_resolver(resolver).connect("down.test", 80, None)
    }));
    assert!(
        matches!(connect_error(&e), ConnectError::Refused { addr } if addr.port() == b),
        "{e}"
    );
}

#[test]
fn max_buffer_size_applies_to_the_stream() {
    let _l = fresh_loop();
    let (server, port, accepted) = start_server("127.0.0.1");
    let e = run(move || {
        coroutine(async move {
            let options = ConnectOptions::new().max_buffer_size(16);
            let stream = TcpClient::new()
                .connect_with("127.0.0.1", port, &options)
                .await?;
            let (server_stream, _) = next_accepted(&accepted).await;
            // 100 bytes and no delimiter: the buffer passes its limit.
            server_stream.write(vec![b'x'; 100]).await?;
            stream.read_until(b"\n", None).await.map(|_| ())
        })
    })
    .unwrap_err();
    let full = e.is::<StreamBufferFullError>()
        || e.downcast_ref::<StreamClosedError>()
            .and_then(|c| c.real_error.as_ref())
            .is_some_and(|r| r.is::<StreamBufferFullError>());
    assert!(full, "{e}");
    server.stop();
}

mod tls {
    use super::*;

    struct Greet;

    impl TcpHandler for Greet {
        async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
            let _ = stream.write(b"hello over tls\n".to_vec()).await;
        }
    }

    #[test]
    fn tls_connect_checks_the_host_name() {
        let _l = fresh_loop();
        let (server_config, client_config) = net::tls_configs();
        let server = TcpServer::with_tls(Greet, server_config);
        let port = server.listen_on(0, Some("127.0.0.1")).unwrap()[0].port();
        let good = ConnectOptions::new()
            .family(Family::V4)
            .tls(client_config.clone());
        let line = run(move || {
            coroutine(async move {
                let stream = TcpClient::new()
                    .connect_with("localhost", port, &good)
                    .await?;
                stream.read_until(b"\n", None).await
            })
        })
        .unwrap();
        assert_eq!(line, b"hello over tls\n");
        // The certificate names "localhost", not 127.0.0.1.
        let wrong_name = ConnectOptions::new().tls(client_config);
        let e = failure(run(move || {
            TcpClient::new().connect_with("127.0.0.1", port, &wrong_name)
        }));
        assert!(
            matches!(connect_error(&e), ConnectError::Tls { host, .. } if host == "127.0.0.1"),
            "{e}"
        );
        server.stop();
    }
}
