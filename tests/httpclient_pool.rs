//! The HTTP client's queue and connection pool against scripted local
//! servers: max_clients and its FIFO queue (and timeouts in it), reuse,
//! idle expiry, `Connection: close`, idle limits, a server closing a
//! pooled connection (retried once when safe), bad answers kept out of the
//! pool, and a trickling server bounded by request_timeout.

mod client_support;
mod common;

use std::time::{Duration, Instant};

use client_support::{Action, RawServer, client_error, ok, run};
use common::fresh_loop;
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::http::{HttpClient, HttpClientErrorKind, HttpClientOptions, HttpRequest};

fn client(options: HttpClientOptions) -> HttpClient {
    HttpClient::new(options)
}

#[test]
fn max_clients_2_queues_the_rest_in_order() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| Action::After(Duration::from_millis(100), Box::new(ok("x"))));
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new().max_clients(2));
    let c2 = c.clone();
    let started = Instant::now();
    let responses = run(move || {
        let fetches: Vec<_> = (0..5)
            .map(|i| c2.fetch_request(HttpRequest::with_url(format!("{url}?n={i}"))))
            .collect();
        assert_eq!((c2.active_requests(), c2.queued_requests()), (2, 3));
        multi(fetches)
    })
    .unwrap();
    // Three rounds of two: about 300 ms, never more than two at the server.
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(s.peak.get(), 2);
    // FIFO: the server saw the requests round by round in the order they
    // were made (the two of one round start together, in either order).
    let order: Vec<String> = s
        .requests
        .borrow()
        .iter()
        .map(|r| r.line().to_owned())
        .collect();
    for (i, line) in order.iter().enumerate() {
        let round = [i - i % 2, i - i % 2 + 1];
        assert!(
            round.iter().any(|n| line.contains(&format!("?n={n} "))),
            "{order:?}"
        );
    }
    // The later ones waited in the queue, and that counts in their time.
    assert!(responses[0].time_info.queue < Duration::from_millis(50));
    assert!(responses[4].time_info.queue >= Duration::from_millis(190));
    assert!(responses[4].request_time >= responses[4].time_info.queue);
    assert_eq!(c.active_requests(), 0);
    // Two connections, reused for the later requests.
    assert_eq!(s.connections(), 2);
}

#[test]
fn a_request_timing_out_in_the_queue_says_so_and_frees_nothing_twice() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| Action::After(Duration::from_millis(300), Box::new(ok("slow"))));
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new().max_clients(1));
    let (slow, queued, after) = run(move || {
        let slow = c.fetch_request(HttpRequest::with_url(url.clone()));
        let queued = c.fetch_request(
            HttpRequest::with_url(url.clone()).request_timeout(Duration::from_millis(100)),
        );
        let after = c.fetch_request(HttpRequest::with_url(url));
        coroutine(async move {
            let q = queued.await;
            Ok((slow.await?, q, after.await?))
        })
    })
    .unwrap();
    let e = queued.err().unwrap();
    let e = e.downcast_ref::<tornado::http::HttpClientError>().unwrap();
    assert_eq!(e.kind, HttpClientErrorKind::Timeout);
    assert!(e.message.contains("queue"), "{}", e.message);
    assert_eq!((slow.code, after.code), (200, 200));
    // The timed-out request never reached the server.
    assert_eq!(s.request_count(), 2);
}

#[test]
fn connections_are_reused_and_expire_when_idle() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| ok("hi"));
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new().idle_timeout(Duration::from_millis(100)));
    let c2 = c.clone();
    let reused = run(move || {
        coroutine(async move {
            let mut connect_times = Vec::new();
            for _ in 0..3 {
                let r = c2.fetch_request(HttpRequest::with_url(url.clone())).await?;
                connect_times.push(r.time_info.connect);
            }
            assert_eq!(c2.idle_connections(), 1);
            sleep(Duration::from_millis(250)).await;
            assert_eq!(c2.idle_connections(), 0, "closed after the idle timeout");
            c2.fetch_request(HttpRequest::with_url(url)).await?;
            Ok(connect_times)
        })
    })
    .unwrap();
    assert_eq!(s.connections(), 2);
    assert_eq!(c.connections_opened(), 2);
    // A reused connection has no connect time.
    assert_eq!(reused[1], Duration::ZERO);
    let per_conn: Vec<usize> = s.requests.borrow().iter().map(|r| r.conn).collect();
    assert_eq!(per_conn, [0, 0, 0, 1]);
}

