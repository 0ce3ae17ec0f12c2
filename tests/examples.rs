//! The examples' `--self-test` modes, run as tests so that every backend
//! checks them: each serves on an ephemeral loopback port and drives itself
//! with the HTTP client.

// Each example includes the one logger set-up (`examples/common/logging.rs`)
// for its own `main`; included here side by side, that file is loaded once
// per example. Their `main`s are not called, so the copies stay unused.
#![allow(clippy::duplicate_mod)]

mod common;

use tornado_testing::ExpectLog;

#[allow(dead_code)]
#[path = "../examples/hello.rs"]
mod hello;

#[allow(dead_code)]
#[path = "../examples/json_api.rs"]
mod json_api;

#[allow(dead_code)]
#[path = "../examples/file_upload.rs"]
mod file_upload;

#[allow(dead_code)]
#[path = "../examples/slow_server.rs"]
mod slow_server;

#[allow(dead_code)]
#[path = "../examples/stream_upload.rs"]
mod stream_upload;

#[allow(dead_code)]
#[path = "../examples/blog.rs"]
mod blog;

#[allow(dead_code)]
#[path = "../examples/websocket_echo.rs"]
mod websocket_echo;

#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

#[allow(dead_code)]
#[path = "../examples/fetch.rs"]
mod fetch;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hello_self_test() {
    let _l = common::fresh_loop();
    // The too-large ids are logged as the client's errors (400s), with why.
    let bad_id = ExpectLog::new("tornado.general", "HTTP 400: Bad Request (bad user id:")
        .level(log::Level::Warn);
    let _access = ExpectLog::optional("tornado.access", "");
    hello::run(args(&["--self-test"])).unwrap();
    assert_eq!(bad_id.matched(), 2);
}

#[test]
fn json_api_self_test() {
    let _l = common::fresh_loop();
    json_api::run(args(&["--self-test"])).unwrap();
}

#[test]
fn file_upload_self_test() {
    let _l = common::fresh_loop();
    file_upload::run(args(&["--self-test"])).unwrap();
}

#[test]
fn slow_server_self_test() {
    let _l = common::fresh_loop();
    slow_server::run(args(&["--self-test", "--delay-ms", "100"])).unwrap();
}

#[test]
fn stream_upload_self_test() {
    let _l = common::fresh_loop();
    stream_upload::run(args(&["--self-test"])).unwrap();
}

#[test]
fn blog_self_test() {
    let _l = common::fresh_loop();
    blog::run(args(&["--self-test"])).unwrap();
}

#[test]
fn websocket_echo_self_test() {
    let _l = common::fresh_loop();
    websocket_echo::run(args(&["--self-test"])).unwrap();
}

#[test]
fn chat_self_test() {
    let _l = common::fresh_loop();
    chat::run(args(&["--self-test"])).unwrap();
}

#[test]
fn fetch_self_test_uses_one_connection_for_1000_requests() {
    let _l = common::fresh_loop();
    fetch::run(args(&["--self-test"])).unwrap();
    fetch::run(args(&["--self-test", "--stream"])).unwrap();
}

#[test]
fn examples_refuse_unknown_arguments() {
    let _l = common::fresh_loop();
    assert!(hello::run(args(&["--bogus"])).is_err());
    assert!(json_api::run(args(&["--bogus"])).is_err());
    assert!(file_upload::run(args(&["--port"])).is_err());
    assert!(slow_server::run(args(&["--delay-ms", "x"])).is_err());
    assert!(stream_upload::run(args(&["--dir"])).is_err());
    assert!(blog::run(args(&["--db"])).is_err());
    assert!(websocket_echo::run(args(&["--max-message-size"])).is_err());
    assert!(chat::run(args(&["--bogus"])).is_err());
    assert!(fetch::run(args(&["--max-clients", "0", "http://x/"])).is_err());
    assert!(fetch::run(args(&[])).is_err());
}

#[allow(dead_code)]
#[path = "../examples/slow_server_clients.rs"]
mod slow_server_clients;

/// Both halves: callbacks (streams kept alive by their pending reads only)
/// and coroutines.
#[test]
fn slow_server_clients_self_test() {
    let _l = common::fresh_loop();
    slow_server_clients::run(args(&["--self-test", "--delay-ms", "100"])).unwrap();
    assert!(slow_server_clients::run(args(&["--bogus"])).is_err());
}

#[allow(dead_code)]
#[path = "../examples/proxy.rs"]
mod proxy;

/// A client that sends 5 MB through the proxy to an echo upstream, then
/// half-closes, gets all 5 MB back and then the close.
#[test]
fn proxy_self_test_half_close() {
    let _l = common::fresh_loop();
    proxy::run(args(&["--self-test"])).unwrap();
    assert!(proxy::run(args(&["--upstream", "nocolon"])).is_err());
}

// pg_api needs the `postgres` feature, and brings its own throwaway
// PostgreSQL cluster (or says it skipped when PostgreSQL is absent).
#[cfg(feature = "postgres")]
#[allow(dead_code)]
#[path = "../examples/pg_api.rs"]
mod pg_api;

#[cfg(feature = "postgres")]
#[test]
fn pg_api_self_test() {
    let _l = common::fresh_loop();
    assert!(pg_api::run(args(&["--bogus"])).is_err());
    assert!(pg_api::run(args(&["--dsn"])).is_err());
    // A throwaway cluster of its own, unless DATABASE_URL names a server.
    pg_api::run(args(&["--self-test"])).unwrap();
}
