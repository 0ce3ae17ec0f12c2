//! `Settings`: the application-wide options a request reads (Tornado's
//! settings dictionary, typed). Its own module so that a `Context` holds
//! the settings, not the application that holds the routes that build it.

/// Application-wide settings (Tornado's settings dictionary, typed).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The secret that signs cookies (`set_signed_cookie`).
    pub cookie_secret: Option<String>,
    /// Error pages show the error (development only).
    pub serve_traceback: bool,
    /// Gzip responses to clients that accept it.
    pub compress_response: bool,
    /// Application values of the user's own.
    pub extra: std::collections::HashMap<String, String>,
}
