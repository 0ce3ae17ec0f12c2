//! Our side of the upload benchmark (`upload_bench.sh`): a web application
//! whose `PUT /` handler streams the request body (`STREAM_REQUEST_BODY`),
//! counting the bytes and keeping none, and answers the count. Its peer is
//! `hyper_upload`, which does the same with hyper.
//!
//! Run: `cargo run --release -p tornado-bench --bin upload_sink -- --port 8890`.

use tornado_ioloop::IOLoop;
use tornado_web::{Application, Context, HttpError, RequestHandler, route};

#[derive(Clone, Default)]
struct Sink {
    bytes: u64,
}

impl RequestHandler for Sink {
    const STREAM_REQUEST_BODY: bool = true;

    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        // Uploads of any size: the body is never held.
        cx.set_max_body_size(usize::MAX);
        Ok(())
    }

    async fn data_received(&mut self, _cx: &mut Context, chunk: Vec<u8>) -> Result<(), HttpError> {
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write(format!("{}\n", self.bytes));
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8890;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            other => {
                return Err(
                    format!("unknown argument {other}; usage: upload_sink [--port P]").into(),
                );
            }
        }
    }
    let app = Application::new(vec![route("/.*", Sink::default())]);
    let (_server, addrs) = app.listen_on(port, Some("127.0.0.1"))?;
    println!("upload_sink listening on http://{}/", addrs[0]);
    IOLoop::current().start()?;
    Ok(())
}
