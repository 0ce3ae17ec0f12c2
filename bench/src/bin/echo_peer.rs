//! The peers of the `echo_server` example in the echo benchmark: a raw mio
//! echo server and a tokio `current_thread` echo server, in one binary.
//!
//!     echo_peer --kind mio|tokio --port P
//!
//! Both listen on 127.0.0.1 with the largest backlog the kernel allows, as
//! the example does, and raise their fd soft limit to the hard limit. Neither
//! sets TCP_NODELAY, like the example. They run until killed (`echo_bench`
//! kills them when a measurement ends).

use std::io::{self, Read, Write};
use std::net::TcpListener;

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The read buffer of both servers (shared by all connections in mio's, one
/// per connection in tokio's), the size the example's `read_bytes` asks for.
const BUF: usize = 64 * 1024;

fn main() {
    let mut kind = None;
    let mut port: Option<u16> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kind" => kind = args.next(),
            "--port" => port = args.next().and_then(|p| p.parse().ok()),
            _ => usage(),
        }
    }
    let (Some(kind), Some(port)) = (kind, port) else {
        usage()
    };
    if let Err(e) = tornado_bench::raise_nofile() {
        eprintln!("echo_peer: cannot raise RLIMIT_NOFILE: {e}");
    }
    let listener = tornado_bench::listen_loopback(port).unwrap_or_else(|e| {
        eprintln!("echo_peer: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!(
        "echo_peer {kind} listening on {}",
        listener.local_addr().expect("bound")
    );
    let result = match kind.as_str() {
        "mio" => run_mio(listener),
        "tokio" => run_tokio(listener),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("echo_peer {kind}: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: echo_peer --kind mio|tokio --port P");
    std::process::exit(2)
}

// ----- raw mio --------------------------------------------------------------

const LISTENER: Token = Token(usize::MAX);

/// One connection of the mio server.
struct Conn {
    stream: MioStream,
    /// Bytes read but not yet taken by the kernel (after a partial write).
    pending: Vec<u8>,
    /// How much of `pending` was written.
    written: usize,
    /// False after a read said WouldBlock, or returned less than the
    /// buffer (the socket is then empty: tokio's rule too, and ours); the
    /// next readable event sets it again.
    readable: bool,
    /// The peer shut its side: no further event will come, so only
    /// WouldBlock or EOF stop the reads.
    read_closed: bool,
}

impl Conn {
    /// Flushes what is pending, then reads and echoes until the socket is
    /// empty; stops reading while a write is pending (the writable event
    /// resumes it). Returns false when the connection is done.
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        if !self.flush() {
            return false;
        }
        while self.readable && self.pending.is_empty() {
            match self.stream.read(buf) {
                Ok(0) => return false, // EOF, and everything echoed.
                Ok(n) => {
                    if n < buf.len() && !self.read_closed {
                        self.readable = false;
                    }
                    if !self.echo(&buf[..n]) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes `data`; what the kernel does not take is kept in `pending`.
    fn echo(&mut self, data: &[u8]) -> bool {
        let mut off = 0;
        while off < data.len() {
            match self.stream.write(&data[off..]) {
                Ok(0) => return false,
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pending.extend_from_slice(&data[off..]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes what is pending; false on error.
    fn flush(&mut self) -> bool {
        while self.written < self.pending.len() {
            match self.stream.write(&self.pending[self.written..]) {
                Ok(0) => return false,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.pending.capacity() > BUF {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        self.written = 0;
        true
    }
}

/// Edge-triggered (mio registers every fd so), each connection registered
/// once for READABLE | WRITABLE, as our IOStream registers; one shared
/// 64 KiB read buffer; no allocation per message; one recv per message (a
/// short read ends the reading until the next event).
fn run_mio(listener: TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = MioListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; BUF];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                conn.readable = true;
            }
            if event.is_read_closed() || event.is_error() {
                conn.read_closed = true;
            }
            if !conn.pump(&mut buf) {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn accept_all(listener: &MioListener, poll: &Poll, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let entry = conns.vacant_entry();
                let token = Token(entry.key());
                if poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .is_ok()
                {
                    entry.insert(Conn {
                        stream,
                        pending: Vec::new(),
                        written: 0,
                        readable: true,
                        read_closed: false,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => {
                // Out of fds, most likely: the listener stays readable and
                // the edge is gone, so say so and let the next connection's
                // edge retry (the benchmark stays below the limit).
                eprintln!("echo_peer mio: accept: {e}");
                return;
            }
        }
    }
}

// ----- tokio ----------------------------------------------------------------

/// The usual tokio echo server: current_thread runtime, one `spawn_local`
/// task per connection, `read` into a 64 KiB buffer and `write_all`.
fn run_tokio(listener: TcpListener) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("echo_peer tokio: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            tokio::task::spawn_local(async move {
                let mut stream = stream;
                let mut buf = vec![0u8; BUF];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    })
}
