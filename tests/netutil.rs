//! Behaviours of Tornado's `netutil_test.py` that apply: port allocation,
//! `SO_REUSEPORT`, Unix sockets, the accept handler, and resolvers (the
//! default one on the executor, and overrides). No test needs DNS: names
//! are `localhost` or overridden.

mod common;
mod net;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::fresh_loop;
use net::{failure, idle, run};
use tornado::tcp::{
    Family, OverrideResolver, Resolver, ThreadedResolver, add_accept_handler, bind_sockets,
    bind_unix_socket,
};

#[test]
fn same_port_allocation() {
    let sockets = bind_sockets(0, Some("localhost"), None, false).unwrap();
    assert!(!sockets.is_empty());
    let port = sockets[0].local_addr().unwrap().port();
    assert_ne!(port, 0);
    assert!(
        sockets
            .iter()
            .all(|s| s.local_addr().unwrap().port() == port)
    );
}

#[test]
fn every_interface_gets_one_port() {
    let sockets = bind_sockets(0, None, None, false).unwrap();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    assert!(addrs.iter().any(|a| a.is_ipv4() && a.ip().is_unspecified()));
    if net::ipv6_loopback() {
        assert!(addrs.iter().any(|a| a.is_ipv6() && a.ip().is_unspecified()));
    }
    assert!(addrs.iter().all(|a| a.port() == addrs[0].port()));
}

#[test]
fn reuse_port_lets_two_sockets_share() {
    let first = bind_sockets(0, Some("127.0.0.1"), None, true).unwrap();
    let port = first[0].local_addr().unwrap().port();
    let second = bind_sockets(port, Some("127.0.0.1"), None, true).unwrap();
    assert_eq!(second[0].local_addr().unwrap().port(), port);
    // Without it, the port is taken.
    let e = bind_sockets(port, Some("127.0.0.1"), None, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}

#[test]
fn unix_socket_replaces_a_stale_one_and_refuses_other_files() {
    let path = std::env::temp_dir().join(format!("tornado-{}-netutil.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let first = bind_unix_socket(&path, 0o600, None).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(first);
    // The socket file outlives its listener: it is stale, and replaced.
    let listener = bind_unix_socket(&path, 0o660, None).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o660
    );
    UnixStream::connect(&path).unwrap();
    drop(listener);
    std::fs::remove_file(&path).unwrap();

    std::fs::write(&path, b"not a socket").unwrap();
    let e = bind_unix_socket(&path, 0o600, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    std::fs::remove_file(&path).unwrap();
}

/// A listener on an ephemeral loopback port, made by `bind_sockets`.
fn loopback_listener() -> TcpListener {
    bind_sockets(0, Some("127.0.0.1"), None, false)
        .unwrap()
        .remove(0)
}

/// A listener that closes its own fd and keeps what close(2) returned:
/// -1 if something else had closed the fd first.
struct ClosesItself {
    fd: std::os::fd::RawFd,
    closed: Rc<std::cell::Cell<Option<i32>>>,
}

impl std::os::fd::AsRawFd for ClosesItself {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
    }
}

impl tornado::tcp::Acceptor for ClosesItself {
    type Stream = TcpStream;
    fn accept_one(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        Err(ErrorKind::WouldBlock.into())
    }
}

impl Drop for ClosesItself {
    fn drop(&mut self) {
        // SAFETY: the fd came from `into_raw_fd`; this is its one owner.
        self.closed.set(Some(unsafe { libc::close(self.fd) }));
    }
}

#[test]
fn closing_the_loop_with_all_fds_leaves_the_listener_to_its_owner() {
    let l = fresh_loop();
    let listener = loopback_listener();
    let closed = Rc::new(std::cell::Cell::new(None));
    let listener = ClosesItself {
        fd: std::os::fd::IntoRawFd::into_raw_fd(listener),
        closed: closed.clone(),
    };
    let handle = add_accept_handler(listener, |_, _| {}).unwrap();
    l.close(true).unwrap();
    drop(handle);
    assert_eq!(
        closed.get(),
        Some(0),
        "the listener's own close found it closed"
    );
}

#[test]
fn accept_handler_accepts_until_removed() {
    let _l = fresh_loop();
    let listener = loopback_listener();
    let addr = listener.local_addr().unwrap();
    let accepted: Rc<RefCell<Vec<(TcpStream, SocketAddr)>>> = Rc::default();
    let a = accepted.clone();
    let handle = add_accept_handler(listener, move |conn, peer| {
        a.borrow_mut().push((conn, peer))
    })
    .unwrap();
    let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    idle(Duration::from_millis(30));
    {
        let got = accepted.borrow();
        assert_eq!(got.len(), 3);
        for (client, (_, peer)) in clients.iter().zip(got.iter()) {
            assert_eq!(*peer, client.local_addr().unwrap());
        }
    }
    assert!(!handle.paused());
    handle.remove();
    handle.remove();
    // Removed: a queued connection is no longer accepted.
    let _late = TcpStream::connect(addr);
    idle(Duration::from_millis(30));
    assert_eq!(accepted.borrow().len(), 3);
}

#[test]
fn default_resolver_finds_localhost() {
    let _l = fresh_loop();
    let addrs = run(|| ThreadedResolver.resolve("localhost", 80, Family::Any)).unwrap();
    assert!(
        addrs.contains(&"127.0.0.1:80".parse().unwrap())
            || addrs.contains(&"[::1]:80".parse().unwrap()),
        "loopback not in {addrs:?}"
    );
    let v4 = run(|| ThreadedResolver.resolve("localhost", 80, Family::V4)).unwrap();
    assert!(!v4.is_empty() && v4.iter().all(|a| a.is_ipv4()), "{v4:?}");
}

#[test]
fn default_resolver_takes_literals_at_once() {
    let _l = fresh_loop();
    // No executor round trip: the future is done on return.
    let f = ThreadedResolver.resolve("::1", 8080, Family::Any);
    assert_eq!(
        f.take_result().unwrap(),
        vec!["[::1]:8080".parse().unwrap()]
    );
    let f = ThreadedResolver.resolve("[::1]", 8080, Family::Any);
    assert_eq!(
        f.take_result().unwrap(),
        vec!["[::1]:8080".parse().unwrap()]
    );
    let f = ThreadedResolver.resolve("10.1.2.3", 1, Family::Any);
    assert_eq!(
        f.take_result().unwrap(),
        vec!["10.1.2.3:1".parse().unwrap()]
    );
    // A literal of the wrong family is an error, not a silent empty list.
    let e = failure(
        ThreadedResolver
            .resolve("10.1.2.3", 1, Family::V6)
            .take_result(),
    );
    let io = e.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), ErrorKind::NotFound);
}

