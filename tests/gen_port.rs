//! More behaviours of Tornado's `gen_test.py` (`GenBasicTest`,
//! `GenCoroutineTest`, `WithTimeoutTest`, `WaitIteratorTest`,
//! `RunnerGCTest.test_multi_moment`), on the backend named by
//! `TORNADO_IOLOOP_BACKEND`.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{
    TimeoutError, WaitIterator, coroutine, moment, multi, run_in_executor, sleep, with_timeout,
};
use tornado::ioloop::IOLoop;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(10)))
}

fn is_timeout(e: &tornado::ioloop::Error) -> bool {
    matches!(e, tornado::ioloop::Error::Future(e) if e.downcast_ref::<TimeoutError>().is_some())
}

/// How a coroutine of `interleaving` waits between its steps.
#[derive(Clone, Copy)]
enum Wait {
    /// On a future that is already done: no suspension.
    Done,
    /// On `moment()`: one loop iteration.
    Moment,
}

/// Records `name` five times, waiting as `wait` says after each.
fn stepper(name: char, wait: Wait, calls: Rc<RefCell<String>>) -> Future<()> {
    coroutine(async move {
        for _ in 0..5 {
            calls.borrow_mut().push(name);
            match wait {
                Wait::Done => Future::resolved(()).await?,
                Wait::Moment => moment().await,
            }
        }
        Ok(())
    })
}

/// Runs two steppers together; returns the order of their steps.
fn interleaving(a: Wait, b: Wait) -> String {
    let calls = Rc::new(RefCell::new(String::new()));
    let c = calls.clone();
    run(move || multi((stepper('a', a, c.clone()), stepper('b', b, c)))).unwrap();
    calls.take()
}

#[test]
fn moment_makes_coroutines_take_turns() {
    // Tornado's test_moment.
    let _l = fresh_loop();
    assert_eq!(interleaving(Wait::Done, Wait::Done), "aaaaabbbbb");
    assert_eq!(interleaving(Wait::Moment, Wait::Moment), "ababababab");
    assert_eq!(interleaving(Wait::Moment, Wait::Done), "abbbbbaaaa");
}

/// A moment as a fallible future, as `multi` takes them.
async fn a_moment() -> Result<(), Error> {
    moment().await;
    Ok(())
}

#[test]
fn multi_over_moments() {
    // Tornado's test_multi_moment and test_multi_performance.
    let _l = fresh_loop();
    assert_eq!(
        run(|| multi(vec![a_moment(), a_moment()])).unwrap(),
        [(), ()]
    );
    let started = Instant::now();
    let all = run(|| multi((0..2000).map(|_| a_moment()).collect::<Vec<_>>())).unwrap();
    assert_eq!(all.len(), 2000);
    // Linear: milliseconds; the bound leaves room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn errors_before_and_after_the_first_suspension() {
    // Tornado's test_exception_phase1/2, test_sync_raise, test_async_raise:
    // the error is in the future, whenever it happens.
    let _l = fresh_loop();
    let early: Future<u8> = coroutine(async { Err(Error::msg("phase 1")) });
    assert!(early.done(), "failed before its first suspension");
    assert_eq!(run(move || early).unwrap_err().to_string(), "phase 1");
    let late = run(|| {
        coroutine(async {
            moment().await;
            Err::<u8, _>(Error::msg("phase 2"))
        })
    });
    assert_eq!(late.unwrap_err().to_string(), "phase 2");
}

#[test]
fn an_awaited_error_can_be_replaced_or_swallowed() {
    // Tornado's test_replace_yieldpoint_exception and
    // test_swallow_yieldpoint_exception.
    let _l = fresh_loop();
    let failing = || coroutine(async { Err::<u8, _>(Error::msg("zero division")) });
    let replaced = run(move || {
        coroutine(async move {
            match failing().await {
                Err(e) if e.to_string() == "zero division" => Err::<u8, _>(Error::msg("key")),
                other => other,
            }
        })
    });
    assert_eq!(replaced.unwrap_err().to_string(), "key");
    let swallowed = run(move || coroutine(async move { Ok(failing().await.unwrap_or(42)) }));
    assert_eq!(swallowed.unwrap(), 42);
}

