//! Templates through `Context::render`: inheritance, escaping and its
//! opt-outs, Tornado's namespace, UI modules and methods, errors, and
//! reloading in debug mode. Served with `AsyncHttpTestCase`.

#[path = "support/tempdir.rs"]
mod tempdir;

use std::sync::Arc;

use tempdir::TempDir;
use tornado::http::httpclient::FetchOptions;
use tornado::web::minijinja::{self, Error, State, Value, context};
use tornado::web::{
    Application, Context, HttpError, RequestHandler, Settings, UiMethod, UiModule,
    render_module_template, route,
};
use tornado_testing::{AsyncHttpTestCase, ExpectLog};

const BASE: &str = "<html><head><title>{% block title %}Base{% endblock %}</title></head>\
<body>{% block body %}{% endblock %}</body></html>";

const PAGE: &str = r#"{% extends "base.html" %}
{% block title %}Hi {{ name }}{% endblock %}
{% block body %}<p>{{ name }}</p><q>{{ html|raw }}</q>{{ modules.Box("one") }}{{ modules.Box("two") }}
<a href="{{ reverse_url('item', 7, 'a b') }}">item</a>{{ xsrf_form_html() }}<i>{{ shout("hey") }}</i>
<s>{{ squeeze("  a   b ") }}</s><u>{{ url_escape("a b&c") }}</u><j>{{ json_encode(data)|raw }}</j>
<l>{{ linkify("see http://x.org <b>")|raw }}</l><r>{{ request.path }} {{ handler.request.method }}</r>
<c>{{ current_user.name }}</c>{% endblock %}"#;

struct Box;
impl UiModule for Box {
    fn render(&self, state: &State, args: &[Value]) -> Result<String, Error> {
        let label = args.first().cloned().unwrap_or_default();
        render_module_template(state, "modules/box.html", context! { label })
    }
    fn embedded_css(&self) -> Option<String> {
        Some(".box { color: red }".into())
    }
    fn embedded_javascript(&self) -> Option<String> {
        Some("boxes();".into())
    }
    fn javascript_files(&self) -> Vec<String> {
        vec!["/js/box.js".into()]
    }
}

#[derive(Clone)]
struct Page(&'static str);
impl RequestHandler for Page {
    async fn get_current_user(
        &mut self,
        _cx: &mut Context,
    ) -> Result<Option<serde_json::Value>, HttpError> {
        Ok(Some(serde_json::json!({"name": "<ann>"})))
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let data = serde_json::json!({"k": "</script>"});
        cx.render(
            self.0,
            context! { name => "<b>Bob</b>", html => "<em>raw</em>", data },
        )
    }
}

#[derive(Clone)]
struct Item;
impl RequestHandler for Item {}

fn templates() -> TempDir {
    TempDir::with_files(&[
        ("base.html", BASE),
        ("page.html", PAGE),
        ("modules/box.html", "<div class=\"box\">{{ label }}</div>"),
        ("plain.html", "{{ name }}"),
        ("broken.html", "line one\nline two\n{{ name( }}\n"),
        ("fails.html", "fine\n{{ no_such_function() }}\n"),
    ])
}

fn settings(dir: &TempDir) -> Settings {
    let shout: UiMethod = Arc::new(|_state: &State, args: &[Value]| {
        Ok(Value::from(
            args.first()
                .map(|v| v.to_string().to_uppercase())
                .unwrap_or_default(),
        ))
    });
    let mut s = Settings {
        template_path: Some(dir.path().to_owned()),
        ..Default::default()
    };
    s.ui_modules.insert("Box".into(), Arc::new(Box));
    s.ui_methods.insert("shout".into(), shout);
    s
}

fn app(settings: Settings) -> Application {
    Application::with_settings(
        vec![
            route("/page", Page("page.html")),
            route("/plain", Page("plain.html")),
            route("/broken", Page("broken.html")),
            route("/fails", Page("fails.html")),
            route("/missing", Page("missing.html")),
            route(r"/item/([0-9]+)/([^/]+)", Item).name("item"),
        ],
        settings,
    )
}

#[test]
fn inheritance_escaping_namespace_and_ui_modules() {
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| app(settings(&dir)));
    let r = t.fetch("/page", FetchOptions::new()).unwrap();
    assert_eq!(r.code, 200);
    let html = r.text();
    // Inheritance, and autoescape on by default.
    assert!(
        html.starts_with("<html><head><title>Hi &lt;b&gt;Bob&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(html.contains("<p>&lt;b&gt;Bob&lt;/b&gt;</p>"));
    // The raw filter opts out.
    assert!(html.contains("<q><em>raw</em></q>"));
    // Modules render their own template; their CSS/JS appear once.
    assert!(html.contains("<div class=\"box\">one</div><div class=\"box\">two</div>"));
    assert_eq!(html.matches(".box { color: red }").count(), 1);
    assert!(html.contains("<style type=\"text/css\">\n.box { color: red }\n</style></head>"));
    assert_eq!(html.matches("boxes();").count(), 1);
    assert_eq!(html.matches("src=\"/js/box.js\"").count(), 1);
    assert!(html.ends_with("</script></body></html>"));
    // The namespace.
    assert!(html.contains("<a href=\"/item/7/a%20b\">"), "{html}");
    assert!(html.contains("<input type=\"hidden\" name=\"_xsrf\" value=\"2|"));
    assert!(html.contains("<i>HEY</i>"));
    assert!(html.contains("<s>a b</s>"));
    assert!(html.contains("<u>a+b%26c</u>"));
    assert!(html.contains(r#"<j>{"k":"<\/script>"}</j>"#));
    assert!(html.contains("<l>see <a href=\"http://x.org\">http://x.org</a> &lt;b&gt;</l>"));
    assert!(html.contains("<r>/page GET</r>"));
    assert!(html.contains("<c>&lt;ann&gt;</c>"));
    // The form's token came with its cookie.
    let cookie = r.headers.get("Set-Cookie").unwrap_or("");
    assert!(cookie.starts_with("_xsrf=2|"), "{cookie}");
}

#[test]
fn autoescape_can_be_turned_off() {
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            autoescape: false,
            ..settings(&dir)
        })
    });
    assert_eq!(
        t.fetch("/plain", FetchOptions::new()).unwrap().text(),
        "<b>Bob</b>"
    );
}

