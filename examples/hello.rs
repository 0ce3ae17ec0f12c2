//! Hello, world: the smallest web application, with a path argument (the
//! README's web example).
//!
//! Run: `cargo run --release --example hello -- --port 8888`, then
//! `curl http://127.0.0.1:8888/` or `curl http://127.0.0.1:8888/user/7`
//! (`{"id":7}`). An id too large for a `u64` is a 400, logged. With
//! `--self-test` it serves on an ephemeral port, checks its answers with
//! the HTTP client and exits.
//!
//! On several cores: `--processes N` forks N worker processes (0: one per
//! core) under a supervising parent that restarts a crashed worker and
//! stops them all gracefully on SIGTERM; each worker binds its own
//! `SO_REUSEPORT` socket unless `--shared-socket` is given. `--threads N`
//! serves on N threads of one process instead, one loop each.
//! `GET /worker` answers which process and thread served it, e.g.
//! `{"pid":1234,"task_id":0,"thread":"main"}`.
//! `--max-buffer-size N` caps each connection's read buffer at N bytes (the
//! soak test's memory-limited run; single-process serving only).

use std::time::Duration;

use serde_json::{Value, json};
use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::http::{FetchOptions, HttpServer, HttpServerOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::process::task_id;
use tornado::tcp::signals::{SIGINT, SIGTERM, wait_for_signal};
use tornado::tcp::{DEFAULT_GRACE, Processes};
use tornado::web::{Application, Context, HttpError, RequestHandler, listen_threads, route};

#[path = "common/logging.rs"]
mod logging;

#[derive(Clone)]
struct MainHandler;

impl RequestHandler for MainHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("Hello, world");
        Ok(())
    }
}

#[derive(Clone)]
struct UserHandler;

impl RequestHandler for UserHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        // The route admits only digits, so a parse error means "too large":
        // the client's mistake (400), not the server's.
        let id: u64 = cx.path_args()[0]
            .parse()
            .map_err(|e| HttpError::new(400).with_log_message(format!("bad user id: {e}")))?;
        cx.write(json!({ "id": id }));
        Ok(())
    }
}

/// Which process and thread serve: tells the workers apart.
#[derive(Clone)]
struct WorkerHandler;

impl RequestHandler for WorkerHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let thread = std::thread::current();
        cx.write(json!({
            "pid": std::process::id(),
            "task_id": task_id(),
            "thread": thread.name().unwrap_or("?"),
        }));
        Ok(())
    }
}

fn make_app() -> Application {
    Application::new(vec![
        route("/", MainHandler),
        route(r"/user/([0-9]+)", UserHandler),
        route("/worker", WorkerHandler),
    ])
}

/// Drives the server at `base` with the HTTP client and checks each answer.
async fn self_test(base: String) -> Result<(), Error> {
    let get = |path: &str| {
        fetch(
            &format!("{base}{path}"),
            FetchOptions::new().raise_error(false),
        )
    };
    let root = get("/").await?;
    assert_eq!((root.code, root.text().as_str()), (200, "Hello, world"));
    let user = get("/user/7").await?;
    assert_eq!(user.code, 200);
    assert_eq!(
        user.headers.get("Content-Type"),
        Some("application/json; charset=UTF-8")
    );
    let v: Value = serde_json::from_slice(&user.body)?;
    assert_eq!(v, json!({ "id": 7 }));
    assert_eq!(get("/user/18446744073709551615").await?.code, 200);
    // One past u64::MAX, and far past it: the client's mistake.
    assert_eq!(get("/user/18446744073709551616").await?.code, 400);
    assert_eq!(get("/user/12345678901234567890123").await?.code, 400);
    assert_eq!(get("/user/x").await?.code, 404);
    let worker: Value = serde_json::from_slice(&get("/worker").await?.body)?;
    assert_eq!(worker["pid"], json!(std::process::id()));
    println!("hello self-test ok");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8888;
    let mut address = String::from("127.0.0.1");
    let mut test = false;
    let mut processes: Option<usize> = None;
    let mut threads: Option<usize> = None;
    let mut shared_socket = false;
    let mut max_buffer_size: Option<usize> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--address" => address = args.next().ok_or("--address takes an address")?,
            "--processes" => {
                processes = Some(args.next().ok_or("--processes takes a number")?.parse()?)
            }
            "--threads" => threads = Some(args.next().ok_or("--threads takes a number")?.parse()?),
            "--shared-socket" => shared_socket = true,
            "--max-buffer-size" => {
                max_buffer_size = Some(
                    args.next()
                        .ok_or("--max-buffer-size takes a byte count")?
                        .parse()?,
                )
            }
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: hello [--port P] [--address A] \
                     [--processes N [--shared-socket] | --threads N] [--max-buffer-size BYTES] \
                     [--self-test]"
                )
                .into());
            }
        }
    }
    if test {
        let (_server, addrs) = make_app().listen_on(0, Some("127.0.0.1"))?;
        let base = format!("http://{}", addrs[0]);
        IOLoop::current().run_sync(
            move || coroutine(self_test(base)),
            Some(Duration::from_secs(30)),
        )?;
        return Ok(());
    }
    match (processes, threads) {
        (Some(_), Some(_)) => Err("--processes and --threads exclude each other".into()),
        (Some(_), None) | (None, Some(_)) if max_buffer_size.is_some() => {
            Err("--max-buffer-size is for single-process serving".into())
        }
        (Some(n), None) => {
            let options = Processes::new(n).reuse_port(!shared_socket);
            // Forks here: from this line on, in a worker.
            let (_server, addrs) = make_app().listen_processes(port, Some(&address), &options)?;
            let id = task_id().unwrap_or(0);
            for a in addrs {
                println!(
                    "hello worker {id} (pid {}) listening on http://{a}/",
                    std::process::id()
                );
            }
            // Returns after SIGTERM/SIGINT, once open requests are done.
            IOLoop::current().start()?;
            Ok(())
        }
        (None, Some(n)) => {
            let running = listen_threads(make_app, port, Some(&address), n)?;
            for a in running.addresses() {
                println!(
                    "hello: {} threads listening on http://{a}/",
                    running.threads()
                );
            }
            IOLoop::current().run_sync(
                || coroutine(async { wait_for_signal(&[SIGTERM, SIGINT])?.await }),
                None,
            )?;
            running.shutdown(DEFAULT_GRACE);
            running.join()?;
            Ok(())
        }
        (None, None) => {
            let mut options = HttpServerOptions::default();
            if let Some(n) = max_buffer_size {
                options.max_buffer_size = n;
            }
            let server = HttpServer::new(make_app(), options);
            let addrs = server.listen_on(port, Some(&address))?;
            for a in addrs {
                println!("hello listening on http://{a}/");
            }
            IOLoop::current().start()?;
            Ok(())
        }
    }
}
