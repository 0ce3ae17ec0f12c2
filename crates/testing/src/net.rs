//! `bind_unused_port`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};

/// Binds a non-blocking listening socket to a free port on 127.0.0.1 and
/// returns it with the port (Tornado's `bind_unused_port`).
///
/// ```
/// let (listener, port) = tornado_testing::bind_unused_port().unwrap();
/// assert_ne!(port, 0);
/// assert_eq!(listener.local_addr().unwrap().port(), port);
/// ```
pub fn bind_unused_port() -> io::Result<(TcpListener, u16)> {
    bind_unused_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// As [`bind_unused_port`], on `address` (`::1` for IPv6 loopback).
pub fn bind_unused_port_on(address: IpAddr) -> io::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind((address, 0))?;
    // The loop's handlers expect non-blocking fds.
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}