#[test]
fn missing_template_is_a_clear_500() {
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| app(settings(&dir)));
    let _log = ExpectLog::new("tornado.application", "template \"missing.html\" not found");
    let _access = ExpectLog::new("tornado.access", "500 GET /missing");
    let r = t.fetch("/missing", FetchOptions::new()).unwrap();
    assert_eq!(r.code, 500);
    assert!(
        !r.text().contains("missing.html"),
        "no details without debug"
    );
}

#[test]
fn template_errors_name_template_and_line() {
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| app(settings(&dir)));
    let _log = ExpectLog::new(
        "tornado.application",
        "template error in broken.html line 3",
    );
    let _log2 = ExpectLog::new("tornado.application", "template error in fails.html line 2");
    let _access = ExpectLog::new("tornado.access", "500 GET");
    assert_eq!(t.fetch("/broken", FetchOptions::new()).unwrap().code, 500);
    assert_eq!(t.fetch("/fails", FetchOptions::new()).unwrap().code, 500);
    drop(t);
    // With debug the page says where, too.
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            debug: true,
            ..settings(&dir)
        })
    });
    let r = t.fetch("/broken", FetchOptions::new()).unwrap();
    assert_eq!(r.code, 500);
    assert!(r.text().contains("broken.html line 3"), "{}", r.text());
}

#[test]
fn templates_are_cached_unless_debug() {
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| app(settings(&dir)));
    assert_eq!(
        t.fetch("/plain", FetchOptions::new()).unwrap().text(),
        "&lt;b&gt;Bob&lt;/b&gt;"
    );
    dir.write("plain.html", "changed {{ name }}");
    assert_eq!(
        t.fetch("/plain", FetchOptions::new()).unwrap().text(),
        "&lt;b&gt;Bob&lt;/b&gt;",
        "loaded once"
    );
    drop(t);
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| {
        app(Settings {
            debug: true,
            ..settings(&dir)
        })
    });
    assert_eq!(
        t.fetch("/plain", FetchOptions::new()).unwrap().text(),
        "&lt;b&gt;Bob&lt;/b&gt;"
    );
    dir.write("plain.html", "changed {{ name }}");
    assert_eq!(
        t.fetch("/plain", FetchOptions::new()).unwrap().text(),
        "changed &lt;b&gt;Bob&lt;/b&gt;",
        "reloaded in debug mode"
    );
}

#[test]
fn render_string_leaves_the_response_open() {
    #[derive(Clone)]
    struct Twice;
    impl RequestHandler for Twice {
        async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
            let a = cx.render_string("plain.html", context! { name => "a" })?;
            let b = cx.render_string("plain.html", minijinja::context! { name => "b" })?;
            cx.write(format!("{a}{b}"));
            Ok(())
        }
    }
    let dir = templates();
    let t = AsyncHttpTestCase::new(|| {
        Application::with_settings(vec![route("/", Twice)], settings(&dir))
    });
    assert_eq!(t.fetch("/", FetchOptions::new()).unwrap().text(), "ab");
}

