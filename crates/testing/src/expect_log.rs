//! The test logger and `ExpectLog`: asserting that a log message was, or
//! was not, emitted.
//!
//! `log` allows one logger per process; this crate's routes each record to
//! the expectations of the thread that logged it (tests run on threads of
//! their own, in parallel), and prints what nobody expected at `Warn` and
//! above to stderr, where the test harness captures it. While an async test
//! runs, an error on `tornado.application` that no expectation absorbed
//! (a panic or error in a spawned coroutine, say) is noted for the test.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use log::{Level, LevelFilter, Log, Metadata, Record};
use tornado_ioloop::Remote;

/// The logger; not zero-sized, so that its address identifies it.
struct TestLogger {
    /// Unused; only gives the static a size, hence a unique address.
    _id: u8,
}

static LOGGER: TestLogger = TestLogger { _id: 0 };

/// What an expectation asserts when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At least one match; matches are not printed.
    Required,
    /// Any number of matches; matches are not printed.
    Optional,
    /// No match; matches are still printed.
    Absent,
}

/// One `ExpectLog`'s criteria and findings.
struct Expectation {
    /// Logger target to watch, with its children (`tornado` watches
    /// `tornado.application`); empty for every target.
    target: String,
    /// Text the message must contain.
    pattern: String,
    /// Only this level matches, if set.
    level: Cell<Option<Level>>,
    /// What is asserted at the end.
    mode: Mode,
    /// Records matched so far.
    matched: Cell<usize>,
    /// The first matched message, for the failure report.
    first: RefCell<Option<String>>,
}

impl Expectation {
    fn matches(&self, target: &str, level: Level, message: &str) -> bool {
        let target_ok = self.target.is_empty()
            || target == self.target
            || (target.starts_with(&self.target) && target[self.target.len()..].starts_with('.'));
        target_ok && self.level.get().is_none_or(|l| l == level) && message.contains(&self.pattern)
    }
}

/// Unabsorbed application errors noted while an async test runs.
struct Watch {
    /// The messages, in order.
    errors: Vec<String>,
    /// Stops the test's loop at the first one, so the test fails promptly.
    remote: Remote,
}

/// This thread's expectations and watch.
#[derive(Default)]
struct Scope {
    /// Active expectations, oldest first; the newest gets a record first.
    expectations: Vec<Rc<Expectation>>,
    /// Set while an async test runs on this thread.
    watch: Option<Watch>,
}

thread_local! {
    static SCOPE: RefCell<Scope> = RefCell::new(Scope::default());
}

impl Scope {
    /// Offers a record to the expectations; true if one absorbed it.
    fn observe(&mut self, target: &str, level: Level, message: &str) -> bool {
        let mut absorbed = false;
        for e in self.expectations.iter().rev() {
            if e.matches(target, level, message) {
                e.matched.set(e.matched.get() + 1);
                e.first
                    .borrow_mut()
                    .get_or_insert_with(|| message.to_owned());
                if e.mode != Mode::Absent {
                    absorbed = true;
                    break;
                }
            }
        }
        if !absorbed && level == Level::Error && target == "tornado.application" {
            if let Some(watch) = &mut self.watch {
                watch.errors.push(message.to_owned());
                watch.remote.stop();
            }
        }
        absorbed
    }
}

impl Log for TestLogger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let message = record.args().to_string();
        let (target, level) = (record.target(), record.level());
        // `try_`: a record logged while this thread's scope is in use or
        // being destroyed is simply shown.
        let absorbed = SCOPE
            .try_with(|s| {
                s.try_borrow_mut()
                    .is_ok_and(|mut s| s.observe(target, level, &message))
            })
            .unwrap_or(false);
        if !absorbed && level <= Level::Warn {
            eprintln!("{level} [{target}] {message}");
        }
    }

    fn flush(&self) {}
}

/// Installs the test logger if no logger is installed yet (at most once
/// per process) and lets every level through. Returns true if the test
/// logger is the process's logger; false if another one was installed
/// first, in which case `ExpectLog` cannot work.
pub fn install_logger() -> bool {
    let _ = log::set_logger(&LOGGER);
    let installed = logger_installed();
    if installed {
        // Every caller sets the level, not only the one whose `set_logger`
        // won: a thread that lost the race could otherwise log before the
        // winner lowered the filter from its default, `Off`, and its
        // records would never reach the logger.
        log::set_max_level(LevelFilter::Trace);
    }
    installed
}

/// True if the test logger is the process's logger.
fn logger_installed() -> bool {
    std::ptr::addr_eq(
        log::logger() as *const dyn Log,
        &LOGGER as *const TestLogger,
    )
}

