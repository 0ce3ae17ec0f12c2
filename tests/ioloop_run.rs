//! `run_sync` and the thread's current loop (Tornado's `TestIOLoopRunSync`,
//! `TestIOLoopCurrent`), on the backend named by `TORNADO_IOLOOP_BACKEND`.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::ioloop::{Error, IOLoop};

/// A future that nothing ever resolves.
fn never() -> Future<u8> {
    Future::new()
}

/// Runs `f` on a fresh thread, whose current-loop slot is pristine.
fn on_fresh_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().unwrap();
}

#[test]
fn a_timed_out_run_sync_leaves_no_stop_pending() {
    let l = fresh_loop();
    let err = l
        .run_sync(never, Some(Duration::from_millis(5)))
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");

    // The next start runs until its own stop, not one iteration.
    let fired = Rc::new(Cell::new(false));
    let (f, m) = (fired.clone(), l.clone());
    l.call_later(Duration::from_millis(30), move || {
        f.set(true);
        m.stop();
    });
    let t0 = Instant::now();
    l.start().unwrap();
    assert!(fired.get(), "start returned after {:?}", t0.elapsed());
    assert!(t0.elapsed() >= Duration::from_millis(25));

    // And run_sync still works on that loop.
    assert_eq!(l.run_sync(|| Future::resolved(3), None).unwrap(), 3);
}

#[test]
fn a_timed_out_run_sync_then_run_sync_waits_for_its_own_future() {
    let l = fresh_loop();
    for _ in 0..3 {
        assert!(l.run_sync(never, Some(Duration::from_millis(2))).is_err());
    }
    let v = l
        .run_sync(
            || {
                let f = Future::new();
                let g = f.clone();
                IOLoop::current()
                    .call_later(Duration::from_millis(20), move || g.set_result(9).unwrap());
                f
            },
            None,
        )
        .unwrap();
    assert_eq!(v, 9);
}

#[test]
fn the_current_loop_inside_run_sync_is_the_running_one() {
    let l = fresh_loop();
    let other = IOLoop::new().unwrap();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    other
        .run_sync(
            move || {
                *s.borrow_mut() = IOLoop::try_current();
                Future::resolved(())
            },
            None,
        )
        .unwrap();
    assert!(seen.borrow().as_ref().unwrap().same_loop(&other));
    assert!(IOLoop::current().same_loop(&l), "the previous loop is back");
}

#[test]
fn run_sync_on_a_new_loop_restores_no_current_loop() {
    on_fresh_thread(|| {
        assert!(IOLoop::try_current().is_none());
        let l = IOLoop::new().unwrap();
        // Current until it runs, so that work made before start lands on it.
        assert!(IOLoop::try_current().unwrap().same_loop(&l));
        for _ in 0..3 {
            let l2 = l.clone();
            let inside = l
                .run_sync(
                    move || Future::resolved(IOLoop::current().same_loop(&l2)),
                    None,
                )
                .unwrap();
            assert!(inside, "current while it runs");
            assert!(
                IOLoop::try_current().is_none(),
                "no current loop afterwards, as before the loop was made"
            );
        }
    });
}

#[test]
fn a_loop_made_current_explicitly_stays_current() {
    on_fresh_thread(|| {
        let l = IOLoop::new().unwrap();
        l.make_current();
        l.run_sync(|| Future::resolved(()), None).unwrap();
        assert!(IOLoop::try_current().unwrap().same_loop(&l));
    });
}

#[test]
fn start_of_a_new_loop_also_restores_no_current_loop() {
    on_fresh_thread(|| {
        let l = IOLoop::new().unwrap();
        let m = l.clone();
        l.add_callback(move || m.stop());
        l.start().unwrap();
        assert!(IOLoop::try_current().is_none());
    });
}

#[test]
fn run_sync_when_the_loop_is_stopped_early() {
    let l = fresh_loop();
    let err = l
        .run_sync(
            || {
                let l = IOLoop::current();
                let m = l.clone();
                l.call_later(Duration::from_millis(2), move || m.stop());
                never()
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::StoppedBeforeComplete), "{err}");
}
