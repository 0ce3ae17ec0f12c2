//! Behaviours of Tornado's `gen_test.py` that apply to Rust, on the backend
//! named by `TORNADO_IOLOOP_BACKEND`.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::fresh_loop;
use tornado::concurrent::{Error, Future, PanicError};
use tornado::r#gen::{
    Generator, Step, TimeoutError, WaitIterator, Yielded, coroutine, live_coroutines, moment,
    multi, run_generator, run_in_executor, sleep, spawn, try_run_in_executor, with_timeout,
};
use tornado::ioloop::{IOLoop, PeriodicCallback};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(10)))
}

/// Resolves after `ms` milliseconds with `v`.
fn delayed<T: 'static>(ms: u64, v: Result<T, Error>) -> Future<T> {
    coroutine(async move {
        sleep(Duration::from_millis(ms)).await;
        v
    })
}

/// Counts drops, to see that a stopped coroutine released its state.
struct DropCounter(Rc<Cell<usize>>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn coroutine_result_and_error() {
    let _l = fresh_loop();
    assert_eq!(run(|| delayed(1, Ok(3))).unwrap(), 3);
    let err = run(|| delayed::<u8>(1, Err(Error::msg("bad")))).unwrap_err();
    assert_eq!(err.to_string(), "bad");
    let err = run(|| {
        coroutine(async {
            std::fs::read("/nonexistent/file/x")?;
            Ok(())
        })
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("No such file"),
        "`?` converts io errors: {err}"
    );
}

#[test]
fn a_panic_lands_in_the_future() {
    let _l = fresh_loop();
    let err = run(|| {
        coroutine(async {
            sleep(Duration::from_millis(1)).await;
            if true {
                panic!("inside the coroutine");
            }
            Ok(())
        })
    })
    .unwrap_err();
    match err {
        tornado::ioloop::Error::Future(e) => {
            assert!(e.is::<PanicError>());
            assert!(e.to_string().contains("inside the coroutine"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_coroutine_that_never_suspends_is_done_at_once() {
    let l = fresh_loop();
    let f = coroutine(async { Ok(5) });
    assert!(f.done(), "no loop iteration needed");
    assert_eq!(f.result().unwrap(), 5);
    // Awaiting already-done futures does not suspend either.
    let g = coroutine(async {
        let a = Future::resolved(1).await?;
        let b = coroutine(async { Ok(2) }).await?;
        Ok(a + b)
    });
    assert_eq!(g.result().unwrap(), 3);
    assert_eq!(l.metrics().iterations, 0);
}

#[test]
fn nested_coroutines() {
    let _l = fresh_loop();
    async fn leaf(n: u32) -> Result<u32, Error> {
        sleep(Duration::from_millis(1)).await;
        Ok(n)
    }
    fn middle(n: u32) -> Future<u32> {
        coroutine(async move { Ok(leaf(n).await? + coroutine(leaf(n)).await?) })
    }
    assert_eq!(
        run(|| coroutine(async { Ok(middle(1).await? + middle(2).await?) })).unwrap(),
        6
    );
}

#[test]
fn moment_lets_other_callbacks_run() {
    let l = fresh_loop();
    let flag = Rc::new(Cell::new(false));
    let f = flag.clone();
    let seen = run(move || {
        let f2 = f.clone();
        IOLoop::current().add_callback(move || f2.set(true));
        coroutine(async move {
            let before = f.get();
            moment().await;
            Ok((before, f.get()))
        })
    })
    .unwrap();
    assert_eq!(seen, (false, true));
    let _ = l;
}

#[test]
fn multi_results_in_order_and_first_error_wins() {
    common::capture_logs();
    let _l = fresh_loop();
    let v = run(|| {
        multi(vec![
            delayed(5, Ok(1)),
            delayed(1, Ok(2)),
            Future::resolved(3),
        ])
    })
    .unwrap();
    assert_eq!(v, vec![1, 2, 3]);
    assert!(run(|| multi(Vec::<Future<u8>>::new())).unwrap().is_empty());

    let finished = Rc::new(Cell::new(0));
    let f = finished.clone();
    let err = run(move || {
        let f1 = f.clone();
        let slow_ok = coroutine(async move {
            sleep(Duration::from_millis(20)).await;
            f1.set(f1.get() + 1);
            Ok(1u8)
        });
        let f2 = f.clone();
        let slow_err = coroutine(async move {
            sleep(Duration::from_millis(20)).await;
            f2.set(f2.get() + 1);
            Err::<u8, _>(Error::msg("second-error-5521"))
        });
        multi(vec![
            slow_ok,
            delayed(1, Err(Error::msg("first"))),
            slow_err,
        ])
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "first");
    // The others still run to completion; the later error is logged.
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(40)).await;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(finished.get(), 2);
    let logged = common::logs_containing("second-error-5521");
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].0, "tornado.application");
}

#[test]
fn multi_over_a_tuple_of_mixed_types() {
    let _l = fresh_loop();
    let (a, b, c) = run(|| {
        coroutine(async {
            let r = multi((
                delayed(2, Ok(1u8)),
                async { Ok("two") },
                Future::resolved(3.0f64),
            ))
            .await?;
            Ok(r)
        })
    })
    .unwrap();
    assert_eq!((a, b, c), (1, "two", 3.0));
}

#[test]
fn with_timeout_times_out_without_cancelling_the_inner_future() {
    let _l = fresh_loop();
    let inner_done = Rc::new(Cell::new(false));
    let d = inner_done.clone();
    let err = run(move || {
        with_timeout(
            Duration::from_millis(5),
            coroutine(async move {
                sleep(Duration::from_millis(30)).await;
                d.set(true);
                Ok(1)
            }),
        )
    })
    .unwrap_err();
    match &err {
        tornado::ioloop::Error::Future(e) => assert_eq!(
            e.downcast_ref::<TimeoutError>(),
            Some(&TimeoutError(Duration::from_millis(5)))
        ),
        other => panic!("{other}"),
    }
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(50)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(inner_done.get(), "the inner coroutine ran on");
    assert_eq!(
        run(|| with_timeout(Duration::from_secs(5), delayed(1, Ok(7)))).unwrap(),
        7
    );
    assert_eq!(
        run(|| with_timeout(Duration::ZERO, Future::resolved(8))).unwrap(),
        8
    );
}

#[test]
fn wait_iterator_yields_in_completion_order() {
    let _l = fresh_loop();
    let order = run(|| {
        coroutine(async {
            let mut it = WaitIterator::new(vec![
                delayed(30, Ok("slow")),
                delayed(1, Ok("fast")),
                delayed(15, Err(Error::msg("mid"))),
            ]);
            let mut order = Vec::new();
            while let Some((i, r)) = it.next().await {
                assert_eq!(it.current_index(), Some(i));
                order.push((
                    i,
                    r.unwrap_or_else(|e| if e.to_string() == "mid" { "err" } else { "?" }),
                ));
            }
            assert!(it.done());
            Ok(order)
        })
    })
    .unwrap();
    assert_eq!(order, vec![(1, "fast"), (2, "err"), (0, "slow")]);
}

#[test]
fn a_coroutine_awaiting_a_future_resolved_from_another_thread() {
    let _l = fresh_loop();
    let v = run(|| {
        coroutine(async {
            let f = Future::new();
            let setter = f.remote_setter()?;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                setter.set_result(41u32);
            });
            Ok(f.await? + 1)
        })
    })
    .unwrap();
    assert_eq!(v, 42);
}

/// A foreign future, woken from another thread, as a channel would be.
struct ThreadWoken {
    ready: Arc<AtomicBool>,
    started: bool,
}

impl StdFuture for ThreadWoken {
    type Output = u8;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
        if self.ready.load(Ordering::SeqCst) {
            return Poll::Ready(9);
        }
        if !self.started {
            self.started = true;
            let (ready, waker) = (self.ready.clone(), cx.waker().clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                ready.store(true, Ordering::SeqCst);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

#[test]
fn any_std_future_can_be_awaited_and_woken_from_another_thread() {
    let _l = fresh_loop();
    let v = run(|| {
        coroutine(async {
            Ok(ThreadWoken {
                ready: Arc::default(),
                started: false,
            }
            .await)
        })
    })
    .unwrap();
    assert_eq!(v, 9);
}

#[test]
fn a_cancelled_or_dropped_coroutine_releases_its_resources() {
    let l = fresh_loop();
    let drops = Rc::new(Cell::new(0));
    let after = Rc::new(Cell::new(0));
    let before = live_coroutines();

    // Cancelled by its holder: released at once, never resumed.
    let (d, a) = (drops.clone(), after.clone());
    let f: Future<()> = coroutine(async move {
        let _held = DropCounter(d);
        sleep(Duration::from_millis(20)).await;
        a.set(a.get() + 1);
        Ok(())
    });
    assert!(f.cancel());

    // Dropped by its holder: stopped at its next resumption.
    let (d, a) = (drops.clone(), after.clone());
    drop(coroutine(async move {
        let _held = DropCounter(d);
        sleep(Duration::from_millis(5)).await;
        a.set(a.get() + 1);
        Ok(())
    }));

    // A spawned one runs to its end although nobody holds its future.
    let (d, a) = (drops.clone(), after.clone());
    spawn(async move {
        let _held = DropCounter(d);
        sleep(Duration::from_millis(5)).await;
        a.set(a.get() + 10);
        Ok(())
    });

    let m = l.clone();
    l.call_later(Duration::from_millis(40), move || m.stop());
    l.start().unwrap();
    assert_eq!(drops.get(), 3);
    assert_eq!(after.get(), 10, "only the spawned coroutine resumed");
    assert_eq!(live_coroutines(), before, "no task left behind");
}

#[test]
fn spawned_coroutine_errors_are_logged() {
    common::capture_logs();
    let l = fresh_loop();
    spawn(async {
        sleep(Duration::from_millis(1)).await;
        Err::<(), _>(Error::msg("spawned-failure-8812"))
    });
    let m = l.clone();
    l.call_later(Duration::from_millis(20), move || m.stop());
    l.start().unwrap();
    let logs = common::logs_containing("spawned-failure-8812");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, "tornado.application");
}

#[test]
fn dropping_a_sleep_removes_its_timeout() {
    let l = fresh_loop();
    let s = sleep(Duration::from_secs(60));
    assert_eq!(l.metrics().timeouts_pending, 1);
    drop(s);
    assert_eq!(l.metrics().timeouts_pending, 0);
}

#[test]
fn executor_runs_blocking_work_without_stalling_timers() {
    let _l = fresh_loop();
    // The job blocks its thread until the loop's timer has ticked three
    // times (or gives up after 5 s): it can only see them if the loop runs
    // meanwhile. No fixed sleep, so a loaded machine cannot fail it.
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let pc = PeriodicCallback::new(
        move || {
            t.fetch_add(1, Ordering::SeqCst);
        },
        Duration::from_millis(5),
    );
    pc.start();
    let seen = ticks.clone();
    let (v, saw) = run(move || {
        coroutine(async move {
            let v = run_in_executor(move || {
                let deadline = Instant::now() + Duration::from_secs(5);
                while seen.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                (
                    std::thread::current().name().map(str::to_owned),
                    seen.load(Ordering::SeqCst),
                )
            })
            .await?;
            Ok(v)
        })
    })
    .unwrap();
    pc.stop();
    assert_eq!(v.as_deref(), Some("tornado-executor"));
    assert!(saw >= 3, "timers ran while the work blocked: {saw} ticks");

    let err = run(|| run_in_executor(|| -> u8 { panic!("in the pool") })).unwrap_err();
    assert!(err.to_string().contains("in the pool"));
    let err = run(|| try_run_in_executor(|| std::fs::read("/nonexistent/x"))).unwrap_err();
    assert!(err.to_string().contains("No such file"));
}

#[test]
fn many_concurrent_coroutines_finish() {
    let _l = fresh_loop();
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    run(move || {
        let all: Vec<Future<()>> = (0..1000)
            .map(|i| {
                let c = c.clone();
                coroutine(async move {
                    sleep(Duration::from_millis(i % 5)).await;
                    moment().await;
                    c.set(c.get() + 1);
                    Ok(())
                })
            })
            .collect();
        multi(all)
    })
    .unwrap();
    assert_eq!(counter.get(), 1000);
}

/// A hand-written generator: fetches the values it is told, adding them;
/// an error sent in is caught once and counted, as `try/except` would.
struct Summer {
    steps: Vec<Yielded<u32>>,
    total: u32,
    errors: u32,
    _held: Option<DropCounter>,
}

impl Generator for Summer {
    type Sent = u32;
    type Output = (u32, u32);
    fn resume(&mut self, sent: Option<Result<u32, Error>>) -> Step<u32, (u32, u32)> {
        match sent {
            Some(Ok(v)) => self.total += v,
            Some(Err(e)) if e.to_string() == "boom" => panic!("generator panicked"),
            Some(Err(_)) => self.errors += 1,
            None => {}
        }
        if self.steps.is_empty() {
            Step::Return(Ok((self.total, self.errors)))
        } else {
            Step::Yield(self.steps.remove(0))
        }
    }
}

fn summer(steps: Vec<Yielded<u32>>) -> Summer {
    Summer {
        steps,
        total: 0,
        errors: 0,
        _held: None,
    }
}

#[test]
fn generator_runner_handles_done_pending_moment_and_errors() {
    let _l = fresh_loop();
    // Already-done futures are consumed without suspending.
    let f = run_generator(summer(vec![
        Yielded::Future(Future::resolved(1)),
        Yielded::Future(Future::resolved(2)),
    ]));
    assert_eq!(f.result().unwrap(), (3, 0));
    // Pending futures, a moment and a thrown-in error.
    let v = run(|| {
        run_generator(summer(vec![
            Yielded::Future(delayed(2, Ok(10))),
            Yielded::Moment,
            Yielded::Future(delayed(1, Err(Error::msg("handled")))),
            Yielded::Future(delayed(1, Ok(5))),
        ]))
    })
    .unwrap();
    assert_eq!(v, (15, 1));
    // A panic inside the generator lands in its future.
    let err = run(|| {
        run_generator(summer(vec![Yielded::Future(Future::failed(Error::msg(
            "boom",
        )))]))
    })
    .unwrap_err();
    assert!(err.to_string().contains("generator panicked"));
}

#[test]
fn cancelled_or_dropped_generator_is_released() {
    let l = fresh_loop();
    let drops = Rc::new(Cell::new(0));
    let steps = || {
        vec![
            Yielded::Future(delayed(5, Ok(1))),
            Yielded::Future(delayed(5, Ok(2))),
        ]
    };
    let mut g = summer(steps());
    g._held = Some(DropCounter(drops.clone()));
    let f = run_generator(g);
    assert!(f.cancel());
    // Dropped by its holder: likewise released when next resumed.
    let mut g = summer(steps());
    g._held = Some(DropCounter(drops.clone()));
    drop(run_generator(g));
    let m = l.clone();
    l.call_later(Duration::from_millis(30), move || m.stop());
    l.start().unwrap();
    assert_eq!(
        drops.get(),
        2,
        "released at the next resumption, not run on"
    );
}

#[test]
fn wakes_are_deduplicated() {
    let _l = fresh_loop();
    let polls = Rc::new(AtomicUsize::new(0));
    let p = polls.clone();
    struct WakeTwice(bool, Rc<AtomicUsize>);
    impl StdFuture for WakeTwice {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.1.fetch_add(1, Ordering::SeqCst);
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    run(move || {
        coroutine(async move {
            WakeTwice(false, p).await;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 2, "two wakes, one resume");
    let _ = RefCell::new(());
}

#[test]
fn a_coroutine_whose_future_only_a_done_callback_holds_runs_on() {
    let l = fresh_loop();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    // Callback style: the future itself is dropped, its callback remains.
    delayed(2, Ok(7)).add_done_callback(move |f| g.set(f.result().unwrap()));
    let m = l.clone();
    l.call_later(Duration::from_millis(30), move || m.stop());
    l.start().unwrap();
    assert_eq!(got.get(), 7);
}

#[test]
fn a_cancelled_coroutine_stuck_forever_is_released_at_once() {
    let l = fresh_loop();
    let drops = Rc::new(Cell::new(0));
    // Awaits a future nobody will ever resolve: only the cancel (or the
    // drop of its future) can release it.
    let never: Future<()> = Future::new();
    let (d, n) = (drops.clone(), never.clone());
    let f: Future<()> = coroutine(async move {
        let _held = DropCounter(d);
        n.await?;
        Ok(())
    });
    let (d, n) = (drops.clone(), never.clone());
    let g: Future<()> = coroutine(async move {
        let _held = DropCounter(d);
        n.await?;
        Ok(())
    });
    assert!(f.cancel());
    drop(g);
    let m = l.clone();
    l.call_later(Duration::from_millis(5), move || m.stop());
    l.start().unwrap();
    assert_eq!(drops.get(), 2, "both released without ever being resumed");
    drop(never);
}
