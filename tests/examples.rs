//! The examples' `--self-test` modes, run as tests so that every backend
//! checks them: each serves on an ephemeral loopback port and drives itself
//! with the HTTP client.

mod common;

#[allow(dead_code)]
#[path = "../examples/json_api.rs"]
mod json_api;

#[allow(dead_code)]
#[path = "../examples/file_upload.rs"]
mod file_upload;

#[allow(dead_code)]
#[path = "../examples/slow_server.rs"]
mod slow_server;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
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
fn examples_refuse_unknown_arguments() {
    let _l = common::fresh_loop();
    assert!(json_api::run(args(&["--bogus"])).is_err());
    assert!(file_upload::run(args(&["--port"])).is_err());
    assert!(slow_server::run(args(&["--delay-ms", "x"])).is_err());
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
