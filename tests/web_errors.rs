//! `?` in a handler: every error type converts into `HttpError`, as a 500
//! logged on `tornado.application` with the error's message, which the
//! client never sees.

mod common;

use std::fmt;
use std::net::SocketAddr;

use common::http::{Resp, exchange};
use tornado::concurrent::{Error, Future};
use tornado::http::HttpServer;
use tornado::queues::Queue;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};
use tornado_testing::{ExpectLog, gen_test};

/// An application's own error type, unknown to tornado-web.
#[derive(Debug)]
struct QuotaExceeded {
    user: &'static str,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota exceeded for {}", self.user)
    }
}

impl std::error::Error for QuotaExceeded {}

fn check_quota(user: &'static str) -> Result<(), QuotaExceeded> {
    Err(QuotaExceeded { user })
}

#[derive(Clone)]
struct Failing;

impl RequestHandler for Failing {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        match cx.path_args()[0].as_str() {
            "queue_full" => {
                let q = Queue::<u32>::new(1);
                q.put_nowait(1)?;
                q.put_nowait(2)?; // full: QueueFull<u32>
            }
            "custom" => check_quota("ann-4471")?,
            "late" => {
                // Answers after the client had time to leave.
                tornado::r#gen::sleep(std::time::Duration::from_millis(150)).await;
            }
            "future" => {
                // What awaited futures fail with still converts.
                let f: Future<u32> = Future::new();
                f.set_exception(Error::msg("upstream gone 9034")).unwrap();
                f.await?;
            }
            _ => {}
        }
        cx.write("fine");
        Ok(())
    }
}

fn serve() -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(vec![route("/fail/(.*)", Failing)])
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    (server, addrs[0])
}

async fn get(addr: SocketAddr, uri: &str) -> Result<Resp, Error> {
    let req = format!("GET {uri} HTTP/1.0\r\n\r\n");
    Ok(exchange(addr, req.as_bytes()).await?.0)
}

/// Asserts a bare 500 page that does not leak `secret`.
fn assert_plain_500(r: &Resp, secret: &str) {
    assert_eq!(r.status, 500, "{}", r.head);
    assert!(
        r.text().contains("500: Internal Server Error"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains(secret), "{}", r.text());
}

#[gen_test(timeout = 10)]
async fn queue_full_with_question_mark_is_a_logged_500() -> Result<(), Error> {
    let logged = ExpectLog::new("tornado.application", "queue is full").level(log::Level::Error);
    let _access = ExpectLog::optional("tornado.access", "");
    let (_s, addr) = serve();
    assert_plain_500(&get(addr, "/fail/queue_full").await?, "queue is full");
    assert_eq!(logged.matched(), 1);
    // The server goes on serving.
    assert_eq!(get(addr, "/fail/none").await?.text(), "fine");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_custom_error_with_question_mark_is_a_logged_500() -> Result<(), Error> {
    let logged = ExpectLog::new("tornado.application", "quota exceeded for ann-4471")
        .level(log::Level::Error);
    let _access = ExpectLog::optional("tornado.access", "");
    let (_s, addr) = serve();
    assert_plain_500(&get(addr, "/fail/custom").await?, "ann-4471");
    assert_eq!(logged.matched(), 1);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_failed_future_with_question_mark_is_a_logged_500() -> Result<(), Error> {
    let logged =
        ExpectLog::new("tornado.application", "upstream gone 9034").level(log::Level::Error);
    let _access = ExpectLog::optional("tornado.access", "");
    let (_s, addr) = serve();
    assert_plain_500(&get(addr, "/fail/future").await?, "upstream gone");
    assert_eq!(logged.matched(), 1);
    Ok(())
}

/// Connects, sends `request` and resets the connection (`SO_LINGER` 0),
/// without reading the answer.
fn send_and_reset(addr: SocketAddr, request: &[u8]) {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: SO_LINGER with a valid struct of the size given, on an open socket.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

/// Found by the soak (bench/soak): a client that resets while its
/// requests are served (here pipelined ones, and one whose answer comes
/// late) is no application error; the server just stops.
#[gen_test(timeout = 10)]
async fn a_client_gone_before_its_answer_is_not_an_application_error() -> Result<(), Error> {
    let _quiet = ExpectLog::absent("tornado.application", "");
    let _access = ExpectLog::optional("tornado.access", "");
    let (_s, addr) = serve();
    send_and_reset(addr, b"GET /fail/late HTTP/1.1\r\nHost: x\r\n\r\n");
    let pipelined = b"GET /fail/none HTTP/1.1\r\nHost: x\r\n\r\n".repeat(32);
    for _ in 0..5 {
        send_and_reset(addr, &pipelined);
    }
    // The late answer is due after the reset arrived.
    tornado::r#gen::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(get(addr, "/fail/none").await?.text(), "fine");
    Ok(())
}

#[test]
fn the_converted_error_keeps_its_source() {
    let e = HttpError::from(QuotaExceeded { user: "bob" });
    assert_eq!(e.status(), 500);
    let source = e.source().expect("a source");
    assert_eq!(
        source.downcast_ref::<QuotaExceeded>().map(|q| q.user),
        Some("bob")
    );
    assert!(e.to_string().contains("quota exceeded for bob"), "{e}");
    // A `tornado_concurrent::Error` is kept as it is, not wrapped again.
    let e = HttpError::from(Error::new(QuotaExceeded { user: "cy" }));
    assert!(
        e.source()
            .unwrap()
            .downcast_ref::<QuotaExceeded>()
            .is_some()
    );
    // `from_error` is the same conversion, by name.
    let e = HttpError::from_error(std::io::Error::other("disk"));
    assert_eq!((e.status(), e.to_string().contains("disk")), (500, true));
}
