//! Helpers shared by the fuzz targets: one loop per process, and a checker
//! for the HTTP responses a server wrote.

use std::future::Future as StdFuture;

use tornado_concurrent::Error;
use tornado_gen::coroutine;
use tornado_http::http1::framing::find_head_end;
use tornado_http::http1::head::{ResponseHead, parse_response_head};
use tornado_ioloop::IOLoop;

thread_local! {
    /// Made once: a loop per input would cost an epoll fd and a waker each
    /// time and measure set-up rather than the code under test.
    static LOOP: IOLoop = IOLoop::new().expect("an IOLoop");
}

/// Runs `body` as a coroutine on the process's loop until it is done.
/// A panic anywhere aborts (libFuzzer's panic hook), even one the loop or
/// the coroutine runner would catch, so a caught panic is still a crash.
pub fn run<T: 'static>(
    body: impl StdFuture<Output = Result<T, Error>> + 'static,
) -> Result<T, tornado_ioloop::Error> {
    LOOP.with(|l| l.run_sync(move || coroutine(body), None))
}

/// One response read off the wire: status and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub code: u16,
    /// The body (by its `Content-Length`).
    pub body: Vec<u8>,
}

/// Splits what a server wrote into responses, asserting that each is well
/// formed: a head the client's own parser accepts, then exactly as many
/// body bytes as its `Content-Length` says (a 100 has none). The server
/// answers with `Content-Length` (its handler and its error pages do).
/// With `head_requests` (some request may have been a HEAD, whose answer
/// has the length but no body), a response followed at once by the next
/// status line, or by the end, is taken as bodiless.
pub fn split_responses(mut wire: &[u8], head_requests: bool) -> Vec<Response> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let end = find_head_end(wire, 0).unwrap_or_else(|| {
            panic!(
                "unterminated response head: {:?}",
                String::from_utf8_lossy(wire)
            )
        });
        let ResponseHead { code, headers, .. } =
            parse_response_head(&wire[..end]).unwrap_or_else(|e| {
                panic!(
                    "server wrote a bad head ({e}): {:?}",
                    String::from_utf8_lossy(&wire[..end])
                )
            });
        wire = &wire[end..];
        let len = if code == 100 {
            0
        } else {
            headers
                .get("Content-Length")
                .unwrap_or_else(|| panic!("response {code} without Content-Length"))
                .parse::<usize>()
                .expect("a numeric Content-Length")
        };
        let bodiless = head_requests && (wire.is_empty() || wire.starts_with(b"HTTP/1."));
        let len = if bodiless { 0 } else { len };
        assert!(wire.len() >= len, "response {code} cut short");
        out.push(Response {
            code,
            body: wire[..len].to_vec(),
        });
        wire = &wire[len..];
    }
    out
}
