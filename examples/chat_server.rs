//! A chat server: every line a client sends goes to all the other clients.
//!
//! A slow client never stalls the others: writes to a client are queued in
//! its stream, up to `--max-queue` bytes (`StreamOptions::
//! max_write_buffer_size`); a client that lets its queue fill is dropped
//! instead of being waited for. Ctrl-C or SIGTERM says goodbye to everyone
//! and stops.
//!
//! Run: `cargo run --example chat_server -- --port 8889`, then connect
//! several terminals with `nc 127.0.0.1 8889` and type.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use clients::Clients;
use tornado::r#gen::coroutine;
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamBufferFullError, StreamOptions};
use tornado::tcp::signals::{SIGINT, SIGTERM, wait_for_signal};
use tornado::tcp::{TcpHandler, TcpServer};

#[path = "common/logging.rs"]
mod logging;

/// The longest line accepted; a longer one closes its sender.
const MAX_LINE: usize = 4096;

/// The table of connected clients.
mod clients {
    use tornado::iostream::IOStream;

    /// Clients by id; a slot is `None` once its client left.
    #[derive(Default)]
    pub struct Clients {
        /// Indexed by client id; ids are never reused.
        slots: Vec<Option<(IOStream, String)>>,
    }

    impl Clients {
        /// Adds a client; returns its id.
        pub fn add(&mut self, stream: IOStream, name: String) -> usize {
            self.slots.push(Some((stream, name)));
            self.slots.len() - 1
        }

        /// Removes a client.
        pub fn remove(&mut self, id: usize) {
            self.slots[id] = None;
        }

        /// Every client but `except`, with its id.
        pub fn others(&self, except: Option<usize>) -> Vec<(usize, IOStream, String)> {
            self.slots
                .iter()
                .enumerate()
                .filter(|(id, _)| Some(*id) != except)
                .filter_map(|(id, c)| c.as_ref().map(|(s, n)| (id, s.clone(), n.clone())))
                .collect()
        }

        /// How many are connected.
        pub fn len(&self) -> usize {
            self.slots.iter().filter(|c| c.is_some()).count()
        }
    }
}

struct Chat {
    /// Everyone connected; a client is in it from its first line of
    /// `handle_stream` until its reads end.
    clients: RefCell<Clients>,
}

impl Chat {
    /// Queues `message` to every client but `from`. Never waits: a client
    /// whose queue is full is dropped.
    fn broadcast(&self, from: Option<usize>, message: &[u8]) {
        // Collected first: closing a stream must not happen while the
        // client table is borrowed.
        let targets = self.clients.borrow().others(from);
        for (_, stream, name) in targets {
            let written = stream.write(message.to_vec());
            // A full queue fails the write at once, before any waiting.
            let full = written
                .exception()
                .is_some_and(|e| e.is::<StreamBufferFullError>());
            if full {
                eprintln!("dropping {name}: it is not reading (write queue full)");
                stream.close();
            }
        }
    }
}

impl TcpHandler for Chat {
    async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
        let name = address.to_string();
        let id = self.clients.borrow_mut().add(stream.clone(), name.clone());
        println!("{name} joined ({} connected)", self.clients.borrow().len());
        // Queued; nothing to wait for (a failure shows up as a closed stream).
        drop(stream.write(format!("welcome, {name}\n").into_bytes()));
        self.broadcast(Some(id), format!("* {name} joined\n").as_bytes());
        while let Ok(line) = stream.read_until(b"\n", Some(MAX_LINE)).await {
            let mut message = format!("{name}: ").into_bytes();
            message.extend_from_slice(&line);
            self.broadcast(Some(id), &message);
        }
        self.clients.borrow_mut().remove(id);
        println!("{name} left ({} connected)", self.clients.borrow().len());
        self.broadcast(None, format!("* {name} left\n").as_bytes());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let mut port: u16 = 8889;
    let mut address = String::from("127.0.0.1");
    let mut max_queue: usize = 256 * 1024;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} takes a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--address" => address = value()?,
            "--max-queue" => max_queue = value()?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: chat_server [--port P] [--address A] \
                     [--max-queue BYTES]"
                )
                .into());
            }
        }
    }
    let stop_signal = wait_for_signal(&[SIGINT, SIGTERM])?;
    let options = StreamOptions {
        max_write_buffer_size: Some(max_queue),
        ..StreamOptions::default()
    };
    let server = TcpServer::with_options(
        Chat {
            clients: RefCell::default(),
        },
        options,
    );
    for addr in server.listen_on(port, Some(&address))? {
        println!("chat server on {addr}; Ctrl-C stops it");
    }
    IOLoop::current().run_sync(
        move || {
            coroutine(async move {
                stop_signal.await?;
                server.stop();
                server
                    .handler()
                    .broadcast(None, b"* the server is shutting down\n");
                // The goodbye is queued; give it a moment to be sent.
                server.shutdown(Duration::from_millis(500)).await
            })
        },
        None,
    )?;
    println!("chat server stopped");
    Ok(())
}
