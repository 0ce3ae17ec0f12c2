//! More behaviours of Tornado's `ioloop_test.py` (`TestIOLoop`,
//! `TestIOLoopFutures`, `TestIOLoopCurrentAsync`), on the backend named by
//! `TORNADO_IOLOOP_BACKEND`.

mod common;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::r#gen::{
    Executor, Job, ThreadPool, coroutine, default_executor, multi, run_in_executor, run_on,
    set_default_executor,
};
use tornado::ioloop::{Error, Events, IOLoop};

/// Stops the loop after `d` in case a test's own stop never comes.
fn guard(l: &IOLoop, d: Duration) {
    let m = l.clone();
    l.call_later(d, move || m.stop());
}

#[test]
fn a_callback_added_from_a_timeout_runs_at_once() {
    // Tornado's test_add_callback_wakeup: the loop must not sleep until its
    // next timer before running a callback a timeout added.
    let l = fresh_loop();
    guard(&l, Duration::from_secs(30));
    let (m, added_at) = (l.clone(), Rc::new(Cell::new(None)));
    let a = added_at.clone();
    let ran_after = Rc::new(Cell::new(None));
    let r = ran_after.clone();
    l.call_later(Duration::ZERO, move || {
        let (m2, a2) = (m.clone(), a.clone());
        m.add_callback(move || {
            r.set(a2.get().map(|t: Instant| t.elapsed()));
            m2.stop();
        });
        a.set(Some(Instant::now()));
    });
    l.start().unwrap();
    let waited = ran_after.get().expect("the callback ran");
    // Far below the 30 s the loop would sleep if it did not notice.
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}

