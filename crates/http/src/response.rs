//! Writing responses (the output half of Tornado's `HTTP1Connection`); it
//! lives in the `http1` layer, next to the rules it follows.

pub use crate::http1::writer::{HttpOutputError, ResponseWriter};
