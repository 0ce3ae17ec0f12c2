//! An echo server: one coroutine per connection, echoing every byte until
//! the peer closes. A half-closed peer still gets its bytes back; resets and
//! garbage close that connection only. The listen backlog is the OS maximum,
//! so a burst of connections is not dropped.
//!
//! Run: `cargo run --release --example echo_server -- --port 8888`, then
//! talk to it with `nc 127.0.0.1 8888`.

use std::net::SocketAddr;

use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::{TcpHandler, TcpServer};

struct Echo;

impl TcpHandler for Echo {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        // `read_bytes(n, partial = true)` resolves with whatever arrived.
        while let Ok(data) = stream.read_bytes(64 * 1024, true).await {
            if stream.write(data).await.is_err() {
                break;
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8888;
    let mut address = String::from("127.0.0.1");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--address" => address = args.next().ok_or("--address takes an address")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: echo_server [--port P] [--address A]"
                )
                .into());
            }
        }
    }
    let ioloop = IOLoop::current();
    let server = TcpServer::new(Echo);
    for addr in server.listen_on(port, Some(&address))? {
        println!(
            "echo server listening on {addr} ({} backend)",
            ioloop.backend_name()
        );
    }
    ioloop.start()?;
    Ok(())
}
