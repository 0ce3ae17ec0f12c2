//! The examples' one logger set-up (Tornado's `enable_pretty_logging`):
//! every example's `main` calls [`enable_pretty_logging`] first, so the
//! access log (`tornado.access`) and logged errors (`tornado.application`,
//! `tornado.general`) show on stderr by default.
//!
//! Included by each example with `#[path = "common/logging.rs"] mod logging;`
//! (a directory without `main.rs` is not an example of its own).

use std::io::Write;

/// Installs `env_logger` on stderr: `RUST_LOG` picks what is shown (e.g.
/// `RUST_LOG=tornado.access=warn`, `RUST_LOG=debug`, `RUST_LOG=off`), and
/// without it everything at `info` and above is. Lines look like Tornado's:
/// `[I 2026-01-02T03:04:05Z tornado.access] 200 GET / (127.0.0.1) 0.31ms`.
///
/// Does nothing if a logger is already installed (a test's, say).
pub fn enable_pretty_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _already_installed = env_logger::Builder::from_env(env)
        .format(|buf, record| {
            let level = match record.level() {
                log::Level::Error => 'E',
                log::Level::Warn => 'W',
                log::Level::Info => 'I',
                log::Level::Debug => 'D',
                log::Level::Trace => 'T',
            };
            let now = buf.timestamp_seconds();
            writeln!(buf, "[{level} {now} {}] {}", record.target(), record.args())
        })
        .try_init();
}
