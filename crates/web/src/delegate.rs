//! How an `Application` receives a request from the HTTP server (Tornado's
//! `_HandlerDelegate`): routed when its head arrives, then the body either
//! buffered (parsed as a form at the end) or streamed to a handler with
//! `STREAM_REQUEST_BODY`, then the handler's method.

use std::rc::Rc;

use tornado_http::http1::delegate::append;
use tornado_http::httputil::HttpServerRequest;
use tornado_http::{BodyError, HttpMessageDelegate, RequestConnection};

use crate::application::AppShared;
use crate::context::Context;
use crate::error::HttpError;
use crate::handler::{RequestHandler, send_error};
use crate::routing::Router;
use crate::run::Run;

/// The page for requests no route serves: 404, or 400 when a path group is
/// not UTF-8 (Tornado's `ErrorHandler`).
#[derive(Clone)]
pub(crate) struct NotFound;
impl RequestHandler for NotFound {}

/// Where a request goes.
enum Target {
    /// Not yet routed.
    None,
    /// A route's handler.
    Handler(Box<dyn Run>),
    /// No route (or an undecodable path): this status, once the body is in.
    Error(u16, Box<Context>),
}

/// The server's per-request delegate for an
/// [`Application`](crate::Application).
pub struct WebRequest {
    router: Rc<Router>,
    shared: Rc<AppShared>,
    conn: RequestConnection,
    target: Target,
    /// `prepare` of a streaming handler let the request go on.
    prepared: bool,
}

impl WebRequest {
    pub(crate) fn new(
        router: Rc<Router>,
        shared: Rc<AppShared>,
        conn: RequestConnection,
    ) -> WebRequest {
        WebRequest {
            router,
            shared,
            conn,
            target: Target::None,
            prepared: false,
        }
    }
}

impl WebRequest {
    /// Routes the request: its handler, or the error page to send. Not in
    /// `headers_received`'s body: a context held there would sit in the
    /// connection's coroutine (beside the request) for its whole life.
    fn route(&mut self, request: HttpServerRequest) {
        let mut cx = Context::new(
            request,
            self.conn.response(),
            self.shared.clone(),
            self.conn.clone(),
        );
        self.target = match self.router.route_for(&mut cx) {
            Ok(spec) => Target::Handler(spec.start(cx)),
            Err(status) => Target::Error(status, Box::new(cx)),
        };
    }
}

impl HttpMessageDelegate for WebRequest {
    async fn headers_received(&mut self, request: HttpServerRequest) {
        self.route(request);
        if let Target::Handler(run) = &mut self.target {
            if run.streams() {
                self.prepared = run.prepare().await;
            }
        }
    }

    async fn data_received(&mut self, chunk: Vec<u8>) -> Result<(), BodyError> {
        match &mut self.target {
            Target::Handler(run) if run.streams() => {
                if self.prepared {
                    run.data_received(chunk).await;
                }
            }
            Target::Handler(run) => append(&mut run.context().request.body, chunk),
            Target::Error(..) | Target::None => {}
        }
        Ok(())
    }

    async fn finish(&mut self) {
        match std::mem::replace(&mut self.target, Target::None) {
            Target::Handler(mut run) => {
                if !run.streams() {
                    let cx = run.context();
                    if let Err(e) = cx.request.parse_body() {
                        log::info!(target: "tornado.general", "Malformed HTTP request from {}: {e}", cx.request.remote_ip);
                        send_error(&mut NotFound, cx, &HttpError::new(400));
                        return;
                    }
                }
                run.execute(self.prepared).await;
            }
            Target::Error(status, mut cx) => {
                send_error(&mut NotFound, &mut cx, &HttpError::new(status));
                log::warn!(target: "tornado.access", "{status} {} {} ({})", cx.request().method, cx.request().uri, cx.request().remote_ip);
            }
            Target::None => {}
        }
    }
}
