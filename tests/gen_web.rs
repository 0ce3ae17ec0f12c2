//! Tornado's `GenWebTest` (in `gen_test.py`): request handlers whose
//! methods suspend between writes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::http::{Resp, exchange};
use tornado::concurrent::Error;
use tornado::r#gen::{moment, sleep};
use tornado::http::HttpServer;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};
use tornado_testing::{ExpectLog, gen_test};

/// Writes "1", "2" across two moments, then finishes with "3" (or, with
/// `finish: false`, only writes it).
#[derive(Clone)]
struct Sequence {
    finish: bool,
}
impl RequestHandler for Sequence {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        moment().await;
        cx.write("1");
        moment().await;
        cx.write("2");
        moment().await;
        cx.write("3");
        if self.finish {
            cx.finish().await?;
        }
        Ok(())
    }
}

/// `prepare` and `get` both suspend; the chunks come out in order.
#[derive(Clone, Default)]
struct Undecorated {
    chunks: String,
}
impl RequestHandler for Undecorated {
    async fn prepare(&mut self, _: &mut Context) -> Result<(), HttpError> {
        moment().await;
        self.chunks.push('1');
        Ok(())
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.chunks.push('2');
        moment().await;
        self.chunks.push('3');
        moment().await;
        cx.write(self.chunks.clone());
        Ok(())
    }
}

/// `prepare` fails after a suspension.
#[derive(Clone)]
struct PrepareError;
impl RequestHandler for PrepareError {
    async fn prepare(&mut self, _: &mut Context) -> Result<(), HttpError> {
        moment().await;
        Err(HttpError::new(403))
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("ok");
        Ok(())
    }
}

/// Awaits a zero sleep, then writes.
#[derive(Clone)]
struct Native;
impl RequestHandler for Native {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        sleep(Duration::ZERO).await;
        cx.write("ok");
        Ok(())
    }
}

fn serve() -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(vec![
        route("/coroutine_sequence", Sequence { finish: true }),
        route("/coroutine_unfinished_sequence", Sequence { finish: false }),
        route("/undecorated_coroutine", Undecorated::default()),
        route("/async_prepare_error", PrepareError),
        route("/native_coroutine", Native),
    ])
    .listen_on(0, Some("127.0.0.1"))
    .unwrap();
    (server, addrs[0])
}

async fn get(addr: SocketAddr, uri: &str) -> Result<Resp, Error> {
    let req = format!("GET {uri} HTTP/1.0\r\n\r\n");
    Ok(exchange(addr, req.as_bytes()).await?.0)
}

#[gen_test(timeout = 10)]
async fn handlers_that_suspend_between_writes() -> Result<(), Error> {
    let _access = ExpectLog::optional("tornado.access", "");
    let (_server, addr) = serve();
    for uri in [
        "/coroutine_sequence",
        "/coroutine_unfinished_sequence",
        "/undecorated_coroutine",
    ] {
        let r = get(addr, uri).await?;
        assert_eq!((r.status, r.text().as_str()), (200, "123"), "{uri}");
    }
    assert_eq!(get(addr, "/async_prepare_error").await?.status, 403);
    let r = get(addr, "/native_coroutine").await?;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    Ok(())
}
