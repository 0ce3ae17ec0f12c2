//! Helpers for the networking tests (tcpserver, tcpclient, netutil):
//! loopback sockets in awkward states, and a few checks on the kernel's
//! view of them.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use tornado::concurrent::{Error, Future};
use tornado::ioloop::IOLoop;

/// Runs `f`'s future on the current loop, with a generous safety timeout.
pub fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, Error> {
    match IOLoop::current().run_sync(f, Some(Duration::from_secs(20))) {
        Ok(v) => Ok(v),
        Err(tornado::ioloop::Error::Future(e)) => Err(e),
        Err(other) => panic!("loop error: {other}"),
    }
}

/// A loopback port with nothing listening (connecting is refused): bound,
/// noted, closed.
pub fn refusing_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True if `::1` can be bound here.
pub fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A loopback listener with backlog 0 whose queue is already full: on
/// Linux the kernel then drops new SYNs, so a connect to it hangs (until a
/// timeout) without any remote host.
pub fn full_listener() -> (OwnedFd, u16, Vec<TcpStream>) {
    // SAFETY: plain socket calls with valid arguments; the fd is owned
    // right after it is created.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let owned = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut blen = len;
        libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_in).cast(), &mut blen);
        let port = u16::from_be(bound.sin_port);
        // Backlog 0 still admits one connection; a second attempt makes
        // sure the queue is full.
        let mut queued = Vec::new();
        for _ in 0..2 {
            let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            if let Ok(s) = TcpStream::connect_timeout(&target, Duration::from_millis(100)) {
                queued.push(s);
            }
        }
        (owned, port, queued)
    }
}

/// IPv4 sockets of this network namespace in state SYN_SENT towards
/// 127.0.0.1:`port` (from /proc/net/tcp): connect attempts in flight.
pub fn syn_sent_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2] == remote && f[3] == "02"
        })
        .count()
}

/// The error of a result that must have failed (for values without `Debug`).
pub fn failure<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Runs the current loop for `d` (serving whatever is registered on it).
pub fn idle(d: Duration) {
    run(move || {
        tornado::r#gen::coroutine(async move {
            tornado::r#gen::sleep(d).await;
            Ok(())
        })
    })
    .unwrap();
}

/// Server and client TLS configurations for a fresh self-signed
/// certificate naming "localhost".
pub fn tls_configs() -> (
    std::sync::Arc<tornado::iostream::tls::rustls::ServerConfig>,
    std::sync::Arc<tornado::iostream::tls::rustls::ClientConfig>,
) {
    use std::sync::Arc;
    use tornado::iostream::tls::rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
    };
    use tornado::iostream::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}
