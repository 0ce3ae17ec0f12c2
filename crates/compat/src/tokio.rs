//! One tokio runtime for the process, on a thread of its own, and
//! [`run`] to hand it a future from a Tornado loop.
//!
//! When to use which:
//!
//! - A crate that only needs `AsyncRead`/`AsyncWrite` (tokio-postgres,
//!   tokio-util codecs, most protocol crates written against a stream you
//!   give them): give it an `IOStream` and poll it in a coroutine. It runs
//!   on the loop's thread, with no hop and no runtime.
//! - A crate that needs tokio's reactor or timers (it opens its own
//!   sockets with `tokio::net`, calls `tokio::spawn` or `tokio::time`:
//!   reqwest, the AWS SDK, tonic…): [`run`] it here. Each call costs two
//!   thread hops (to the runtime and back through the loop's remote
//!   queue), and the future must be `Send`.
//!
//! ```
//! use tornado_compat::tokio::run;
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let n = ioloop.run_sync(|| coroutine(async {
//!     // Runs on the tokio thread, where tokio's timers work.
//!     let n = run(async {
//!         tokio::time::sleep(std::time::Duration::from_millis(1)).await;
//!         Ok::<_, std::io::Error>(42)
//!     }).await?;
//!     Ok(n)
//! }), None).unwrap();
//! assert_eq!(n, 42);
//! ```

use std::future::Future as StdFuture;
use std::sync::OnceLock;

use ::tokio::runtime::{Builder, Handle};
use tornado_concurrent::{Error, Future};

/// The runtime's handle, or why it could not be started.
static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();

/// The process's bridge runtime, started on first use: a current-thread
/// tokio runtime with its I/O and time drivers, driven by a thread named
/// `tornado-tokio` for the life of the process.
pub fn handle() -> Result<Handle, Error> {
    RUNTIME
        .get_or_init(|| {
            let runtime = Builder::new_current_thread()
                .enable_all()
                .thread_name("tornado-tokio")
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("tornado-tokio".into())
                // Driving a never-ending future runs every spawned task.
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map_err(|e| format!("cannot start the tokio thread: {e}"))?;
            Ok(handle)
        })
        .clone()
        .map_err(Error::msg)
}

/// Runs `future` on the bridge runtime and returns a Tornado future for
/// its result, resolved on the calling thread's loop (through its remote
/// queue).
///
/// An `Err` of the future becomes this future's error; a panic there
/// becomes a [`PanicError`](tornado_concurrent::PanicError) here.
/// Cancelling the returned future (or dropping every handle to it while it
/// is pending) aborts the tokio task: it is dropped at its next await.
/// Fails at once if no loop is current or the runtime cannot start.
pub fn run<F, T, E>(future: F) -> Future<T>
where
    F: StdFuture<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    let result = Future::new();
    let setter = match result.remote_setter() {
        Ok(s) => s,
        Err(e) => return Future::failed(e),
    };
    let handle = match handle() {
        Ok(h) => h,
        Err(e) => return Future::failed(e),
    };
    let task = handle.spawn(future);
    let abort = task.abort_handle();
    handle.spawn(async move {
        match task.await {
            Ok(Ok(v)) => setter.set_result(v),
            Ok(Err(e)) => setter.set_exception(e),
            Err(e) if e.is_panic() => setter.set_exception(Error::from_panic(&*e.into_panic())),
            Err(_) => setter.set_exception(Error::cancelled()),
        }
    });
    result.set_abandon_hook(move || abort.abort());
    result
}
