//! Tornado's blog demo in Rust: an Atom-fed blog with one author,
//! templates with an `Entry` UI module, XSRF-protected forms, signed-cookie
//! logins, Markdown posts, and SQLite storage.
//!
//! Routes (as the original): `/` (the latest five entries), `/archive`,
//! `/feed` (Atom), `/entry/<slug>`, `/compose` (logged in only: GET the
//! form, POST `title` and `markdown`, and `id` to edit), `/auth/create`
//! (`email`, `name`, `password`: the first account only), `/auth/login`
//! (`email`, `password`, then to `next`), `/auth/logout`.
//!
//! Database calls and password hashing (bcrypt) run on the thread pool,
//! never on the loop. The database file is created on first run.
//!
//! Run: `cargo run --example blog -- [--port 8888] [--db blog.db]`, open
//! <http://127.0.0.1:8888/> and create the author account. With
//! `--self-test` it serves a fresh database on an ephemeral port, signs up,
//! logs in, posts an entry with HTML in its title, reads it back escaped,
//! checks the feed parses, and exits.

#[path = "blog/db.rs"]
mod db;
#[path = "blog/self_test.rs"]
mod self_test;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use db::{Author, Db};
use tornado::r#gen::try_run_in_executor;
use tornado::ioloop::IOLoop;
use tornado::web::minijinja::{Error as TemplateError, State, Value, context};
use tornado::web::{
    Application, Context, CookieOptions, HttpError, RequestHandler, Settings, UiModule,
    render_module_template, route,
};
use unicode_normalization::UnicodeNormalization;

/// The signed cookie holding the logged-in author's id.
const USER_COOKIE: &str = "blogdemo_user";

/// Where the example's templates and static files are.
fn asset_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/blog")
        .join(name)
}

/// The author named by the request's signed cookie, if any (Tornado's
/// `get_current_user`, here a coroutine: it asks the database).
async fn load_user(db: &Db, cx: &mut Context) -> Result<Option<serde_json::Value>, HttpError> {
    let Some(id) = cx.get_signed_cookie(USER_COOKIE, 31.0) else {
        return Ok(None);
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    let author = db.author_by_id(id).await?;
    Ok(author.map(|a| serde_json::to_value(a).unwrap_or_default()))
}

/// Every handler of the blog finds its user the same way.
macro_rules! blog_user {
    () => {
        async fn get_current_user(
            &mut self,
            cx: &mut Context,
        ) -> Result<Option<serde_json::Value>, HttpError> {
            load_user(&self.db, cx).await
        }
    };
}

/// `next` if it is a path on this site, else `/` (no open redirects).
fn local_next(cx: &Context) -> String {
    let next = cx.get_argument_or("next", "/");
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/".to_owned()
    }
}

/// A URL slug from a title, as the original: compatibility-decomposed,
/// non-word runs to spaces, lower case, words joined by `-`, ASCII only.
fn slugify(title: &str) -> String {
    let decomposed: String = title.nfkd().collect();
    let spaced: String = decomposed
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let slug: String = spaced
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .filter(char::is_ascii)
        .collect();
    if slug.is_empty() {
        "entry".to_owned()
    } else {
        slug
    }
}

/// Markdown to HTML (the author is trusted, as in the original).
fn markdown(text: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(text));
    html
}

#[derive(Clone)]
struct HomeHandler {
    db: Db,
}
impl RequestHandler for HomeHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let entries = self.db.latest_entries(Some(5)).await?;
        if entries.is_empty() {
            cx.redirect("/compose", false);
            return Ok(());
        }
        cx.render("home.html", context! { entries })
    }
}

#[derive(Clone)]
struct EntryHandler {
    db: Db,
}
impl RequestHandler for EntryHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let slug = cx.path_args()[0].clone();
        let entry = self.db.entry_by_slug(slug).await?;
        let entry = entry.ok_or_else(|| HttpError::new(404))?;
        cx.render("entry.html", context! { entry })
    }
}

#[derive(Clone)]
struct ArchiveHandler {
    db: Db,
}
impl RequestHandler for ArchiveHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let entries = self.db.latest_entries(None).await?;
        cx.render("archive.html", context! { entries })
    }
}

#[derive(Clone)]
struct FeedHandler {
    db: Db,
}
impl RequestHandler for FeedHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let entries = self.db.latest_entries(Some(10)).await?;
        cx.set_header("Content-Type", "application/atom+xml");
        cx.render("feed.xml", context! { entries })
    }
}

/// The `id` argument, if given: a number, or a 400.
fn entry_id(cx: &Context) -> Result<Option<i64>, HttpError> {
    match cx.get_argument_opt("id").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(id) => id
            .parse()
            .map(Some)
            .map_err(|_| HttpError::new(400).with_log_message(format!("bad entry id {id:?}"))),
    }
}

#[derive(Clone)]
struct ComposeHandler {
    db: Db,
}
impl RequestHandler for ComposeHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()?;
        let entry = match entry_id(cx)? {
            Some(id) => Some(
                self.db
                    .entry_by_id(id)
                    .await?
                    .ok_or_else(|| HttpError::new(404))?,
            ),
            None => None,
        };
        cx.render("compose.html", context! { entry })
    }

    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()?;
        let id = entry_id(cx)?;
        let title = cx.get_argument("title")?;
        let text = cx.get_argument("markdown")?;
        let html = markdown(&text);
        let slug = match id {
            Some(id) => {
                let entry = self
                    .db
                    .entry_by_id(id)
                    .await?
                    .ok_or_else(|| HttpError::new(404))?;
                self.db.update_entry(id, title, text, html).await?;
                entry.slug
            }
            None => {
                let author_id = cx
                    .current_user()
                    .and_then(|u| u["id"].as_i64())
                    .ok_or_else(|| HttpError::new(403))?;
                let slug = slugify(&title);
                self.db
                    .insert_entry(author_id, slug, title, text, html)
                    .await?
            }
        };
        cx.redirect(&format!("/entry/{slug}"), false);
        Ok(())
    }
}

