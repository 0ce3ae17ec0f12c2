//! A JSON API over PostgreSQL: create, read, list, update and delete notes,
//! through a `tornado::pg::Pool` on the loop (tokio-postgres over
//! `IOStream`, no tokio runtime). The table is created at start-up.
//!
//! Run (feature `postgres`):
//! `cargo run --features postgres --example pg_api -- --dsn postgresql://user@127.0.0.1/db`
//! (or set `DATABASE_URL`), then
//! `curl -d '{"title": "hi", "body": "there"}' http://127.0.0.1:8888/notes`,
//! `curl http://127.0.0.1:8888/notes/1`, `curl -X PUT -d '{"title": "x"}' ..`,
//! `curl -X DELETE ..`. With `--self-test` it serves on an ephemeral port
//! (against a throwaway PostgreSQL cluster when no DSN is given), drives
//! itself with the HTTP client and exits.

use std::time::Duration;

use serde_json::{Value, json};
use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::http::{FetchOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::pg::tokio_postgres::Row;
use tornado::pg::{Config, PgError, Pool, PoolOptions, TempCluster};
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

/// The migration run at start-up (idempotent).
const MIGRATION: &str = "CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL DEFAULT '',
    created timestamptz NOT NULL DEFAULT now()
)";

/// A database error as an HTTP error: the database unreachable or gone is
/// 503 (try again later), anything else 500. Both are logged.
fn db_error(e: PgError) -> HttpError {
    let status = if e.is_closed() || matches!(e, PgError::PoolTimeout(_)) {
        503
    } else {
        500
    };
    HttpError::new(status).with_log_message(format!("database: {e}"))
}

fn note_json(row: &Row) -> Value {
    json!({
        "id": row.get::<_, i64>("id"),
        "title": row.get::<_, String>("title"),
        "body": row.get::<_, String>("body"),
    })
}

/// The request body as a JSON object with string fields `title`, `body`.
fn fields(cx: &Context) -> Result<(Option<String>, Option<String>), HttpError> {
    let body: Value = serde_json::from_slice(&cx.request().body)
        .map_err(|e| HttpError::new(400).with_log_message(format!("body is not JSON: {e}")))?;
    let get = |k: &str| -> Result<Option<String>, HttpError> {
        match &body[k] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(HttpError::new(400).with_log_message(format!("{k} must be a string"))),
        }
    };
    Ok((get("title")?, get("body")?))
}

#[derive(Clone)]
struct NotesHandler(Pool);

impl RequestHandler for NotesHandler {
    /// Lists notes, newest first.
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let db = self.0.get().await.map_err(db_error)?;
        let rows = db
            .query("SELECT id, title, body FROM notes ORDER BY id DESC", &[])
            .await
            .map_err(db_error)?;
        cx.write(json!({"notes": rows.iter().map(note_json).collect::<Vec<_>>()}));
        Ok(())
    }

    /// Creates a note: 201 with it and its `Location`.
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let (title, body) = fields(cx)?;
        let title =
            title.ok_or_else(|| HttpError::new(400).with_log_message("title is required"))?;
        let db = self.0.get().await.map_err(db_error)?;
        let row = db
            .query_one(
                "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id, title, body",
                &[&title, &body.unwrap_or_default()],
            )
            .await
            .map_err(db_error)?;
        let note = note_json(&row);
        cx.set_status(201);
        cx.set_header("Location", format!("/notes/{}", note["id"]));
        cx.write(note);
        Ok(())
    }
}

#[derive(Clone)]
struct NoteHandler(Pool);

impl NoteHandler {
    fn id(cx: &Context) -> Result<i64, HttpError> {
        cx.path_args()[0]
            .parse()
            .map_err(|_| HttpError::new(404).with_log_message("id out of range"))
    }
}

impl RequestHandler for NoteHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let id = Self::id(cx)?;
        let db = self.0.get().await.map_err(db_error)?;
        let row = db
            .query_opt("SELECT id, title, body FROM notes WHERE id = $1", &[&id])
            .await
            .map_err(db_error)?
            .ok_or_else(|| HttpError::new(404))?;
        cx.write(note_json(&row));
        Ok(())
    }

    /// Updates the fields given; the others keep their values.
    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let id = Self::id(cx)?;
        let (title, body) = fields(cx)?;
        let db = self.0.get().await.map_err(db_error)?;
        let row = db
            .query_opt(
                "UPDATE notes SET title = coalesce($2, title), body = coalesce($3, body)
                 WHERE id = $1 RETURNING id, title, body",
                &[&id, &title, &body],
            )
            .await
            .map_err(db_error)?
            .ok_or_else(|| HttpError::new(404))?;
        cx.write(note_json(&row));
        Ok(())
    }

    async fn delete(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let id = Self::id(cx)?;
        let db = self.0.get().await.map_err(db_error)?;
        let n = db
            .execute("DELETE FROM notes WHERE id = $1", &[&id])
            .await
            .map_err(db_error)?;
        if n == 0 {
            return Err(HttpError::new(404));
        }
        cx.set_status(204);
        Ok(())
    }
}

