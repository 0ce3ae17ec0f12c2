//! Tornado's `web` for Rust: an [`Application`] of regex routes to
//! coroutine [`RequestHandler`]s.
//!
//! Each request is served by a fresh clone of its route's handler: its
//! `prepare`, then the method (`get`, `post`, …; a method the handler lacks
//! answers 405), then `finish` if the handler did not, then `on_finish`. A
//! handler writes into a [`Context`] (status, headers, body, cookies); an
//! error it returns, or a panic, becomes an error page and a log line, never
//! a dropped connection. Every request is logged on `tornado.access`.
//!
//! ```no_run
//! use tornado_ioloop::IOLoop;
//! use tornado_web::{Application, Context, HttpError, RequestHandler, route};
//!
//! #[derive(Clone)]
//! struct MainHandler;
//! impl RequestHandler for MainHandler {
//!     async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
//!         cx.write("Hello, world");
//!         Ok(())
//!     }
//! }
//!
//! let app = Application::new(vec![route("/", MainHandler)]);
//! app.listen(8888).unwrap();
//! IOLoop::current().start().unwrap();
//! ```
#![deny(missing_docs)]

mod application;
mod connection;
mod context;
mod cookies;
mod delegate;
mod error;
mod handler;
mod multi;
mod routing;
mod run;
mod settings;
mod static_file;

pub use application::Application;
pub use context::{Chunk, Context, GZIP_MIN_LENGTH, etag_matches};
pub use cookies::{CookieOptions, create_signed_value, decode_signed_value};
pub use delegate::WebRequest;
pub use error::HttpError;
pub use handler::{HandlerResult, RequestHandler};
pub use multi::listen_threads;
pub use routing::{Route, route, try_route};
pub use settings::Settings;
pub use static_file::{STATIC_CHUNK_SIZE, StaticFileHandler, content_type};
