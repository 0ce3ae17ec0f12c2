//! The seed documents' slow server, served by this project's web framework:
//! `GET /slow?ms=N` answers after awaiting `gen::sleep` for N ms (the loop
//! serves other requests meanwhile). The client mode fires ten requests at
//! once with the HTTP client and prints the total time: about one delay,
//! not ten.
//!
//! Run: `cargo run --example slow_server -- --port 8888 [--delay-ms 200]`
//! and `curl http://127.0.0.1:8888/slow`; then, in another shell,
//! `cargo run --example slow_server -- --client http://127.0.0.1:8888/slow`.
//! `--client` without a URL (or `--self-test`, which also checks the
//! timing) serves on an ephemeral port and is its own client.

use std::time::{Duration, Instant};

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::http::{FetchOptions, HttpResponse, fetch};
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

#[path = "common/logging.rs"]
mod logging;

const CONCURRENT: usize = 10;

#[derive(Clone)]
struct SlowHandler {
    default_ms: u64,
}

impl RequestHandler for SlowHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let ms = match cx.get_argument_opt("ms") {
            Some(v) => v.parse::<u64>()?.min(60_000),
            None => self.default_ms,
        };
        sleep(Duration::from_millis(ms)).await;
        cx.write(format!("slept {ms} ms\n"));
        Ok(())
    }
}

/// Fires `CONCURRENT` requests at once; returns the elapsed time.
async fn clients(url: String) -> Result<Duration, Error> {
    let start = Instant::now();
    let requests: Vec<Future<HttpResponse>> = (0..CONCURRENT)
        .map(|_| fetch(&url, FetchOptions::new()))
        .collect();
    let responses = multi(requests).await?;
    let elapsed = start.elapsed();
    for (i, r) in responses.iter().enumerate() {
        println!("request {i}: {} {}", r.code, r.text().trim_end());
    }
    println!("{CONCURRENT} concurrent requests took {elapsed:.2?}");
    Ok(elapsed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut delay_ms) = (8888u16, 200u64);
    let (mut client, mut url, mut test) = (false, None, false);
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--delay-ms" => delay_ms = args.next().ok_or("--delay-ms takes a number")?.parse()?,
            "--client" => {
                client = true;
                if args.peek().is_some_and(|a| !a.starts_with("--")) {
                    url = args.next();
                }
            }
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: slow_server [--port P] [--delay-ms MS] [--client [URL]] [--self-test]"
                )
                .into());
            }
        }
    }
    let ioloop = IOLoop::current();
    if let Some(url) = url {
        ioloop.run_sync(move || coroutine(clients(url)), None)?;
        return Ok(());
    }
    let app = Application::new(vec![route(
        "/slow",
        SlowHandler {
            default_ms: delay_ms,
        },
    )]);
    let own_client = client || test;
    let (_server, addrs) = app.listen_on(if own_client { 0 } else { port }, Some("127.0.0.1"))?;
    let url = format!("http://{}/slow", addrs[0]);
    if own_client {
        let took = ioloop.run_sync(
            move || coroutine(clients(url)),
            Some(Duration::from_secs(60)),
        )?;
        if test {
            let delay = Duration::from_millis(delay_ms);
            // Concurrent: about one delay. Sequential would be ten.
            assert!(took >= delay, "faster than the delay: {took:?}");
            assert!(
                took < delay * 3,
                "not concurrent: {took:?} for a delay of {delay:?}"
            );
            println!("slow_server self-test ok");
        }
        return Ok(());
    }
    println!("slow_server listening on {url} ({delay_ms} ms per request; ?ms=N to change)");
    ioloop.start()?;
    Ok(())
}
