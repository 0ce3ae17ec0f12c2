//! UI modules and UI methods (Tornado's `UIModule` and `ui_methods`):
//! reusable template components and template functions of the
//! application's own.

use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{Error, State};

/// A template function of the application's own (a Tornado `ui_method`):
/// called with the render state (where `handler`, `request` and
/// `current_user` can be looked up) and the template's arguments.
pub type UiMethod = Arc<dyn Fn(&State, &[Value]) -> Result<Value, Error> + Send + Sync>;

/// A reusable template component (Tornado's `UIModule`), called in a
/// template as `{{ modules.Name(args…) }}`. Its CSS and JavaScript are put
/// into the page once, however often the module appears: styles and
/// stylesheet links before `</head>`, scripts before `</body>`.
///
/// ```
/// use minijinja::{Error, State, Value};
/// use tornado_web::{UiModule, render_module_template};
///
/// struct Entry;
/// impl UiModule for Entry {
///     fn render(&self, state: &State, args: &[Value]) -> Result<String, Error> {
///         let entry = args.first().cloned().unwrap_or_default();
///         render_module_template(state, "modules/entry.html", minijinja::context! { entry })
///     }
///     fn embedded_css(&self) -> Option<String> {
///         Some(".entry { margin: 1em }".into())
///     }
/// }
/// ```
pub trait UiModule: Send + Sync + 'static {
    /// The module's HTML (not escaped again).
    fn render(&self, state: &State, args: &[Value]) -> Result<String, Error>;
    /// CSS put in a `<style>` element in the page's head.
    fn embedded_css(&self) -> Option<String> {
        None
    }
    /// JavaScript put in a `<script>` element at the end of the body.
    fn embedded_javascript(&self) -> Option<String> {
        None
    }
    /// Stylesheets linked from the head (absolute URLs or paths).
    fn css_files(&self) -> Vec<String> {
        Vec::new()
    }
    /// Scripts loaded at the end of the body.
    fn javascript_files(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Renders template `name` of the same environment with `ctx` merged over
/// the page's namespace (so `handler`, `static_url`… stay available): what
/// a module's `render` uses for its HTML (Tornado's `UIModule.render_string`).
pub fn render_module_template(state: &State, name: &str, ctx: Value) -> Result<String, Error> {
    let template = state.env().get_template(name)?;
    let namespace: std::collections::BTreeMap<&str, Value> = crate::templates::NAMESPACE
        .iter()
        .filter_map(|k| state.lookup(k).map(|v| (*k, v)))
        .collect();
    template.render(minijinja::context! { ..ctx, ..Value::from(namespace) })
}

/// The modules a page used, in first-use order, for their CSS and JS.
#[derive(Default)]
pub(crate) struct PageResources {
    used: Vec<String>,
    css: Vec<String>,
    js: Vec<String>,
    css_files: Vec<String>,
    js_files: Vec<String>,
}

impl PageResources {
    /// Notes that module `name` appears on the page (its resources once).
    pub(crate) fn add(&mut self, name: &str, module: &dyn UiModule) {
        if self.used.iter().any(|n| n == name) {
            return;
        }
        self.used.push(name.to_owned());
        self.css.extend(module.embedded_css());
        self.js.extend(module.embedded_javascript());
        for f in module.css_files() {
            if !self.css_files.contains(&f) {
                self.css_files.push(f);
            }
        }
        for f in module.javascript_files() {
            if !self.js_files.contains(&f) {
                self.js_files.push(f);
            }
        }
    }

    /// `html` with the resources put before `</head>` and `</body>`.
    pub(crate) fn inject(&self, html: String, url_for: impl Fn(&str) -> String) -> String {
        let mut head = String::new();
        for f in &self.css_files {
            head.push_str(&format!(
                "<link href=\"{}\" type=\"text/css\" rel=\"stylesheet\"/>",
                crate::escape::xhtml_escape(&url_for(f))
            ));
        }
        if !self.css.is_empty() {
            head.push_str(&format!(
                "<style type=\"text/css\">\n{}\n</style>",
                self.css.join("\n")
            ));
        }
        let mut body = String::new();
        for f in &self.js_files {
            body.push_str(&format!(
                "<script src=\"{}\" type=\"text/javascript\"></script>",
                crate::escape::xhtml_escape(&url_for(f))
            ));
        }
        if !self.js.is_empty() {
            body.push_str(&format!(
                "<script type=\"text/javascript\">\n//<![CDATA[\n{}\n//]]>\n</script>",
                self.js.join("\n")
            ));
        }
        let html = insert_before(html, "</head>", &head);
        insert_before(html, "</body>", &body)
    }
}

/// Inserts `what` before the last `tag` in `html` (nothing if absent).
fn insert_before(mut html: String, tag: &str, what: &str) -> String {
    if what.is_empty() {
        return html;
    }
    if let Some(i) = html.rfind(tag) {
        html.insert_str(i, what);
    }
    html
}

/// Shared between a page's render and its module calls.
pub(crate) type SharedResources = Arc<Mutex<PageResources>>;
