//! One request's handler and context with the handler's type erased: how
//! the application's delegate drives a handler through `prepare`,
//! `data_received` and its method.

use std::future::Future as StdFuture;
use std::pin::Pin;

use crate::context::Context;
use crate::handler::{self, RequestHandler};

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
