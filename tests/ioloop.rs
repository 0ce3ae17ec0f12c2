//! Behaviours of Tornado's `ioloop_test.py` that apply, on the backend named
//! by `TORNADO_IOLOOP_BACKEND` (CI runs this file once per backend).

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{fd_is_open, fresh_loop};
use tornado::concurrent::{Error as FutureError, Future};
use tornado::ioloop::{Error, Events, IOLoop, Trigger};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Stops the loop after `d` in case a test's own stop never comes.
fn guard(l: &IOLoop, d: Duration) {
    let m = l.clone();
    l.call_later(d, move || m.stop());
}

#[test]
fn callbacks_run_in_order_on_the_next_iteration() {
    let l = fresh_loop();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        l.add_callback(move || log.borrow_mut().push(i));
    }
    assert!(log.borrow().is_empty(), "add_callback never runs inline");
    let m = l.clone();
    l.add_callback(move || m.stop());
    l.start().unwrap();
    assert_eq!(*log.borrow(), vec![0, 1, 2]);
}

#[test]
fn callback_added_by_a_callback_waits_for_the_next_iteration() {
    let l = fresh_loop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, m) = (seen.clone(), l.clone());
    l.add_callback(move || {
        let it = m.metrics().iterations;
        let (s2, m2) = (s.clone(), m.clone());
        m.add_callback(move || {
            s2.borrow_mut().push(m2.metrics().iterations);
            m2.stop();
        });
        s.borrow_mut().push(it);
    });
    l.start().unwrap();
    let seen = seen.borrow();
    assert_eq!(
        seen[1],
        seen[0] + 1,
        "the snapshot defers new callbacks: {seen:?}"
    );
}

#[test]
fn self_readding_callback_does_not_starve_io() {
    let l = fresh_loop();
    let (a, mut b) = pair();
    let spins = Rc::new(Cell::new(0u64));
    fn spin(l: IOLoop, n: Rc<Cell<u64>>) {
        n.set(n.get() + 1);
        let l2 = l.clone();
        l.add_callback(move || spin(l2, n));
    }
    spin(l.clone(), spins.clone());
    b.write_all(b"x").unwrap();
    let m = l.clone();
    l.add_handler(a.as_raw_fd(), Events::READ, move |_, _| m.stop())
        .unwrap();
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    // Polls may be skipped while callbacks wait, but at most 64 in a row.
    assert!(spins.get() < 100, "I/O ran after {} spins", spins.get());
    l.remove_handler(a.as_raw_fd()).unwrap();
}

#[test]
fn timeouts_fire_in_deadline_order_and_never_early() {
    let l = fresh_loop();
    let order = Rc::new(RefCell::new(Vec::new()));
    let t0 = l.time();
    for (i, ms) in [(0, 30u64), (1, 10), (2, 20), (3, 10)] {
        let (o, m) = (order.clone(), l.clone());
        let deadline = t0 + Duration::from_millis(ms);
        l.add_timeout(deadline, move || {
            assert!(m.time() >= deadline, "fired early");
            o.borrow_mut().push(i);
            if o.borrow().len() == 4 {
                m.stop();
            }
        });
    }
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    // Equal deadlines fire in the order they were added.
    assert_eq!(*order.borrow(), vec![1, 3, 2, 0]);
}

#[test]
fn timer_fires_promptly_after_its_deadline() {
    let l = fresh_loop();
    let late = Rc::new(Cell::new(Duration::ZERO));
    let (lt, m) = (late.clone(), l.clone());
    let deadline = l.time() + Duration::from_millis(15);
    l.call_at(deadline, move || {
        lt.set(m.time() - deadline);
        m.stop();
    });
    l.start().unwrap();
    // A loose bound: the machine is shared; the benchmark measures precision.
    assert!(
        late.get() < Duration::from_millis(200),
        "late by {:?}",
        late.get()
    );
}

#[test]
fn remove_timeout_cancels_and_is_a_noop_when_fired_or_removed() {
    let l = fresh_loop();
    let fired = Rc::new(Cell::new(0));
    let f = fired.clone();
    let cancelled = l.call_later(Duration::from_millis(1), move || f.set(f.get() + 100));
    l.remove_timeout(cancelled);
    l.remove_timeout(cancelled);
    let f = fired.clone();
    let once = l.call_later(Duration::ZERO, move || f.set(f.get() + 1));
    let m = l.clone();
    l.call_later(Duration::from_millis(20), move || m.stop());
    l.start().unwrap();
    assert_eq!(fired.get(), 1);
    l.remove_timeout(once); // already fired: no-op
    assert_eq!(l.metrics().timeouts_pending, 0);
}

