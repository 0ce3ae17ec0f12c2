//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod head;
pub mod http;
pub mod ws;

use std::sync::{Mutex, Once};

use tornado::ioloop::IOLoop;

/// A fresh loop on the configured backend (`TORNADO_IOLOOP_BACKEND`), made
/// current on this test's thread.
pub fn fresh_loop() -> IOLoop {
    let l = IOLoop::new().expect("create IOLoop");
    l.make_current();
    l
}

/// Whether `fd` is an open descriptor of this process. Only meaningful
/// while something keeps it open or closed: another thread may reuse a
/// number as soon as it is closed.
#[allow(dead_code)] // not every test binary asks
pub fn fd_is_open(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Log records captured by the test logger: (target, level, message, thread).
static RECORDS: Mutex<Vec<(String, log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        RECORDS.lock().unwrap().push((
            r.target().to_owned(),
            r.level(),
            r.args().to_string(),
            thread,
        ));
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary).
pub fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Captured records whose message contains `needle`: (target, level, message).
pub fn logs_containing(needle: &str) -> Vec<(String, log::Level, String)> {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.2.contains(needle))
        .map(|r| (r.0.clone(), r.1, r.2.clone()))
        .collect()
}
