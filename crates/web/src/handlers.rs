//! Ready-made handlers and method guards of Tornado's `web`:
//! `RedirectHandler`, `FallbackHandler`, `addslash` and `removeslash`.

use std::rc::Rc;

use tornado_http::HttpHandler;

use crate::context::Context;
use crate::error::HttpError;
use crate::handler::{HandlerResult, RequestHandler};

/// Redirects every GET to a URL made from `url` with the route's groups:
/// `{0}`, `{1}`… for unnamed ones and `{name}` for named ones; the query
/// string goes along (Tornado's `RedirectHandler`).
///
/// ```
/// use tornado_web::{Application, RedirectHandler, route};
/// let app = Application::new(vec![
///     route(r"/old/(.*)", RedirectHandler::new("/new/{0}", true)),
/// ]);
/// ```
#[derive(Clone, Debug)]
pub struct RedirectHandler {
    url: Rc<str>,
    permanent: bool,
}

impl RedirectHandler {
    /// Redirects to `url` (a 301 if `permanent`, else a 302).
    pub fn new(url: &str, permanent: bool) -> RedirectHandler {
        RedirectHandler {
            url: url.into(),
            permanent,
        }
    }

    /// `url` with the groups put in.
    fn target(&self, cx: &Context) -> String {
        let mut out = String::with_capacity(self.url.len());
        let mut rest = &*self.url;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let key = &after[..close];
            let value = match key.parse::<usize>() {
                Ok(i) => cx.path_args().get(i).cloned(),
                Err(_) => cx.path_kwarg(key).map(str::to_owned),
            };
            match value {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[open..open + close + 2]),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        let query = &cx.request().query;
        if !query.is_empty() {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        out
    }
}

impl RequestHandler for RedirectHandler {
    async fn get(&mut self, cx: &mut Context) -> HandlerResult {
        let to = self.target(cx);
        cx.redirect(&to, self.permanent);
        Ok(())
    }
}

/// Hands requests to any [`HttpHandler`] (e.g. another framework's app
/// or a plain HTTP handler), from a route (Tornado's `FallbackHandler`).
pub struct FallbackHandler<H> {
    fallback: Rc<H>,
}

impl<H> Clone for FallbackHandler<H> {
    fn clone(&self) -> Self {
        FallbackHandler {
            fallback: self.fallback.clone(),
        }
    }
}

impl<H: HttpHandler> FallbackHandler<H> {
    /// Serves with `fallback`.
    pub fn new(fallback: H) -> FallbackHandler<H> {
        FallbackHandler {
            fallback: Rc::new(fallback),
        }
    }
}

impl<H: HttpHandler> RequestHandler for FallbackHandler<H> {
    const SUPPORTED_METHODS: &'static [&'static str] = &[
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
        "REPORT",
        "SEARCH",
        "TRACE",
    ];

    async fn prepare(&mut self, cx: &mut Context) -> HandlerResult {
        let request = cx.request.clone();
        let response = cx.response.clone();
        // The fallback answers through the response itself; the context
        // must not add to it.
        cx.finished = true;
        self.fallback.handle_request(request, response).await;
        Ok(())
    }
}

impl Context {
    /// Tornado's `@removeslash`, first in a method: a GET or HEAD for a
    /// path ending in `/` is redirected (301) to the path without it (the
    /// method ends there, quietly); other methods get a 404.
    pub fn removeslash(&mut self) -> Result<(), HttpError> {
        let path = self.request.path.clone();
        if !path.ends_with('/') {
            return Ok(());
        }
        if !matches!(self.request.method.as_str(), "GET" | "HEAD") {
            return Err(HttpError::new(404));
        }
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(()); // `/` stays
        }
        let url = self.with_query(trimmed);
        self.redirect(&url, true);
        Err(HttpError::handled())
    }

    /// Tornado's `@addslash`: a GET or HEAD for a path without a trailing
    /// `/` is redirected (301) to the path with it; other methods get a 404.
    pub fn addslash(&mut self) -> Result<(), HttpError> {
        let path = self.request.path.clone();
        if path.ends_with('/') {
            return Ok(());
        }
        if !matches!(self.request.method.as_str(), "GET" | "HEAD") {
            return Err(HttpError::new(404));
        }
        let url = self.with_query(&format!("{path}/"));
        self.redirect(&url, true);
        Err(HttpError::handled())
    }

    fn with_query(&self, path: &str) -> String {
        match self.request.query.as_str() {
            "" => path.to_owned(),
            q => format!("{path}?{q}"),
        }
    }

    /// The request's host name without the port, lower-cased (Tornado's
    /// `request.host_name`).
    pub fn host_name(&self) -> String {
        let host = self.request.host.as_str();
        let name = if let Some(rest) = host.strip_prefix('[') {
            // An IPv6 literal: `[::1]:8888`.
            rest.split(']').next().unwrap_or(rest)
        } else {
            host.rsplit_once(':').map_or(host, |(h, _)| h)
        };
        name.to_ascii_lowercase()
    }
}
