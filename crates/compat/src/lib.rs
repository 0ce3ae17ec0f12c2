//! Bridges from Tornado's `IOLoop` to other async runtimes.
//!
//! [`tokio`]: for crates that need a running tokio runtime (reqwest, the
//! AWS SDK, tonic…). Crates that only need tokio's or futures' I/O traits
//! do not: they run natively on the loop over an `IOStream` (features
//! `tokio-io` and `futures-io` of `tornado-iostream`), with no thread hop.
//!
//! Inside, [`tokio::run`] spawns the future on one current-thread tokio
//! runtime that a thread of its own drives for the life of the process,
//! and a second task sends the outcome back to the calling loop through a
//! `RemoteSetter` (the loop's cross-thread queue). Dropping or cancelling
//! the returned future aborts the tokio task.
//!
//! ```
//! use tornado_compat::tokio::run;
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let slept = ioloop.run_sync(|| coroutine(async {
//!     // On the tokio thread: tokio's timers work there, not on the loop.
//!     run(async {
//!         tokio::time::sleep(std::time::Duration::from_millis(1)).await;
//!         Ok::<_, std::io::Error>("slept on tokio")
//!     }).await
//! }), None).unwrap();
//! assert_eq!(slept, "slept on tokio");
//! ```
#![deny(missing_docs)]

pub mod tokio;