#[test]
fn the_same_coroutine_function_runs_twice() {
    // Tornado's test_reuse, test_no_yield, test_async_early_return.
    let _l = fresh_loop();
    let f = || {
        coroutine(async {
            moment().await;
            Ok(1)
        })
    };
    assert_eq!(run(f).unwrap(), 1);
    assert_eq!(run(f).unwrap(), 1);
    assert_eq!(run(|| coroutine(async { Ok(()) })).unwrap(), ());
}

#[test]
fn with_timeout_over_executor_futures() {
    // Tornado's test_timeout_concurrent_future,
    // test_completed_concurrent_future and test_normal_concurrent_future.
    let _l = fresh_loop();
    let err = run(|| {
        with_timeout(
            Duration::ZERO,
            run_in_executor(|| std::thread::sleep(Duration::from_millis(100))),
        )
    })
    .unwrap_err();
    assert!(is_timeout(&err), "{err}");

    // Finished (on its thread, and on the loop) before with_timeout sees it.
    let done2 = run_in_executor(|| 6);
    let waited = done2.clone();
    run(move || {
        coroutine(async move {
            while !waited.done() {
                sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(
        run(move || with_timeout(Duration::from_secs(3600), done2)).unwrap(),
        6
    );

    // Resolved while with_timeout waits.
    let v = run(|| {
        with_timeout(
            Duration::from_secs(3600),
            run_in_executor(|| {
                std::thread::sleep(Duration::from_millis(10));
                7
            }),
        )
    })
    .unwrap();
    assert_eq!(v, 7);
}

#[test]
fn with_timeout_over_plain_futures() {
    // Tornado's WithTimeoutTest: test_timeout, test_completes_before_timeout,
    // test_fails_before_timeout, test_already_resolved, and
    // GenCoroutineTest.test_async_with_timeout.
    let _l = fresh_loop();
    let err = run(|| with_timeout(Duration::from_millis(5), Future::<u8>::new())).unwrap_err();
    assert!(is_timeout(&err), "{err}");
    let later = |v: Result<&'static str, Error>| {
        let f = Future::new();
        let g = f.clone();
        IOLoop::current().call_later(Duration::from_millis(5), move || {
            let _ = match v {
                Ok(v) => g.set_result(v),
                Err(e) => g.set_exception(e),
            };
        });
        f
    };
    let hour = Duration::from_secs(3600);
    assert_eq!(
        run(move || with_timeout(hour, later(Ok("asdf")))).unwrap(),
        "asdf"
    );
    let err = run(move || with_timeout(hour, later(Err(Error::msg("zero"))))).unwrap_err();
    assert_eq!(err.to_string(), "zero");
    assert_eq!(
        run(move || with_timeout(hour, Future::resolved("done"))).unwrap(),
        "done"
    );
    assert_eq!(
        run(move || with_timeout(hour, async { Ok(42) })).unwrap(),
        42
    );
}

#[test]
fn wait_iterator_over_nothing() {
    // Tornado's test_empty_iterator.
    let _l = fresh_loop();
    let mut it = WaitIterator::new(Vec::<Future<u8>>::new());
    assert!(it.done());
    assert_eq!(it.current_index(), None);
    let next = run(move || {
        coroutine(async move {
            let n = it.next().await.map(|(i, _)| i);
            Ok((n, it.current_index()))
        })
    })
    .unwrap();
    assert_eq!(next, (None, None));
}

#[test]
fn wait_iterator_over_finished_futures_keeps_their_order() {
    // Tornado's test_already_done.
    let _l = fresh_loop();
    let seen = run(|| {
        coroutine(async {
            let futures = vec![
                Future::resolved(24),
                Future::resolved(42),
                Future::resolved(84),
            ];
            let mut it = WaitIterator::new(futures);
            let mut seen = Vec::new();
            while !it.done() {
                let (i, r) = it.next().await.expect("not done");
                seen.push((i, it.current_index(), r?));
            }
            assert!(it.next().await.is_none());
            seen.push((usize::MAX, it.current_index(), 0));
            Ok(seen)
        })
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            (0, Some(0), 24),
            (1, Some(1), 42),
            (2, Some(2), 84),
            (usize::MAX, None, 0)
        ]
    );
}

#[test]
fn wait_iterator_hands_out_errors_in_their_turn() {
    // Tornado's test_iterator and test_iterator_async_await: futures
    // finished over several iterations, one of them failing.
    let _l = fresh_loop();
    let got = run(|| {
        coroutine(async {
            let futures: Vec<Future<u32>> = (0..4).map(|_| Future::new()).collect();
            let fs = futures.clone();
            // Finished on the 3rd, 5th and 8th loop iterations.
            fn finish(step: u32, fs: Vec<Future<u32>>) {
                match step {
                    3 => fs[2].set_result(24).unwrap(),
                    5 => fs[0].set_exception(Error::msg("zero division")).unwrap(),
                    8 => {
                        fs[1].set_result(42).unwrap();
                        fs[3].set_result(84).unwrap();
                    }
                    _ => {}
                }
                if step < 8 {
                    IOLoop::current().add_callback(move || finish(step + 1, fs));
                }
            }
            finish(0, fs);
            let mut it = WaitIterator::new(futures);
            let mut got = Vec::new();
            while let Some((i, r)) = it.next().await {
                got.push((i, r.map_err(|e| e.to_string())));
            }
            Ok(got)
        })
    })
    .unwrap();
    assert_eq!(
        got,
        [
            (2, Ok(24)),
            (0, Err("zero division".to_owned())),
            (1, Ok(42)),
            (3, Ok(84))
        ]
    );
}

#[test]
fn closing_the_loop_releases_its_suspended_coroutines() {
    // Tornado's test_gc_infinite_coro / test_gc_infinite_async_await.
    use tornado::r#gen::live_coroutines;
    struct Finalizer(Rc<RefCell<Vec<&'static str>>>);
    impl Drop for Finalizer {
        fn drop(&mut self) {
            self.0.borrow_mut().push("finalized");
        }
    }
    let l = fresh_loop();
    let before = live_coroutines();
    let log = Rc::new(RefCell::new(Vec::new()));
    let fin = Finalizer(log.clone());
    let lg = log.clone();
    let forever: Future<()> = coroutine(async move {
        let _fin = fin;
        loop {
            sleep(Duration::from_millis(1)).await;
            lg.borrow_mut().push("woke");
        }
    });
    run(|| {
        coroutine(async {
            sleep(Duration::from_millis(20)).await;
            Ok(())
        })
    })
    .unwrap();
    assert!(log.borrow().len() >= 2, "it ran: {:?}", log.borrow());
    l.close(false).unwrap();
    drop(forever);
    assert_eq!(log.borrow().last(), Some(&"finalized"));
    assert_eq!(live_coroutines(), before);
}

#[test]
fn a_coroutine_awaiting_a_future_only_a_callback_holds_finishes() {
    // Tornado's test_gc: the runner must not be released while the future
    // it waits on is alive only through a callback.
    let _l = fresh_loop();
    let v = run(|| {
        with_timeout(
            Duration::from_secs(2),
            coroutine(async {
                let fut = Future::new();
                let setter = fut.clone();
                IOLoop::current().add_callback(move || setter.set_result(123).unwrap());
                fut.await
            }),
        )
    })
    .unwrap();
    assert_eq!(v, 123);
}
