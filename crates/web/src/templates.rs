//! Templates (Tornado's `template` module and `RequestHandler.render`),
//! through minijinja: Jinja2 syntax, which Tornado's resembles.
//!
//! Tornado's syntax in minijinja:
//!
//! | Tornado | minijinja |
//! |---|---|
//! | `{{ expr }}` (escaped) | `{{ expr }}` (escaped when `autoescape`, the default) |
//! | `{% raw expr %}` | `{{ expr \| raw }}` (or `\| safe`) |
//! | `{% extends "base.html" %}`, `{% block name %}…{% end %}` | the same with `{% endblock %}` |
//! | `{% include "x.html" %}` | the same |
//! | `{% if %}`/`{% for %}`/`{% while %}` … `{% end %}` | `{% if %}`/`{% for %}` … `{% endif %}`/`{% endfor %}` (no `while`) |
//! | `{% set x = 1 %}` | the same |
//! | `{% module Entry(e) %}` | `{{ modules.Entry(e) }}` |
//! | `{% autoescape None %}` | `{% autoescape false %}…{% endautoescape %}` |
//! | `{# comment #}` | the same |
//! | `{% apply f %}…{% end %}` | `{% filter f %}…{% endfilter %}` |
//! | Python expressions | Jinja expressions (`x.attr`, `x["k"]`, filters, `~` to join strings) |
//!
//! The namespace every template sees: `handler` (`handler.request`,
//! `handler.current_user`, `handler.settings`), `request` (`method`,
//! `uri`, `path`, `query`, `host`, `host_name`, `remote_ip`, `protocol`,
//! `full_url`, `arguments`), `current_user`, `static_url(path)`,
//! `xsrf_form_html()`, `xsrf_token`, `reverse_url(name, args…)`,
//! `modules.<Name>(…)`, the functions `xhtml_escape`, `url_escape(value,
//! plus=true)`, `json_encode`, `squeeze`, `linkify` (also filters), and
//! the application's `ui_methods`. A handler adds to it (or replaces parts
//! of it, e.g. `xsrf_form_html`) with `get_template_namespace`; the values
//! given to `render` take precedence over both.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::value::{Rest, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State};

use crate::context::Context;
use crate::error::HttpError;
use crate::escape;
use crate::settings::Settings;
use crate::ui::{PageResources, SharedResources};

/// The names of the namespace a render adds to the template's values.
pub(crate) const NAMESPACE: &[&str] = &[
    "handler",
    "request",
    "current_user",
    "static_url",
    "xsrf_form_html",
    "xsrf_token",
    "reverse_url",
    "modules",
];

/// The application's template environment, built on first use.
#[derive(Default)]
pub(crate) struct TemplateStore {
    env: RefCell<Option<Environment<'static>>>,
}

/// Reads template `name` under `root`; `None` if there is no such file.
/// Names that climb out of the root are refused.
fn load(root: &Path, name: &str) -> Result<Option<String>, Error> {
    let relative = Path::new(name);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("template name {name:?} leaves the template path"),
        ));
    }
    match std::fs::read_to_string(root.join(relative)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot read template {name:?}"),
        )
        .with_source(e)),
    }
}