#[test]
fn a_due_timeout_can_cancel_another_due_in_the_same_iteration() {
    let l = fresh_loop();
    let ran = Rc::new(Cell::new(false));
    let victim: Rc<Cell<Option<tornado::ioloop::Timeout>>> = Rc::new(Cell::new(None));
    let deadline = l.time();
    let (v, m) = (victim.clone(), l.clone());
    l.add_timeout(deadline, move || m.remove_timeout(v.get().unwrap()));
    let r = ran.clone();
    victim.set(Some(l.add_timeout(deadline, move || r.set(true))));
    let m = l.clone();
    l.call_later(Duration::from_millis(10), move || m.stop());
    l.start().unwrap();
    assert!(!ran.get());
}

#[test]
fn handlers_are_level_triggered() {
    let l = fresh_loop();
    let (a, mut b) = pair();
    b.write_all(b"abcde").unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, m) = (got.clone(), l.clone());
    let mut reader = a.try_clone().unwrap();
    l.add_handler(a.as_raw_fd(), Events::READ, move |_, ev| {
        assert!(ev.contains(Events::READ));
        // One byte per call: the loop must call again while data remains.
        let mut byte = [0u8; 1];
        if let Ok(1) = reader.read(&mut byte) {
            g.borrow_mut().push(byte[0]);
        }
        if g.borrow().len() == 5 {
            m.stop();
        }
    })
    .unwrap();
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    assert_eq!(&*got.borrow(), b"abcde");
    l.remove_handler(a.as_raw_fd()).unwrap();
}

/// The peer's shutdown comes as `READ | READ_CLOSED` on an edge-triggered
/// backend (a reader that stops before `WouldBlock` relies on it); a
/// level-triggered one reports `READ` at least.
#[test]
fn a_peer_shutdown_is_reported_as_read_closed() {
    let l = fresh_loop();
    let (a, b) = pair();
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let seen = Rc::new(Cell::new(Events::NONE));
    let (s, m) = (seen.clone(), l.clone());
    l.add_handler(a.as_raw_fd(), Events::READ, move |_, ev| {
        s.set(ev);
        m.stop();
    })
    .unwrap();
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    let ev = seen.get();
    assert!(ev.contains(Events::READ), "{ev:?}");
    if l.trigger() == Trigger::Edge {
        assert!(ev.contains(Events::READ_CLOSED), "{ev:?}");
    }
    l.remove_handler(a.as_raw_fd()).unwrap();
    drop(b);
}

#[test]
fn edge_handler_is_called_once_per_readiness_change_on_edge_backends() {
    let l = fresh_loop();
    if l.backend_name() == "select" {
        return; // level-triggered backend: edge handlers are called while ready
    }
    let (a, mut b) = pair();
    b.write_all(b"abc").unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let mut reader = a.try_clone().unwrap();
    l.add_handler_with(a.as_raw_fd(), Events::READ, Trigger::Edge, move |_, _| {
        c.set(c.get() + 1);
        let _ = reader.read(&mut [0u8; 1]);
    })
    .unwrap();
    let m = l.clone();
    l.call_later(Duration::from_millis(30), move || m.stop());
    l.start().unwrap();
    assert_eq!(calls.get(), 1);
    l.remove_handler(a.as_raw_fd()).unwrap();
}

#[test]
fn write_handler_and_update_handler() {
    let l = fresh_loop();
    let (a, _b) = pair();
    let calls = Rc::new(Cell::new(0));
    let (c, m) = (calls.clone(), l.clone());
    let fd = a.as_raw_fd();
    l.add_handler(fd, Events::NONE, move |fd, ev| {
        assert!(ev.contains(Events::WRITE));
        c.set(c.get() + 1);
        m.update_handler(fd, Events::NONE).unwrap();
        m.stop();
    })
    .unwrap();
    let m = l.clone();
    l.call_later(Duration::from_millis(10), move || {
        m.update_handler(fd, Events::WRITE).unwrap()
    });
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    assert_eq!(calls.get(), 1);
    assert!(matches!(
        l.update_handler(999_999, Events::READ),
        Err(Error::NotRegistered(_))
    ));
    l.remove_handler(fd).unwrap();
}

