//! Tornado's `Future` for Rust: a result that will exist later.
//!
//! A [`Future`] belongs to one event-loop thread. Its done-callbacks never run
//! inline: they are handed to the loop that is current on the thread (see
//! [`schedule`]), which runs them on its next iteration. The crate does not
//! depend on `tornado-ioloop`; the loop registers itself here instead, so the
//! layering has no cycle. A future is also a `std::future::Future`, so async
//! code can `.await` it, and another thread can resolve it through a
//! [`RemoteSetter`].
//!
//! ```
//! use tornado_concurrent::{Error, Future};
//!
//! let f: Future<&str> = Future::new();
//! f.set_exception(Error::msg("no route")).unwrap();
//! assert!(f.done());
//! assert_eq!(f.exception().unwrap().to_string(), "no route");
//! ```
#![deny(missing_docs)]

mod catch;
mod chain;
mod error;
mod future;
mod remote;
pub mod schedule;

pub use catch::CatchUnwind;
pub use chain::{
    chain_future, future_set_exception_unless_cancelled, future_set_result_unless_cancelled,
};
pub use error::{CancelledError, Error, InvalidStateError, PanicError, panic_message};
pub use future::Future;
pub use remote::{RemoteSetter, SetterDropped};

#[cfg(test)]
mod tests;
