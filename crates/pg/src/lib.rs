//! PostgreSQL on Tornado's `IOLoop`, with no tokio runtime.
//!
//! `tokio-postgres` only needs a byte stream implementing tokio's I/O
//! traits, which `IOStream` does (feature `tokio-io` of
//! `tornado-iostream`). [`connect`] opens the stream itself (TCP or the
//! server's Unix socket), runs the startup handshake with
//! `Config::connect_raw`, and spawns the connection's message pump as a
//! coroutine on the current loop; the `Client` then works from any
//! coroutine of that loop. [`Pool`] keeps up to `max_size` connections and
//! hands them out oldest waiter first. [`TempCluster`] starts a throwaway
//! server for tests, examples and benchmarks.
//!
//! ```no_run
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//! use tornado_pg::{Pool, PoolOptions};
//!
//! let config = "host=127.0.0.1 port=5432 user=postgres dbname=postgres".parse().unwrap();
//! let pool = Pool::new(config, PoolOptions::new().max_size(10));
//! let n: i32 = IOLoop::current().run_sync(move || coroutine(async move {
//!     let client = pool.get().await?;
//!     let row = client.query_one("SELECT $1::int4 + 1", &[&41i32]).await.map_err(tornado_pg::PgError::from)?;
//!     Ok(row.get(0))
//! }), None).unwrap();
//! assert_eq!(n, 42);
//! ```
#![deny(missing_docs)]

mod cluster;
mod connect;
mod error;
mod pool;

pub use cluster::{ClusterError, TempCluster};
pub use connect::connect;
pub use error::PgError;
pub use pool::{Pool, PoolOptions, PooledClient};
/// The driver itself, re-exported so that its types (`Client`, `Config`,
/// `Row`, `types`…) match the ones this crate uses.
pub use tokio_postgres;
pub use tokio_postgres::{Client, Config};
