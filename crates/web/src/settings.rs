//! `Settings`: the application-wide options a request reads (Tornado's
//! settings dictionary, typed). Its own module so that a `Context` holds
//! the settings, not the application that holds the routes that build it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::ui::{UiMethod, UiModule};

/// Application-wide settings (Tornado's settings dictionary, typed).
/// Build with `..Default::default()` for the fields left alone.
#[derive(Clone)]
pub struct Settings {
    /// The secret that signs cookies (`set_signed_cookie`).
    pub cookie_secret: Option<String>,
    /// Versioned secrets (Tornado's `cookie_secret` as a dict): cookies are
    /// signed with `cookie_secrets[key_version]` and read with the key
    /// their version names, so a secret can be rotated without logging
    /// everyone out. When set, they take the place of `cookie_secret`.
    pub cookie_secrets: BTreeMap<u32, String>,
    /// The key of `cookie_secrets` that signs new cookies.
    pub key_version: Option<u32>,
    /// Development mode (Tornado's `debug`): turns on `serve_traceback`,
    /// reloads templates on every render and does not cache static hashes.
    pub debug: bool,
    /// Error pages show the error (development only).
    pub serve_traceback: bool,
    /// Gzip responses to clients that accept it.
    pub compress_response: bool,
    /// Where `render` finds templates.
    pub template_path: Option<PathBuf>,
    /// HTML-escape `{{ … }}` output (on by default, as Tornado); the
    /// `raw` (or `safe`) filter opts a value out.
    pub autoescape: bool,
    /// Check an XSRF token on POST, PUT, PATCH and DELETE.
    pub xsrf_cookies: bool,
    /// Where `authenticated` sends anonymous GET and HEAD requests.
    pub login_url: Option<String>,
    /// A directory served under `static_url_prefix` by a
    /// `StaticFileHandler` the application adds itself.
    pub static_path: Option<PathBuf>,
    /// The URL prefix of `static_path` (default `/static/`).
    pub static_url_prefix: String,
    /// Cache each static file's `?v=` hash once computed (default: on
    /// unless `debug`).
    pub static_hash_cache: Option<bool>,
    /// Template components by name, called as `modules.Name(…)`.
    pub ui_modules: BTreeMap<String, Arc<dyn UiModule>>,
    /// Template functions of the application's own, by name.
    pub ui_methods: BTreeMap<String, UiMethod>,
    /// Application values of the user's own.
    pub extra: HashMap<String, String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            cookie_secret: None,
            cookie_secrets: BTreeMap::new(),
            key_version: None,
            debug: false,
            serve_traceback: false,
            compress_response: false,
            template_path: None,
            autoescape: true,
            xsrf_cookies: false,
            login_url: None,
            static_path: None,
            static_url_prefix: "/static/".to_owned(),
            static_hash_cache: None,
            ui_modules: BTreeMap::new(),
            ui_methods: BTreeMap::new(),
            extra: HashMap::new(),
        }
    }
}

impl Settings {
    /// Whether error pages show the error: `serve_traceback` or `debug`.
    pub fn shows_tracebacks(&self) -> bool {
        self.serve_traceback || self.debug
    }

    /// Whether static hashes are cached: `static_hash_cache`, else not in
    /// `debug`.
    pub fn caches_static_hashes(&self) -> bool {
        self.static_hash_cache.unwrap_or(!self.debug)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Settings")
            .field("debug", &self.debug)
            .field("template_path", &self.template_path)
            .field("autoescape", &self.autoescape)
            .field("xsrf_cookies", &self.xsrf_cookies)
            .field("login_url", &self.login_url)
            .field("static_path", &self.static_path)
            .field("static_url_prefix", &self.static_url_prefix)
            .field("ui_modules", &self.ui_modules.keys().collect::<Vec<_>>())
            .field("ui_methods", &self.ui_methods.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