/// Logs `author_id` in: the signed cookie, then on to `next`.
fn log_in(cx: &mut Context, author_id: i64) -> Result<(), HttpError> {
    let options = CookieOptions {
        httponly: true,
        samesite: Some("Lax".into()),
        ..Default::default()
    };
    cx.set_signed_cookie(USER_COOKIE, &author_id.to_string(), &options)?;
    let next = local_next(cx);
    cx.redirect(&next, false);
    Ok(())
}

#[derive(Clone)]
struct AuthCreateHandler {
    db: Db,
}
impl RequestHandler for AuthCreateHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.render("create_author.html", context! {})
    }

    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let already = || HttpError::new(400).with_log_message("author already created");
        if self.db.any_author_exists().await? {
            return Err(already());
        }
        let (email, name) = (cx.get_argument("email")?, cx.get_argument("name")?);
        let password = cx.get_argument("password")?;
        let hashed =
            try_run_in_executor(move || bcrypt::hash(password, bcrypt::DEFAULT_COST)).await?;
        let id = self.db.create_first_author(email, name, hashed).await?;
        log_in(cx, id.ok_or_else(already)?)
    }
}

#[derive(Clone)]
struct AuthLoginHandler {
    db: Db,
}
impl RequestHandler for AuthLoginHandler {
    blog_user!();
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        if !self.db.any_author_exists().await? {
            cx.redirect("/auth/create", false);
            return Ok(());
        }
        let next = local_next(cx);
        cx.render("login.html", context! { error => None::<String>, next })
    }

    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let next = local_next(cx);
        let author: Option<Author> = self.db.author_by_email(cx.get_argument("email")?).await?;
        let Some(author) = author else {
            return cx.render("login.html", context! { error => "email not found", next });
        };
        let password = cx.get_argument("password")?;
        let hashed = author.hashed_password.clone();
        let matches = try_run_in_executor(move || bcrypt::verify(password, &hashed)).await?;
        if matches {
            log_in(cx, author.id)
        } else {
            cx.render(
                "login.html",
                context! { error => "incorrect password", next },
            )
        }
    }
}

#[derive(Clone)]
struct AuthLogoutHandler;
impl RequestHandler for AuthLogoutHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.clear_cookie(USER_COOKIE, "/");
        let next = local_next(cx);
        cx.redirect(&next, false);
        Ok(())
    }
}

/// An entry as shown on every page (Tornado's `EntryModule`).
struct EntryModule;
impl UiModule for EntryModule {
    fn render(&self, state: &State, args: &[Value]) -> Result<String, TemplateError> {
        let entry = args.first().cloned().unwrap_or_default();
        render_module_template(state, "modules/entry.html", context! { entry })
    }
    fn embedded_css(&self) -> Option<String> {
        Some(".entry .admin { font-size: smaller; }".into())
    }
}

/// The blog application over `db`; `cookie_secret` signs logins.
pub fn make_app(db: Db, cookie_secret: String) -> Application {
    let mut settings = Settings {
        template_path: Some(asset_dir("templates")),
        static_path: Some(asset_dir("static")),
        cookie_secret: Some(cookie_secret),
        login_url: Some("/auth/login".into()),
        xsrf_cookies: true,
        ..Default::default()
    };
    settings
        .ui_modules
        .insert("Entry".into(), Arc::new(EntryModule));
    settings
        .extra
        .insert("blog_title".into(), "Tornado Blog".into());
    Application::with_settings(
        vec![
            route("/", HomeHandler { db: db.clone() }),
            route("/archive", ArchiveHandler { db: db.clone() }),
            route("/feed", FeedHandler { db: db.clone() }),
            route("/entry/([^/]+)", EntryHandler { db: db.clone() }),
            route("/compose", ComposeHandler { db: db.clone() }),
            route("/auth/create", AuthCreateHandler { db: db.clone() }),
            route("/auth/login", AuthLoginHandler { db }),
            route("/auth/logout", AuthLogoutHandler),
        ],
        settings,
    )
}

/// A secret for signing cookies: from `BLOG_COOKIE_SECRET`, else random
/// per run (logins then last until the server restarts).
fn cookie_secret() -> String {
    std::env::var("BLOG_COOKIE_SECRET").unwrap_or_else(|_| {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
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
    let (mut port, mut db_path, mut test) = (8888u16, None, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--db" => db_path = Some(PathBuf::from(args.next().ok_or("--db takes a path")?)),
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: blog [--port P] [--db PATH] [--self-test]"
                )
                .into());
            }
        }
    }
    if test {
        return self_test::run(db_path);
    }
    let db = Db::open(&db_path.unwrap_or_else(|| PathBuf::from("blog.db")))?;
    let app = make_app(db, cookie_secret());
    let _server = app.listen(port)?;
    println!("blog on http://127.0.0.1:{port}/");
    IOLoop::current().start()?;
    Ok(())
}
