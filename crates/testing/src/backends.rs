//! `each_backend`: one test body, once per IOLoop backend.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tornado_concurrent::panic_message;
use tornado_ioloop::{Backend, IOLoop};

/// Calls `test` once per backend this OS has (epoll and select on Linux,
/// kqueue and select on BSD and macOS), each time with a fresh loop of that
/// backend, current while `test` runs and closed after it. A failure names
/// the backend. For async bodies, see
/// [`AsyncTest::each_backend`](crate::AsyncTest::each_backend).
///
/// ```
/// use std::time::Duration;
/// use tornado_testing::each_backend;
///
/// let mut names = Vec::new();
/// each_backend(|ioloop| {
///     let l = ioloop.clone();
///     ioloop.call_later(Duration::from_millis(1), move || l.stop());
///     ioloop.start().unwrap();
///     names.push(ioloop.backend_name());
/// });
/// assert!(names.contains(&"select"));
/// ```
pub fn each_backend(mut test: impl FnMut(&IOLoop)) {
    let previous = IOLoop::try_current();
    for backend in Backend::available() {
        let ioloop = IOLoop::with_backend(&backend)
            .unwrap_or_else(|e| panic!("cannot create a {} IOLoop: {e}", backend.name()));
        ioloop.make_current();
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&ioloop)));
        let _ = ioloop.close(false);
        if let Err(payload) = outcome {
            panic!(
                "on the {} backend: {}",
                backend.name(),
                panic_message(&*payload)
            );
        }
    }
    if let Some(p) = previous.filter(|p| !p.is_closed()) {
        p.make_current();
    }
}
