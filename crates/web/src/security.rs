//! Users and signed cookies on the `Context`: the current user, the
//! `authenticated` guard, and cookies signed with versioned secrets.

use std::time::SystemTime;

use crate::context::Context;
use crate::cookies::{
    CookieOptions, create_signed_value_versioned, decode_signed_value,
    decode_signed_value_versioned,
};
use crate::error::HttpError;
use crate::escape::url_escape;

impl Context {
    /// The logged-in user, as the handler's `get_current_user` found it
    /// (run once per request, before the method) or as set with
    /// [`set_current_user`](Self::set_current_user); `None` if anonymous.
    pub fn current_user(&self) -> Option<&serde_json::Value> {
        self.current_user.as_ref().and_then(|u| u.as_ref())
    }

    /// Sets the current user (e.g. from `prepare`, Tornado's way of
    /// finding the user asynchronously); `get_current_user` is then not
    /// called.
    pub fn set_current_user(&mut self, user: Option<serde_json::Value>) {
        self.current_user = Some(user);
    }

    /// True once the current user was looked up or set.
    pub fn current_user_known(&self) -> bool {
        self.current_user.is_some()
    }

    /// The `login_url` setting (a 500 if unset).
    pub fn get_login_url(&self) -> Result<String, HttpError> {
        self.settings.login_url.clone().ok_or_else(|| {
            HttpError::new(500).with_log_message("authenticated needs the login_url setting")
        })
    }

    /// Tornado's `@authenticated`, called first in a method:
    /// `cx.authenticated()?;`. With a current user it lets the method go
    /// on; otherwise a GET or HEAD is redirected to `login_url` with
    /// `?next=<this URL>` (and the method ends there, quietly), anything
    /// else is a 403.
    pub fn authenticated(&mut self) -> Result<(), HttpError> {
        if self.current_user().is_some() {
            return Ok(());
        }
        let method = self.request.method.as_str();
        if method != "GET" && method != "HEAD" {
            return Err(HttpError::new(403));
        }
        let mut url = self.get_login_url()?;
        if !url.contains('?') {
            // An absolute login URL (another host) needs the full URL back.
            let next = if url.contains("://") {
                self.request.full_url()
            } else {
                self.request.uri.clone()
            };
            url = format!("{url}?next={}", url_escape(&next, true));
        }
        self.redirect(&url, false);
        Err(HttpError::handled())
    }

    /// The secret new signed cookies are signed with, and its key version.
    fn signing_secret(&self) -> Result<(String, u32), HttpError> {
        let s = &self.settings;
        if !s.cookie_secrets.is_empty() {
            let version = s.key_version.ok_or_else(|| {
                HttpError::new(500).with_log_message("cookie_secrets need the key_version setting")
            })?;
            return s
                .cookie_secrets
                .get(&version)
                .map(|secret| (secret.clone(), version))
                .ok_or_else(|| {
                    HttpError::new(500)
                        .with_log_message(format!("no cookie secret for key_version {version}"))
                });
        }
        s.cookie_secret
            .clone()
            .map(|secret| (secret, 0))
            .ok_or_else(|| {
                HttpError::new(500)
                    .with_log_message("signed cookies need the cookie_secret setting")
            })
    }

    /// `value` signed for cookie `name` now, as `set_signed_cookie` sets
    /// it (Tornado's `create_signed_value`).
    pub fn create_signed_value(&self, name: &str, value: &str) -> Result<String, HttpError> {
        let (secret, version) = self.signing_secret()?;
        Ok(create_signed_value_versioned(
            &secret,
            version,
            name,
            value,
            SystemTime::now(),
        ))
    }

    /// Sets a cookie signed with the application's secret (the
    /// `key_version` one of `cookie_secrets`, else `cookie_secret`), so
    /// that `get_signed_cookie` can tell it was not forged.
    pub fn set_signed_cookie(
        &mut self,
        name: &str,
        value: &str,
        options: &CookieOptions,
    ) -> Result<(), HttpError> {
        let signed = self.create_signed_value(name, value)?;
        self.set_cookie(name, &signed, options);
        Ok(())
    }

    /// The value of a cookie set by `set_signed_cookie`, if its signature
    /// holds (with the secret of the key version it names) and it is
    /// younger than `max_age_days`.
    pub fn get_signed_cookie(&self, name: &str, max_age_days: f64) -> Option<String> {
        let raw = self.get_cookie(name)?;
        self.decode_signed_value(name, &raw, max_age_days)
    }

    /// Checks a signed value as `get_signed_cookie` does.
    pub fn decode_signed_value(
        &self,
        name: &str,
        value: &str,
        max_age_days: f64,
    ) -> Option<String> {
        let s = &self.settings;
        let now = SystemTime::now();
        if !s.cookie_secrets.is_empty() {
            return decode_signed_value_versioned(
                &s.cookie_secrets,
                name,
                value,
                max_age_days,
                now,
            );
        }
        decode_signed_value(s.cookie_secret.as_deref()?, name, value, max_age_days, now)
    }
}