#[test]
fn a_panicking_ui_method_is_a_500_and_the_app_goes_on() {
    let dir = TempDir::with_files(&[("boom.html", "{{ boom() }}"), ("plain.html", "{{ name }}")]);
    let t = AsyncHttpTestCase::new(|| {
        let boom: UiMethod = Arc::new(|_: &State, _: &[Value]| panic!("ui method exploded"));
        let mut s = Settings {
            template_path: Some(dir.path().to_owned()),
            ..Default::default()
        };
        s.ui_methods.insert("boom".into(), boom);
        Application::with_settings(
            vec![
                route("/boom", Page("boom.html")),
                route("/plain", Page("plain.html")),
            ],
            s,
        )
    });
    let _log = ExpectLog::new("tornado.application", "ui method exploded");
    let _access = ExpectLog::new("tornado.access", "500 GET /boom");
    assert_eq!(t.fetch("/boom", FetchOptions::new()).unwrap().code, 500);
    let r = t.fetch("/plain", FetchOptions::new()).unwrap();
    assert_eq!(
        (r.code, r.text()),
        (200, "&lt;b&gt;Bob&lt;/b&gt;".to_owned())
    );
}

/// A module whose stylesheet is a static file: linked by its versioned URL.
struct Styled;
impl UiModule for Styled {
    fn render(&self, _: &State, _: &[Value]) -> Result<String, Error> {
        Ok("<b>styled</b>".into())
    }
    fn css_files(&self) -> Vec<String> {
        vec!["site.css".into(), "https://cdn.example/x.css".into()]
    }
}

#[test]
fn module_files_are_linked_once_with_static_urls() {
    let dir = TempDir::with_files(&[
        (
            "t.html",
            "<html><head></head><body>{{ modules.S() }}{{ modules.S() }}</body></html>",
        ),
        ("site.css", "b {}"),
    ]);
    let t = AsyncHttpTestCase::new(|| {
        let mut s = Settings {
            template_path: Some(dir.path().to_owned()),
            static_path: Some(dir.path().to_owned()),
            ..Default::default()
        };
        s.ui_modules.insert("S".into(), Arc::new(Styled));
        Application::with_settings(vec![route("/", Page("t.html"))], s)
    });
    let html = t.fetch("/", FetchOptions::new()).unwrap().text();
    assert_eq!(html.matches("<link href=").count(), 2, "{html}");
    assert!(html.contains("<link href=\"/static/site.css?v="), "{html}");
    assert!(html.contains("<link href=\"https://cdn.example/x.css\""));
    assert!(html.ends_with("<b>styled</b><b>styled</b></body></html>"));
}

/// Replaces the XSRF field and adds a helper for its templates.
#[derive(Clone)]
struct OwnNamespace;
impl RequestHandler for OwnNamespace {
    fn get_template_namespace(cx: &mut Context) -> Vec<(String, Value)> {
        let token = cx.xsrf_token();
        vec![
            (
                "xsrf_form_html".into(),
                Value::from_function(move || {
                    Value::from_safe_string(format!("<input name=\"csrf\" value=\"{token}\">"))
                }),
            ),
            ("site".into(), Value::from("Example")),
        ]
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let site = cx.get_argument_opt("site");
        match site {
            Some(s) => cx.render("ns.html", context! { site => s }),
            None => cx.render("ns.html", context! {}),
        }
    }
}

#[test]
fn handlers_extend_and_override_the_namespace() {
    let dir = TempDir::with_files(&[("ns.html", "{{ site }} {{ xsrf_form_html() }}")]);
    let t = AsyncHttpTestCase::new(|| {
        let s = Settings {
            template_path: Some(dir.path().to_owned()),
            ..Default::default()
        };
        Application::with_settings(vec![route("/", OwnNamespace)], s)
    });
    let r = t.fetch("/", FetchOptions::new()).unwrap();
    let cookie = r.headers.get("Set-Cookie").unwrap_or("").to_owned();
    let text = r.text();
    assert!(
        text.starts_with("Example <input name=\"csrf\" value=\"2|"),
        "{text}"
    );
    assert!(cookie.starts_with("_xsrf=2|"), "{cookie}");
    // Values given to render win over the handler's.
    assert!(
        t.fetch("/?site=Mine", FetchOptions::new())
            .unwrap()
            .text()
            .starts_with("Mine ")
    );
}
