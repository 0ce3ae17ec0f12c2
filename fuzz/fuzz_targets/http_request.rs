//! The server's request path, as it runs: bytes written by a client on a
//! socket pair, read by `HttpServer`'s own connection handler (head
//! reading, parsing, Host checks, framing, chunked and fixed bodies, gzip
//! request bodies, `Expect: 100-continue`, pipelining, form and multipart
//! parsing of the whole-body delegate). Whatever the bytes, the server
//! must answer only with well-formed responses (200 from the handler, or a
//! 400/413/431 refusal) and then close, never panic or hang.
#![no_main]

use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tornado_fuzz::{run, split_responses};
use tornado_gen::spawn;
use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
use tornado_http::httputil::{HttpHeaders, HttpServerRequest};
use tornado_http::response::ResponseWriter;
use tornado_iostream::{IOStream, StreamOptions};
use tornado_tcp::TcpHandler;

/// Answers every request with what it understood of it.
struct Echo;

impl HttpHandler for Echo {
    async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
        let body = format!(
            "{} {} args={} files={} body={}",
            req.method,
            req.path,
            req.body_arguments.len(),
            req.files.len(),
            req.body.len()
        );
        let mut h = HttpHeaders::new();
        h.add("Content-Length", body.len().to_string());
        resp.write_headers(200, None, &h, body.as_bytes());
        let _ = resp.finish().await;
    }
}

/// Server options from the input's first byte, so that the small limits
/// (413, 431, tiny chunks) and the optional paths are reached too.
fn options(flags: u8) -> HttpServerOptions {
    let mut o = HttpServerOptions::default();
    o.decompress_request = flags & 1 != 0;
    o.xheaders = flags & 2 != 0;
    if flags & 4 != 0 {
        o.max_body_size = 64;
    }
    if flags & 8 != 0 {
        o.chunk_size = 7;
    }
    if flags & 16 != 0 {
        o.max_header_size = 128;
    }
    o.no_keep_alive = flags & 32 != 0;
    o
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let head_requests = memchr::memmem::find(input, b"HEAD").is_some();
    let input = input.to_vec();
    let options = options(flags);
    let stream_options = StreamOptions {
        max_buffer_size: options.max_buffer_size,
        read_chunk_size: options.chunk_size,
        ..StreamOptions::default()
    };
    let wire = run(async move {
        let server = Rc::new(HttpServer::new(Echo, options));
        let (a, b) = UnixStream::pair()?;
        let (server_side, client) = (
            IOStream::with_options(a, stream_options)?,
            IOStream::new(b)?,
        );
        let s = server.clone();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        spawn(async move {
            s.tcp().handler().handle_stream(server_side, addr).await;
            Ok(())
        });
        // Not awaited: a server that refuses early stops reading, and the
        // rest of the write then fails, which is fine.
        drop(client.write(input));
        drop(client.shutdown_write());
        client.read_until_close().await
    })
    .expect("the client side reads until the server closes");
    for r in split_responses(&wire, head_requests) {
        assert!(
            matches!(r.code, 100 | 200 | 400 | 413 | 431),
            "unexpected status {}: {:?}",
            r.code,
            String::from_utf8_lossy(&r.body)
        );
    }
});