/// Drives the API over HTTP and checks its answers.
async fn self_test(base: String) -> Result<(), Error> {
    let call = |method: &str, path: &str, body: Option<&str>| {
        let mut options = FetchOptions::new().method(method).raise_error(false);
        if let Some(b) = body {
            options = options
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        fetch(&format!("{base}{path}"), options)
    };
    let json_of = |body: &[u8]| serde_json::from_slice::<Value>(body);
    // Relative counts: the table may hold notes already (a DATABASE_URL).
    let count = || async {
        let list = json_of(&call("GET", "/notes", None).await?.body)?;
        Ok::<_, Error>(list["notes"].as_array().map_or(0, Vec::len))
    };
    let before = count().await?;

    let created = call(
        "POST",
        "/notes",
        Some(r#"{"title": "first", "body": "hello"}"#),
    )
    .await?;
    assert_eq!(created.code, 201);
    let first = json_of(&created.body)?;
    let path = format!("/notes/{}", first["id"]);
    let second = call("POST", "/notes", Some(r#"{"title": "second"}"#)).await?;
    assert_eq!(second.code, 201);
    assert_eq!(
        call("POST", "/notes", Some(r#"{"body": "x"}"#)).await?.code,
        400
    );
    assert_eq!(call("POST", "/notes", Some("not json")).await?.code, 400);

    let got = call("GET", &path, None).await?;
    assert_eq!(got.code, 200);
    assert_eq!(json_of(&got.body)?, first);

    let updated = call("PUT", &path, Some(r#"{"body": "changed"}"#)).await?;
    assert_eq!(updated.code, 200);
    let updated = json_of(&updated.body)?;
    assert_eq!(
        (updated["title"].as_str(), updated["body"].as_str()),
        (Some("first"), Some("changed"))
    );

    let list = json_of(&call("GET", "/notes", None).await?.body)?;
    assert_eq!(list["notes"].as_array().map(Vec::len), Some(before + 2));
    assert_eq!(list["notes"][1], updated, "newest first");

    assert_eq!(call("DELETE", &path, None).await?.code, 204);
    assert_eq!(call("GET", &path, None).await?.code, 404);
    assert_eq!(call("DELETE", &path, None).await?.code, 404);
    assert_eq!(
        call("PUT", "/notes/99999999", Some(r#"{"title": "x"}"#))
            .await?
            .code,
        404
    );
    assert_eq!(count().await?, before + 1);
    println!("pg_api self-test ok");
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
    let (mut port, mut test) = (8888u16, false);
    let mut dsn = std::env::var("DATABASE_URL").ok();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--dsn" => dsn = Some(args.next().ok_or("--dsn takes a connection string")?),
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: pg_api [--port P] [--dsn DSN] [--self-test]"
                )
                .into());
            }
        }
    }
    // Without a DSN the self-test brings its own server (kept until we exit).
    let mut _cluster = None;
    let config: Config = match dsn {
        Some(dsn) => dsn.parse()?,
        None if test => match TempCluster::start() {
            Ok(c) => {
                let config = c.config();
                _cluster = Some(c);
                config
            }
            Err(e) if e.is_not_installed() => {
                println!("pg_api self-test SKIPPED: {e}");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        },
        None => return Err("no database: give --dsn DSN or set DATABASE_URL".into()),
    };
    let pool = Pool::new(
        config,
        PoolOptions::new()
            .max_size(10)
            .wait_timeout(Duration::from_secs(5)),
    );
    let migrate = pool.clone();
    IOLoop::current().run_sync(
        move || {
            coroutine(async move {
                migrate.get().await?.batch_execute(MIGRATION).await?;
                Ok(())
            })
        },
        Some(Duration::from_secs(30)),
    )?;
    let app = Application::new(vec![
        route("/notes", NotesHandler(pool.clone())),
        route(r"/notes/([0-9]+)", NoteHandler(pool)),
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
    println!("pg_api listening on {base}/notes");
    IOLoop::current().start()?;
    Ok(())
}
