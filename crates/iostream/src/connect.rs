//! Finishing non-blocking TCP connects on the loop. Names are not resolved
//! here: `tornado_tcp::TcpClient` does that (on the executor, with happy
//! eyeballs and a pluggable resolver) and hands its sockets to
//! [`IOStream::connect_socket`].

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_gen::TimeoutError;

use crate::stream::{IOStream, StreamOptions};

impl IOStream {
    /// Connects to `"ip:port"`, an address literal (connect to a name with
    /// `tornado_tcp::TcpClient`).
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
    pub fn connect(address: &str) -> Future<IOStream> {
        Self::connect_timeout(address, None)
    }

    /// As `connect`, failing with `TimeoutError` if no connection is made
    /// within `timeout`.
    pub fn connect_timeout(address: &str, timeout: Option<Duration>) -> Future<IOStream> {
        match address.parse::<SocketAddr>() {
            Ok(addr) => Self::connect_addr(addr, timeout),
            Err(_) => Future::failed(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{address:?} is not an address literal: connect by name with tornado_tcp::TcpClient"
                ),
            )),
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
        Self::connect_socket(socket, StreamOptions::default(), timeout)
    }

    /// Finishes a connect the caller started: `socket` is non-blocking and
    /// its `connect` returned `EINPROGRESS` (or succeeded). This is how a
    /// socket set up by hand (bound to a source address, say, with
    /// `socket2`) becomes a stream.
    ///
    /// The future resolves with the stream once connected, or fails with
    /// `StreamClosedError` (whose `real_error` is the cause, such as
    /// `ConnectionRefused`) or, after `timeout`, `TimeoutError`.
    /// Cancelling the future abandons the attempt and closes the socket at
    /// once, so a caller racing several attempts can drop the losers.
    ///
    /// ```
    /// use std::net::{SocketAddr, TcpListener, TcpStream};
    /// use tornado_gen::coroutine;
    /// use tornado_ioloop::IOLoop;
    /// use tornado_iostream::{IOStream, StreamOptions};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let ioloop = IOLoop::new().unwrap();
    /// let peer = ioloop.run_sync(move || coroutine(async move {
    ///     // Any non-blocking socket with a connect in progress will do.
    ///     let socket = mio::net::TcpStream::connect(addr)?;
    ///     let socket: TcpStream = std::os::fd::OwnedFd::from(socket).into();
    ///     let stream = IOStream::connect_socket(socket, StreamOptions::default(), None).await?;
    ///     Ok(stream.fileno() >= 0)
    /// }), None).unwrap();
    /// assert!(peer);
    /// ```
    pub fn connect_socket(
        socket: TcpStream,
        options: StreamOptions,
        timeout: Option<Duration>,
    ) -> Future<IOStream> {
        let connected = Future::new();
        let stream = match IOStream::from_boxed(Box::new(socket), options, Some(connected.clone()))
        {
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
        let result: Future<IOStream> = Future::new();
        // A cancelled attempt closes its socket now rather than when the
        // kernel gives up on it; the stream's close then fails `connected`.
        let closer = stream.clone();
        result.add_done_callback(move |r| {
            if r.cancelled() {
                closer.close();
            }
        });
        let r = result.clone();
        connected.add_done_callback(move |c| {
            let outcome = c.take_result().map(|()| stream);
            if !r.done() {
                let _ = match outcome {
                    Ok(s) => r.set_result(s),
                    Err(e) => r.set_exception(e),
                };
            }
        });
        result
    }
}
