//! TLS streams on rustls: Tornado's `SSLIOStream` and `start_tls`.
//!
//! [`TlsTransport`] is a [`Transport`] that runs rustls over another
//! transport. The stream drives the handshake from its event handler, so a
//! TLS stream behaves like any other once [`IOStream::start_tls`] resolves.

use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::Arc;

pub use rustls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use tornado_concurrent::Future;
use tornado_gen::coroutine;

use crate::stream::{IOStream, StreamOptions};
use crate::transport::Transport;

/// Which side of the handshake a stream takes, with its configuration.
#[derive(Clone)]
pub enum TlsConfig {
    /// Accept TLS as a server.
    Server(Arc<ServerConfig>),
    /// Connect as a client to `server_name` (checked against the
    /// certificate).
    Client {
        /// The client configuration (roots, ALPN…).
        config: Arc<ClientConfig>,
        /// The name the server's certificate must carry.
        server_name: ServerName<'static>,
    },
}

/// rustls over another transport.
pub struct TlsTransport {
    /// The transport carrying the TLS records.
    inner: Box<dyn Transport>,
    /// The TLS state machine.
    conn: Connection,
}

/// `Read`/`Write` over a transport, for rustls's `read_tls`/`write_tls`.
struct Io<'a>(&'a mut dyn Transport);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: viewing initialised bytes as possibly-uninitialised is
        // sound; the transport only ever writes bytes into them.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        self.0.read_uninit(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsTransport {
    /// Wraps `inner` in a TLS session of the given side.
    pub fn new(inner: Box<dyn Transport>, tls: &TlsConfig) -> io::Result<TlsTransport> {
        let conn: Connection = match tls {
            TlsConfig::Server(config) => ServerConnection::new(config.clone())
                .map_err(invalid)?
                .into(),
            TlsConfig::Client {
                config,
                server_name,
            } => ClientConnection::new(config.clone(), server_name.clone())
                .map_err(invalid)?
                .into(),
        };
        Ok(TlsTransport { inner, conn })
    }

    /// Reads TLS records from the socket and decrypts them. `Ok(false)` at
    /// the transport's end of file.
    fn read_records(&mut self) -> io::Result<bool> {
        let n = self.conn.read_tls(&mut Io(&mut *self.inner))?;
        self.conn.process_new_packets().map_err(invalid)?;
        Ok(n > 0)
    }

    /// Sends what rustls has queued (handshake messages, alerts, records).
    fn write_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut Io(&mut *self.inner))?;
        }
        Ok(())
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }
}

/// Ignores `WouldBlock`: the data stays queued for the next flush.
fn tolerate_block(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        other => other,
    }
}

// SAFETY: `read_uninit` initialises `buf` in full before reading into it,
// and returns what rustls's reader returned, which fits the slice.
unsafe impl Transport for TlsTransport {
    fn fd(&self) -> RawFd {
        self.inner.fd()
    }

    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        for b in buf.iter_mut() {
            b.write(0);
        }
        // SAFETY: every byte was initialised just above.
        let buf = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // A peer that closes without close_notify: an end of file too.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.read_records()? {
                // The transport is at its end: let the reader say how.
                match self.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
            tolerate_block(self.write_records())?;
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        tolerate_block(self.write_records())?;
        let n = self.conn.writer().write_vectored(bufs)?;
        tolerate_block(self.write_records())?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            // rustls's plaintext buffer is full until records go out.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_records()
    }

    fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.write_records()?;
            } else if self.conn.wants_read() {
                if !self.read_records()? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed during the TLS handshake",
                    ));
                }
            } else {
                break;
            }
        }
        // The last flight (e.g. the client's Finished) may still be queued.
        tolerate_block(self.write_records())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        tolerate_block(self.write_records())?;
        self.inner.shutdown_write()
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    fn can_read(&self) -> bool {
        self.inner.can_read()
    }

    fn can_write(&self) -> bool {
        self.inner.can_write()
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl IOStream {
    /// Turns this connected stream into a TLS stream (Tornado's
    /// `start_tls`): resolves with the new stream once the handshake is
    /// done. This handle is detached and must not be used afterwards; the
    /// stream must have no read pending and nothing buffered.
    ///
    /// A failed handshake (bad certificate, wrong name, a peer that is not
    /// TLS) fails the future and closes the connection.
    pub fn start_tls(&self, tls: TlsConfig) -> Future<IOStream> {
        let (transport, options) = match self.detach() {
            Ok(t) => t,
            Err(e) => return Future::failed(e),
        };
        let tls_transport = match TlsTransport::new(transport, &tls) {
            Ok(t) => t,
            Err(e) => return Future::failed(e),
        };
        let handshake = Future::new();
        let stream = match IOStream::from_tls(Box::new(tls_transport), options, handshake.clone()) {
            Ok(s) => s,
            Err(e) => return Future::failed(e),
        };
        coroutine(async move {
            handshake.await?;
            Ok(stream)
        })
    }

    fn from_tls(
        transport: Box<dyn Transport>,
        options: StreamOptions,
        handshake: Future<()>,
    ) -> io::Result<IOStream> {
        // The stream keeps the limits it had before TLS.
        let stream = IOStream::from_boxed(transport, options, None)?;
        {
            let inner = &*stream.inner;
            let mut s = inner.state.borrow_mut();
            s.rare_mut().handshake = Some(handshake);
            // The client speaks first: start at once rather than on an event.
            inner.do_handshake(&mut s);
            inner.sync_interest(&mut s);
        }
        Ok(stream)
    }
}
