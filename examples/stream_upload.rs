//! Streaming uploads: `PUT /upload/<name>` writes the request body to a
//! file in a directory as it arrives (a `STREAM_REQUEST_BODY` handler: one
//! chunk at a time, written and hashed on the executor), and answers
//! `{"bytes": N, "sha256": "..."}`. However large the upload, the server
//! holds about one chunk of it: the next chunk is not read until the last
//! one is on disk.
//!
//! Run: `cargo run --release --example stream_upload -- --port 8888
//! [--dir /tmp/uploads]`, then
//! `curl -T bigfile http://127.0.0.1:8888/upload/bigfile`. With
//! `--self-test` it serves on an ephemeral port, uploads a few MiB with the
//! HTTP client, checks the answer and the file, and exits.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tornado::concurrent::Error;
use tornado::r#gen::{coroutine, try_run_in_executor};
use tornado::http::{FetchOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

/// The largest upload taken (the server-wide default is 100 MiB).
const MAX_UPLOAD: usize = 64 << 30;

/// The file being written and the hash of what went into it: moved to the
/// executor for each chunk and back.
struct Sink {
    file: File,
    hash: Sha256,
    bytes: u64,
}

struct UploadHandler {
    dir: Arc<PathBuf>,
    sink: Option<Box<Sink>>,
}

/// Each request starts with no file open.
impl Clone for UploadHandler {
    fn clone(&self) -> Self {
        UploadHandler {
            dir: self.dir.clone(),
            sink: None,
        }
    }
}

/// A client's name reduced to safe characters: `../x` cannot leave the
/// directory.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "upload.bin".to_owned(),
        s => s.to_owned(),
    }
}

impl RequestHandler for UploadHandler {
    const STREAM_REQUEST_BODY: bool = true;

    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        if cx.request().method != "PUT" {
            return Err(HttpError::new(405));
        }
        cx.set_max_body_size(MAX_UPLOAD);
        let path = self.dir.join(safe_name(&cx.path_args()[0]));
        let dir = self.dir.clone();
        let file = try_run_in_executor(move || {
            std::fs::create_dir_all(&*dir)?;
            File::create(path)
        })
        .await?;
        self.sink = Some(Box::new(Sink {
            file,
            hash: Sha256::new(),
            bytes: 0,
        }));
        Ok(())
    }

    async fn data_received(&mut self, _cx: &mut Context, chunk: Vec<u8>) -> Result<(), HttpError> {
        let mut sink = self.sink.take().ok_or_else(|| HttpError::new(500))?;
        let sink = try_run_in_executor(move || -> std::io::Result<Box<Sink>> {
            sink.file.write_all(&chunk)?;
            sink.hash.update(&chunk);
            sink.bytes += chunk.len() as u64;
            Ok(sink)
        })
        .await?;
        self.sink = Some(sink);
        Ok(())
    }

    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let sink = self.sink.take().ok_or_else(|| HttpError::new(500))?;
        let (bytes, digest) = try_run_in_executor(move || -> std::io::Result<(u64, String)> {
            let Sink { file, hash, bytes } = *sink;
            file.sync_all()?;
            let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            Ok((bytes, hex))
        })
        .await?;
        cx.write(json!({"bytes": bytes, "sha256": digest}));
        Ok(())
    }
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn self_test(base: String, dir: Arc<PathBuf>) -> Result<(), Error> {
    let body: Vec<u8> = (0..(3 << 20) + 12345u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let reply = fetch(
        &format!("{base}/upload/data.bin"),
        FetchOptions::new().method("PUT").body(body.clone()),
    )
    .await?;
    let reply: Value = serde_json::from_slice(&reply.body)?;
    println!("PUT /upload/data.bin -> {reply}");
    assert_eq!(reply["bytes"].as_u64(), Some(body.len() as u64));
    assert_eq!(reply["sha256"].as_str(), Some(hex_sha256(&body).as_str()));
    assert_eq!(std::fs::read(dir.join("data.bin"))?, body);
    // An empty upload, and a name trying to leave the directory.
    let reply = fetch(
        &format!("{base}/upload/..%2Fescape"),
        FetchOptions::new().method("PUT").body(Vec::new()),
    )
    .await?;
    let reply: Value = serde_json::from_slice(&reply.body)?;
    assert_eq!(reply["bytes"].as_u64(), Some(0));
    assert_eq!(reply["sha256"].as_str(), Some(hex_sha256(b"").as_str()));
    assert!(dir.join("_escape").exists());
    let get = fetch(
        &format!("{base}/upload/x"),
        FetchOptions::new().raise_error(false),
    )
    .await?;
    assert_eq!(get.code, 405);
    println!("stream_upload self-test ok");
    Ok(())
}

#[path = "common/logging.rs"]
mod logging;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut test, mut dir) = (8888u16, false, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or("--dir takes a path")?)),
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: stream_upload [--port P] [--dir D] [--self-test]"
                )
                .into());
            }
        }
    }
    let dir = Arc::new(dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tornado-stream-uploads-{}", std::process::id()))
    }));
    let app = Application::new(vec![route(
        "/upload/(.+)",
        UploadHandler {
            dir: dir.clone(),
            sink: None,
        },
    )]);
    let (_server, addrs) = app.listen_on(if test { 0 } else { port }, Some("127.0.0.1"))?;
    let base = format!("http://{}", addrs[0]);
    if test {
        let d = dir.clone();
        let result = IOLoop::current().run_sync(
            move || coroutine(self_test(base, d)),
            Some(Duration::from_secs(60)),
        );
        let _ = std::fs::remove_dir_all(&*dir);
        result?;
        return Ok(());
    }
    println!(
        "stream_upload listening on {base}/upload/<name> (saving into {})",
        dir.display()
    );
    println!("try: curl -T Cargo.toml {base}/upload/Cargo.toml");
    IOLoop::current().start()?;
    Ok(())
}