#[test]
fn removing_a_handler_from_another_in_the_same_iteration() {
    let l = fresh_loop();
    let (a1, mut b1) = pair();
    let (a2, mut b2) = pair();
    b1.write_all(b"1").unwrap();
    b2.write_all(b"2").unwrap();
    let calls = Rc::new(Cell::new(0));
    let (fd1, fd2) = (a1.as_raw_fd(), a2.as_raw_fd());
    for (mine, other) in [(fd1, fd2), (fd2, fd1)] {
        let (c, m) = (calls.clone(), l.clone());
        l.add_handler(mine, Events::READ, move |_, _| {
            c.set(c.get() + 1);
            // Whichever runs first removes both; the other must not run.
            let _ = m.remove_handler(other);
            let _ = m.remove_handler(mine);
        })
        .unwrap();
    }
    // Let both become ready before the first poll.
    std::thread::sleep(Duration::from_millis(5));
    let m = l.clone();
    l.call_later(Duration::from_millis(30), move || m.stop());
    l.start().unwrap();
    assert_eq!(calls.get(), 1);
}

#[test]
fn handler_registration_errors_are_typed() {
    let l = fresh_loop();
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    l.add_handler(fd, Events::READ, |_, _| {}).unwrap();
    assert!(
        matches!(l.add_handler(fd, Events::READ, |_, _| {}), Err(Error::AlreadyRegistered(f)) if f == fd)
    );
    l.remove_handler(fd).unwrap();
    assert!(matches!(l.remove_handler(fd), Err(Error::NotRegistered(f)) if f == fd));
    assert!(matches!(
        l.add_handler(-1, Events::READ, |_, _| {}),
        Err(Error::FdClosed(-1))
    ));
}

