//! Routes: URL patterns and the handler types serving them, host rules,
//! the default handler, and matching a request against them (the routing
//! part of Tornado's `web.Application`).

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

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
    fn start(&self, mut cx: Context) -> Box<dyn Run> {
        let handler = self.0.clone();
        // The handler type's overridable hooks that the context calls.
        cx.compute_etag = H::compute_etag;
        cx.template_namespace = H::get_template_namespace;
        if catch_unwind(AssertUnwindSafe(|| handler.set_default_headers(&mut cx))).is_err() {
            log::error!(target: "tornado.application", "set_default_headers panicked");
        }
        Box::new(HandlerRun { handler, cx })
    }
}

/// A URL pattern and the handler serving it.
pub struct Route {
    /// The pattern anchored at both ends.
    regex: Regex,
    /// True when the pattern has no regex syntax (`/`, `/about`): then
    /// comparing it with the path decides, cheaper than the regex.
    literal: bool,
    /// The pattern as given, for `reverse_url`.
    pub(crate) pattern: String,
    /// The route's name, for `reverse_url`.
    pub(crate) name: Option<String>,
    /// Makes the handler for each request.
    spec: Rc<dyn Spec>,
}

impl Route {
    /// Names the route, so that `reverse_url(name, args)` can build its
    /// URLs (Tornado's `url(..., name=...)`).
    pub fn name(mut self, name: &str) -> Route {
        self.name = Some(name.to_owned());
        self
    }
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
        literal: regex::escape(pattern) == pattern,
        pattern: pattern.to_owned(),
        name: None,
        spec: Rc::new(Cloning(handler)),
    })
}

/// The routes for requests whose host matches (all hosts: `None`).
struct HostRules {
    host: Option<Regex>,
    routes: Vec<Route>,
}

/// An application's routing table: host rules in order (the rules for all
/// hosts last), and the handler for what no route matches.
#[derive(Default)]
pub(crate) struct Router {
    rules: RefCell<Vec<HostRules>>,
    default_handler: RefCell<Option<Rc<dyn Spec>>>,
}

impl Router {
    /// Adds `routes` for hosts matching `host` (all hosts: `None`). Host
    /// rules go before the rules for all hosts, in the order added.
    pub(crate) fn insert(&self, host: Option<Regex>, routes: Vec<Route>) {
        let mut rules = self.rules.borrow_mut();
        let wildcard = rules.iter().position(|r| r.host.is_none());
        match (host.is_some(), wildcard) {
            (true, Some(i)) => rules.insert(i, HostRules { host, routes }),
            (false, Some(i)) => rules[i].routes.extend(routes),
            (_, None) => rules.push(HostRules { host, routes }),
        }
    }

    /// Serves what no route matches with `handler` instead of the 404 page.
    pub(crate) fn set_default<H: RequestHandler + Clone>(&self, handler: H) {
        *self.default_handler.borrow_mut() = Some(Rc::new(Cloning(handler)));
    }

    /// Routes the request in `cx`, filling its path arguments: the route's
    /// handler spec, or the error status (404, or 400 for a path group
    /// that is not UTF-8).
    pub(crate) fn route_for(&self, cx: &mut Context) -> Result<Rc<dyn Spec>, u16> {
        // The host name is worked out only if a host rule needs it.
        let mut host: Option<String> = None;
        let rules = self.rules.borrow();
        for rule in rules.iter() {
            if let Some(pattern) = &rule.host {
                let name = host.get_or_insert_with(|| cx.host_name());
                if !pattern.is_match(name) {
                    continue;
                }
            }
            match find(&rule.routes, &cx.request.path) {
                Some(Ok((i, args, kwargs))) => {
                    cx.path_args = args;
                    cx.path_kwargs = kwargs;
                    return Ok(rule.routes[i].spec.clone());
                }
                Some(Err(BadGroup)) => return Err(400),
                None => {}
            }
        }
        match &*self.default_handler.borrow() {
            Some(spec) => Ok(spec.clone()),
            None => Err(404),
        }
    }
}

/// Finds the route for `path` among `routes`: its index and decoded groups.
fn find(routes: &[Route], path: &str) -> Option<Result<Match, BadGroup>> {
    for (i, r) in routes.iter().enumerate() {
        if r.literal {
            if r.pattern == path {
                return Some(Ok((i, Vec::new(), Vec::new())));
            }
            continue;
        }
        // Without groups, a match test is all it takes (and much cheaper).
        if r.regex.captures_len() == 1 {
            if r.regex.is_match(path) {
                return Some(Ok((i, Vec::new(), Vec::new())));
            }
            continue;
        }
        if let Some(caps) = r.regex.captures(path) {
            let mut args = Vec::new();
            let mut kwargs = Vec::new();
            for (name, m) in r.regex.capture_names().zip(caps.iter()).skip(1) {
                let value = match m {
                    // Not UTF-8 once decoded: a 400, as Tornado's
                    // "Invalid unicode in path argument".
                    Some(m) => match crate::arguments::decode_path_argument(m.as_str()) {
                        Some(v) => v,
                        None => return Some(Err(BadGroup)),
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
