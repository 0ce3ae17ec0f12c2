//! The blog's `--self-test`: a fresh database served on an ephemeral port,
//! driven through its real forms with the HTTP client (a small cookie jar
//! of its own, the XSRF token from each form).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::http::httpclient::HttpResponse;
use tornado::http::{FetchOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::web::escape::url_escape;

use super::db::Db;

/// A browser, as far as the test needs one: cookies and forms.
struct Browser {
    base: String,
    cookies: RefCell<BTreeMap<String, String>>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, r: &HttpResponse) {
        for c in r.headers.get_all("Set-Cookie") {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let expired = c.contains("Expires=Thu, 01 Jan 1970");
                let mut jar = self.cookies.borrow_mut();
                if expired {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }

    async fn get(&self, path: &str) -> Result<HttpResponse, Error> {
        let o = FetchOptions::new()
            .redirects(false, 0)
            .raise_error(false)
            .header("Cookie", &self.cookie_header());
        let r = fetch(&format!("{}{path}", self.base), o).await?;
        self.keep_cookies(&r);
        Ok(r)
    }

    /// Posts `fields` as a form, with the token of the form at `form_path`.
    async fn submit(
        &self,
        form_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Result<HttpResponse, Error> {
        let page = self.get(form_path).await?.text();
        let token = page
            .split("name=\"_xsrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .ok_or_else(|| Error::msg(format!("no XSRF field in the form at {form_path}")))?
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        self.post(action, fields, Some(&token)).await
    }

    async fn post(
        &self,
        action: &str,
        fields: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<HttpResponse, Error> {
        let mut body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", url_escape(v, true)))
            .collect();
        if let Some(t) = token {
            body.push(format!("_xsrf={}", url_escape(t, true)));
        }
        let o = FetchOptions::new()
            .method("POST")
            .redirects(false, 0)
            .raise_error(false)
            .header("Cookie", &self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        let r = fetch(&format!("{}{action}", self.base), o).await?;
        self.keep_cookies(&r);
        Ok(r)
    }
}

fn check(ok: bool, what: &str) -> Result<(), Error> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(Error::msg(format!("self-test failed: {what}")))
    }
}

const TITLE: &str = "<script>alert('x')</script> Fish & Chips";

async fn drive(b: Rc<Browser>) -> Result<(), Error> {
    // No entries yet: home sends to compose, which wants a login, which
    // (no author yet) sends to account creation.
    let r = b.get("/").await?;
    check(
        r.code == 302 && r.headers.get("Location") == Some("/compose"),
        "empty blog redirects to /compose",
    )?;
    let r = b.get("/compose").await?;
    check(
        r.headers.get("Location") == Some("/auth/login?next=%2Fcompose"),
        "compose needs a login",
    )?;
    let r = b.get("/auth/login").await?;
    check(
        r.headers.get("Location") == Some("/auth/create"),
        "login without authors goes to create",
    )?;
    // A form post without its token is refused.
    let r = b.post("/auth/create", &[("email", "a@b.c")], None).await?;
    check(r.code == 403, "a form without its XSRF token is refused")?;
    let account = [
        ("email", "ann@example.com"),
        ("name", "Ann"),
        ("password", "s3cret pw"),
        ("next", "/compose"),
    ];
    let r = b.submit("/auth/create", "/auth/create", &account).await?;
    check(
        r.code == 302 && r.headers.get("Location") == Some("/compose"),
        "account created, on to next",
    )?;
    let r = b.submit("/auth/create", "/auth/create", &account).await?;
    check(r.code == 400, "only the first account can be created")?;
    // Log out, fail, then log in for real.
    b.get("/auth/logout").await?;
    let r = b.get("/compose").await?;
    check(r.code == 302, "logged out")?;
    let r = b
        .submit(
            "/auth/login?next=%2Fcompose",
            "/auth/login",
            &[
                ("email", "ann@example.com"),
                ("password", "wrong"),
                ("next", "/compose"),
            ],
        )
        .await?;
    check(
        r.code == 200 && r.text().contains("incorrect password"),
        "a wrong password is refused",
    )?;
    let r = b
        .submit(
            "/auth/login",
            "/auth/login",
            &[
                ("email", "ann@example.com"),
                ("password", "s3cret pw"),
                ("next", "/compose"),
            ],
        )
        .await?;
    check(
        r.code == 302 && r.headers.get("Location") == Some("/compose"),
        "logged in, on to next",
    )?;
    // Post an entry whose title holds HTML.
    let r = b
        .submit(
            "/compose",
            "/compose",
            &[
                ("title", TITLE),
                ("markdown", "Hello *world*.\n\n<b>bold</b>"),
            ],
        )
        .await?;
    let location = r.headers.get("Location").unwrap_or("").to_owned();
    check(
        r.code == 302 && location == "/entry/script-alert-x-script-fish-chips",
        "posted, redirected to its slug",
    )?;
    let page = b.get(&location).await?.text();
    check(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Fish &amp; Chips")
            && !page.contains("<script>alert"),
        "the title is escaped",
    )?;
    check(
        page.contains("Hello <em>world</em>.") && page.contains("<b>bold</b>"),
        "Markdown rendered",
    )?;
    check(
        page.matches(".entry .admin").count() == 1,
        "the Entry module's CSS is on the page once",
    )?;
    // Edit it: same slug, new text.
    let id = page
        .split("/compose?id=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or_else(|| Error::msg("no edit link"))?
        .to_owned();
    let r = b
        .submit(
            &format!("/compose?id={id}"),
            "/compose",
            &[("id", &id), ("title", TITLE), ("markdown", "Edited.")],
        )
        .await?;
    check(
        r.headers.get("Location") == Some(location.as_str()),
        "an edit keeps the slug",
    )?;
    check(
        b.get(&location).await?.text().contains("<p>Edited.</p>"),
        "the edit shows",
    )?;
    let r = b
        .submit(
            "/compose",
            "/compose",
            &[("title", TITLE), ("markdown", "Again.")],
        )
        .await?;
    check(
        r.headers.get("Location") == Some(&*format!("{location}-2")),
        "a taken slug gets -2",
    )?;
    check(
        b.get("/").await?.text().matches("class=\"entry\"").count() == 2,
        "home lists the entries",
    )?;
    check(
        b.get("/archive")
            .await?
            .text()
            .contains(&format!("href=\"{location}\"")),
        "the archive links them",
    )?;
    check(
        b.get("/entry/nope").await?.code == 404,
        "an unknown slug is a 404",
    )?;
    check(
        b.get("/compose?id=x").await?.code == 400,
        "a malformed id is a 400",
    )?;
    // The feed is Atom that parses, with the title as text.
    let feed = b.get("/feed").await?;
    check(
        feed.headers.get("Content-Type") == Some("application/atom+xml"),
        "feed content type",
    )?;
    let xml = feed.text();
    let doc = roxmltree::Document::parse(&xml)
        .map_err(|e| Error::msg(format!("feed does not parse: {e}")))?;
    let titles: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title") && n.parent().is_some_and(|p| p.has_tag_name("entry")))
        .map(|n| n.text().unwrap_or("").to_owned())
        .collect();
    check(
        titles.len() == 2 && titles.iter().all(|t| t == TITLE),
        "the feed parses and holds the titles",
    )?;
    Ok(())
}

/// Runs the self-test on a fresh database (`db_path`, else a temporary
/// file removed after).
pub fn run(db_path: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let temp = std::env::temp_dir().join(format!("blog-self-test-{}.db", std::process::id()));
    let path = db_path.unwrap_or_else(|| temp.clone());
    let _ = std::fs::remove_file(&temp);
    let db = Db::open(&path)?;
    let app = super::make_app(db, "self-test secret".into());
    let (server, addrs) = app.listen_on(0, Some("127.0.0.1"))?;
    let browser = Rc::new(Browser {
        base: format!("http://{}", addrs[0]),
        cookies: RefCell::default(),
    });
    let result = IOLoop::current().run_sync(
        move || coroutine(drive(browser)),
        Some(std::time::Duration::from_secs(60)),
    );
    server.stop();
    let _ = std::fs::remove_file(&temp);
    result?;
    println!("blog self-test passed");
    Ok(())
}
