//! Users and security: `get_current_user` and `authenticated` (login
//! redirects), XSRF tokens accepted and refused (including tokens made by
//! Python Tornado), and signed cookies with versioned secrets.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tornado::http::httpclient::{FetchOptions, HttpResponse};
use tornado::web::{
    Application, Context, CookieOptions, HttpError, RequestHandler, Settings, decode_signed_value,
    decode_xsrf_token, encode_xsrf_token, route,
};
use tornado_testing::{AsyncHttpTestCase, ExpectLog};

// Values made by Python Tornado 6.6.1 (tests/fixtures/make_tornado_fixtures.py):
// `create_signed_value({0: "old-secret", 1: "new-secret"}, "user", "alice",
// clock=1700000000, key_version=1)`, the same for "bob" with key_version 0,
// with the single secret "s3cret" for "carol"; and `RequestHandler.xsrf_token`
// with os.urandom giving the token bytes 0..16 then the mask a1b2c3d4, at
// time 1700000000.
const PY_SIGNED_K1: &str = "2|1:1|10:1700000000|4:user|8:YWxpY2U=|245247383341f8136c0efd1b02d26e3a7fa805b03d17c8295e7dea5b7807701d";
const PY_SIGNED_K0: &str = "2|1:0|10:1700000000|4:user|4:Ym9i|d80cff19a9660218faf32f1a018caaa930d553877ecda95a62bd14169fc2d0cd";
const PY_SIGNED_SINGLE: &str = "2|1:0|10:1700000000|4:user|8:Y2Fyb2w=|5a8510c19107b282ab71e69fae6c1f0ddb1b95ad5698c56772b001336da58574";
const PY_XSRF: &str = "2|a1b2c3d4|a1b3c1d7a5b7c5d3a9bbc9dfadbfcddb|1700000000";

/// Tornado's version-2 masking, written out independently of the crate:
/// hex(mask) | hex(token XOR mask repeated) | time.
fn mask_token(token: &[u8], mask: [u8; 4], time: u64) -> String {
    let masked: String = token
        .iter()
        .zip(mask.iter().cycle())
        .map(|(t, m)| format!("{:02x}", t ^ m))
        .collect();
    let mask: String = mask.iter().map(|m| format!("{m:02x}")).collect();
    format!("2|{mask}|{masked}|{time}")
}

#[derive(Clone)]
struct Secret;
impl RequestHandler for Secret {
    async fn get_current_user(
        &mut self,
        cx: &mut Context,
    ) -> Result<Option<serde_json::Value>, HttpError> {
        Ok(cx
            .get_signed_cookie("user", 36500.0)
            .map(serde_json::Value::from))
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()?;
        let name = cx.current_user().cloned().unwrap_or_default();
        cx.write(format!("hello {}", name.as_str().unwrap_or("")));
        Ok(())
    }
    async fn head(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()?;
        cx.write("posted");
        Ok(())
    }
}

#[derive(Clone)]
struct Login;
impl RequestHandler for Login {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let name = cx.get_argument("name")?;
        cx.set_signed_cookie("user", &name, &CookieOptions::default())
    }
}

fn app(settings: Settings) -> Application {
    Application::with_settings(
        vec![route("/secret", Secret), route("/login", Login)],
        settings,
    )
}

fn no_redirects() -> FetchOptions {
    FetchOptions::new().redirects(false, 0)
}

fn cookie_value(r: &HttpResponse, name: &str) -> String {
    r.headers
        .get_all("Set-Cookie")
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers))
        .to_owned()
}

#[test]
fn anonymous_users_are_sent_to_login_or_refused() {
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            cookie_secret: Some("s3cret".into()),
            login_url: Some("/login".into()),
            ..Default::default()
        })
    });
    let r = t.fetch("/secret?a=1&b=x%20y", no_redirects()).unwrap();
    assert_eq!(r.code, 302);
    assert_eq!(
        r.headers.get("Location"),
        Some("/login?next=%2Fsecret%3Fa%3D1%26b%3Dx%2520y")
    );
    let _forbidden = ExpectLog::new("tornado.access", "403 POST /secret");
    let r = t
        .fetch("/secret", FetchOptions::new().method("POST").body(""))
        .unwrap();
    assert_eq!(r.code, 403);
    // Logged in: the cookie the login handler signed.
    let login = t.fetch("/login?name=ann", FetchOptions::new()).unwrap();
    let cookie = format!("user={}", cookie_value(&login, "user"));
    let r = t
        .fetch("/secret", FetchOptions::new().header("Cookie", &cookie))
        .unwrap();
    assert_eq!((r.code, r.text()), (200, "hello ann".to_owned()));
    // A Python-signed cookie with the same secret is as good.
    let r = t
        .fetch(
            "/secret",
            FetchOptions::new().header("Cookie", &format!("user={PY_SIGNED_SINGLE}")),
        )
        .unwrap();
    assert_eq!(r.text(), "hello carol");
}

