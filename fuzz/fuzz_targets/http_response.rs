//! The client's response path as a fetch runs it: `HttpRequest` sent on a
//! socket pair by the client's own exchange (request head and body,
//! `Expect: 100-continue`), and the fuzzer's bytes read back as the
//! answer: interim responses, head parsing, framing (length, chunked,
//! until close, bodiless statuses and HEAD), gzip and deflate decoding,
//! the body size limit, streaming callbacks, trailing garbage. A typed
//! error or a response within the limits, never a panic or a hang.
#![no_main]

use std::cell::RefCell;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tornado_fuzz::run;
use tornado_http::HttpRequest;
use tornado_http::fuzzing::exchange;
use tornado_iostream::IOStream;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, answer)) = data.split_first() else {
        return;
    };
    let method = ["GET", "HEAD", "POST", "PUT"][usize::from(flags & 3)];
    let max_body = if flags & 8 != 0 { 64 } else { 1 << 20 };
    let mut request = HttpRequest::with_url("http://fuzz.test/path?q=1")
        .method(method)
        .decompress_response(flags & 4 != 0)
        .max_body_size(max_body);
    if method == "POST" || method == "PUT" {
        request = request
            .body(b"a=1&b=2".to_vec())
            .expect_100_continue(flags & 16 != 0);
    }
    let streamed: Rc<RefCell<Vec<u8>>> = Rc::default();
    if flags & 32 != 0 {
        let s = streamed.clone();
        request = request.streaming_callback(move |piece| s.borrow_mut().extend(piece));
    }
    let answer = answer.to_vec();
    let outcome = run(async move {
        let (a, b) = UnixStream::pair()?;
        let (server, client) = (IOStream::new(a)?, IOStream::new(b)?);
        drop(server.write(answer));
        drop(server.shutdown_write());
        // What the client sends is read and dropped, so its writes never
        // wait on a full socket.
        let drained = server.read_until_close();
        let outcome = exchange(client, &request).await;
        server.close();
        drop(drained);
        Ok(outcome)
    })
    .expect("the exchange runs");
    if let Ok((response, _keep_alive)) = outcome {
        assert!(
            (100..1000).contains(&response.code),
            "status {}",
            response.code
        );
        let body = response.body.len() + streamed.borrow().len();
        assert!(body <= max_body, "{body} bytes past a limit of {max_body}");
        if method == "HEAD" {
            assert_eq!(body, 0, "a body for HEAD");
        }
    }
});