#[test]
fn fd_closed_behind_the_loops_back_is_neither_a_panic_nor_a_busy_loop() {
    let l = fresh_loop();
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    l.add_handler(fd, Events::READ, move |_, ev| {
        c.set(c.get() + 1);
        assert!(ev.intersects(Events::READ | Events::ERROR));
    })
    .unwrap();
    b.write_all(b"x").unwrap();
    drop(a); // closed without remove_handler
    let m = l.clone();
    l.call_later(Duration::from_millis(50), move || m.stop());
    let before = l.metrics().iterations;
    l.start().unwrap();
    let iterations = l.metrics().iterations - before;
    assert!(
        iterations < 20,
        "busy loop: {iterations} iterations in 50 ms"
    );
    assert!(calls.get() <= 1);
    match l.remove_handler(fd) {
        Ok(()) | Err(Error::FdClosed(_)) | Err(Error::NotRegistered(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn stop_from_another_thread_wakes_a_sleeping_loop() {
    let l = fresh_loop();
    let remote = l.remote();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        remote.stop();
    });
    let start = Instant::now();
    l.start().unwrap();
    t.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn remote_add_callback_runs_on_the_loop_thread() {
    let l = fresh_loop();
    let remote = l.remote();
    let loop_thread = std::thread::current().id();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    std::thread::spawn(move || {
        remote.add_callback(move || {
            assert_eq!(std::thread::current().id(), loop_thread);
            r.store(true, Ordering::SeqCst);
            IOLoop::current().stop();
        })
    });
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn stop_before_start_returns_at_once_and_start_twice_is_an_error() {
    let l = fresh_loop();
    l.stop();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    l.add_callback(move || r.set(true));
    l.start().unwrap();
    assert!(!ran.get(), "start returned at once");
    let (m, err) = (l.clone(), Rc::new(RefCell::new(None)));
    let e = err.clone();
    l.add_callback(move || {
        *e.borrow_mut() = Some(m.start());
        m.stop();
    });
    l.start().unwrap();
    assert!(matches!(
        err.borrow_mut().take(),
        Some(Err(Error::AlreadyRunning))
    ));
}

#[test]
fn run_sync_result_error_timeout_and_reentry() {
    let l = fresh_loop();
    let v = l
        .run_sync(
            || {
                let f = Future::new();
                let g = f.clone();
                IOLoop::current()
                    .call_later(Duration::from_millis(1), move || g.set_result(5).unwrap());
                f
            },
            None,
        )
        .unwrap();
    assert_eq!(v, 5);

    let err = l
        .run_sync(|| Future::<u8>::failed(FutureError::msg("nope")), None)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Future(e) if e.to_string() == "nope"),
        "{err}"
    );

    let pending: Rc<RefCell<Option<Future<u8>>>> = Rc::default();
    let p = pending.clone();
    let err = l
        .run_sync(
            move || {
                let f = Future::new();
                *p.borrow_mut() = Some(f.clone());
                f
            },
            Some(Duration::from_millis(10)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(
        pending.borrow().as_ref().unwrap().cancelled(),
        "the timed-out future is cancelled"
    );

    let err = l
        .run_sync(|| -> Future<u8> { panic!("in run_sync's function") }, None)
        .unwrap_err();
    assert!(err.to_string().contains("in run_sync's function"));

    let inner = Rc::new(RefCell::new(None));
    let (i, m) = (inner.clone(), l.clone());
    l.run_sync(
        move || {
            *i.borrow_mut() = Some(m.run_sync(|| Future::resolved(1), None));
            Future::resolved(())
        },
        None,
    )
    .unwrap();
    assert!(matches!(
        inner.borrow_mut().take(),
        Some(Err(Error::AlreadyRunning))
    ));
}

#[test]
fn close_all_fds_leaves_an_fd_owned_elsewhere_to_its_owner() {
    let l = fresh_loop();
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    l.add_handler_owned_elsewhere(fd, Events::READ, Trigger::Level, |_, _| {})
        .unwrap();
    l.close(true).unwrap();
    // Closed by the loop, the number would be closed again when `a` drops
    // (a debug build aborts on that; a release build may close another
    // thread's file).
    assert!(fd_is_open(fd), "the loop closed an fd it does not own");
    drop((a, b));
}

#[test]
fn close_all_fds_closes_them_and_a_closed_loop_refuses_work() {
    let l = fresh_loop();
    let (a, b) = pair();
    let fd = std::os::fd::IntoRawFd::into_raw_fd(a);
    l.add_handler(fd, Events::READ, |_, _| {}).unwrap();
    l.close(true).unwrap();
    assert!(!fd_is_open(fd), "close(all_fds) closed the handler's fd");
    drop(b);
    l.close(true).unwrap(); // twice is fine
    assert!(matches!(l.start(), Err(Error::Closed)));
    assert!(matches!(
        l.run_sync(|| Future::resolved(1), None),
        Err(Error::Closed)
    ));
    assert!(matches!(l.try_add_callback(|| {}), Err(Error::Closed)));
    assert!(matches!(
        l.remote().try_add_callback(|| {}),
        Err(Error::Closed)
    ));
    assert!(matches!(
        l.add_handler(0, Events::READ, |_, _| {}),
        Err(Error::Closed)
    ));
    assert!(IOLoop::try_current().is_none_or(|c| !c.same_loop(&l)));
}

#[test]
fn panics_in_callbacks_timeouts_and_handlers_are_caught() {
    common::capture_logs();
    let l = fresh_loop();
    l.add_callback(|| panic!("boom-callback-7731"));
    l.call_later(Duration::ZERO, || panic!("boom-timeout-7731"));
    let (a, mut b) = pair();
    b.write_all(b"x").unwrap();
    let m = l.clone();
    l.add_handler(a.as_raw_fd(), Events::READ, move |fd, _| {
        m.remove_handler(fd).unwrap();
        panic!("boom-handler-7731");
    })
    .unwrap();
    let m = l.clone();
    l.call_later(Duration::from_millis(20), move || m.stop());
    l.start().unwrap();
    assert_eq!(l.metrics().panics, 3);
    for what in ["callback", "timeout", "handler"] {
        let logs = common::logs_containing(&format!("boom-{what}-7731"));
        assert_eq!(logs.len(), 1, "{what}: {logs:?}");
        assert_eq!(logs[0].0, "tornado.application");
        assert!(
            logs[0].2.contains("tests/ioloop.rs"),
            "names the location: {}",
            logs[0].2
        );
    }
}

#[test]
fn custom_exception_handler_receives_the_report() {
    let l = fresh_loop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    l.set_exception_handler(move |p| s.borrow_mut().push((p.kind, p.message.clone())));
    l.add_callback(|| panic!("custom"));
    let m = l.clone();
    l.add_callback(move || m.stop());
    l.start().unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![(tornado::ioloop::CallbackKind::Callback, "custom".to_owned())]
    );
}

#[test]
fn blocking_callbacks_are_logged_and_the_watchdog_reports_during_the_block() {
    common::capture_logs();
    let l = fresh_loop();
    l.set_blocking_log_threshold(Some(Duration::from_millis(20)));
    let during = Rc::new(RefCell::new(Vec::new()));
    let (d, m) = (during.clone(), l.clone());
    l.add_callback(move || {
        // Stuck for a while: the watchdog must speak before this returns.
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until && common::logs_containing("IOLoop blocked").is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        *d.borrow_mut() = common::logs_containing("IOLoop blocked");
        m.stop();
    });
    l.start().unwrap();
    l.set_blocking_log_threshold(None);
    assert!(
        !during.borrow().is_empty(),
        "the watchdog reported while the loop was stuck"
    );
    assert!(during.borrow()[0].2.contains("tests/ioloop.rs"));
    let after = common::logs_containing("blocking callback registered at");
    assert!(
        after.iter().any(|r| r.2.contains("tests/ioloop.rs")),
        "{after:?}"
    );
}

#[test]
fn metrics_count_the_work() {
    let l = fresh_loop();
    for _ in 0..10 {
        l.add_callback(|| {});
    }
    l.call_later(Duration::ZERO, || {});
    let m = l.clone();
    l.call_later(Duration::from_millis(5), move || m.stop());
    l.start().unwrap();
    let mt = l.metrics();
    assert!(mt.callbacks_run >= 10, "{mt:?}");
    assert_eq!(mt.timeouts_fired, 2);
    assert_eq!(mt.timeouts_pending, 0);
    assert!(mt.iterations >= 1);
    assert!(mt.poll_time > Duration::ZERO);
}

#[test]
fn futures_schedule_done_callbacks_on_the_loop() {
    let l = fresh_loop();
    let f = Future::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    l.add_future(&f, move |f| o.borrow_mut().push(f.result().unwrap()));
    f.set_result(3).unwrap();
    let o = order.clone();
    f.add_done_callback(move |_| o.borrow_mut().push(4));
    assert!(order.borrow().is_empty());
    let m = l.clone();
    l.call_later(Duration::from_millis(5), move || m.stop());
    l.start().unwrap();
    let mut got = order.borrow().clone();
    got.sort();
    assert_eq!(got, vec![3, 4]);
}

#[test]
fn a_future_resolved_from_another_thread() {
    let l = fresh_loop();
    let v = l
        .run_sync(
            || {
                let f = Future::new();
                let setter = f.remote_setter().unwrap();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    setter.set_result(String::from("from a thread"));
                });
                f
            },
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(v, "from a thread");
}

#[test]
fn current_and_instance() {
    let t = std::thread::spawn(|| {
        assert!(IOLoop::try_current().is_none());
        let a = IOLoop::current();
        assert!(IOLoop::current().same_loop(&a));
        let b = IOLoop::new().unwrap();
        assert!(
            IOLoop::current().same_loop(&a),
            "new() does not replace a current loop"
        );
        b.make_current();
        assert!(IOLoop::current().same_loop(&b));
        IOLoop::clear_current();
        assert!(IOLoop::try_current().is_none());
        // start() makes the loop current while it runs, then restores.
        a.make_current();
        let (seen, b2) = (Rc::new(Cell::new(false)), b.clone());
        let s = seen.clone();
        b.add_callback(move || {
            s.set(IOLoop::current().same_loop(&b2));
            b2.stop();
        });
        b.start().unwrap();
        assert!(seen.get());
        assert!(IOLoop::current().same_loop(&a));
    });
    t.join().unwrap();
}

#[test]
fn periodic_callback_survives_a_panic_and_supports_jitter() {
    use tornado::ioloop::PeriodicCallback;
    let l = fresh_loop();
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let pc = PeriodicCallback::new(
        move || {
            c.set(c.get() + 1);
            if c.get() == 1 {
                panic!("first run fails");
            }
            if c.get() == 3 {
                IOLoop::current().stop();
            }
        },
        Duration::from_millis(2),
    )
    .with_jitter(0.5);
    pc.start();
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    pc.stop();
    assert_eq!(n.get(), 3);
}
