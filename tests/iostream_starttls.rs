//! STARTTLS (Tornado's `TestIOStreamStartTLS`): a plaintext dialogue, then
//! both sides switch to TLS on the same connection and talk on; a
//! certificate the client does not trust fails both handshakes; a stream
//! with data in flight refuses to switch.

mod common;
mod net;

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::iostream::tls::TlsConfig;
use tornado::iostream::tls::rustls::pki_types::ServerName;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

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

/// Sends `line` on `from` and checks that `to` reads exactly it.
async fn send_line(from: &IOStream, to: &IOStream, line: &[u8]) -> Result<(), Error> {
    from.write(line.to_vec());
    let got = to.read_until(b"\r\n", Some(1024)).await?;
    if got != line {
        return Err(Error::msg(format!("sent {line:?}, got {got:?}")));
    }
    Ok(())
}

/// Tornado's `test_start_tls_smtp` (after RFC 3207): the buffers are clean
/// after a realistic back-and-forth, the switch happens on both sides,
/// and the dialogue goes on encrypted.
#[test]
fn starttls_after_a_plaintext_dialogue() {
    let _l = fresh_loop();
    let (server_tls, client_tls) = configs();
    let (c, s) = tcp_pair();
    let lines = run(move || {
        coroutine(async move {
            let (client, server) = (IOStream::new(c)?, IOStream::new(s)?);
            send_line(&server, &client, b"220 mail.example.com ready\r\n").await?;
            send_line(&client, &server, b"EHLO mail.example.com\r\n").await?;
            send_line(&server, &client, b"250-mail.example.com welcome\r\n").await?;
            send_line(&server, &client, b"250 STARTTLS\r\n").await?;
            send_line(&client, &server, b"STARTTLS\r\n").await?;
            send_line(&server, &client, b"220 Go ahead\r\n").await?;
            let (client, server) =
                multi((client.start_tls(client_tls), server.start_tls(server_tls))).await?;
            send_line(&client, &server, b"EHLO mail.example.com\r\n").await?;
            send_line(&server, &client, b"250 mail.example.com welcome\r\n").await?;
            // A larger exchange over the new layer, both ways.
            let big = vec![b'x'; 300_000];
            client.write(big.clone());
            let got = server.read_bytes(big.len(), false).await?;
            server.write(got).await?;
            let back = client.read_bytes(big.len(), false).await?;
            Ok(back == big)
        })
    })
    .unwrap();
    assert!(lines, "the encrypted echo matches");
}

/// The plaintext side of the connection is really encrypted after the
/// switch: a raw peer sees a TLS record, not the line.
#[test]
fn after_starttls_the_bytes_on_the_wire_are_tls() {
    let _l = fresh_loop();
    let (_, client_tls) = configs();
    let (c, mut raw) = tcp_pair();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut first = [0u8; 1];
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        raw.read_exact(&mut first).unwrap();
        first[0]
    });
    run(move || {
        coroutine(async move {
            let client = IOStream::new(c)?;
            // Nobody answers: the ClientHello goes out, then the raw peer
            // leaves and the handshake fails; only the first byte matters.
            let _ = client.start_tls(client_tls).await;
            Ok(())
        })
    })
    .unwrap();
    // 0x16: a TLS handshake record (the ClientHello).
    assert_eq!(reader.join().unwrap(), 0x16);
}

/// Tornado's `test_handshake_fail` and `test_check_hostname`: the client
/// does not trust the server's certificate (here: a root it never saw),
/// so both handshakes fail.
#[test]
fn starttls_with_an_untrusted_certificate_fails_both_sides() {
    let _l = fresh_loop();
    let (server_tls, _) = configs();
    // A client trusting another fresh certificate only.
    let (_, other_client) = net::tls_configs();
    let client_tls = TlsConfig::Client {
        config: other_client,
        server_name: ServerName::try_from("localhost").unwrap(),
    };
    let (c, s) = tcp_pair();
    let (client_err, server_err) = run(move || {
        let client = coroutine(async move {
            let c = IOStream::new(c)?;
            Ok(c.start_tls(client_tls).await.err().map(|e| e.to_string()))
        });
        let server = coroutine(async move {
            let s = IOStream::new(s)?;
            Ok(s.start_tls(server_tls).await.err().map(|e| e.to_string()))
        });
        multi((client, server))
    })
    .unwrap();
    let client_err = client_err.expect("the client refuses the certificate");
    assert!(
        client_err.to_lowercase().contains("certificate")
            || client_err.to_lowercase().contains("issuer"),
        "{client_err}"
    );
    assert!(server_err.is_some(), "the server's handshake fails too");
}

/// Tornado refuses `start_tls` on a stream that is not idle; so does this
/// one (data buffered for reading would otherwise be lost or mistaken for
/// TLS records).
#[test]
fn starttls_refuses_a_stream_with_buffered_data() {
    let _l = fresh_loop();
    let (_, client_tls) = configs();
    let (c, s) = tcp_pair();
    let refused = run(move || {
        coroutine(async move {
            let (client, server) = (IOStream::new(c)?, IOStream::new(s)?);
            server.write(b"line one\r\nline two\r\n".to_vec()).await?;
            let first = client.read_until(b"\r\n", None).await?;
            assert_eq!(first, b"line one\r\n");
            // "line two" is (or soon will be) in the read buffer.
            while client.read_buffer_size() == 0 {
                tornado::r#gen::sleep(Duration::from_millis(1)).await;
            }
            let e = client.start_tls(client_tls).await.err();
            assert!(!client.closed(), "refusing does not close");
            Ok(e.map(|e| e.to_string()))
        })
    })
    .unwrap();
    assert!(refused.is_some_and(|e| e.contains("nothing buffered")));
}

/// Tornado's `TestIOStreamSSL` runs the read/write tests over TLS: the
/// read kinds, a zero-byte write, `read_into` partial, `max_bytes`, and
/// data before the close, over a TLS pair.
#[test]
fn reads_of_every_kind_over_tls() {
    let _l = fresh_loop();
    let (server_tls, client_tls) = configs();
    let (c, s) = tcp_pair();
    let re = tornado::iostream::Regex::new(r"\d+;").unwrap();
    let got = run(move || {
        coroutine(async move {
            let (ws, rs) = multi((
                IOStream::new(c)?.start_tls(client_tls),
                IOStream::new(s)?.start_tls(server_tls),
            ))
            .await?;
            ws.write(Vec::new()).await?;
            ws.write(b"abc\r\n12;hello world, and the rest".to_vec())
                .await?;
            let line = rs.read_until(b"\r\n", Some(64)).await?;
            let number = rs.read_until_regex(&re, Some(8)).await?;
            let zero = rs.read_bytes(0, false).await?;
            let into = rs.read_into(vec![0; 100], true).await?;
            ws.write(b"12345".to_vec()).await?;
            let exact = rs.read_into(vec![0; 4], false).await?;
            ws.close();
            let rest = rs.read_until_close().await?;
            Ok((line, number, zero, into, exact, rest))
        })
    })
    .unwrap();
    assert_eq!(got.0, b"abc\r\n");
    assert_eq!(got.1, b"12;");
    assert!(got.2.is_empty());
    assert_eq!(got.3, b"hello world, and the rest");
    assert_eq!(got.4, b"1234");
    assert_eq!(got.5, b"5");
}
