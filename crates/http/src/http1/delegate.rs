//! What the server does with each request, as Tornado's
//! `HTTPServerConnectionDelegate` and `HTTPMessageDelegate`: a delegate per
//! request receives the head, then the body chunk by chunk, then the end.

use std::future::Future as StdFuture;
use std::rc::Rc;

use super::connection::RequestConnection;
use super::error::BodyError;
use super::writer::ResponseWriter;
use crate::httputil::HttpServerRequest;

/// Receives one request as it is read (Tornado's `HTTPMessageDelegate`).
///
/// The connection awaits each call before reading on: a slow
/// `data_received` is back-pressure, since the next chunk is not read (and
/// the client's sends eventually block) until it is done.
pub trait HttpMessageDelegate {
    /// The request head (its `body` is empty). The request's limits can be
    /// changed here through the [`RequestConnection`] before the body is
    /// read; the response may also be sent (and finished) already.
    fn headers_received(&mut self, request: HttpServerRequest) -> impl StdFuture<Output = ()>;

    /// A piece of the body (de-chunked, decompressed if the server does
    /// that). An error ends the request with its status (400, 413).
    fn data_received(&mut self, chunk: Vec<u8>) -> impl StdFuture<Output = Result<(), BodyError>>;

    /// The whole body was received (or the response was finished before
    /// it was, and the rest will not be read: the connection closes after
    /// the response). The response must be finished by the time this
    /// completes, or the connection is closed.
    fn finish(&mut self) -> impl StdFuture<Output = ()>;

    /// The connection closed (or the body was refused) before `finish`.
    fn on_connection_close(&mut self) {}
}

/// Makes a delegate for each request of a server (Tornado's
/// `HTTPServerConnectionDelegate`). Every [`HttpHandler`] is one, through a
/// delegate that collects the whole body first.
pub trait HttpServerDelegate: 'static {
    /// The per-request delegate.
    type Message: HttpMessageDelegate;

    /// A delegate for the request about to be read on `conn`.
    fn start_request(self: Rc<Self>, conn: RequestConnection) -> Self::Message;
}

/// What an [`HttpServer`](crate::HttpServer) does with each whole request
/// (the body read and parsed first).
pub trait HttpHandler: 'static {
    /// Handles `request`, answering through `response` (which must be
    /// finished; an unfinished one closes the connection).
    fn handle_request(
        &self,
        request: HttpServerRequest,
        response: ResponseWriter,
    ) -> impl StdFuture<Output = ()>;
}

impl<H: HttpHandler> HttpServerDelegate for H {
    type Message = WholeBody<H>;

    fn start_request(self: Rc<Self>, conn: RequestConnection) -> WholeBody<H> {
        WholeBody {
            handler: self,
            conn,
            request: None,
        }
    }
}

/// The delegate that buffers the body, parses forms and multipart bodies,
/// then hands the request to an [`HttpHandler`].
pub struct WholeBody<H> {
    handler: Rc<H>,
    conn: RequestConnection,
    request: Option<HttpServerRequest>,
}

impl<H: HttpHandler> HttpMessageDelegate for WholeBody<H> {
    async fn headers_received(&mut self, request: HttpServerRequest) {
        self.request = Some(request);
    }

    async fn data_received(&mut self, chunk: Vec<u8>) -> Result<(), BodyError> {
        if let Some(r) = self.request.as_mut() {
            append(&mut r.body, chunk);
        }
        Ok(())
    }

    async fn finish(&mut self) {
        let Some(mut request) = self.request.take() else {
            return;
        };
        if let Err(e) = request.parse_body() {
            log::info!(target: "tornado.general", "Malformed HTTP request from {}: {e}", request.remote_ip);
            self.conn.answer_error(400, &e.0);
            return;
        }
        self.handler
            .handle_request(request, self.conn.response())
            .await;
    }
}

/// Appends a body chunk, taking the first one's allocation as it is.
pub fn append(body: &mut Vec<u8>, chunk: Vec<u8>) {
    if body.is_empty() {
        *body = chunk;
    } else {
        body.extend_from_slice(&chunk);
    }
}
