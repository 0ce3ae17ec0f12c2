//! Routes: URL patterns and the handler types serving them, and matching a
//! request's path against them (the routing part of Tornado's
//! `web.Application`).

use regex::Regex;

use crate::context::Context;
use crate::handler::RequestHandler;
use crate::run::{HandlerRun, Run};

/// A matched route: its index and its decoded unnamed and named groups.
type Match = (usize, Vec<String>, Vec<(String, String)>);

/// A route matched, but a group is not UTF-8 once percent-decoded.
struct BadGroup;

/// Starts one request with a handler type.
pub(crate) trait Spec {
    /// A fresh handler for the request in `cx`.
    fn start(&self, cx: Context) -> Box<dyn Run>;
}

/// A handler value to clone per request.
struct Cloning<H>(H);

impl<H: RequestHandler + Clone> Spec for Cloning<H> {
    fn start(&self, cx: Context) -> Box<dyn Run> {
        Box::new(HandlerRun {
            handler: self.0.clone(),
            cx,
        })
    }
}

/// A URL pattern and the handler serving it.
pub struct Route {
    /// The pattern anchored at both ends.
    regex: Regex,
    spec: Box<dyn Spec>,
}

/// A route: `pattern` is a regular expression matched against the whole
/// path; its groups become the handler's path arguments.
///
/// # Panics
/// If `pattern` is not a valid regular expression (a programming error,
/// found at start-up); see [`try_route`] to get it as an error.
pub fn route<H: RequestHandler + Clone>(pattern: &str, handler: H) -> Route {
    try_route(pattern, handler).unwrap_or_else(|e| panic!("invalid route pattern {pattern:?}: {e}"))
}

/// As [`route`], returning an invalid pattern as an error.
pub fn try_route<H: RequestHandler + Clone>(
    pattern: &str,
    handler: H,
) -> Result<Route, regex::Error> {
    Ok(Route {
        regex: Regex::new(&format!("^(?:{pattern})$"))?,
        spec: Box::new(Cloning(handler)),
    })
}

/// An application's routes, in order.
pub(crate) struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub(crate) fn new(routes: Vec<Route>) -> Router {
        Router { routes }
    }

    /// Routes the request in `cx`, filling its path arguments: the route's
    /// handler spec, or the error status (404, or 400 for a path group
    /// that is not UTF-8).
    pub(crate) fn route_for(&self, cx: &mut Context) -> Result<&dyn Spec, u16> {
        match self.find(&cx.request.path) {
            Some(Ok((i, args, kwargs))) => {
                cx.path_args = args;
                cx.path_kwargs = kwargs;
                Ok(&*self.routes[i].spec)
            }
            Some(Err(BadGroup)) => Err(400),
            None => Err(404),
        }
    }

    /// Finds the route for `path`: its index and decoded groups.
    fn find(&self, path: &str) -> Option<Result<Match, BadGroup>> {
        for (i, r) in self.routes.iter().enumerate() {
            // Without groups, a match test is all it takes (and much cheaper).
            if r.regex.captures_len() == 1 {
                if r.regex.is_match(path) {
                    return Some(Ok((i, Vec::new(), Vec::new())));
                }
                continue;
            }
            if let Some(caps) = r.regex.captures(path) {
                // Not UTF-8 once decoded: a 400, as Tornado's
                // "Invalid unicode in path argument".
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| BadGroup)
                };
                let mut args = Vec::new();
                let mut kwargs = Vec::new();
                for (name, m) in r.regex.capture_names().zip(caps.iter()).skip(1) {
                    let value = match m {
                        Some(m) => match decode(m.as_str()) {
                            Ok(v) => v,
                            Err(e) => return Some(Err(e)),
                        },
                        None => String::new(),
                    };
                    match name {
                        Some(n) => kwargs.push((n.to_owned(), value)),
                        None => args.push(value),
                    }
                }
                return Some(Ok((i, args, kwargs)));
            }
        }
        None
    }
}