#[test]
fn connection_close_and_http10_are_not_pooled() {
    let _l = fresh_loop();
    let s = RawServer::start(|r| {
        if r.line().contains("/close") {
            Action::Reply(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx".to_vec(),
            )
        } else {
            Action::Reply(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx".to_vec())
        }
    });
    let base = s.url.clone();
    let c = client(HttpClientOptions::new());
    let c2 = c.clone();
    run(move || {
        coroutine(async move {
            for path in ["/close", "/close", "/old", "/old"] {
                c2.fetch_request(HttpRequest::with_url(format!("{base}{path}")))
                    .await?;
                assert_eq!(c2.idle_connections(), 0);
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(s.connections(), 4);
    // A request asking for the close is not pooled either.
    let s = RawServer::start(|_| ok("x"));
    let url = format!("{}/", s.url);
    let c3 = c.clone();
    run(move || c3.fetch_request(HttpRequest::with_url(url).header("Connection", "close")))
        .unwrap();
    assert_eq!(c.idle_connections(), 0);
}

#[test]
fn by_default_every_busy_connection_may_stay_idle() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| Action::After(Duration::from_millis(30), Box::new(ok("x"))));
    let url = format!("{}/", s.url);
    // As many idle connections as max_clients allows busy: a burst of 15
    // leaves 15 to reuse, and the next burst opens none.
    let c = client(HttpClientOptions::new().max_clients(20));
    for _ in 0..2 {
        let c2 = c.clone();
        let url = url.clone();
        run(move || {
            multi(
                (0..15)
                    .map(|_| c2.fetch_request(HttpRequest::with_url(url.clone())))
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap();
        assert_eq!(c.idle_connections(), 15);
    }
    assert_eq!(s.connections(), 15);
}

#[test]
fn idle_connections_per_host_are_limited() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| Action::After(Duration::from_millis(30), Box::new(ok("x"))));
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new().max_idle_per_host(2));
    let c2 = c.clone();
    run(move || {
        multi(
            (0..4)
                .map(|_| c2.fetch_request(HttpRequest::with_url(url.clone())))
                .collect::<Vec<_>>(),
        )
    })
    .unwrap();
    assert_eq!(s.connections(), 4);
    assert_eq!(c.idle_connections(), 2);
    // No reuse at all with a limit of 0.
    let none = client(HttpClientOptions::new().max_idle_per_host(0));
    let url = format!("{}/", s.url);
    run(move || {
        coroutine(async move {
            none.fetch_request(HttpRequest::with_url(url.clone()))
                .await?;
            none.fetch_request(HttpRequest::with_url(url)).await?;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(s.connections(), 6);
}

/// The second request on the first connection finds it closed by the
/// server (which read it and closed without a word): the case of a server
/// closing an idle connection just as the client reuses it.
fn closes_second_request_on_first_connection() -> RawServer {
    RawServer::start(|r| {
        if r.conn == 0 && r.index == 1 {
            Action::Close
        } else {
            ok("fine")
        }
    })
}

#[test]
fn a_reused_connection_closed_by_the_server_is_retried_once_when_safe() {
    let _l = fresh_loop();
    let s = closes_second_request_on_first_connection();
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new());
    let c2 = c.clone();
    let r = run(move || {
        coroutine(async move {
            c2.fetch_request(HttpRequest::with_url(url.clone())).await?;
            c2.fetch_request(HttpRequest::with_url(url)).await
        })
    })
    .unwrap();
    assert_eq!(r.text(), "fine");
    // The GET was sent twice: on the dead connection, then on a new one.
    assert_eq!(s.connections(), 2);
    assert_eq!(s.request_count(), 3);

    // A POST is not idempotent: the failure is reported, not retried.
    let s = closes_second_request_on_first_connection();
    let url = format!("{}/", s.url);
    let c2 = c.clone();
    let e = run(move || {
        coroutine(async move {
            c2.fetch_request(HttpRequest::with_url(url.clone())).await?;
            c2.fetch_request(HttpRequest::with_url(url).method("POST").body("once"))
                .await
        })
    })
    .unwrap_err();
    assert_eq!(client_error(e).kind, HttpClientErrorKind::Connection);
    assert_eq!((s.connections(), s.request_count()), (1, 2));
}

#[test]
fn a_server_closing_idle_connections_is_noticed() {
    let _l = fresh_loop();
    // Answers as if keeping the connection, then closes it: the pooled
    // connection is dead before (or as) the next request uses it.
    let s = RawServer::start(|_| {
        Action::ReplyClose(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
    });
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new());
    let c2 = c.clone();
    run(move || {
        coroutine(async move {
            for _ in 0..3 {
                c2.fetch_request(HttpRequest::with_url(url.clone())).await?;
                // Let the server's close arrive in some of the rounds.
                sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(s.connections(), 3);
    assert_eq!(
        s.request_count(),
        3,
        "dead connections noticed before sending"
    );
}

#[test]
fn bad_answers_fail_typed_and_leave_the_pool() {
    let _l = fresh_loop();
    let s = RawServer::start(|r| match r.line() {
        l if l.contains("/long") => {
            Action::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA".to_vec())
        }
        l if l.contains("/short") => {
            Action::ReplyClose(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort".to_vec())
        }
        l if l.contains("/cut") => Action::ReplyClose(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
        ),
        l if l.contains("/status") => Action::Reply(b"HTTP/1.1 2x0 OK\r\n\r\n".to_vec()),
        l if l.contains("/header") => {
            Action::Reply(b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".to_vec())
        }
        l if l.contains("/gzip") => Action::Reply(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip"
                .to_vec(),
        ),
        _ => ok("good"),
    });
    let base = s.url.clone();
    let c = client(HttpClientOptions::new());
    for (path, kind) in [
        ("/long", HttpClientErrorKind::MalformedResponse),
        ("/short", HttpClientErrorKind::Connection),
        ("/cut", HttpClientErrorKind::Connection),
        ("/status", HttpClientErrorKind::MalformedResponse),
        ("/header", HttpClientErrorKind::MalformedResponse),
        ("/gzip", HttpClientErrorKind::MalformedResponse),
    ] {
        let before = s.connections();
        // A good request first leaves a pooled connection; the bad answer
        // comes on it, and the connection is closed, not pooled.
        let (c2, good, bad) = (c.clone(), format!("{base}/"), format!("{base}{path}"));
        let e = run(move || {
            coroutine(async move {
                c2.fetch_request(HttpRequest::with_url(good)).await?;
                assert_eq!(c2.idle_connections(), 1);
                c2.fetch_request(HttpRequest::with_url(bad)).await
            })
        })
        .unwrap_err();
        let e = client_error(e);
        assert_eq!(e.kind, kind, "{path}: {e}");
        assert_eq!(c.idle_connections(), 0, "{path}");
        assert_eq!(
            s.connections(),
            before + 1,
            "{path}: one connection, not retried"
        );
    }
}

#[test]
fn a_trickling_server_is_bounded_by_request_timeout() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| {
        Action::Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".repeat(20),
            Duration::from_millis(20),
        )
    });
    let url = format!("{}/", s.url);
    let started = Instant::now();
    let e = run(move || {
        HttpClient::new(HttpClientOptions::new())
            .fetch_request(HttpRequest::with_url(url).request_timeout(Duration::from_millis(300)))
    })
    .unwrap_err();
    let e = client_error(e);
    assert_eq!(e.kind, HttpClientErrorKind::Timeout);
    assert!(!e.message.contains("queue"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn close_fails_queued_and_later_fetches() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| Action::After(Duration::from_millis(50), Box::new(ok("x"))));
    let url = format!("{}/", s.url);
    let c = client(HttpClientOptions::new().max_clients(1));
    let (first, queued, later) = run(move || {
        let first = c.fetch_request(HttpRequest::with_url(url.clone()));
        let queued = c.fetch_request(HttpRequest::with_url(url.clone()));
        c.close();
        let later = c.fetch_request(HttpRequest::with_url(url));
        coroutine(async move { Ok((first.await, queued.await, later.await)) })
    })
    .unwrap();
    assert_eq!(first.unwrap().code, 200, "requests in flight finish");
    for e in [queued.unwrap_err(), later.unwrap_err()] {
        let e = e.downcast_ref::<tornado::http::HttpClientError>().unwrap();
        assert_eq!(e.kind, HttpClientErrorKind::Closed);
    }
}

#[test]
fn current_is_one_client_per_loop() {
    let l = fresh_loop();
    let a = HttpClient::current();
    let b = HttpClient::current();
    let s = RawServer::start(|_| ok("x"));
    let url = format!("{}/", s.url);
    run(move || a.fetch_request(HttpRequest::with_url(url))).unwrap();
    assert_eq!(b.connections_opened(), 1, "the same client");
    let _other = fresh_loop();
    assert_eq!(HttpClient::current().connections_opened(), 0);
    l.make_current();
    assert_eq!(HttpClient::current().connections_opened(), 1);
}
