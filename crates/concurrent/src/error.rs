//! The error a [`Future`](crate::Future) fails with.
//!
//! Tornado futures fail with any Python exception; the Rust equivalent is a
//! cheap, cloneable handle around any `std::error::Error`, so that every
//! holder of a finished future can read the same failure. Like `anyhow`,
//! [`Error`] converts from every error type with `?` and therefore does not
//! itself implement `std::error::Error` (that would collide with the blanket
//! `From`); it converts *into* `Box<dyn std::error::Error>` instead.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// Why a future failed: a cloneable, thread-safe handle to the cause.
///
/// ```
/// use tornado_concurrent::{CancelledError, Error};
///
/// let e: Error = std::io::Error::other("boom").into();
/// assert!(e.is::<std::io::Error>());
/// assert_eq!(e.to_string(), "boom");
/// assert!(Error::cancelled().is::<CancelledError>());
/// ```
#[derive(Clone)]
pub struct Error {
    /// Shared so that `Future::exception` can hand out copies cheaply.
    inner: Arc<dyn StdError + Send + Sync>,
}

/// The future was cancelled before it produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the future was cancelled")]
pub struct CancelledError;

/// An operation needed a finished future, or a pending one, and got the other
/// (Tornado's and asyncio's `InvalidStateError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid future state: {0}")]
pub struct InvalidStateError(pub &'static str);

/// A callback or coroutine panicked; the panic was caught and turned into this
/// error so that it lands in a future instead of unwinding through the loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct PanicError {
    /// The panic payload when it was a string, or a placeholder otherwise.
    pub message: String,
}

impl PanicError {
    /// Builds the error from a payload returned by `std::panic::catch_unwind`.
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        PanicError {
            message: panic_message(payload),
        }
    }
}

/// Extracts the human-readable message from a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// A plain message, for `Error::msg`.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

impl Error {
    /// Wraps any error.
    pub fn new<E: StdError + Send + Sync + 'static>(error: E) -> Self {
        Error {
            inner: Arc::new(error),
        }
    }

    /// An error that is only a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::new(Message(message.to_string()))
    }

    /// The error of a cancelled future.
    pub fn cancelled() -> Self {
        Error::new(CancelledError)
    }

    /// The error of a caught panic, from `catch_unwind`'s payload.
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        Error::new(PanicError::from_payload(payload))
    }

    /// True if the underlying error is an `E`.
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.downcast_ref::<E>().is_some()
    }

    /// The underlying error as an `E`, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let inner: &(dyn StdError + 'static) = &*self.inner;
        inner.downcast_ref::<E>()
    }

    /// True if this is the error of a cancelled future.
    pub fn is_cancelled(&self) -> bool {
        self.is::<CancelledError>()
    }

    /// The underlying error, as a standard error trait object.
    pub fn as_std(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        Error::new(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Lets `?` turn an [`Error`] into a boxed standard error (for `main`).
#[derive(Debug)]
struct Boxed(Error);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Boxed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.inner.source()
    }
}

impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: Error) -> Self {
        Box::new(Boxed(error))
    }
}

impl From<Error> for Box<dyn StdError + 'static> {
    fn from(error: Error) -> Self {
        Box::new(Boxed(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downcast_and_display() {
        let e = Error::new(InvalidStateError("x"));
        assert!(e.is::<InvalidStateError>());
        assert!(!e.is::<CancelledError>());
        assert_eq!(e.to_string(), "invalid future state: x");
        let c = e.clone();
        assert_eq!(c.to_string(), e.to_string());
    }

    #[test]
    fn panic_payloads() {
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(Error::from_panic(&*p).to_string(), "panicked: static");
        let p = std::panic::catch_unwind(|| panic!("{}", 5)).unwrap_err();
        assert_eq!(Error::from_panic(&*p).to_string(), "panicked: 5");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert!(Error::from_panic(&*p).to_string().contains("non-string"));
    }

    #[test]
    fn boxes_for_main() {
        fn f() -> Result<(), Box<dyn StdError>> {
            Err(Error::msg("m"))?;
            Ok(())
        }
        assert_eq!(f().unwrap_err().to_string(), "m");
    }
}