#[test]
fn remote_callbacks_while_the_loop_closes_are_dropped_quietly() {
    // Tornado's test_add_callback_while_closing: another thread keeps adding
    // callbacks while the loop's own thread stops and closes it.
    let (tx, rx) = mpsc::channel();
    let closing = Arc::new(Barrier::new(2));
    let ran = Arc::new(AtomicUsize::new(0));
    let c = closing.clone();
    let owner = std::thread::spawn(move || {
        let l = IOLoop::new().unwrap();
        tx.send(l.remote()).unwrap();
        let m = l.clone();
        l.add_callback(move || m.stop());
        l.start().unwrap();
        c.wait();
        l.close(true).unwrap();
    });
    let remote = rx.recv().unwrap();
    closing.wait();
    for _ in 0..1000 {
        let ran = ran.clone();
        remote.add_callback(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    owner.join().unwrap();
    assert!(remote.is_closed());
    assert!(matches!(remote.try_add_callback(|| {}), Err(Error::Closed)));
    remote.add_callback(|| unreachable!("a closed loop runs nothing"));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing ran after close");
}

#[test]
fn a_read_only_handler_gets_exactly_read() {
    // Tornado's test_read_while_writeable: a socket that is always writable
    // must not bring WRITE to a handler that asked for READ only.
    let l = fresh_loop();
    let (client, server) = UnixStream::pair().unwrap();
    client.set_nonblocking(true).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, m) = (got.clone(), l.clone());
    l.add_handler(client.as_raw_fd(), Events::READ, move |_, events| {
        g.borrow_mut().push(events);
        m.stop();
    })
    .unwrap();
    // Kept open: a closed peer would (rightly) add ERROR (hang-up).
    let server = Rc::new(server);
    let s = server.clone();
    l.call_later(Duration::from_millis(10), move || {
        use std::io::Write;
        (&*s).write_all(b"asdf").unwrap();
    });
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    l.remove_handler(client.as_raw_fd()).unwrap();
    assert_eq!(*got.borrow(), [Events::READ]);
    drop(server);
}

#[test]
fn add_future_on_a_future_finished_by_a_pool_thread() {
    // Tornado's test_add_future_threads.
    let l = fresh_loop();
    let f = run_in_executor(|| std::thread::current().name().map(str::to_owned));
    let got = Rc::new(RefCell::new(None));
    let (g, m) = (got.clone(), l.clone());
    let loop_thread = std::thread::current().id();
    l.add_future(&f, move |done| {
        assert_eq!(std::thread::current().id(), loop_thread);
        *g.borrow_mut() = Some((done.done(), done.take_result().unwrap()));
        m.stop();
    });
    guard(&l, Duration::from_secs(5));
    l.start().unwrap();
    let (done, name) = got.borrow_mut().take().expect("the callback ran");
    assert!(done);
    assert_eq!(name.as_deref(), Some("tornado-executor"));
}

/// Two jobs that each signal, then wait for the other's signal: they
/// complete only if they run at the same time.
fn waiting_for_each_other() -> (impl FnOnce() -> bool, impl FnOnce() -> bool) {
    let (tx1, rx1) = mpsc::channel::<()>();
    let (tx2, rx2) = mpsc::channel::<()>();
    let one = move || {
        tx1.send(()).unwrap();
        rx2.recv_timeout(Duration::from_secs(5)).is_ok()
    };
    let two = move || {
        tx2.send(()).unwrap();
        rx1.recv_timeout(Duration::from_secs(5)).is_ok()
    };
    (one, two)
}

#[test]
fn executor_jobs_run_in_parallel_on_a_warm_pool() {
    // Tornado's test_run_in_executor_gen, on a pool whose one thread is
    // idle: the second job must get a thread of its own.
    let l = fresh_loop();
    let pool = ThreadPool::new(2);
    let p = pool.clone();
    l.run_sync(move || run_on(&p, || Ok(())), None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.idle_threads() != 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let both = l
        .run_sync(
            move || {
                let (one, two) = waiting_for_each_other();
                multi(vec![
                    run_on(&pool, move || Ok(one())),
                    run_on(&pool, move || Ok(two())),
                ])
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(both, [true, true]);
}

#[test]
fn executor_jobs_awaited_from_coroutines_run_in_parallel() {
    // Tornado's test_run_in_executor_native, on the default executor.
    let l = fresh_loop();
    let both = l
        .run_sync(
            || {
                let (one, two) = waiting_for_each_other();
                let a = coroutine(async move { run_in_executor(one).await });
                let b = coroutine(async move { run_in_executor(two).await });
                multi((a, b))
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(both, (true, true));
}

#[test]
fn set_default_executor_is_used_by_run_in_executor() {
    // Tornado's test_set_default_executor. The replacement still runs every
    // job (on a pool), so tests running meanwhile are unaffected.
    struct Counting(ThreadPool, Arc<AtomicUsize>);
    impl Executor for Counting {
        fn execute(&self, job: Job) {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.execute(job);
        }
    }
    let l = fresh_loop();
    let count = Arc::new(AtomicUsize::new(0));
    let previous = default_executor();
    set_default_executor(Arc::new(Counting(ThreadPool::new(2), count.clone())));
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let result = l.run_sync(
        move || run_in_executor(move || r.store(true, Ordering::SeqCst)),
        None,
    );
    set_default_executor(previous);
    result.unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert!(count.load(Ordering::SeqCst) >= 1);
}

#[test]
fn spawn_callback_panics_are_logged_and_the_loop_goes_on() {
    // Tornado's test_spawn_callback.
    common::capture_logs();
    let l = fresh_loop();
    l.spawn_callback(|| panic!("spawned-callback-panic-5150"));
    let m = l.clone();
    l.add_callback(move || m.stop());
    l.start().unwrap();
    let logs = common::logs_containing("spawned-callback-panic-5150");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, "tornado.application");
    assert!(
        logs[0].2.contains("ioloop_port.rs"),
        "names the caller: {}",
        logs[0].2
    );
}

#[test]
fn loops_made_and_closed_on_many_threads_at_once() {
    // Tornado's test_init_close_race.
    let l = fresh_loop();
    let jobs: Vec<Future<()>> = (0..2)
        .map(|_| {
            run_in_executor(|| {
                for _ in 0..10 {
                    let other = IOLoop::new().unwrap();
                    other.close(false).unwrap();
                }
            })
        })
        .collect();
    l.run_sync(move || multi(jobs), Some(Duration::from_secs(10)))
        .unwrap();
}

#[test]
fn clear_current_without_a_current_loop_is_a_no_op() {
    // Tornado's test_clear_without_current, on a pristine thread.
    std::thread::spawn(|| {
        IOLoop::clear_current();
        assert!(IOLoop::try_current().is_none());
    })
    .join()
    .unwrap();
}

#[test]
fn many_removed_timeouts_leave_nothing_pending() {
    // Tornado's test_remove_timeout_cleanup.
    let l = fresh_loop();
    for _ in 0..2000 {
        let t = l.call_later(Duration::from_secs(3600), || {});
        l.remove_timeout(t);
    }
    assert_eq!(l.metrics().timeouts_pending, 0);
    let m = l.clone();
    l.add_callback(move || {
        let m2 = m.clone();
        m.add_callback(move || m2.stop())
    });
    l.start().unwrap();
}
