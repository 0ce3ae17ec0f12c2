//! Tornado's `process` module for Rust: pre-fork serving and child
//! programs.
//!
//! - [`fork_processes`] forks n worker processes before any loop or thread
//!   exists; each returns with its [`task_id`], while the parent only
//!   supervises: it restarts a worker that crashes (up to `max_restarts`
//!   times), forwards `SIGTERM`/`SIGINT` to the workers and exits when they
//!   are all done. Bind the listening sockets first, so that every worker
//!   accepts on them: `tornado_tcp::TcpServer::start_processes` and
//!   `tornado_http::HttpServer::start_processes` do all of it in one call.
//! - [`Subprocess`] runs a program with its pipes as `IOStream`s and
//!   reports its exit on the loop, as a future or a callback.
//!
//! The pre-fork pattern, as in Tornado:
//!
//! ```no_run
//! use tornado_process::fork_processes;
//!
//! let sockets = std::net::TcpListener::bind("127.0.0.1:8888")?; // bind first
//! let id = fork_processes(0, None)?; // one worker per core; in a worker now
//! println!("worker {id} serving");
//! // ... build the server on `sockets`, then start this process's loop.
//! # drop(sockets);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod fork;
mod reap;
mod subprocess;
mod sys;

pub use fork::{DEFAULT_MAX_RESTARTS, ForkError, check_can_fork, fork_processes, task_id};
pub use subprocess::{Subprocess, SubprocessError};
