//! How an `Application` receives a request from the HTTP server (Tornado's
//! `_HandlerDelegate`): routed when its head arrives, then the body either
//! buffered (parsed as a form at the end) or streamed to a handler with
//! `STREAM_REQUEST_BODY`, then the handler's method.

use std::future::Future as StdFuture;
use std::pin::Pin;

use tornado_http::http1::delegate::append;
use tornado_http::httputil::HttpServerRequest;
use tornado_http::{BodyError, HttpMessageDelegate, RequestConnection};

use crate::application::Application;
use crate::context::Context;
use crate::error::HttpError;
use crate::handler::{self, RequestHandler, send_error};

/// A boxed future borrowing its runner.
pub(crate) type LocalFuture<'a, T> = Pin<Box<dyn StdFuture<Output = T> + 'a>>;

/// One request's handler and context, with the handler's type erased.
pub(crate) trait Run {
    /// The request's context.
    fn context(&mut self) -> &mut Context;
    /// Whether the handler streams the body.
    fn streams(&self) -> bool;
    /// `prepare` (streaming handlers, before the body); false if the
    /// request ended there.
    fn prepare(&mut self) -> LocalFuture<'_, bool>;
    /// One body chunk (streaming handlers).
    fn data_received(&mut self, chunk: Vec<u8>) -> LocalFuture<'_, ()>;
    /// The rest: for a buffering handler everything from `prepare`; for a
    /// streaming one the method. Then `finish`, `on_finish` and the log.
    fn execute(&mut self, prepared: bool) -> LocalFuture<'_, ()>;
}

/// A handler value and its request.
pub(crate) struct HandlerRun<H> {
    pub(crate) handler: H,
    pub(crate) cx: Context,
}

impl<H: RequestHandler> Run for HandlerRun<H> {
    fn context(&mut self) -> &mut Context {
        &mut self.cx
    }

    fn streams(&self) -> bool {
        H::STREAM_REQUEST_BODY
    }

    fn prepare(&mut self) -> LocalFuture<'_, bool> {
        Box::pin(handler::prepare(&mut self.handler, &mut self.cx))
    }

    fn data_received(&mut self, chunk: Vec<u8>) -> LocalFuture<'_, ()> {
        Box::pin(handler::data_received(
            &mut self.handler,
            &mut self.cx,
            chunk,
        ))
    }

    fn execute(&mut self, prepared: bool) -> LocalFuture<'_, ()> {
        Box::pin(async move {
            let (h, cx) = (&mut self.handler, &mut self.cx);
            if !H::STREAM_REQUEST_BODY {
                handler::execute(h, cx).await;
                return;
            }
            if prepared {
                handler::run_method(h, cx).await;
            }
            handler::conclude(h, cx);
        })
    }
}

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

/// The server's per-request delegate for an [`Application`].
pub struct WebRequest {
    app: Application,
    conn: RequestConnection,
    target: Target,
    /// `prepare` of a streaming handler let the request go on.
    prepared: bool,
}

impl WebRequest {
    pub(crate) fn new(app: Application, conn: RequestConnection) -> WebRequest {
        WebRequest {
            app,
            conn,
            target: Target::None,
            prepared: false,
        }
    }
}

impl HttpMessageDelegate for WebRequest {
    async fn headers_received(&mut self, request: HttpServerRequest) {
        let mut cx = Context::new(
            request,
            self.conn.response(),
            self.app.shared(),
            self.conn.clone(),
        );
        self.target = match self.app.route_for(&mut cx) {
            Ok(spec) => Target::Handler(spec.start(cx)),
            Err(status) => Target::Error(status, Box::new(cx)),
        };
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
