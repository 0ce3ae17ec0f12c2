//! `HttpError`: an error that becomes an HTTP response.

use std::fmt;

use tornado_http::httputil::reason_phrase;

/// An error a handler returns to send an error response (Tornado's
/// `HTTPError`). Any other error converts into a 500 with `?`: every
/// `std::error::Error + Send + Sync + 'static` type, and
/// `tornado_concurrent::Error`. The 500 is logged on `tornado.application`
/// with the error's message; the client sees only the status. An error that
/// is not `Send + Sync`, or a boxed `dyn Error` (which does not implement
/// `std::error::Error`), converts with
/// `.map_err(|e| HttpError::new(500).with_log_message(e.to_string()))`.
///
/// ```
/// use tornado_web::HttpError;
/// let e = HttpError::new(404).with_log_message("no such user: 7");
/// assert_eq!(e.status(), 404);
/// let io: HttpError = std::io::Error::other("disk on fire").into();
/// assert_eq!(io.status(), 500);
/// ```
#[derive(Clone)]
pub struct HttpError {
    /// The response status.
    pub(crate) status: u16,
    /// Logged, never sent to the client.
    pub(crate) log_message: Option<String>,
    /// The reason phrase to send instead of the standard one.
    pub(crate) reason: Option<String>,
    /// The error this one was made from, if any.
    pub(crate) source: Option<tornado_concurrent::Error>,
    /// The response was already answered (e.g. a redirect to the login
    /// page): nothing more to send or log.
    pub(crate) handled: bool,
}

impl HttpError {
    /// An error response with `status`.
    pub fn new(status: u16) -> HttpError {
        HttpError {
            status,
            log_message: None,
            reason: None,
            source: None,
            handled: false,
        }
    }

    /// Ends a handler method whose response was already given, e.g. by
    /// `authenticated`'s redirect: `return Err(HttpError::handled())`
    /// sends and logs nothing more.
    pub fn handled() -> HttpError {
        HttpError {
            handled: true,
            ..HttpError::new(200)
        }
    }

    /// True for [`HttpError::handled`].
    pub fn is_handled(&self) -> bool {
        self.handled
    }

    /// Adds a message for the log (not sent to the client).
    pub fn with_log_message(mut self, message: impl Into<String>) -> HttpError {
        self.log_message = Some(message.into());
        self
    }

    /// Sends `reason` as the status line's reason phrase.
    pub fn with_reason(mut self, reason: impl Into<String>) -> HttpError {
        self.reason = Some(reason.into());
        self
    }

    /// The status to send.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase to send.
    pub fn reason(&self) -> &str {
        self.reason
            .as_deref()
            .unwrap_or_else(|| reason_phrase(self.status))
    }

    /// The log message, if any.
    pub fn log_message(&self) -> Option<&str> {
        self.log_message.as_deref()
    }

    /// The underlying error, for errors converted with `?`.
    pub fn source(&self) -> Option<&tornado_concurrent::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.reason())?;
        if let Some(m) = &self.log_message {
            write!(f, " ({m})")?;
        }
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl HttpError {
    /// A 500 made from any error; the same as `HttpError::from(e)`.
    pub fn from_error<E: Into<tornado_concurrent::Error>>(e: E) -> HttpError {
        HttpError::from(e)
    }
}

/// `?` on any error gives a 500 whose log line (on `tornado.application`)
/// carries the error's message: every `std::error::Error + Send + Sync +
/// 'static` type, and `tornado_concurrent::Error` (what awaited futures
/// fail with). The bound is "converts into `tornado_concurrent::Error`"
/// rather than "is an error" because a blanket impl over
/// `std::error::Error` could not sit beside one for the foreign
/// `tornado_concurrent::Error` (coherence: its crate could add that impl).
/// And `HttpError` itself must not implement `std::error::Error`, as with
/// `anyhow::Error`: it would then convert into `tornado_concurrent::Error`,
/// and this impl would overlap the standard `From<T> for T`.
impl<E: Into<tornado_concurrent::Error>> From<E> for HttpError {
    fn from(e: E) -> HttpError {
        HttpError {
            status: 500,
            log_message: None,
            reason: None,
            source: Some(e.into()),
            handled: false,
        }
    }
}
