//! Bridges from Tornado's `IOLoop` to other async runtimes.
//!
//! [`tokio`]: for crates that need a running tokio runtime (reqwest, the
//! AWS SDK, tonic…). Crates that only need tokio's or futures' I/O traits
//! do not: they run natively on the loop over an `IOStream` (features
//! `tokio-io` and `futures-io` of `tornado-iostream`), with no thread hop.
#![deny(missing_docs)]

pub mod tokio;
