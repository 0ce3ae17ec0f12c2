//! Opening TCP connections: non-blocking connect, names resolved on the
//! executor so the loop never blocks in `getaddrinfo`.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use tornado_concurrent::{Error, Future};
use tornado_gen::{TimeoutError, coroutine, try_run_in_executor};
use tornado_ioloop::IOLoop;

use crate::stream::{IOStream, StreamOptions};

/// Resolves `"host:port"` to addresses: at once if it is a literal address,
/// otherwise with `getaddrinfo` on the executor's threads.
pub fn resolve(host_port: &str) -> Future<Vec<SocketAddr>> {
    if let Ok(addr) = host_port.parse::<SocketAddr>() {
        return Future::resolved(vec![addr]);
    }
    let name = host_port.to_owned();
    try_run_in_executor(move || name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()))
}

impl IOStream {
    /// Connects to `"host:port"`, trying each resolved address in turn.
    ///
    /// ```no_run
    /// # use tornado_iostream::IOStream;
    /// # async fn f() -> Result<(), tornado_concurrent::Error> {
    /// let stream = IOStream::connect("127.0.0.1:8888").await?;
    /// stream.write(b"GET / HTTP/1.0\r\n\r\n").await?;
    /// let head = stream.read_until(b"\r\n\r\n", Some(64 * 1024)).await?;
    /// let body = stream.read_until_close().await?;
    /// # Ok(()) }
    /// ```
    pub fn connect(host_port: &str) -> Future<IOStream> {
        Self::connect_timeout(host_port, None)
    }

    /// As `connect`, failing with `TimeoutError` if no connection is made
    /// within `timeout` (resolution included).
    pub fn connect_timeout(host_port: &str, timeout: Option<Duration>) -> Future<IOStream> {
        let resolving = resolve(host_port);
        let ioloop = IOLoop::current();
        let deadline = timeout.map(|t| ioloop.time() + t);
        let name = host_port.to_owned();
        let connecting = coroutine(async move {
            let addrs = resolving.await?;
            let mut last: Option<Error> = None;
            for addr in addrs {
                let left = deadline.map(|d| d.saturating_duration_since(IOLoop::current().time()));
                match IOStream::connect_addr(addr, left).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) if e.is::<TimeoutError>() => return Err(e),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no address for {name}")).into()
            }))
        });
        match timeout {
            // The resolution step may block on the executor: bound it too.
            Some(t) => tornado_gen::with_timeout(t, connecting),
            None => connecting,
        }
    }

    /// Connects to one address without blocking the loop.
    pub fn connect_addr(addr: SocketAddr, timeout: Option<Duration>) -> Future<IOStream> {
        let socket = match mio::net::TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return Future::failed(e),
        };
        // SAFETY: the fd comes straight from mio's socket, which gives up
        // ownership in `into_raw_fd`.
        let socket = unsafe { TcpStream::from_raw_fd(socket.into_raw_fd()) };
        let connected = Future::new();
        let stream = match IOStream::from_boxed(
            Box::new(socket),
            StreamOptions::default(),
            Some(connected.clone()),
        ) {
            Ok(s) => s,
            Err(e) => return Future::failed(e),
        };
        if let Some(t) = timeout {
            let (c, s) = (connected.clone(), stream.clone());
            let timer = stream.ioloop().call_later(t, move || {
                if !c.done() {
                    let _ = c.set_exception(TimeoutError(t));
                    s.close();
                }
            });
            let ioloop = stream.ioloop().clone();
            connected.add_done_callback(move |_| ioloop.remove_timeout(timer));
        }
        coroutine(async move {
            connected.await?;
            Ok(stream)
        })
    }
}
