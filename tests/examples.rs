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

#[allow(dead_code)]
#[path = "../examples/stream_upload.rs"]
mod stream_upload;

#[allow(dead_code)]
#[path = "../examples/fetch.rs"]
mod fetch;

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
fn stream_upload_self_test() {
    let _l = common::fresh_loop();
    stream_upload::run(args(&["--self-test"])).unwrap();
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
    assert!(json_api::run(args(&["--bogus"])).is_err());
    assert!(file_upload::run(args(&["--port"])).is_err());
    assert!(slow_server::run(args(&["--delay-ms", "x"])).is_err());
    assert!(stream_upload::run(args(&["--dir"])).is_err());
    assert!(fetch::run(args(&["--max-clients", "0", "http://x/"])).is_err());
    assert!(fetch::run(args(&[])).is_err());
}
