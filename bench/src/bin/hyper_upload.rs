//! hyper 1.x on a tokio `current_thread` runtime reading a `PUT` body as a
//! stream of frames, counting the bytes and keeping none: the peer of
//! `upload_sink` in `upload_bench.sh`.
//!
//! Run: `cargo run --release -p tornado-bench --bin hyper_upload -- --port 8891`.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn upload(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut body = req.into_body();
    let mut bytes: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(data) = f.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    Ok(Response::new(Full::new(Bytes::from(format!("{bytes}\n")))))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8891;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            other => {
                return Err(
                    format!("unknown argument {other}; usage: hyper_upload [--port P]").into(),
                );
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        println!(
            "hyper_upload listening on http://{}/",
            listener.local_addr()?
        );
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(upload))
                    .await;
            });
        }
    })
}