#[test]
fn login_url_missing_is_a_server_error() {
    let t = AsyncHttpTestCase::new(|| app(Settings::default()));
    let _log = ExpectLog::new("tornado.application", "login_url");
    let _access = ExpectLog::new("tornado.access", "500");
    assert_eq!(t.fetch("/secret", no_redirects()).unwrap().code, 500);
}

#[test]
fn versioned_secrets_read_old_and_new_keys() {
    let secrets = BTreeMap::from([(0, "old-secret".to_owned()), (1, "new-secret".to_owned())]);
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            cookie_secrets: secrets,
            key_version: Some(1),
            login_url: Some("/login".into()),
            ..Default::default()
        })
    });
    for (cookie, who) in [(PY_SIGNED_K1, "alice"), (PY_SIGNED_K0, "bob")] {
        let r = t
            .fetch(
                "/secret",
                FetchOptions::new().header("Cookie", &format!("user={cookie}")),
            )
            .unwrap();
        assert_eq!(r.text(), format!("hello {who}"));
    }
    // A forged signature, or an unknown key version, is anonymous.
    let forged = PY_SIGNED_K1.replace("YWxpY2U=", "bWFsbG9y");
    let unknown = PY_SIGNED_K1.replace("2|1:1|", "2|1:7|");
    for cookie in [forged, unknown] {
        let r = t
            .fetch(
                "/secret",
                no_redirects().header("Cookie", &format!("user={cookie}")),
            )
            .unwrap();
        assert_eq!(r.code, 302, "{cookie}");
    }
    // New cookies carry the current key version.
    let login = t.fetch("/login?name=dan", FetchOptions::new()).unwrap();
    assert!(cookie_value(&login, "user").starts_with("2|1:1|"));
}

#[test]
fn python_signed_values_decode() {
    let when = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
    assert_eq!(
        decode_signed_value("s3cret", "user", PY_SIGNED_SINGLE, 1.0, when).as_deref(),
        Some("carol")
    );
    assert_eq!(
        decode_signed_value("other", "user", PY_SIGNED_SINGLE, 1.0, when),
        None
    );
    assert!(SystemTime::now() > when);
}

// ----- XSRF ------------------------------------------------------------------

#[derive(Clone)]
struct Form;
impl RequestHandler for Form {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let html = cx.xsrf_form_html();
        cx.write(html);
        Ok(())
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("ok");
        Ok(())
    }
    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("ok");
        Ok(())
    }
}

/// Accepts only a token header of its own (an overridden check).
#[derive(Clone)]
struct CustomCheck;
impl RequestHandler for CustomCheck {
    fn check_xsrf_cookie(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        match cx.request().headers.get("X-Mine") {
            Some("yes") => Ok(()),
            _ => Err(HttpError::new(403).with_log_message("custom check")),
        }
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("custom ok");
        Ok(())
    }
}

fn xsrf_app() -> Application {
    Application::with_settings(
        vec![route("/form", Form), route("/custom", CustomCheck)],
        Settings {
            xsrf_cookies: true,
            ..Default::default()
        },
    )
}

fn post(
    t: &AsyncHttpTestCase,
    cookie: Option<&str>,
    body: &str,
    header: Option<(&str, &str)>,
) -> u16 {
    let mut o = FetchOptions::new()
        .method("POST")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        o = o.header("Cookie", &format!("_xsrf={c}"));
    }
    if let Some((n, v)) = header {
        o = o.header(n, v);
    }
    t.fetch("/form", o).unwrap().code
}

#[test]
fn xsrf_tokens_from_forms_and_headers_are_accepted() {
    let t = AsyncHttpTestCase::new(xsrf_app);
    let r = t.fetch("/form", FetchOptions::new()).unwrap();
    let cookie = cookie_value(&r, "_xsrf");
    let (raw, _) = decode_xsrf_token(&cookie).unwrap();
    assert_eq!(raw.len(), 16);
    let field = r.text();
    let token = field
        .split("value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(
        decode_xsrf_token(&token).unwrap().0,
        raw,
        "same secret, masked"
    );
    let form = format!("_xsrf={}", tornado::web::escape::url_escape(&token, true));
    assert_eq!(post(&t, Some(&cookie), &form, None), 200);
    // Another masking of the same secret, in either header.
    let other = mask_token(&raw, [9, 8, 7, 6], 1);
    assert_eq!(
        post(&t, Some(&cookie), "", Some(("X-XSRFToken", &other))),
        200
    );
    assert_eq!(
        post(&t, Some(&cookie), "", Some(("X-CSRFToken", &other))),
        200
    );
    // A version-1 (bare hex) token of the same secret.
    let v1: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(post(&t, Some(&cookie), "", Some(("X-XSRFToken", &v1))), 200);
}