/// A guard asserting that a log message was, or was not, emitted while it
/// lived (Tornado's `ExpectLog`).
///
/// It watches records logged on its own thread (the loop's, where callbacks
/// and coroutines run) whose target is `target` or below it (`"tornado"`
/// covers `tornado.application`; `""` covers all) and whose message
/// contains `pattern`. Made with [`new`](ExpectLog::new), it fails when
/// dropped unless a record matched, and hides the matches from the output;
/// with [`optional`](ExpectLog::optional) it only hides them; with
/// [`absent`](ExpectLog::absent) it fails if one matched. A failure is a
/// panic at drop, unless the thread is already panicking.
///
/// It needs the test logger: it installs it, and panics if another logger
/// was installed first.
///
/// ```
/// use tornado_testing::ExpectLog;
///
/// {
///     let _expect = ExpectLog::new("tornado.application", "Exception in");
///     log::error!(target: "tornado.application", "Exception in callback: boom");
/// } // matched: passes, and the error was not printed
///
/// let never = ExpectLog::absent("tornado.general", "blocking");
/// log::warn!(target: "tornado.general", "something else");
/// assert_eq!(never.matched(), 0);
/// ```
#[must_use = "the expectation is checked when the guard is dropped"]
pub struct ExpectLog {
    /// Shared with this thread's scope while the guard lives.
    expectation: Rc<Expectation>,
}

impl ExpectLog {
    /// Expects at least one matching record (at any level; see
    /// [`level`](ExpectLog::level)).
    pub fn new(target: &str, pattern: &str) -> ExpectLog {
        Self::with_mode(target, pattern, Mode::Required)
    }

    /// Hides matching records without requiring one (Tornado's
    /// `required=False`).
    pub fn optional(target: &str, pattern: &str) -> ExpectLog {
        Self::with_mode(target, pattern, Mode::Optional)
    }

    /// Asserts that no matching record is logged.
    pub fn absent(target: &str, pattern: &str) -> ExpectLog {
        Self::with_mode(target, pattern, Mode::Absent)
    }

    /// Only records at `level` match.
    pub fn level(self, level: Level) -> ExpectLog {
        self.expectation.level.set(Some(level));
        self
    }

    /// The number of records matched so far.
    pub fn matched(&self) -> usize {
        self.expectation.matched.get()
    }

    fn with_mode(target: &str, pattern: &str, mode: Mode) -> ExpectLog {
        assert!(
            install_logger(),
            "ExpectLog needs tornado-testing's logger, but another logger was installed first"
        );
        let expectation = Rc::new(Expectation {
            target: target.to_owned(),
            pattern: pattern.to_owned(),
            level: Cell::new(None),
            mode,
            matched: Cell::new(0),
            first: RefCell::new(None),
        });
        SCOPE.with(|s| s.borrow_mut().expectations.push(expectation.clone()));
        ExpectLog { expectation }
    }
}

impl Drop for ExpectLog {
    fn drop(&mut self) {
        let _ = SCOPE.try_with(|s| {
            s.borrow_mut()
                .expectations
                .retain(|e| !Rc::ptr_eq(e, &self.expectation))
        });
        if std::thread::panicking() {
            return;
        }
        let e = &self.expectation;
        match e.mode {
            Mode::Required if e.matched.get() == 0 => panic!(
                "did not get expected log message: target {:?}, containing {:?}",
                e.target, e.pattern
            ),
            Mode::Absent if e.matched.get() > 0 => panic!(
                "got unexpected log message on {:?}: {:?}",
                e.target,
                e.first.borrow().as_deref().unwrap_or_default()
            ),
            _ => {}
        }
    }
}

/// Notes unabsorbed `tornado.application` errors on this thread until
/// `finish`; each also stops the loop behind `remote`.
pub(crate) struct UnhandledWatch {
    /// Whether the test logger sees this thread's records at all.
    active: bool,
}

impl UnhandledWatch {
    pub(crate) fn start(remote: Remote) -> UnhandledWatch {
        let active = install_logger();
        if active {
            SCOPE.with(|s| {
                s.borrow_mut().watch = Some(Watch {
                    errors: Vec::new(),
                    remote,
                })
            });
        }
        UnhandledWatch { active }
    }

    /// The errors noted.
    pub(crate) fn finish(self) -> Vec<String> {
        if !self.active {
            return Vec::new();
        }
        SCOPE
            .with(|s| s.borrow_mut().watch.take())
            .map(|w| w.errors)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_levels_and_nesting() {
        let outer = ExpectLog::optional("tornado", "x");
        let inner = ExpectLog::new("tornado.general", "x").level(Level::Warn);
        log::warn!(target: "tornado.general", "x1"); // inner (newest) absorbs
        log::error!(target: "tornado.general", "x2"); // wrong level: outer
        log::warn!(target: "tornado.generalx", "x3"); // not a child: outer
        log::warn!(target: "other", "x4"); // neither
        assert_eq!(inner.matched(), 1);
        assert_eq!(outer.matched(), 2);
        drop(inner);
        drop(outer);
        SCOPE.with(|s| assert!(s.borrow().expectations.is_empty()));
    }

    #[test]
    #[should_panic(expected = "did not get expected log message")]
    fn a_required_message_that_never_came_fails() {
        let _e = ExpectLog::new("tornado.application", "never logged");
    }

    #[test]
    #[should_panic(expected = "got unexpected log message")]
    fn an_absent_message_that_came_fails() {
        let _e = ExpectLog::absent("", "forbidden");
        log::info!(target: "anything", "a forbidden thing");
    }

    #[test]
    fn records_of_other_threads_are_not_matched() {
        let e = ExpectLog::optional("", "from elsewhere");
        std::thread::spawn(|| log::info!(target: "t", "from elsewhere"))
            .join()
            .unwrap();
        assert_eq!(e.matched(), 0);
    }
}
