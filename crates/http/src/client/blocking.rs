//! `BlockingHttpClient` (Tornado's `HTTPClient`): the asynchronous client
//! on a loop of its own, run on the calling thread for each fetch, for
//! scripts and tests that have no loop running.

use std::time::Duration;

use tornado_ioloop::IOLoop;

use super::async_client::{HttpClient, HttpClientOptions};
use super::error::{HttpClientError, HttpClientErrorKind};
use super::request::HttpRequest;
use super::response::HttpResponse;

/// A blocking HTTP client. Its connections are kept alive between
/// fetches, on its own loop (which runs only during a fetch).
///
/// ```no_run
/// use tornado_http::httpclient::{HttpClient, HttpRequest};
/// let client = HttpClient::blocking();
/// let response = client.fetch(HttpRequest::with_url("http://127.0.0.1:8888/")).unwrap();
/// println!("{} {}", response.code, response.text());
/// ```
pub struct BlockingHttpClient {
    ioloop: IOLoop,
    client: HttpClient,
}

impl BlockingHttpClient {
    /// A client with `options` on a new loop.
    pub fn new(options: HttpClientOptions) -> BlockingHttpClient {
        let ioloop = IOLoop::new().expect("create the blocking client's IOLoop");
        // The client binds to the loop that is current when it is made.
        let previous = IOLoop::try_current();
        ioloop.make_current();
        let client = HttpClient::new(options);
        match previous {
            Some(p) => p.make_current(),
            None => IOLoop::clear_current(),
        }
        BlockingHttpClient { ioloop, client }
    }

    /// Fetches `request`, blocking until the response (or error).
    pub fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError> {
        let client = self.client.clone();
        // The loop is current while it runs, and the previous one after.
        let result = self
            .ioloop
            .run_sync(move || client.fetch_request(request), None);
        result.map_err(|e| match e {
            tornado_ioloop::Error::Future(e) => match e.downcast_ref::<HttpClientError>() {
                Some(c) => c.clone(),
                None => HttpClientError::new(HttpClientErrorKind::Connection, e.to_string()),
            },
            other => HttpClientError::new(HttpClientErrorKind::Connection, other.to_string()),
        })
    }

    /// The asynchronous client underneath (for its statistics).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Closes the client and its loop.
    pub fn close(&self) {
        let client = self.client.clone();
        // Idle connections are closed on the loop they belong to.
        let _ = self.ioloop.run_sync(
            move || {
                client.close();
                tornado_concurrent::Future::resolved(())
            },
            Some(Duration::from_secs(5)),
        );
    }
}

impl Drop for BlockingHttpClient {
    fn drop(&mut self) {
        self.close();
        let _ = self.ioloop.close(true);
    }
}