/// A new environment for `settings`: loader, escaping, helpers, methods.
fn build(settings: &Settings) -> Environment<'static> {
    let mut env = Environment::new();
    if let Some(root) = settings.template_path.clone() {
        env.set_loader(move |name| load(&root, name));
    }
    let autoescape = settings.autoescape;
    env.set_auto_escape_callback(move |_| {
        if autoescape {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // Tornado's escaping (`/` stays as it is), not minijinja's.
    env.set_formatter(|out, state, value| {
        let plain = !value.is_safe() && !value.is_undefined() && !value.is_none();
        if plain && state.auto_escape() == AutoEscape::Html {
            out.write_str(&escape::xhtml_escape(&value.to_string()))
                .map_err(|_| Error::from(ErrorKind::WriteFailure))
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_filter("raw", |v: Value| Value::from_safe_string(v.to_string()));
    for (name, f) in [
        ("xhtml_escape", escape::xhtml_escape as fn(&str) -> String),
        ("squeeze", escape::squeeze),
        ("linkify", escape::linkify),
    ] {
        env.add_function(name, move |s: String| f(&s));
        env.add_filter(name, move |s: String| f(&s));
    }
    let url_escape = |s: String, plus: Option<bool>| escape::url_escape(&s, plus.unwrap_or(true));
    env.add_function("url_escape", url_escape);
    env.add_filter("url_escape", url_escape);
    let json = |v: Value| {
        escape::json_encode(&v).map_err(|e| {
            Error::new(ErrorKind::InvalidOperation, "json_encode failed").with_source(e)
        })
    };
    env.add_function("json_encode", json);
    env.add_filter("json_encode", json);
    for (name, method) in &settings.ui_methods {
        let method = method.clone();
        env.add_function(name.clone(), move |state: &State, args: Rest<Value>| {
            method(state, &args)
        });
    }
    env
}

/// A template error as a 500, with the template and line for the log
/// (and the page, with `serve_traceback`).
fn template_error(name: &str, settings: &Settings, e: &Error) -> HttpError {
    if e.kind() == ErrorKind::TemplateNotFound {
        let root = settings
            .template_path
            .as_ref()
            .map_or("no template_path set".to_owned(), |p| {
                format!("template_path {}", p.display())
            });
        return HttpError::new(500)
            .with_log_message(format!("template {name:?} not found ({root})"));
    }
    let at = match (e.name(), e.line()) {
        (Some(n), Some(l)) => format!("{n} line {l}"),
        (Some(n), None) => n.to_owned(),
        _ => name.to_owned(),
    };
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(&format!(": {s}"));
        source = s.source();
    }
    HttpError::new(500).with_log_message(format!("template error in {at}: {detail}"))
}

impl Context {
    /// Renders template `name` with `values` (anything serializable, e.g.
    /// `minijinja::context!{…}`) plus Tornado's namespace, and returns the
    /// text (Tornado's `render_string`). A missing template or an error in
    /// it is a 500 naming the template and line.
    pub fn render_string<S: serde::Serialize>(
        &mut self,
        name: &str,
        values: S,
    ) -> Result<String, HttpError> {
        Ok(self.render_page(name, values)?.0)
    }

    /// Renders template `name` and finishes the response with it (Tornado's
    /// `render`), the page's UI module CSS and JavaScript put in its head
    /// and at the end of its body.
    pub fn render<S: serde::Serialize>(&mut self, name: &str, values: S) -> Result<(), HttpError> {
        let (html, resources) = self.render_page(name, values)?;
        let html = resources.inject(html, |f| {
            if f.starts_with('/') || f.starts_with("http:") || f.starts_with("https:") {
                f.to_owned()
            } else {
                self.static_url(f)
            }
        });
        self.write(html);
        drop(self.finish()); // queued in order; the connection awaits the end
        Ok(())
    }

    fn render_page<S: serde::Serialize>(
        &mut self,
        name: &str,
        values: S,
    ) -> Result<(String, PageResources), HttpError> {
        let resources: SharedResources = Arc::default();
        let xsrf_used = Arc::new(AtomicBool::new(false));
        let namespace = self.template_namespace(&resources, &xsrf_used);
        let own: BTreeMap<String, Value> = (self.template_namespace)(self).into_iter().collect();
        let own = Value::from(own);
        let settings = self.settings.clone();
        let app = self.app.clone();
        let mut env = app.templates.env.borrow_mut();
        // Debug mode reloads templates on every render (Tornado turns its
        // compiled template cache off).
        if settings.debug {
            env.take();
        }
        let env = env.get_or_insert_with(|| build(&settings));
        let values = Value::from_serialize(&values);
        let rendered = env
            .get_template(name)
            .and_then(|t| t.render(minijinja::context! { ..values, ..own, ..namespace }));
        let html = rendered.map_err(|e| template_error(name, &settings, &e))?;
        if xsrf_used.load(Ordering::Relaxed) {
            self.xsrf_token(); // sets the cookie the form's token needs
        }
        let resources = std::mem::take(&mut *resources.lock().unwrap_or_else(|p| p.into_inner()));
        Ok((html, resources))
    }

    /// The values Tornado's templates find without being passed them.
    fn template_namespace(
        &mut self,
        resources: &SharedResources,
        xsrf_used: &Arc<AtomicBool>,
    ) -> Value {
        let r = &self.request;
        let arguments: BTreeMap<&String, &Vec<String>> = r
            .query_arguments
            .iter()
            .chain(r.body_arguments.iter())
            .collect();
        let request = minijinja::context! {
            method => r.method,
            uri => r.uri,
            path => r.path,
            query => r.query,
            host => r.host,
            host_name => self.host_name(),
            remote_ip => r.remote_ip,
            protocol => r.protocol,
            full_url => r.full_url(),
            arguments => Value::from_serialize(&arguments),
        };
        let current_user = Value::from_serialize(self.current_user());
        let s = &self.settings;
        let handler = minijinja::context! {
            request => request.clone(),
            current_user => current_user.clone(),
            settings => minijinja::context! {
                debug => s.debug,
                xsrf_cookies => s.xsrf_cookies,
                login_url => s.login_url,
                static_url_prefix => s.static_url_prefix,
                extra => Value::from_serialize(&s.extra),
            },
        };
        let token = self.peek_xsrf_token();
        let used = xsrf_used.clone();
        let form_token = token.clone();
        let xsrf_form_html = Value::from_function(move || {
            used.store(true, Ordering::Relaxed);
            Value::from_safe_string(format!(
                "<input type=\"hidden\" name=\"_xsrf\" value=\"{}\"/>",
                escape::xhtml_escape(&form_token)
            ))
        });
        let statics = self.app.statics.clone();
        let static_url = Value::from_function(move |path: String| statics.url(&path));
        let routes = self.app.reverse_table();
        let reverse_url = Value::from_function(move |name: String, args: Rest<Value>| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            routes
                .reverse(&name, &args)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
        });
        let mut modules = BTreeMap::new();
        for (name, module) in &self.settings.ui_modules {
            let (module, resources, name2) = (module.clone(), resources.clone(), name.clone());
            let f = Value::from_function(move |state: &State, args: Rest<Value>| {
                resources
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .add(&name2, &*module);
                module.render(state, &args).map(Value::from_safe_string)
            });
            modules.insert(name.clone(), f);
        }
        minijinja::context! {
            handler,
            request,
            current_user,
            static_url,
            xsrf_form_html,
            xsrf_token => token,
            reverse_url,
            modules => Value::from(modules),
        }
    }
}
