//! The life of one fetch: a slot from the queue, then for the request and
//! each redirect a connection (pooled or new), the exchange, the
//! connection back to the pool or closed, and one retry on a fresh
//! connection when a reused one turns out to have been closed by its
//! server.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use tornado_concurrent::Error;

use super::async_client::{Inner, Phase};
use super::connect::{open, pool_key};
use super::error::{HttpClientError, HttpClientErrorKind};
use super::exchange::{Exchanged, exchange};
use super::pool::Pool;
use super::request::HttpRequest;
use super::response::{HttpResponse, TimeInfo};
use super::url::{Url, join_url};

/// Gives the slot back when the fetch ends, however it ends.
struct Slot(Rc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The whole fetch.
pub(crate) async fn run(
    inner: Rc<Inner>,
    mut request: HttpRequest,
    phase: Rc<RefCell<Phase>>,
    started: Instant,
) -> Result<HttpResponse, Error> {
    let waiter = inner.acquire();
    if !waiter.done() {
        *phase.borrow_mut() = Phase::Queued(waiter.clone());
    }
    waiter.await?;
    let _slot = Slot(inner.clone());
    if matches!(*phase.borrow(), Phase::TimedOut) {
        // Granted a slot in the iteration the timeout fired: give it back.
        return Err(timed_out());
    }
    *phase.borrow_mut() = Phase::Running(None);
    let timing = RefCell::new(TimeInfo {
        queue: started.elapsed(),
        ..TimeInfo::default()
    });
    if inner.is_closed() {
        return Err(
            HttpClientError::new(HttpClientErrorKind::Closed, "the HttpClient was closed").into(),
        );
    }
    let mut redirects = 0;
    loop {
        let url = Url::parse(&request.url)?;
        let mut response = once(&inner, &request, &url, &phase, started, &timing).await?;
        response.effective_url = request.url.clone();
        response.request_time = started.elapsed();
        let mut t = *timing.borrow();
        t.total = response.request_time;
        response.time_info = t;
        let code = response.code;
        let location = response.headers.get("Location").map(str::to_owned);
        if let (true, true, Some(location)) = (
            request.follow_redirects,
            matches!(code, 301 | 302 | 303 | 307 | 308),
            location,
        ) {
            if redirects >= request.max_redirects {
                let mut e = HttpClientError::new(
                    HttpClientErrorKind::TooManyRedirects,
                    format!("more than {} redirects", request.max_redirects),
                );
                e.response = Some(Box::new(response));
                return Err(e.into());
            }
            redirects += 1;
            let next = join_url(&url, &location);
            redirect(&mut request, &url, next, code);
            log::debug!(target: "tornado.general", "following {code} redirect to {}", request.url);
            continue;
        }
        response.set_status_error();
        if let (true, Some(e)) = (request.raise_error, &response.error) {
            return Err((**e).clone().into());
        }
        return Ok(response);
    }
}

/// The error of abandoned work (nobody sees it: the fetch already failed).
fn timed_out() -> Error {
    HttpClientError::new(HttpClientErrorKind::Timeout, "request timed out").into()
}

/// Turns `request` into the request a `code` redirect to `next` asks for.
fn redirect(request: &mut HttpRequest, from: &Url, next: String, code: u16) {
    // 301/302/303 become a GET without body (what browsers do, and RFC
    // 9110 allows for 301/302); 307/308 repeat the request as it was.
    if matches!(code, 301..=303) && request.method != "HEAD" {
        request.method = "GET".to_owned();
        request.body = None;
        request.body_producer = None;
        for h in [
            "Content-Length",
            "Content-Type",
            "Content-Encoding",
            "Transfer-Encoding",
        ] {
            request.headers.remove(h);
        }
    }
    // Credentials go to the origin they were given for only.
    if let Ok(to) = Url::parse(&next) {
        if to.origin() != from.origin() {
            request.auth_username = None;
            request.auth_password = None;
            request.headers.remove("Authorization");
        }
    }
    // The Host of the new URL, not the old one's.
    request.headers.remove("Host");
    request.url = next;
}

/// Back to "running, no stream" between exchanges, unless timed out.
fn set_running(phase: &RefCell<Phase>) {
    let mut p = phase.borrow_mut();
    if !matches!(*p, Phase::TimedOut) {
        *p = Phase::Running(None);
    }
}

/// One request/response on a pooled or new connection, retried once on a
/// new connection when a reused one failed before any answer.
async fn once(
    inner: &Rc<Inner>,
    request: &HttpRequest,
    url: &Url,
    phase: &Rc<RefCell<Phase>>,
    started: Instant,
    timing: &RefCell<TimeInfo>,
) -> Result<HttpResponse, Error> {
    let key = pool_key(request, url);
    let mut may_reuse = true;
    loop {
        let pooled = if may_reuse {
            Pool::take(&inner.pool, &key)
        } else {
            None
        };
        let reused = pooled.is_some();
        let stream = match pooled {
            Some(s) => s,
            None => {
                let s = open(&inner.connector, request, url, timing).await?;
                inner.pool.borrow_mut().opened += 1;
                s
            }
        };
        if matches!(*phase.borrow(), Phase::TimedOut) {
            // The fetch timed out while this connection was being opened.
            stream.close();
            return Err(timed_out());
        }
        *phase.borrow_mut() = Phase::Running(Some(stream.clone()));
        match exchange(stream.clone(), request, url, started, timing).await {
            Ok(Exchanged {
                response,
                keep_alive,
            }) => {
                set_running(phase);
                if keep_alive && !inner.is_closed() {
                    Pool::put(&inner.pool, key, stream);
                } else {
                    stream.close();
                }
                return Ok(response);
            }
            Err(failed) => {
                set_running(phase);
                stream.close();
                if reused && !failed.received && request.idempotent() {
                    log::debug!(
                        target: "tornado.general",
                        "reused connection to {} was closed; retrying on a new one",
                        url.host_port()
                    );
                    may_reuse = false;
                    continue;
                }
                return Err(failed.error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tornado_ioloop::IOLoop;

    use super::*;
    use crate::client::{HttpClient, HttpClientOptions};

    #[test]
    fn work_abandoned_by_its_timeout_gives_its_slot_back_unused() {
        let ioloop = IOLoop::new().unwrap();
        ioloop.make_current();
        let client = HttpClient::new(HttpClientOptions::new().max_clients(1));
        let inner = client.inner.clone();
        // The timeout fired just before the slot was granted.
        let phase = Rc::new(RefCell::new(Phase::TimedOut));
        // Port 1: were a connection attempted, the error would be "refused".
        let request = HttpRequest::with_url("http://127.0.0.1:1/");
        let e = ioloop
            .run_sync(
                move || tornado_gen::coroutine(run(inner, request, phase, Instant::now())),
                None,
            )
            .unwrap_err();
        let tornado_ioloop::Error::Future(e) = e else {
            panic!("{e}")
        };
        let e = e.downcast_ref::<HttpClientError>().unwrap();
        assert_eq!(e.kind, HttpClientErrorKind::Timeout);
        assert_eq!(client.active_requests(), 0);
        assert_eq!(client.connections_opened(), 0);
    }
}
