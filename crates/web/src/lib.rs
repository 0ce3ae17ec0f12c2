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
mod arguments;
mod connection;
mod context;
mod cookies;
mod delegate;
mod error;
pub mod escape;
mod handler;
mod handlers;
mod multi;
mod reverse;
mod routing;
mod run;
mod security;
mod settings;
mod static_file;
mod static_url;
pub mod templates;
mod ui;
mod xsrf;

pub use application::Application;
pub use arguments::{decode_argument, missing_argument};
pub use context::{Chunk, Context, GZIP_MIN_LENGTH, default_etag, etag_matches};
pub use cookies::{
    CookieOptions, create_signed_value, create_signed_value_versioned, decode_signed_value,
    decode_signed_value_versioned,
};
pub use delegate::WebRequest;
pub use error::HttpError;
pub use handler::{HandlerResult, RequestHandler};
pub use handlers::{FallbackHandler, RedirectHandler};
pub use multi::listen_threads;
pub use routing::{Route, route, try_route};
pub use settings::Settings;
pub use static_file::{STATIC_CHUNK_SIZE, StaticFileHandler, content_type};
pub use static_url::VERSIONED_CACHE_SECONDS;
pub use ui::{UiMethod, UiModule, render_module_template};
pub use xsrf::{XSRF_COOKIE, decode_xsrf_token, encode_xsrf_token};

/// The template engine, for `context!` and values of one's own.
pub use minijinja;
