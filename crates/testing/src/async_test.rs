//! `AsyncTest`: running one async test body on a fresh loop, with a
//! wall-clock timeout, failing on errors and on leaked panics.

use std::cell::RefCell;
use std::fmt;
use std::future::Future as StdFuture;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use tornado_concurrent::Error;
use tornado_gen::coroutine;
use tornado_ioloop::{Backend, IOLoop, Remote};

use crate::expect_log::UnhandledWatch;

/// The environment variable that sets the default test timeout, in seconds
/// (Tornado's `ASYNC_TEST_TIMEOUT`).
pub const TIMEOUT_ENV: &str = "ASYNC_TEST_TIMEOUT";

/// The default timeout of an async test: `ASYNC_TEST_TIMEOUT` seconds if
/// set to a positive number, else 5 seconds (Tornado's
/// `get_async_test_timeout`).
pub fn get_async_test_timeout() -> Duration {
    timeout_from(std::env::var(TIMEOUT_ENV).ok().as_deref())
}

/// The timeout a value of `ASYNC_TEST_TIMEOUT` means; 5 s if unset or not
/// a positive number.
fn timeout_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

/// What an async test body may return: `()`, or a `Result` whose error
/// fails the test.
pub trait TestOutcome {
    /// `Err` with a description if the test failed.
    fn into_result(self) -> Result<(), String>;
}

impl TestOutcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Debug> TestOutcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("test returned an error: {e:?}"))
    }
}

/// Runs an async test body on a fresh [`IOLoop`] (what `#[gen_test]`
/// expands to; Tornado's `AsyncTestCase` with `gen_test`).
///
/// The loop is new, made current for the body, and closed afterwards. The
/// test fails (panics) if the body panics or returns an error; if it takes
/// longer than the timeout, measured in real time whatever the loop's clock
/// (so a [`VirtualClock`](crate::VirtualClock) cannot hide a hang); if a
/// callback, timeout or handler panics on the loop (the loop is stopped at
/// once); or if an error is logged on `tornado.application` from the test's
/// thread without an [`ExpectLog`](crate::ExpectLog) absorbing it, which is
/// how a failed or panicking `spawn`ed coroutine shows.
///
/// ```
/// use std::time::Duration;
/// use tornado_gen::sleep;
/// use tornado_testing::AsyncTest;
///
/// AsyncTest::new()
///     .timeout(Duration::from_secs(1))
///     .run(|| async {
///         sleep(Duration::from_millis(1)).await;
///         Ok::<(), tornado_concurrent::Error>(())
///     });
/// ```
#[derive(Debug, Clone)]
pub struct AsyncTest {
    /// Real time the body may take, per backend.
    timeout: Duration,
    /// Run once per available backend, not once on the configured one.
    each_backend: bool,
}

impl Default for AsyncTest {
    fn default() -> Self {
        Self::new()
    }
}

impl AsyncTest {
    /// A test with the default timeout ([`get_async_test_timeout`]) on the
    /// configured backend.
    pub fn new() -> AsyncTest {
        AsyncTest {
            timeout: get_async_test_timeout(),
            each_backend: false,
        }
    }

    /// Sets the timeout (real time).
    pub fn timeout(mut self, timeout: Duration) -> AsyncTest {
        self.timeout = timeout;
        self
    }

    /// Runs the body once per backend this OS has ([`Backend::available`]),
    /// each time on a fresh loop of that backend.
    pub fn each_backend(mut self) -> AsyncTest {
        self.each_backend = true;
        self
    }

    /// Runs the test; panics with the reason if it fails.
    pub fn run<F, Fut>(self, mut body: F)
    where
        F: FnMut() -> Fut,
        Fut: StdFuture + 'static,
        Fut::Output: TestOutcome,
    {
        let backends = if self.each_backend {
            Backend::available().into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        for backend in backends {
            let ioloop = match &backend {
                Some(b) => IOLoop::with_backend(b),
                None => IOLoop::new(),
            }
            .unwrap_or_else(|e| panic!("cannot create the test's IOLoop: {e}"));
            if let Err(failure) = run_once(&ioloop, self.timeout, body()) {
                match backend {
                    Some(b) => panic!("{failure} (on the {} backend)", b.name()),
                    None => panic!("{failure}"),
                }
            }
        }
    }
}

/// One run on `ioloop`; closes it. `Err` lists every reason to fail.
fn run_once<Fut>(ioloop: &IOLoop, timeout: Duration, body: Fut) -> Result<(), String>
where
    Fut: StdFuture + 'static,
    Fut::Output: TestOutcome,
{
    let previous = IOLoop::try_current();
    ioloop.make_current();
    let leaked: Rc<RefCell<Vec<String>>> = Rc::default();
    let (l, stopper) = (leaked.clone(), ioloop.clone());
    ioloop.set_exception_handler(move |p| {
        l.borrow_mut().push(format!(
            "panic in a {} registered at {}: {}",
            p.kind, p.location, p.message
        ));
        stopper.stop();
    });
    let watch = UnhandledWatch::start(ioloop.remote());
    let watchdog = Watchdog::start(ioloop.remote(), timeout);
    let result = ioloop.run_sync(
        move || coroutine(async move { Ok::<_, Error>(body.await) }),
        None,
    );
    let timed_out = watchdog.finish();
    let unhandled = watch.finish();
    let _ = ioloop.close(false);
    if let Some(p) = previous.filter(|p| !p.is_closed()) {
        p.make_current();
    }

    let mut failures = Vec::new();
    match result {
        Ok(outcome) => {
            if let Err(e) = outcome.into_result() {
                failures.push(e);
            }
        }
        Err(tornado_ioloop::Error::Future(e)) => failures.push(format!("test failed: {e}")),
        Err(tornado_ioloop::Error::StoppedBeforeComplete) if timed_out => {
            failures.push(format!("test timed out after {timeout:?}"))
        }
        // Stopped by a leaked panic or an unhandled error: reported below.
        Err(tornado_ioloop::Error::StoppedBeforeComplete)
            if !leaked.borrow().is_empty() || !unhandled.is_empty() => {}
        Err(e) => failures.push(format!("the test's IOLoop failed: {e}")),
    }
    failures.extend(leaked.borrow_mut().drain(..));
    failures.extend(
        unhandled
            .into_iter()
            .map(|m| format!("unhandled error logged on tornado.application: {m}")),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// A thread that stops the test's loop if the test outlives its timeout.
struct Watchdog {
    /// Dropping it tells the thread the test finished.
    done: Option<mpsc::Sender<()>>,
    /// Set by the thread when the timeout passed first.
    fired: Arc<AtomicBool>,
    /// The thread, joined by `finish`.
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn start(remote: Remote, timeout: Duration) -> Watchdog {
        let (done, wait) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let thread = std::thread::Builder::new()
            .name("gen_test-timeout".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                    f.store(true, Ordering::SeqCst);
                    remote.stop();
                }
            })
            .expect("spawn the test's timeout thread");
        Watchdog {
            done: Some(done),
            fired,
            thread: Some(thread),
        }
    }

    /// Ends the watch; true if the timeout had passed.
    fn finish(mut self) -> bool {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_from_the_environment_value() {
        assert_eq!(timeout_from(None), Duration::from_secs(5));
        assert_eq!(timeout_from(Some(" 10 ")), Duration::from_secs(10));
        assert_eq!(timeout_from(Some("0.5")), Duration::from_millis(500));
        for bad in ["", "x", "0", "-1", "inf", "NaN"] {
            assert_eq!(timeout_from(Some(bad)), Duration::from_secs(5), "{bad}");
        }
    }
}
