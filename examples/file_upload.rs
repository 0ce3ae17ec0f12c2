//! File uploads: `GET /` shows a form, `POST /upload` takes a
//! `multipart/form-data` body, saves each file into a directory (on the
//! executor, so the loop never waits for the disk) and answers with the
//! names and sizes saved.
//!
//! Run: `cargo run --example file_upload -- --port 8888 [--dir /tmp/uploads]`,
//! open http://127.0.0.1:8888/ or
//! `curl -F file=@Cargo.toml http://127.0.0.1:8888/upload`. With
//! `--self-test` it serves on an ephemeral port, uploads two files with the
//! HTTP client, checks what was saved and exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tornado::concurrent::Error;
use tornado::r#gen::{coroutine, try_run_in_executor};
use tornado::http::{FetchOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

#[path = "common/logging.rs"]
mod logging;

const FORM: &str = r#"<!doctype html>
<title>Upload</title>
<form action="/upload" method="post" enctype="multipart/form-data">
  <input type="file" name="file" multiple>
  <input type="text" name="note" placeholder="a note">
  <button>Upload</button>
</form>
"#;

#[derive(Clone)]
struct FormHandler;

impl RequestHandler for FormHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write(FORM);
        Ok(())
    }
}

#[derive(Clone)]
struct UploadHandler {
    dir: Arc<PathBuf>,
}

/// The last component of a client's file name, with only safe characters:
/// a name like `../../etc/passwd` must not leave the upload directory.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
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
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let files: Vec<(String, Vec<u8>)> = cx
            .request()
            .files
            .values()
            .flatten()
            .map(|f| (safe_name(&f.filename), f.body.clone()))
            .collect();
        if files.is_empty() {
            return Err(HttpError::new(400).with_log_message("no file in the upload"));
        }
        let dir = self.dir.clone();
        let saved = try_run_in_executor(move || -> std::io::Result<Vec<Value>> {
            std::fs::create_dir_all(&*dir)?;
            files
                .into_iter()
                .map(|(name, body)| {
                    std::fs::write(dir.join(&name), &body)?;
                    Ok(json!({"name": name, "size": body.len()}))
                })
                .collect()
        })
        .await?;
        let note = cx.get_body_argument_opt("note").unwrap_or_default();
        cx.write(json!({"saved": saved, "note": note}));
        Ok(())
    }
}

/// A multipart body with `files` under field "file" and a note.
fn multipart(boundary: &str, files: &[(&str, &[u8])], note: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, data) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n{note}\r\n--{boundary}--\r\n").as_bytes(),
    );
    body
}

async fn self_test(base: String, dir: Arc<PathBuf>) -> Result<(), Error> {
    let form = fetch(&format!("{base}/"), FetchOptions::new()).await?;
    assert!(form.text().contains("multipart/form-data"));
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    let boundary = "----tornado-rs-boundary";
    let body = multipart(
        boundary,
        &[("hello.txt", b"hello"), ("../sneaky.bin", &big)],
        "hi",
    );
    let reply = fetch(
        &format!("{base}/upload"),
        FetchOptions::new()
            .method("POST")
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body),
    )
    .await?;
    let reply: Value = serde_json::from_slice(&reply.body)?;
    println!("POST /upload -> {reply}");
    assert_eq!(reply["note"], "hi");
    let mut sizes: Vec<(String, u64)> = reply["saved"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or("").to_owned(),
                f["size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![
            ("hello.txt".to_owned(), 5),
            ("sneaky.bin".to_owned(), 200_000)
        ]
    );
    assert_eq!(std::fs::read(dir.join("sneaky.bin"))?, big);
    assert_eq!(std::fs::read(dir.join("hello.txt"))?, b"hello");
    let empty = fetch(
        &format!("{base}/upload"),
        FetchOptions::new().method("POST").raise_error(false),
    )
    .await?;
    assert_eq!(empty.code, 400);
    println!("file_upload self-test ok");
    Ok(())
}

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
                    "unknown argument {other}; usage: file_upload [--port P] [--dir D] [--self-test]"
                )
                .into());
            }
        }
    }
    let dir = Arc::new(dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tornado-uploads-{}", std::process::id()))
    }));
    let app = Application::new(vec![
        route("/", FormHandler),
        route("/upload", UploadHandler { dir: dir.clone() }),
    ]);
    let (_server, addrs) = app.listen_on(if test { 0 } else { port }, Some("127.0.0.1"))?;
    let base = format!("http://{}", addrs[0]);
    if test {
        let d = dir.clone();
        let result = IOLoop::current().run_sync(
            move || coroutine(self_test(base, d)),
            Some(Duration::from_secs(30)),
        );
        let _ = std::fs::remove_dir_all(&*dir);
        result?;
        return Ok(());
    }
    println!(
        "file_upload listening on {base}/ (saving into {})",
        dir.display()
    );
    println!("try: curl -F file=@Cargo.toml {base}/upload");
    IOLoop::current().start()?;
    Ok(())
}
