//! What a stream reads from and writes to: TCP and Unix sockets, pipes, and
//! (in `tls.rs`) TLS over any of them.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use tornado_ioloop::syscall;

/// A non-blocking byte transport under an [`IOStream`](crate::IOStream).
///
/// Reads and writes return `WouldBlock` when the fd is not ready; the stream
/// then waits for the loop to report readiness. A transport that buffers
/// output of its own (TLS) says so with `pending_output` and empties it in
/// `flush`.
///
/// # Safety
/// `read_uninit` must return a count no larger than `buf.len()` and must
/// have initialised that many bytes at the start of `buf`: the stream
/// exposes them as `u8`s. (Reading into uninitialised memory spares zeroing
/// every buffer before the kernel overwrites it.)
pub unsafe trait Transport: 'static {
    /// The fd whose readiness the loop watches.
    fn fd(&self) -> RawFd;

    /// Reads into possibly uninitialised memory; `Ok(0)` is end of file.
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize>;

    /// Writes some of `bufs`, in order.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// False for a transport that can only be written (a pipe's write
    /// end): the stream then never reads it, not even to notice a close.
    fn can_read(&self) -> bool {
        true
    }

    /// False for a transport that can only be read (a pipe's read end):
    /// writes to the stream fail without touching the transport.
    fn can_write(&self) -> bool {
        true
    }

    /// True if a read that returned less than it was given has emptied
    /// what the kernel held (a socket, a pipe): the stream then waits for
    /// the next readiness event rather than read again only to be told
    /// `WouldBlock`, a syscall per message saved. False (the default)
    /// where the transport keeps data of its own (TLS).
    fn short_read_drains(&self) -> bool {
        false
    }

    /// True if the transport holds output not yet handed to the kernel.
    fn pending_output(&self) -> bool {
        false
    }

    /// Hands buffered output to the kernel (`WouldBlock` if it cannot all go).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// True while a handshake (TLS) must finish before data flows.
    fn handshaking(&self) -> bool {
        false
    }

    /// Advances the handshake; `WouldBlock` until it can go on.
    fn handshake(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Closes the writing half (sends FIN on a socket).
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Sets `TCP_NODELAY` where it means something.
    fn set_nodelay(&self, _nodelay: bool) -> io::Result<()> {
        Ok(())
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }
}

/// `send` flags: never raise SIGPIPE on a peer that went away; the write
/// fails with `EPIPE` instead.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = 0;

/// Most slices one `sendmsg` takes (IOV_MAX is at least 1024 where we run).
const MAX_IOV: usize = 64;

pub(crate) fn read_fd(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which is
    // valid for writes of that length; uninitialised memory is fine for read(2).
    syscall!(read(fd, buf.as_mut_ptr().cast(), buf.len())).map(|n| n as usize)
}

pub(crate) fn write_fd(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let n = bufs.len().min(MAX_IOV);
    // SAFETY: IoSlice is ABI-compatible with iovec; the slices outlive the
    // call and `n` does not exceed their count.
    syscall!(writev(fd, bufs.as_ptr().cast(), n as libc::c_int)).map(|n| n as usize)
}

fn recv_socket(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: as in `read_fd`: `buf` is valid for `len` bytes of writes.
    syscall!(recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0)).map(|n| n as usize)
}

fn send_socket(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    if let [one] = bufs {
        // One buffer (the usual direct write): `send` spares the kernel
        // copying in a msghdr and an iovec array, a few percent of a small
        // message's cost.
        // SAFETY: `one` is a valid buffer of `one.len()` bytes for the call.
        return syscall!(send(fd, one.as_ptr().cast(), one.len(), SEND_FLAGS)).map(|n| n as usize);
    }
    // SAFETY: a zeroed msghdr is valid; we fill in only the iovec fields.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(MAX_IOV) as _;
    // SAFETY: `msg` points at `bufs`, valid iovecs that outlive the call,
    // and counts no more of them than there are.
    syscall!(sendmsg(fd, &msg, SEND_FLAGS)).map(|n| n as usize)
}

fn socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid out-parameters of the right size.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        (&mut err as *mut libc::c_int).cast(),
        &mut len,
    ))?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// The `Transport` of a stream socket: `recv`, `send`/`sendmsg` without SIGPIPE,
/// `SO_ERROR`; `$extra` adds what only some sockets have.
macro_rules! socket_transport {
    ($t:ty $(, $extra:item)*) => {
        // SAFETY: `read_uninit` returns what recv(2) returned, which never
        // exceeds the length passed and counts the bytes the kernel wrote.
        unsafe impl Transport for $t {
            fn fd(&self) -> RawFd {
                self.as_raw_fd()
            }
            fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
                recv_socket(self.as_raw_fd(), buf)
            }
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                send_socket(self.as_raw_fd(), bufs)
            }
            fn shutdown_write(&mut self) -> io::Result<()> {
                self.shutdown(Shutdown::Write)
            }
            fn take_error(&self) -> io::Result<Option<io::Error>> {
                socket_error(self.as_raw_fd())
            }
            fn short_read_drains(&self) -> bool {
                true
            }
            $($extra)*
        }
    };
}

socket_transport!(
    TcpStream,
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        TcpStream::set_nodelay(self, nodelay)
    }
);
socket_transport!(UnixStream);

/// The reading end of a pipe (Tornado's `PipeIOStream` over a read fd).
// SAFETY: `read_uninit` returns what read(2) returned, which never exceeds
// the length passed and counts the bytes the kernel wrote.
unsafe impl Transport for io::PipeReader {
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        read_fd(self.as_raw_fd(), buf)
    }
    fn write_vectored(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cannot write to a pipe's read end",
        ))
    }
    fn can_write(&self) -> bool {
        false
    }
    fn short_read_drains(&self) -> bool {
        true
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writing end of a pipe.
// SAFETY: `read_uninit` never reads and reports no bytes (an error).
unsafe impl Transport for io::PipeWriter {
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }
    fn read_uninit(&mut self, _: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cannot read from a pipe's write end",
        ))
    }
    fn can_read(&self) -> bool {
        false
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_fd(self.as_raw_fd(), bufs)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Puts `fd` in non-blocking mode, as every stream needs.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL reads the flags of an fd the caller owns.
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL with the fd's own flags plus O_NONBLOCK.
        syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}
