//! hyper 1.x "Hello, world" on a tokio `current_thread` runtime: the peer of
//! the `hello` example in `http_bench.sh`. It sends the same headers as our
//! `hello` (Server, Content-Type, Date, Content-Length), so that both answer
//! with responses of about the same size.
//!
//! Run: `cargo run --release -p tornado-bench --bin hyper_hello -- --port 8889`.
//! With `--threads N` it runs on a multi-thread runtime of N workers (the
//! peer of `hello --threads N`/`--processes N` in `multicore_bench.sh`);
//! `--nodelay` sets `TCP_NODELAY` on each connection (`http_bench.sh`'s
//! pipelined runs).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tornado_bench::peer::{HELLO_BODY, HELLO_CONTENT_TYPE, PeerArgs};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(HELLO_BODY.as_bytes())));
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("hyper-hello"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(HELLO_CONTENT_TYPE));
    Ok(resp)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = PeerArgs::parse("hyper_hello", 8889, std::env::args().skip(1))?;
    args.runtime()?.block_on(async move {
        let listener = TcpListener::bind(tornado_bench::loopback(args.port)).await?;
        println!(
            "hyper_hello listening on http://{}/",
            listener.local_addr()?
        );
        loop {
            let (stream, _) = listener.accept().await?;
            if args.nodelay {
                // A connection gone before this is the client's business.
                let _ = stream.set_nodelay(true);
            }
            tokio::spawn(async move {
                // A client closing mid-request is not the server's problem.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}
