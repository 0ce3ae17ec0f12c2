//! `parse_body_arguments` (url-encoded forms and multipart/form-data, the
//! functions the server's whole-body delegate calls) on a fuzzed
//! `Content-Type` (the input's first line) and body (the rest): a typed
//! error or arguments and files, never a panic; every file's content and
//! every field name is taken from the body, never made up.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use tornado_http::httputil::{parse_body_arguments, parse_header};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or(&[]);
    let _ = parse_header(&content_type);
    let mut arguments = HashMap::new();
    let mut files = HashMap::new();
    if parse_body_arguments(&content_type, body, &mut arguments, &mut files).is_ok() {
        for (name, list) in &files {
            for f in list {
                assert!(
                    memchr::memmem::find(body, &f.body).is_some(),
                    "file {name:?}'s content is not in the body"
                );
            }
        }
    }
});
