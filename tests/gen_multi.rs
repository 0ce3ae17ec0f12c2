//! `multi` with repeated futures (Tornado's `test_multi_future_duplicate`),
//! empty and already-finished children, and its error reporting.

mod common;

use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(5)))
}

/// Resolves after `ms` milliseconds with `v`.
fn delayed<T: 'static>(ms: u64, v: Result<T, Error>) -> Future<T> {
    coroutine(async move {
        sleep(Duration::from_millis(ms)).await;
        v
    })
}

#[test]
fn a_repeated_future_in_a_list_gives_its_value_at_both_places() {
    common::capture_logs();
    let _l = fresh_loop();
    let v = run(|| {
        let f = delayed(3, Ok(String::from("dup-a")));
        let g = delayed(1, Ok(String::from("b")));
        multi(vec![f.clone(), g, f])
    })
    .unwrap();
    assert_eq!(v, ["dup-a", "b", "dup-a"]);

    // Already finished, three times over.
    let v = run(|| {
        let f = Future::resolved(7u8);
        multi(vec![f.clone(), f.clone(), f])
    })
    .unwrap();
    assert_eq!(v, [7, 7, 7]);
    assert!(
        common::logs_containing("already taken").is_empty(),
        "no panic logged"
    );
}

#[test]
fn a_repeated_future_in_a_tuple_gives_its_value_at_both_places() {
    let _l = fresh_loop();
    let (a, b, c) = run(|| {
        let f = delayed(2, Ok(vec![1u8, 2]));
        multi((f.clone(), Future::resolved("x"), f))
    })
    .unwrap();
    assert_eq!((a, b, c), (vec![1, 2], "x", vec![1, 2]));
}

#[test]
fn a_repeated_failing_future_fails_once_and_logs_nothing_more() {
    common::capture_logs();
    let _l = fresh_loop();
    let err = run(|| {
        let f = delayed::<u8>(1, Err(Error::msg("repeated-failure-3318")));
        multi(vec![f.clone(), Future::resolved(1), f])
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "repeated-failure-3318");
    // Let any later done-callback run.
    run(|| delayed(5, Ok(()))).unwrap();
    assert!(
        common::logs_containing("repeated-failure-3318").is_empty(),
        "the one failure is the result, not a logged second exception"
    );
}

#[test]
fn multi_over_finished_and_no_futures() {
    let _l = fresh_loop();
    let v = run(|| multi(vec![Future::resolved(1), Future::resolved(2)])).unwrap();
    assert_eq!(v, [1, 2]);
    let empty = multi(Vec::<Future<u8>>::new());
    assert!(empty.done(), "an empty list is done at once");
    assert!(empty.take_result().unwrap().is_empty());
    let err =
        run(|| multi((Future::resolved(1), Future::<u8>::failed(Error::msg("e"))))).unwrap_err();
    assert_eq!(err.to_string(), "e");
}

#[test]
fn multi_over_many_futures_is_not_quadratic() {
    // Tornado's test_multi_performance: thousands of children, quickly.
    let _l = fresh_loop();
    let started = std::time::Instant::now();
    let v = run(|| multi((0..5000).map(Future::resolved).collect::<Vec<_>>())).unwrap();
    assert_eq!(v.len(), 5000);
    assert_eq!(v[4999], 4999);
    assert!(started.elapsed() < Duration::from_secs(3));
}
