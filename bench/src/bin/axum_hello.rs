//! axum 0.8 "Hello, world" on a tokio `current_thread` runtime: the peer of
//! the `hello` example in `http_bench.sh` beside `hyper_hello`, since axum
//! is what a Rust user picks instead of a framework like ours. Like
//! `hyper_hello` it answers `GET /` with the headers our `hello` sends
//! (Server, Content-Type, Date, Content-Length); axum adds the Date and
//! Content-Length through hyper, the handler sets the other two.
//!
//! One route through axum's `Router`, so the request pays for the router
//! and its tower service stack as an axum application would.
//!
//! Run: `cargo run --release -p tornado-bench --bin axum_hello -- --port 8892`.
//! With `--threads N` it runs on a multi-thread runtime of N workers (the
//! peer of `hello --threads N`); `--nodelay` sets `TCP_NODELAY` on each
//! connection (`http_bench.sh`'s pipelined runs). It does not pin itself:
//! the scripts run it under `taskset`, as the other servers.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_TYPE, SERVER};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use tornado_bench::peer::{HELLO_BODY, HELLO_CONTENT_TYPE, PeerArgs};

async fn hello() -> impl IntoResponse {
    (
        [
            (SERVER, HeaderValue::from_static("axum-hello")),
            (CONTENT_TYPE, HeaderValue::from_static(HELLO_CONTENT_TYPE)),
        ],
        HELLO_BODY,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = PeerArgs::parse("axum_hello", 8892, std::env::args().skip(1))?;
    args.runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(tornado_bench::loopback(args.port)).await?;
        println!("axum_hello listening on http://{}/", listener.local_addr()?);
        let app = Router::new().route("/", get(hello));
        if args.nodelay {
            let listener = listener.tap_io(|tcp| {
                // A connection gone before this is the client's business.
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await?;
        } else {
            axum::serve(listener, app).await?;
        }
        Ok(())
    })
}
