//! `RequestHandler` and how a request runs through one (Tornado's
//! `RequestHandler._execute`).

use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, catch_unwind};

use tornado_concurrent::CatchUnwind;

use crate::context::Context;
use crate::error::HttpError;

/// What a handler method returns.
pub type HandlerResult = Result<(), HttpError>;

/// A coroutine request handler (Tornado's `RequestHandler`). Implement the
/// methods the resource supports; the others answer 405. A handler value is
/// cloned for each request, like Tornado's one instance per request.
///
/// ```
/// use tornado_web::{Context, HttpError, RequestHandler};
///
/// #[derive(Clone)]
/// struct MainHandler;
/// impl RequestHandler for MainHandler {
///     async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
///         cx.write("Hello, world");
///         Ok(())
///     }
/// }
/// ```
pub trait RequestHandler: 'static {
    /// Whether the body is streamed to [`data_received`](Self::data_received)
    /// as it arrives instead of buffered (Tornado's `@stream_request_body`).
    /// `prepare` then runs before the first chunk (and may change the
    /// request's limits with `cx.set_max_body_size`), and the method after
    /// the last one, with an empty `cx.request().body`.
    const STREAM_REQUEST_BODY: bool = false;

    /// The methods this handler answers (Tornado's `SUPPORTED_METHODS`);
    /// others get a 405 before `prepare`. A method outside the seven
    /// standard ones (e.g. `PROPFIND`) is served by
    /// [`other_method`](Self::other_method).
    const SUPPORTED_METHODS: &'static [&'static str] =
        &["GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"];

    /// Sets headers every response of this handler carries, error pages
    /// included (Tornado's `set_default_headers`).
    fn set_default_headers(&self, cx: &mut Context) {
        let _ = cx;
    }

    /// The `Etag` of a complete response body (Tornado's `compute_etag`);
    /// `None` sends none. The default is a hash of the body.
    fn compute_etag(body: &[u8]) -> Option<String>
    where
        Self: Sized,
    {
        crate::context::default_etag(body)
    }

    /// Values every template this handler renders sees, over Tornado's
    /// namespace (Tornado's `get_template_namespace`): e.g. a
    /// `xsrf_form_html` of one's own, or helpers. The values passed to
    /// `render` take precedence over both.
    fn get_template_namespace(cx: &mut Context) -> Vec<(String, minijinja::Value)>
    where
        Self: Sized,
    {
        let _ = cx;
        Vec::new()
    }

    /// Finds the logged-in user, e.g. from a signed cookie (Tornado's
    /// `get_current_user`); it may await. Run once per request, after
    /// `prepare` and before the method, unless `prepare` already called
    /// `cx.set_current_user`; the result is `cx.current_user()`.
    fn get_current_user(
        &mut self,
        cx: &mut Context,
    ) -> impl StdFuture<Output = Result<Option<serde_json::Value>, HttpError>> {
        let _ = cx;
        async { Ok(None) }
    }

    /// Checks the XSRF token of a POST, PUT, PATCH or DELETE when the
    /// `xsrf_cookies` setting is on (Tornado's `check_xsrf_cookie`); the
    /// default is [`Context::check_xsrf_cookie`].
    fn check_xsrf_cookie(&mut self, cx: &mut Context) -> HandlerResult {
        cx.check_xsrf_cookie()
    }

    /// A method of `SUPPORTED_METHODS` other than the standard seven;
    /// `cx.request().method` says which.
    fn other_method(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }

    /// A piece of the body, for handlers with `STREAM_REQUEST_BODY`. The
    /// next piece is not read until the returned future is done
    /// (back-pressure). An error ends the request with its status.
    fn data_received(
        &mut self,
        cx: &mut Context,
        chunk: Vec<u8>,
    ) -> impl StdFuture<Output = HandlerResult> {
        let _ = (cx, chunk);
        async {
            Err(HttpError::new(500)
                .with_log_message("STREAM_REQUEST_BODY handler without data_received"))
        }
    }

    /// Runs before the method; finishing the response here skips the method.
    fn prepare(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Ok(()) }
    }
    /// `GET`.
    fn get(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `HEAD` (the body written is not sent).
    fn head(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `POST`.
    fn post(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `PUT`.
    fn put(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `PATCH`.
    fn patch(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `DELETE`.
    fn delete(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// `OPTIONS`.
    fn options(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Err(HttpError::new(405)) }
    }
    /// Runs after the response is finished (for cleanup and logging).
    fn on_finish(&mut self, cx: &mut Context) {
        let _ = cx;
    }
    /// Sends an error response for `error` through
    /// [`write_error`](Self::write_error), replacing anything written but
    /// not yet sent, and finishes (Tornado's `send_error`). Once headers
    /// went out it is too late: the connection is closed instead.
    fn send_error(&mut self, cx: &mut Context, error: &HttpError)
    where
        Self: Sized,
    {
        if cx.headers_written() {
            log::error!(target: "tornado.general", "cannot send error response after headers written");
            cx.finished = true;
            cx.response.abort();
            return;
        }
        send_error(self, cx, error);
    }

    /// Writes the body of an error response (Tornado's `write_error`). The
    /// default is a small HTML page; with the `serve_traceback` setting it
    /// includes the error.
    fn write_error(&mut self, cx: &mut Context, error: &HttpError) {
        let code = cx.get_status();
        let reason = cx
            .reason
            .clone()
            .unwrap_or_else(|| error.reason().to_owned());
        if cx.settings().shows_tracebacks() && error.status() >= 500 {
            cx.set_header("Content-Type", "text/plain; charset=UTF-8");
            cx.write(format!("{code}: {reason}\n\n{error}\n"));
        } else {
            cx.write(format!(
                "<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>"
            ));
        }
    }
}

/// A handler future's result, a panic in it made a 500 `HttpError`.
fn caught(polled: Result<HandlerResult, String>) -> HandlerResult {
    polled.unwrap_or_else(|message| {
        Err(HttpError::new(500).with_log_message(format!("panicked: {message}")))
    })
}

/// Tornado's `_execute`: prepare, the method, finish, `on_finish`; errors
/// become error responses and are logged.
pub(crate) async fn execute<H: RequestHandler>(h: &mut H, cx: &mut Context) {
    if prepare(h, cx).await {
        run_method(h, cx).await;
    }
    conclude(h, cx);
}

/// Runs `prepare`; false if the request ended there (an error answered, or
/// the response finished or detached).
pub(crate) async fn prepare<H: RequestHandler>(h: &mut H, cx: &mut Context) -> bool {
    if let Err(e) = crate::arguments::check_arguments_utf8(&cx.request) {
        handle_error(h, cx, e);
        return false;
    }
    if !H::SUPPORTED_METHODS.contains(&cx.request.method.as_str()) {
        handle_error(h, cx, HttpError::new(405));
        return false;
    }
    // Tornado checks the token before `prepare`, for any method that may
    // change something.
    let method = cx.request.method.as_str();
    if cx.settings.xsrf_cookies && !matches!(method, "GET" | "HEAD" | "OPTIONS") {
        let checked =
            catch_unwind(AssertUnwindSafe(|| h.check_xsrf_cookie(cx))).unwrap_or_else(|_| {
                Err(HttpError::new(500).with_log_message("check_xsrf_cookie panicked"))
            });
        if let Err(e) = checked {
            handle_error(h, cx, e);
            return false;
        }
    }
    if let Err(e) = caught(CatchUnwind::new(h.prepare(cx)).await) {
        handle_error(h, cx, e);
        return false;
    }
    !cx.finished()
}

/// Hands a body chunk to a streaming handler (nothing once the request
/// has ended); an error is answered at once.
pub(crate) async fn data_received<H: RequestHandler>(h: &mut H, cx: &mut Context, chunk: Vec<u8>) {
    if cx.finished() {
        return;
    }
    if let Err(e) = caught(CatchUnwind::new(h.data_received(cx, chunk)).await) {
        handle_error(h, cx, e);
    }
}

/// Runs the method for the request's verb (unless the request already
/// ended); errors are answered.
pub(crate) async fn run_method<H: RequestHandler>(h: &mut H, cx: &mut Context) {
    if cx.finished() {
        return;
    }
    if !cx.current_user_known() {
        match caught(
            CatchUnwind::new(async {
                let user = h.get_current_user(cx).await?;
                cx.set_current_user(user);
                Ok(())
            })
            .await,
        ) {
            Ok(()) => {}
            Err(e) => return handle_error(h, cx, e),
        }
    }
    if let Err(e) = caught(CatchUnwind::new(call_method(h, cx)).await) {
        handle_error(h, cx, e);
    }
}

/// The end of every request: `finish` if the handler did not, `on_finish`,
/// the access log.
pub(crate) fn conclude<H: RequestHandler>(h: &mut H, cx: &mut Context) {
    if !cx.finished() {
        finish_or_log(cx);
    }
    if catch_unwind(AssertUnwindSafe(|| h.on_finish(cx))).is_err() {
        log::error!(target: "tornado.application", "on_finish panicked for {}", cx.request.uri);
    }
    log_request(cx);
}

async fn call_method<H: RequestHandler>(h: &mut H, cx: &mut Context) -> HandlerResult {
    // An index, not a clone of the method: `cx` is lent to the method.
    const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    match METHODS.iter().position(|m| *m == cx.request.method) {
        Some(0) => h.get(cx).await,
        Some(1) => h.head(cx).await,
        Some(2) => h.post(cx).await,
        Some(3) => h.put(cx).await,
        Some(4) => h.patch(cx).await,
        Some(5) => h.delete(cx).await,
        Some(6) => h.options(cx).await,
        _ => h.other_method(cx).await,
    }
}

/// Tornado's `_handle_request_exception` + `send_error`.
fn handle_error<H: RequestHandler>(h: &mut H, cx: &mut Context, e: HttpError) {
    if e.is_handled() {
        return;
    }
    let summary = format!(
        "{} {} ({})",
        cx.request.method, cx.request.uri, cx.request.remote_ip
    );
    if e.status() >= 500 {
        log::error!(target: "tornado.application", "Uncaught exception {summary}: {e}");
    } else {
        log::warn!(target: "tornado.general", "{summary}: {e}");
    }
    if cx.detached {
        return;
    }
    // Too late for an error page once headers went out: the trait's
    // `send_error` aborts the response instead (a terminating chunk would
    // make the cut-short response look complete).
    h.send_error(cx, &e);
}

/// Sends an error page for `e` (clears what was written before); headers
/// must not have been written.
pub(crate) fn send_error<H: RequestHandler>(h: &mut H, cx: &mut Context, e: &HttpError) {
    cx.clear();
    if catch_unwind(AssertUnwindSafe(|| h.set_default_headers(cx))).is_err() {
        log::error!(target: "tornado.application", "set_default_headers panicked");
    }
    cx.finished = false;
    match e.reason.as_ref() {
        Some(_) => cx.set_status_reason(e.status(), e.reason()),
        None => cx.set_status(e.status()),
    }
    if catch_unwind(AssertUnwindSafe(|| h.write_error(cx, e))).is_err() {
        log::error!(target: "tornado.application", "write_error panicked");
    }
    if !cx.finished() {
        finish_or_log(cx);
    }
}

/// Finishes the response. Its writes complete in order while the
/// connection awaits the end; an output error (a body longer or shorter
/// than its `Content-Length`) is known at once, and logged: the connection
/// is closed, and nobody else would say why.
fn finish_or_log(cx: &mut Context) {
    if let Some(e) = cx.finish().exception() {
        if e.is::<tornado_http::response::HttpOutputError>() {
            log::error!(target: "tornado.application", "Failed to finish {} {}: {e}", cx.request.method, cx.request.uri);
        }
    }
}

/// Tornado's `log_request`: one line per request on `tornado.access`.
fn log_request(cx: &Context) {
    let status = cx.response.status().unwrap_or(cx.status);
    let level = match status {
        0..=399 => log::Level::Info,
        400..=499 => log::Level::Warn,
        _ => log::Level::Error,
    };
    // Formatting the line is a good part of a small request's cost: skip it
    // when nobody listens.
    if !log::log_enabled!(target: "tornado.access", level) {
        return;
    }
    let ms = cx.request.request_time().as_secs_f64() * 1000.0;
    log::log!(
        target: "tornado.access",
        level,
        "{status} {} {} ({}) {ms:.2}ms",
        cx.request.method,
        cx.request.uri,
        cx.request.remote_ip
    );
}
