//! A panic, failure or block in user code run by the loop is logged naming
//! the user's code (this file), not the loop's or the runner's sources: the
//! registering calls and the schedule hooks are `#[track_caller]`.

mod common;

use std::time::Duration;

use common::{capture_logs, fresh_loop, logs_containing};
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, moment, spawn};
use tornado::ioloop::{IOLoop, PeriodicCallback};

/// True: hides from the compiler that the code after a panic is dead.
fn moment_passed() -> bool {
    std::hint::black_box(true)
}

/// Runs the loop for a few iterations.
fn spin(l: &IOLoop) {
    let m = l.clone();
    l.call_later(Duration::from_millis(20), move || m.stop());
    l.start().unwrap();
}

/// The one log line containing `needle`; asserts it names this file.
fn assert_names_this_file(needle: &str) {
    let logs = logs_containing(needle);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_all_name_this_file(needle);
}

/// At least one log line contains `needle`, and each names this file (for
/// a periodic callback, which a loaded machine may run more than once).
fn assert_all_name_this_file(needle: &str) {
    let logs = logs_containing(needle);
    assert!(!logs.is_empty(), "no log line contains {needle}");
    for log in &logs {
        assert!(
            log.2.contains("tests/locations.rs"),
            "does not name the user's code: {}",
            log.2
        );
    }
}

#[test]
fn a_panicking_done_callback_names_where_it_was_added() {
    capture_logs();
    let l = fresh_loop();
    let f = Future::new();
    f.add_done_callback(|_| panic!("done-callback-panic-1177"));
    f.set_result(1).unwrap();
    // On a future already done, too.
    Future::resolved(2).add_done_callback(|_| panic!("done-callback-panic-1178"));
    spin(&l);
    assert_names_this_file("done-callback-panic-1177");
    assert_names_this_file("done-callback-panic-1178");
}

#[test]
fn a_panicking_add_future_callback_names_its_caller() {
    capture_logs();
    let l = fresh_loop();
    let f = Future::resolved(());
    l.add_future(&f, |_| panic!("add-future-panic-2291"));
    spin(&l);
    assert_names_this_file("add-future-panic-2291");
}

#[test]
fn a_failing_spawned_coroutine_names_where_it_was_spawned() {
    capture_logs();
    let l = fresh_loop();
    spawn(async {
        moment().await;
        Err::<(), _>(Error::msg("spawned-failure-3391"))
    });
    spawn(async {
        moment().await;
        if moment_passed() {
            panic!("spawned-panic-3392");
        }
        Ok::<(), Error>(())
    });
    spin(&l);
    assert_names_this_file("spawned-failure-3391");
    assert_names_this_file("spawned-panic-3392");
}

#[test]
fn a_blocking_coroutine_names_where_it_was_started() {
    capture_logs();
    let l = fresh_loop();
    l.set_blocking_log_threshold(Some(Duration::from_millis(5)));
    let f = coroutine(async {
        moment().await;
        // A resumption that blocks the loop.
        std::thread::sleep(Duration::from_millis(30));
        Ok("blocked-coroutine-4417")
    });
    let v = l.run_sync(move || f, None).unwrap();
    l.set_blocking_log_threshold(None);
    assert_eq!(v, "blocked-coroutine-4417");
    let logs = logs_containing("ran for");
    let mine: Vec<_> = logs
        .iter()
        .filter(|l| l.2.contains("tests/locations.rs"))
        .collect();
    assert!(
        !mine.is_empty(),
        "no blocking warning names this file: {logs:?}"
    );
}

#[test]
fn a_periodic_callback_names_where_it_was_made() {
    capture_logs();
    let l = fresh_loop();
    let pc = PeriodicCallback::new(
        || {
            if moment_passed() {
                panic!("periodic-panic-5519")
            }
        },
        Duration::from_millis(5),
    );
    pc.start();
    let m = l.clone();
    l.call_later(Duration::from_millis(8), move || m.stop());
    l.start().unwrap();
    pc.stop();
    assert_all_name_this_file("periodic-panic-5519");
}