#[test]
fn python_tornado_tokens_are_accepted_and_made_alike() {
    let token: Vec<u8> = (0..16).collect();
    // Python's token decodes to the secret it was made from.
    assert_eq!(
        decode_xsrf_token(PY_XSRF),
        Some((token.clone(), 1_700_000_000))
    );
    // The crate's encoding and the independent one agree with Python's.
    assert_eq!(
        encode_xsrf_token(&token, [0xa1, 0xb2, 0xc3, 0xd4], 1_700_000_000),
        PY_XSRF
    );
    assert_eq!(
        mask_token(&token, [0xa1, 0xb2, 0xc3, 0xd4], 1_700_000_000),
        PY_XSRF
    );
    // A Python service's cookie, with a differently masked form token.
    let t = AsyncHttpTestCase::new(xsrf_app);
    let form = format!(
        "_xsrf={}",
        tornado::web::escape::url_escape(&mask_token(&token, [1, 2, 3, 4], 5), true)
    );
    assert_eq!(post(&t, Some(PY_XSRF), &form, None), 200);
    // And the reverse: our cookie is served back to a Python-made token.
    assert_eq!(
        post(
            &t,
            Some(&mask_token(&token, [7, 7, 7, 7], 1)),
            "",
            Some(("X-XSRFToken", PY_XSRF))
        ),
        200
    );
}

#[test]
fn bad_xsrf_tokens_are_refused_with_403() {
    let t = AsyncHttpTestCase::new(xsrf_app);
    let cookie = mask_token(&[5u8; 16], [1, 2, 3, 4], 1);
    let wrong = mask_token(&[6u8; 16], [1, 2, 3, 4], 1);
    let _missing = ExpectLog::new("tornado.general", "'_xsrf' argument missing");
    let _invalid = ExpectLog::new("tornado.general", "'_xsrf' argument has invalid format");
    let _mismatch = ExpectLog::new("tornado.general", "XSRF cookie does not match");
    let _nocookie = ExpectLog::new("tornado.general", "'_xsrf' cookie missing");
    let _access = ExpectLog::new("tornado.access", "403 POST /form");
    assert_eq!(post(&t, Some(&cookie), "", None), 403);
    assert_eq!(post(&t, Some(&cookie), "_xsrf=2%7Czz%7C00%7C1", None), 403);
    assert_eq!(
        post(&t, Some(&cookie), "", Some(("X-XSRFToken", &wrong))),
        403
    );
    assert_eq!(post(&t, None, "", Some(("X-XSRFToken", &cookie))), 403);
    // PUT is checked too; GET is not.
    let r = t
        .fetch("/form", FetchOptions::new().method("PUT").body("x"))
        .unwrap();
    assert_eq!(r.code, 403);
    assert_eq!(t.fetch("/form", FetchOptions::new()).unwrap().code, 200);
    // An overridden check decides alone.
    let _custom = ExpectLog::new("tornado.general", "custom check");
    let o = FetchOptions::new().method("POST").body("");
    assert_eq!(t.fetch("/custom", o.clone()).unwrap().code, 403);
    let r = t.fetch("/custom", o.header("X-Mine", "yes")).unwrap();
    assert_eq!((r.code, r.text()), (200, "custom ok".to_owned()));
}

/// Counts `get_current_user` calls; `prepare` may set the user instead.
#[derive(Clone)]
struct Counted(std::rc::Rc<std::cell::Cell<u32>>);
impl RequestHandler for Counted {
    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        if cx.get_argument_opt("preset").is_some() {
            cx.set_current_user(Some("preset".into()));
        }
        Ok(())
    }
    async fn get_current_user(
        &mut self,
        _cx: &mut Context,
    ) -> Result<Option<serde_json::Value>, HttpError> {
        self.0.set(self.0.get() + 1);
        tornado::r#gen::sleep(Duration::from_millis(1)).await; // it may await
        Ok(Some("looked-up".into()))
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.authenticated()?;
        let a = cx.current_user().cloned();
        let b = cx.current_user().cloned();
        assert_eq!(a, b);
        cx.write(a.unwrap_or_default().as_str().unwrap_or("").to_owned());
        Ok(())
    }
}

#[test]
fn current_user_is_looked_up_once_per_request_unless_prepare_set_it() {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = calls.clone();
    let t = AsyncHttpTestCase::new(move || Application::new(vec![route("/", Counted(c))]));
    assert_eq!(
        t.fetch("/", FetchOptions::new()).unwrap().text(),
        "looked-up"
    );
    assert_eq!(calls.get(), 1);
    assert_eq!(
        t.fetch("/", FetchOptions::new()).unwrap().text(),
        "looked-up"
    );
    assert_eq!(calls.get(), 2, "once per request");
    assert_eq!(
        t.fetch("/?preset=1", FetchOptions::new()).unwrap().text(),
        "preset"
    );
    assert_eq!(calls.get(), 2, "not called when prepare set the user");
}

#[test]
fn anonymous_head_is_redirected_too() {
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            cookie_secret: Some("s3cret".into()),
            login_url: Some("https://login.example/auth".into()),
            ..Default::default()
        })
    });
    let r = t.fetch("/secret", no_redirects().method("HEAD")).unwrap();
    assert_eq!(r.code, 302);
    // An absolute login URL gets the full URL back.
    let want = format!(
        "https://login.example/auth?next={}",
        tornado::web::escape::url_escape(&t.get_url("/secret"), true)
    );
    assert_eq!(r.headers.get("Location"), Some(want.as_str()));
}
