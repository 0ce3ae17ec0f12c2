//! TLS streams: a round trip over loopback with a certificate generated in
//! the test, a large transfer, and a handshake that must fail.

mod common;
mod net;

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::r#gen::{coroutine, multi};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::iostream::tls::TlsConfig;
use tornado::iostream::tls::rustls::pki_types::ServerName;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

/// A server and a client configuration for "localhost", from a fresh
/// self-signed certificate.
fn configs() -> (TlsConfig, TlsConfig) {
    let (server, client) = net::tls_configs();
    (
        TlsConfig::Server(server),
        TlsConfig::Client {
            config: client,
            server_name: ServerName::try_from("localhost").unwrap(),
        },
    )
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn tls_round_trip_and_large_transfer() {
    let _l = fresh_loop();
    let (server_tls, client_tls) = configs();
    let (c, s) = tcp_pair();
    const BIG: usize = 4 * 1024 * 1024;
    let (client_got, server_got) = run(move || {
        let server = coroutine(async move {
            let stream = IOStream::new(s)?.start_tls(server_tls).await?;
            let line = stream.read_until(b"\n", Some(1024)).await?;
            stream.write(b"pong\n".to_vec()).await?;
            let big = stream.read_bytes(BIG, false).await?;
            stream.write(big.clone()).await?;
            Ok((line, big))
        });
        let client = coroutine(async move {
            let stream = IOStream::new(c)?.start_tls(client_tls).await?;
            stream.write(b"ping\n".to_vec()).await?;
            let reply = stream.read_until(b"\n", Some(1024)).await?;
            let data: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
            stream.write(data).await?;
            let echoed = stream.read_bytes(BIG, false).await?;
            stream.close();
            Ok((reply, echoed))
        });
        multi((client, server))
    })
    .unwrap();
    assert_eq!(client_got.0, b"pong\n");
    assert_eq!(server_got.0, b"ping\n");
    let expect: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    assert!(server_got.1 == expect, "server received the data intact");
    assert!(client_got.1 == expect, "client received the echo intact");
}

#[test]
fn tls_handshake_with_the_wrong_name_fails_both_sides() {
    let _l = fresh_loop();
    let (server_tls, client_tls) = configs();
    let TlsConfig::Client { config, .. } = client_tls else {
        unreachable!()
    };
    let wrong = TlsConfig::Client {
        config,
        server_name: ServerName::try_from("not-localhost.example").unwrap(),
    };
    let (c, s) = tcp_pair();
    let (client_err, server_err) = run(move || {
        let server = coroutine(async move {
            Ok(IOStream::new(s)?
                .start_tls(server_tls)
                .await
                .err()
                .map(|e| e.to_string()))
        });
        let client = coroutine(async move {
            Ok(IOStream::new(c)?
                .start_tls(wrong)
                .await
                .err()
                .map(|e| e.to_string()))
        });
        multi((client, server))
    })
    .unwrap();
    let client_err = client_err.expect("the client refuses the certificate");
    assert!(
        client_err.to_lowercase().contains("certificate"),
        "{client_err}"
    );
    assert!(server_err.is_some(), "the server's handshake fails too");
}

#[test]
fn tls_with_a_plaintext_peer_fails_cleanly() {
    let _l = fresh_loop();
    let (server_tls, _) = configs();
    let (mut c, s) = tcp_pair();
    std::io::Write::write_all(&mut c, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let err = run(move || {
        coroutine(async move {
            Ok(IOStream::new(s)?
                .start_tls(server_tls)
                .await
                .err()
                .map(|e| e.to_string()))
        })
    })
    .unwrap();
    assert!(
        err.is_some(),
        "not TLS: the handshake fails, nothing panics"
    );
}
