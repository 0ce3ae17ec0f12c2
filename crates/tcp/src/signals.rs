//! Unix signals delivered to a loop as ordinary callbacks (what Tornado
//! gets from asyncio's `add_signal_handler`).
//!
//! A signal handler may do almost nothing safely, so it does one thing:
//! write a byte to a non-blocking socket (the self-pipe pattern, through
//! `signal-hook`). The other end of the socket is an fd watched by the
//! loop; its handler drains the bytes and runs the callback on the loop's
//! thread, where any code may run. Signals that arrive close together may
//! be reported once, as the kernel itself merges them.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use signal_hook::SigId;
pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use tornado_concurrent::Future;
use tornado_ioloop::{Events, IOLoop, Trigger};

/// A signal handler on a loop; [`remove`](SignalHandler::remove) (or
/// dropping the handle) unregisters it.
///
/// After removal the process keeps ignoring the signal rather than going
/// back to the default action (which for most signals kills the process):
/// `signal-hook` never uninstalls its handler.
pub struct SignalHandler {
    /// Shared with the loop's fd handler.
    state: Rc<HandlerState>,
}

/// One registration.
struct HandlerState {
    /// The loop the callback runs on: the one current at registration.
    ioloop: IOLoop,
    /// The signal number handled.
    signal: i32,
    /// The read end of the self-pipe; its fd is registered on `ioloop`
    /// until removed.
    reader: UnixStream,
    /// `signal-hook`'s registration of the write end; `None` once removed.
    id: Cell<Option<SigId>>,
    /// Runs on the loop, once per wake-up.
    callback: RefCell<Box<dyn FnMut(i32)>>,
}

impl SignalHandler {
    /// The signal handled.
    pub fn signal(&self) -> i32 {
        self.state.signal
    }

    /// Unregisters: the callback will not run again. Removing twice is
    /// fine.
    pub fn remove(&self) {
        let s = &self.state;
        if let Some(id) = s.id.take() {
            // Also closes the write end, which signal-hook owns.
            signal_hook::low_level::unregister(id);
            let _ = s.ioloop.remove_handler(s.reader.as_raw_fd());
        }
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Runs `callback(signal)` on the current loop each time `signal` arrives.
///
/// Fails for signals that cannot be handled (`SIGKILL`, `SIGSTOP`) or must
/// not be (`SIGSEGV`, `SIGILL`, `SIGFPE`…). Keep the returned handle: the
/// handler stays only as long as it lives.
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_tcp::signals::{SIGUSR2, add_signal_handler};
///
/// let ioloop = IOLoop::new().unwrap();
/// ioloop.make_current();
/// let _handler = add_signal_handler(SIGUSR2, |sig| {
///     println!("got signal {sig}");
///     IOLoop::current().stop();
/// }).unwrap();
/// // SAFETY: raising a signal that has a handler.
/// unsafe { libc::raise(SIGUSR2) };
/// ioloop.start().unwrap(); // returns once the callback ran
/// ```
pub fn add_signal_handler(
    signal: i32,
    callback: impl FnMut(i32) + 'static,
) -> io::Result<SignalHandler> {
    if signal_hook::consts::FORBIDDEN.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signal} cannot be handled"),
        ));
    }
    let ioloop = IOLoop::current();
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    // A full socket must never block the signal handler: the byte already
    // waiting wakes the loop anyway.
    writer.set_nonblocking(true)?;
    let fd = reader.as_raw_fd();
    let state = Rc::new(HandlerState {
        ioloop: ioloop.clone(),
        signal,
        reader,
        id: Cell::new(None),
        callback: RefCell::new(Box::new(callback)),
    });
    let weak = Rc::downgrade(&state);
    ioloop
        .add_handler_owned_elsewhere(fd, Events::READ, Trigger::Level, move |_, _| {
            if let Some(s) = weak.upgrade() {
                s.deliver();
            }
        })
        .map_err(io::Error::from)?;
    match signal_hook::low_level::pipe::register(signal, writer) {
        Ok(id) => state.id.set(Some(id)),
        Err(e) => {
            let _ = ioloop.remove_handler(fd);
            return Err(e);
        }
    }
    Ok(SignalHandler { state })
}

impl HandlerState {
    /// The pipe is readable: drain it first (so a signal arriving during
    /// the callback wakes us again), then run the callback once.
    fn deliver(&self) {
        let mut buf = [0u8; 64];
        let mut got = false;
        loop {
            match (&self.reader).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if got && self.id.get().is_some() {
            (self.callback.borrow_mut())(self.signal);
        }
    }
}

/// A future resolved with the first of `signals` to arrive; the handlers
/// are removed then. The usual way for a server to wait for `SIGINT` or
/// `SIGTERM` before a graceful shutdown. Until one of the signals arrives
/// the handlers stay registered, even if the future is dropped: keep it
/// for as long as the process should react (typically, all its life).
///
/// ```no_run
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_tcp::signals::{SIGINT, SIGTERM, wait_for_signal};
///
/// IOLoop::current().run_sync(|| coroutine(async {
///     let sig = wait_for_signal(&[SIGINT, SIGTERM])?.await?;
///     println!("stopping on signal {sig}");
///     Ok(())
/// }), None).unwrap();
/// ```
pub fn wait_for_signal(signals: &[i32]) -> io::Result<Future<i32>> {
    let result = Future::new();
    let handlers: Rc<RefCell<Vec<SignalHandler>>> = Rc::new(RefCell::new(Vec::new()));
    for &signal in signals {
        let (r, h) = (result.clone(), handlers.clone());
        let handler = add_signal_handler(signal, move |sig| {
            let _ = r.set_result(sig);
            // Not from inside our own callback: the borrow is held there.
            let h = h.clone();
            IOLoop::current().add_callback(move || h.borrow_mut().clear());
        })?;
        handlers.borrow_mut().push(handler);
    }
    Ok(result)
}
