//! A JSON API with a background worker: `POST /jobs` queues a job (a list
//! of numbers to add up), a worker coroutine takes jobs off a
//! `tornado::queues::Queue` one at a time, and `GET /jobs/<id>` reports the
//! job's status and result.
//!
//! Run: `cargo run --example json_api -- --port 8888`, then
//! `curl -d '{"numbers": [1, 2, 3]}' http://127.0.0.1:8888/jobs` and
//! `curl http://127.0.0.1:8888/jobs/1`. With `--self-test` it serves on an
//! ephemeral port, drives itself with the HTTP client and exits.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};
use tornado::concurrent::Error;
use tornado::r#gen::{coroutine, sleep, spawn};
use tornado::http::{FetchOptions, HttpClientError, fetch};
use tornado::ioloop::IOLoop;
use tornado::queues::Queue;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

#[path = "common/logging.rs"]
mod logging;

/// One job: its input, and its result once the worker is done.
struct Job {
    numbers: Vec<f64>,
    status: &'static str,
    result: Option<f64>,
}

/// What the handlers and the worker share (one thread: `Rc`).
#[derive(Clone)]
struct Jobs {
    table: Rc<RefCell<BTreeMap<u64, Job>>>,
    queue: Queue<u64>,
    /// How long the worker takes per job (to make "queued" observable).
    work: Duration,
}

impl Jobs {
    fn report(&self, id: u64) -> Option<Value> {
        let table = self.table.borrow();
        let job = table.get(&id)?;
        Some(
            json!({"id": id, "status": job.status, "count": job.numbers.len(), "result": job.result}),
        )
    }
}

/// The worker: takes job ids off the queue, in order, forever.
async fn worker(jobs: Jobs) -> Result<(), Error> {
    loop {
        let id = jobs.queue.get().await?;
        let numbers = match jobs.table.borrow_mut().get_mut(&id) {
            Some(job) => {
                job.status = "running";
                job.numbers.clone()
            }
            None => continue,
        };
        sleep(jobs.work).await;
        if let Some(job) = jobs.table.borrow_mut().get_mut(&id) {
            job.result = Some(numbers.iter().sum());
            job.status = "done";
        }
        jobs.queue.task_done()?;
        log::info!(target: "tornado.application", "job {id} done");
    }
}

#[derive(Clone)]
struct JobsHandler(Jobs);

impl RequestHandler for JobsHandler {
    /// Queues a job: `{"numbers": [..]}` → 202 with its id.
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let body: Value = serde_json::from_slice(&cx.request().body)
            .map_err(|e| HttpError::new(400).with_log_message(format!("body is not JSON: {e}")))?;
        let numbers = body["numbers"]
            .as_array()
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                HttpError::new(400).with_log_message("expected {\"numbers\": [numbers]}")
            })?;
        let id = {
            let mut table = self.0.table.borrow_mut();
            let id = table.keys().next_back().map_or(1, |k| k + 1);
            table.insert(
                id,
                Job {
                    numbers,
                    status: "queued",
                    result: None,
                },
            );
            id
        };
        self.0.queue.put(id).await?;
        cx.set_status(202);
        cx.set_header("Location", format!("/jobs/{id}"));
        cx.write(self.0.report(id).unwrap_or(Value::Null));
        Ok(())
    }

    /// Lists every job.
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let ids: Vec<u64> = self.0.table.borrow().keys().copied().collect();
        let all: Vec<Value> = ids.into_iter().filter_map(|id| self.0.report(id)).collect();
        cx.write(json!({"jobs": all}));
        Ok(())
    }
}

#[derive(Clone)]
struct JobHandler(Jobs);

impl RequestHandler for JobHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let id: u64 = cx.path_args()[0].parse()?;
        let report = self.0.report(id).ok_or_else(|| HttpError::new(404))?;
        cx.write(report);
        Ok(())
    }
}

/// Drives the API over HTTP and checks its answers.
async fn self_test(base: String) -> Result<(), Error> {
    let post = |body: &str| {
        fetch(
            &format!("{base}/jobs"),
            FetchOptions::new()
                .method("POST")
                .header("Content-Type", "application/json")
                .body(body.to_owned()),
        )
    };
    let first = post(r#"{"numbers": [1, 2, 3.5]}"#).await?;
    assert_eq!(first.code, 202);
    let first: Value = serde_json::from_slice(&first.body)?;
    assert_eq!(first["status"], "queued");
    let second: Value = serde_json::from_slice(&post(r#"{"numbers": [10]}"#).await?.body)?;
    let bad = post("not json").await.expect_err("a 400");
    let bad = bad
        .downcast_ref::<HttpClientError>()
        .expect("a client error");
    assert_eq!(bad.code(), 400);
    for job in [&first, &second] {
        let url = format!("{base}/jobs/{}", job["id"]);
        let report = loop {
            let r: Value = serde_json::from_slice(&fetch(&url, FetchOptions::new()).await?.body)?;
            if r["status"] == "done" {
                break r;
            }
            sleep(Duration::from_millis(10)).await;
        };
        println!("GET {url} -> {report}");
    }
    let r: Value = serde_json::from_slice(
        &fetch(&format!("{base}/jobs/1"), FetchOptions::new())
            .await?
            .body,
    )?;
    assert_eq!(r["result"], 6.5);
    let missing = fetch(
        &format!("{base}/jobs/99"),
        FetchOptions::new().raise_error(false),
    )
    .await?;
    assert_eq!(missing.code, 404);
    let all: Value = serde_json::from_slice(
        &fetch(&format!("{base}/jobs"), FetchOptions::new())
            .await?
            .body,
    )?;
    assert_eq!(all["jobs"].as_array().map(Vec::len), Some(2));
    println!("json_api self-test ok");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut test) = (8888u16, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: json_api [--port P] [--self-test]"
                )
                .into());
            }
        }
    }
    let jobs = Jobs {
        table: Rc::default(),
        queue: Queue::new(100),
        work: Duration::from_millis(20),
    };
    spawn(worker(jobs.clone()));
    let app = Application::new(vec![
        route("/jobs", JobsHandler(jobs.clone())),
        route(r"/jobs/([0-9]+)", JobHandler(jobs)),
    ]);
    let (_server, addrs) = app.listen_on(if test { 0 } else { port }, Some("127.0.0.1"))?;
    let base = format!("http://{}", addrs[0]);
    if test {
        IOLoop::current().run_sync(
            move || coroutine(self_test(base)),
            Some(Duration::from_secs(30)),
        )?;
        return Ok(());
    }
    println!("json_api listening on {base}/jobs");
    println!("try: curl -d '{{\"numbers\": [1, 2, 3]}}' {base}/jobs && curl {base}/jobs/1");
    IOLoop::current().start()?;
    Ok(())
}