#[test]
fn override_resolver_by_name_and_by_addresses() {
    let _l = fresh_loop();
    let resolver = Rc::new(
        OverrideResolver::new(ThreadedResolver)
            .map("google.com", 80, "1.2.3.4", 80)
            .map_addrs(
                "multi.test",
                80,
                vec![
                    "1.2.3.4:80".parse().unwrap(),
                    "[2a02:6b8:7c:40c:c51e:495f:e23a:3]:80".parse().unwrap(),
                ],
            ),
    );
    let r = resolver.clone();
    let mapped = run(move || r.resolve("GOOGLE.com", 80, Family::Any)).unwrap();
    assert_eq!(mapped, vec!["1.2.3.4:80".parse().unwrap()]);
    let r = resolver.clone();
    let v4 = run(move || r.resolve("multi.test", 80, Family::V4)).unwrap();
    assert_eq!(v4, vec!["1.2.3.4:80".parse().unwrap()]);
    let r = resolver.clone();
    let v6 = run(move || r.resolve("multi.test", 80, Family::V6)).unwrap();
    assert_eq!(
        v6,
        vec![
            "[2a02:6b8:7c:40c:c51e:495f:e23a:3]:80"
                .parse::<SocketAddr>()
                .unwrap()
        ]
    );
    // Another port is not mapped: the inner resolver answers.
    let r = resolver.clone();
    let other = run(move || r.resolve("localhost", 81, Family::V4)).unwrap();
    assert!(other.iter().all(|a| a.ip().is_loopback() && a.port() == 81));
}

#[test]
fn listeners_from_bind_sockets_are_non_blocking() {
    let listener = loopback_listener();
    let e = listener.accept().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
}
