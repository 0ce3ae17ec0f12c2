//! `static_url`: URLs of files under `static_path` with a content hash,
//! so that they can be cached for long and still change when the file
//! does (Tornado's `StaticFileHandler.make_static_url`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::context::Context;
use crate::escape::url_escape;
use crate::settings::Settings;

/// How long a versioned static URL may be cached (one year).
pub const VERSIONED_CACHE_SECONDS: u64 = 365 * 86400;

/// The application's static URL maker and its hash cache.
pub(crate) struct StaticUrls {
    path: Option<PathBuf>,
    prefix: String,
    /// File path → its hash (`None`: it could not be read); no cache in
    /// debug mode.
    cache: Option<Mutex<HashMap<String, Option<String>>>>,
}

impl StaticUrls {
    pub(crate) fn new(settings: &Settings) -> StaticUrls {
        StaticUrls {
            path: settings.static_path.clone(),
            prefix: settings.static_url_prefix.clone(),
            cache: settings
                .caches_static_hashes()
                .then(|| Mutex::new(HashMap::new())),
        }
    }

    /// The hash of the file's content (hex, 32 digits), or `None` if it
    /// cannot be read (outside the root, missing).
    fn hash(&self, path: &str) -> Option<String> {
        let root = self.path.as_ref()?;
        let relative = crate::static_file::normalize(path)?;
        let data = std::fs::read(root.join(relative)).ok()?;
        let digest = Sha256::digest(&data);
        Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// `prefix + path + ?v=<hash>`; without `v` if the file cannot be read
    /// (logged).
    pub(crate) fn url(&self, path: &str) -> String {
        let version = match &self.cache {
            Some(cache) => {
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                cache
                    .entry(path.to_owned())
                    .or_insert_with(|| self.hash(path))
                    .clone()
            }
            None => self.hash(path),
        };
        let base = format!("{}{}", self.prefix, url_escape(path, false));
        match version {
            Some(v) => format!("{base}?v={v}"),
            None => {
                log::error!(target: "tornado.application", "Could not open static file {path:?}");
                base
            }
        }
    }
}

impl Context {
    /// The URL of static file `path` (relative to `static_path`) with
    /// `?v=<content hash>` (computed once per file and cached, except in
    /// debug mode), as Tornado's `static_url`.
    pub fn static_url(&self, path: &str) -> String {
        self.app.statics.url(path)
    }
}
