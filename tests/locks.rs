//! Behaviours of Tornado's `locks_test.py` that apply, plus the skipping of
//! timed-out, cancelled and dropped waiters. Timeouts run on a virtual
//! clock: exact, and quick.

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{TimeoutError, coroutine, moment, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::locks::{
    BoundedSemaphore, Condition, Event, Lock, NotLocked, Semaphore, TooManyReleases,
};
use tornado_testing::{VirtualClock, gen_test};

type History = Rc<RefCell<Vec<String>>>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time for this test's loop: timeouts are exact and instant.
fn virtual_time() -> Rc<VirtualClock> {
    VirtualClock::install(&IOLoop::current())
}

/// Records `key`, or "timeout", when a condition wait resolves.
fn record_done(f: &Future<bool>, key: impl Display + 'static, history: &History) {
    let h = history.clone();
    f.add_done_callback(move |f| {
        let entry = if f.result().unwrap() {
            key.to_string()
        } else {
            "timeout".into()
        };
        h.borrow_mut().push(entry);
    });
}

fn is_timeout(e: &Error) -> bool {
    e.is::<TimeoutError>()
}

// ----- Condition ------------------------------------------------------

#[gen_test]
async fn condition_notified_from_a_timer() -> Result<(), Error> {
    let c = Condition::new();
    let c2 = c.clone();
    IOLoop::current().call_later(ms(10), move || c2.notify(1));
    assert!(c.wait().await?);
    Ok(())
}

#[gen_test]
async fn condition_notify_1() {
    let c = Condition::new();
    let history = History::default();
    record_done(&c.wait(), "wait1", &history);
    record_done(&c.wait(), "wait2", &history);
    c.notify(1);
    moment().await;
    history.borrow_mut().push("notify1".into());
    c.notify(1);
    moment().await;
    history.borrow_mut().push("notify2".into());
    assert_eq!(*history.borrow(), ["wait1", "notify1", "wait2", "notify2"]);
}

#[gen_test]
async fn condition_notify_n() {
    let c = Condition::new();
    let history = History::default();
    for i in 0..6 {
        record_done(&c.wait(), i, &history);
    }
    let upto = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
    c.notify(3);
    moment().await;
    assert_eq!(*history.borrow(), upto(3), "oldest first");
    c.notify(1);
    moment().await;
    assert_eq!(*history.borrow(), upto(4));
    c.notify(2);
    moment().await;
    assert_eq!(*history.borrow(), upto(6));
}

#[gen_test]
async fn condition_notify_all() {
    let c = Condition::new();
    let history = History::default();
    for i in 0..4 {
        record_done(&c.wait(), i, &history);
    }
    c.notify_all();
    moment().await;
    history.borrow_mut().push("notify_all".into());
    assert_eq!(*history.borrow(), ["0", "1", "2", "3", "notify_all"]);
}

#[gen_test]
async fn condition_wait_timeout() -> Result<(), Error> {
    let _clock = virtual_time();
    let c = Condition::new();
    let wait = c.wait_timeout(ms(10));
    let c2 = c.clone();
    IOLoop::current().call_later(ms(20), move || c2.notify(1)); // too late
    sleep(ms(30)).await;
    assert!(!wait.await?, "a timed-out wait resolves to false");
    Ok(())
}

#[gen_test]
async fn condition_wait_timeout_preempted() -> Result<(), Error> {
    let _clock = virtual_time();
    let c = Condition::new();
    let c2 = c.clone();
    IOLoop::current().call_later(ms(10), move || c2.notify(1)); // in time
    let wait = c.wait_timeout(ms(20));
    sleep(ms(30)).await;
    assert!(wait.await?);
    Ok(())
}

#[gen_test]
async fn condition_timed_out_waiter_does_not_count_against_notify_n() {
    let _clock = virtual_time();
    let c = Condition::new();
    let history = History::default();
    record_done(&c.wait(), 0, &history);
    record_done(&c.wait_timeout(ms(10)), 1, &history);
    record_done(&c.wait(), 2, &history);
    record_done(&c.wait(), 3, &history);
    sleep(ms(20)).await;
    assert_eq!(*history.borrow(), ["timeout"]);
    c.notify(2);
    sleep(ms(10)).await;
    assert_eq!(*history.borrow(), ["timeout", "0", "2"]);
    c.notify(1);
    moment().await;
    assert_eq!(*history.borrow(), ["timeout", "0", "2", "3"]);
}

#[gen_test]
async fn condition_notify_all_with_timeout() {
    let _clock = virtual_time();
    let c = Condition::new();
    let history = History::default();
    record_done(&c.wait(), 0, &history);
    record_done(&c.wait_timeout(ms(10)), 1, &history);
    record_done(&c.wait(), 2, &history);
    sleep(ms(20)).await;
    assert_eq!(*history.borrow(), ["timeout"]);
    c.notify_all();
    moment().await;
    assert_eq!(*history.borrow(), ["timeout", "0", "2"]);
}

#[gen_test]
async fn condition_nested_notify_loses_nothing() {
    let c = Condition::new();
    let futures: Vec<Future<bool>> = (0..3).map(|_| c.wait()).collect();
    let c2 = c.clone();
    // The second waiter's callback notifies again, resolving the third.
    futures[1].add_done_callback(move |_| c2.notify(1));
    c.notify(2);
    moment().await;
    assert!(futures.iter().all(|f| f.done()));
}

#[gen_test]
async fn condition_timed_out_waiters_are_removed() {
    let _clock = virtual_time();
    let c = Condition::new();
    let timed: Vec<Future<bool>> = (0..101).map(|_| c.wait_timeout(ms(10))).collect();
    let last = c.wait();
    assert_eq!(c.waiters(), 102);
    sleep(ms(20)).await;
    assert_eq!(c.waiters(), 1);
    assert!(!last.done(), "the last waiter is still waiting");
    c.notify(1);
    assert!(last.done());
    assert!(timed.iter().all(|f| !f.result().unwrap()));
}

#[gen_test]
async fn condition_skips_cancelled_and_dropped_waiters() -> Result<(), Error> {
    let c = Condition::new();
    let cancelled = c.wait();
    drop(c.wait()); // nobody holds this one
    let kept = c.wait();
    assert!(cancelled.cancel());
    assert_eq!(c.waiters(), 1);
    c.notify(1);
    assert!(kept.done(), "one notification, for the one live waiter");
    assert!(kept.await?);
    Ok(())
}

// ----- Event ----------------------------------------------------------

#[gen_test]
async fn event_wait_set_clear() {
    let e = Event::new();
    let f0 = e.wait();
    e.set();
    let f1 = e.wait();
    e.clear();
    let f2 = e.wait();
    assert!(f0.done() && f1.done());
    assert!(!f2.done());
    assert_eq!(format!("{e:?}"), "<Event clear>");
    e.set();
    e.set();
    assert!(e.is_set() && f2.done());
    assert_eq!(format!("{e:?}"), "<Event set>");
}

#[gen_test]
async fn event_timeout_then_normal_operation() -> Result<(), Error> {
    let _clock = virtual_time();
    let e = Event::new();
    let err = e.wait_timeout(ms(10)).await.unwrap_err();
    assert_eq!(err.downcast_ref(), Some(&TimeoutError(ms(10))));
    let e2 = e.clone();
    IOLoop::current().call_later(ms(10), move || e2.set());
    e.wait_timeout(Duration::from_secs(1)).await?;
    Ok(())
}

#[gen_test]
async fn event_wait_then_clear_then_set_wakes_both() {
    let e = Event::new();
    let f0 = e.wait();
    e.clear();
    let f1 = e.wait();
    e.set();
    assert!(f0.done() && f1.done());
}

// ----- Semaphore ------------------------------------------------------

#[gen_test]
async fn semaphore_acquire_and_release_in_order() {
    let sem = Semaphore::new(1);
    assert_eq!(format!("{sem:?}"), "<Semaphore [unlocked,value:1]>");
    let f0 = sem.acquire();
    assert!(f0.done());
    let f1 = sem.acquire();
    assert!(!f1.done());
    let f2 = sem.acquire();
    assert_eq!(format!("{sem:?}"), "<Semaphore [locked,waiters:2]>");
    f0.take_result().unwrap().forget();
    sem.release();
    assert!(f1.done() && !f2.done());
    f1.take_result().unwrap().forget();
    sem.release();
    assert!(f2.done());
    f2.take_result().unwrap().forget();
    sem.release();
    // Now acquire is instant.
    assert!(sem.acquire().done());
}

#[gen_test]
async fn semaphore_acquire_timeout() -> Result<(), Error> {
    let _clock = virtual_time();
    let sem = Semaphore::new(2);
    let _a = sem.acquire().await?;
    let _b = sem.acquire().await?;
    let acquire = sem.acquire_timeout(ms(10));
    let s = sem.clone();
    IOLoop::current().call_later(ms(20), move || s.release()); // too late
    sleep(ms(300)).await;
    assert!(is_timeout(&acquire.await.unwrap_err()));
    // The late release left one permit free.
    let c = sem.acquire();
    assert!(c.done());
    let f = sem.acquire();
    assert!(!f.done());
    sem.release();
    assert!(f.done());
    Ok(())
}

#[gen_test]
async fn semaphore_acquire_timeout_preempted() -> Result<(), Error> {
    let _clock = virtual_time();
    let sem = Semaphore::new(1);
    let held = sem.acquire().await?;
    IOLoop::current().call_later(ms(10), move || drop(held));
    let acquire = sem.acquire_timeout(ms(20));
    sleep(ms(30)).await;
    let _guard = acquire.await?;
    Ok(())
}

#[gen_test]
async fn semaphore_release_unacquired_adds_permits() {
    let sem = Semaphore::new(1);
    sem.release();
    sem.release();
    let held: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
    assert!(held.iter().all(|f| f.done()));
    assert!(!sem.acquire().done());
}

#[gen_test]
async fn semaphore_timed_out_waiters_are_removed() {
    let _clock = virtual_time();
    let sem = Semaphore::new(0);
    let timed: Vec<_> = (0..101).map(|_| sem.acquire_timeout(ms(10))).collect();
    let last = sem.acquire();
    assert_eq!(format!("{sem:?}"), "<Semaphore [locked,waiters:102]>");
    sleep(ms(20)).await;
    assert_eq!(format!("{sem:?}"), "<Semaphore [locked,waiters:1]>");
    assert!(!last.done());
    sem.release();
    assert!(last.done(), "the permit went past every timed-out waiter");
    assert!(timed.iter().all(|f| is_timeout(&f.exception().unwrap())));
}

#[gen_test]
async fn semaphore_guard_releases_at_scope_end_and_on_error() -> Result<(), Error> {
    let sem = Semaphore::new(1);
    {
        let _guard = sem.acquire().await?;
        assert_eq!(sem.value(), 0);
    }
    assert!(sem.acquire().done(), "released, and acquired again");
    let s = sem.clone();
    let failed: Result<(), Error> = coroutine(async move {
        let _guard = s.acquire().await?;
        Err(Error::msg("boom"))?;
        Ok(())
    })
    .await;
    assert_eq!(failed.unwrap_err().to_string(), "boom");
    assert_eq!(sem.value(), 1, "released when the error unwound the scope");
    Ok(())
}

#[gen_test]
async fn semaphore_guard_from_a_timed_acquire() -> Result<(), Error> {
    let _clock = virtual_time();
    let sem = Semaphore::new(1);
    {
        let _guard = sem.acquire_timeout(ms(10)).await?;
    }
    assert_eq!(sem.value(), 1);
    let zero = Semaphore::new(0);
    assert!(is_timeout(&zero.acquire_timeout(ms(10)).await.unwrap_err()));
    assert_eq!(zero.value(), 0, "a timed-out acquire changes nothing");
    assert!(!zero.acquire().done());
    Ok(())
}

#[gen_test]
async fn semaphore_contended() -> Result<(), Error> {
    let _clock = virtual_time();
    let sem = Semaphore::new(1);
    let history = History::default();
    let f = |i: u32| {
        let (sem, history) = (sem.clone(), history.clone());
        coroutine(async move {
            let _guard = sem.acquire().await?;
            history.borrow_mut().push(format!("acquired {i}"));
            sleep(ms(10)).await;
            history.borrow_mut().push(format!("release {i}"));
            Ok(())
        })
    };
    multi(vec![f(0), f(1)]).await?;
    assert_eq!(
        *history.borrow(),
        ["acquired 0", "release 0", "acquired 1", "release 1"]
    );
    Ok(())
}

#[gen_test]
async fn semaphore_permit_skips_a_dropped_waiter() {
    let sem = Semaphore::new(0);
    drop(sem.acquire()); // given up by its holder
    let later = sem.acquire();
    sem.release();
    assert!(later.done(), "the permit went to the live waiter");
    assert_eq!(sem.value(), 0);
    drop(later);
    assert_eq!(sem.value(), 1, "and came back with its guard");
}

#[gen_test]
async fn a_permit_handed_to_an_abandoned_coroutine_comes_back() -> Result<(), Error> {
    // A coroutine dropped while it waits keeps its wait until it is resumed
    // (the runner drops it then): the permit it is handed goes back with
    // its guard on that resumption, to the next waiter.
    let sem = Semaphore::new(0);
    let resumed = Rc::new(std::cell::Cell::new(false));
    let (s, r) = (sem.clone(), resumed.clone());
    let abandoned: Future<()> = coroutine(async move {
        let _guard = s.acquire().await?;
        r.set(true);
        Ok(())
    });
    let next = sem.acquire();
    drop(abandoned);
    sem.release();
    let _guard = next.await?;
    assert!(!resumed.get(), "never resumed past its await");
    Ok(())
}

#[gen_test]
async fn bounded_semaphore_release_unacquired() {
    let sem = BoundedSemaphore::new(1);
    assert_eq!(sem.release(), Err(TooManyReleases));
    sem.try_acquire().unwrap().forget(); // value is 0
    let future = sem.acquire();
    assert!(!future.done());
    sem.release().unwrap();
    assert!(future.done());
    future.take_result().unwrap().forget();
    sem.release().unwrap(); // value is 1
    assert_eq!(sem.release(), Err(TooManyReleases));
    let e: Error = TooManyReleases.into();
    assert_eq!(e.to_string(), "Semaphore released too many times");
}

// ----- Lock -----------------------------------------------------------

#[gen_test]
async fn lock_acquire_release() {
    let lock = Lock::new();
    let first = lock.acquire();
    assert!(first.done());
    let future = lock.acquire();
    assert!(!future.done());
    drop(first); // its guard unlocks
    assert!(future.done());
}

#[gen_test]
async fn lock_acquire_fifo() -> Result<(), Error> {
    let lock = Lock::new();
    let held = lock.acquire();
    assert!(held.done());
    let history = Rc::new(RefCell::new(Vec::new()));
    let futures: Vec<Future<()>> = (0..5)
        .map(|i| {
            let (lock, history) = (lock.clone(), history.clone());
            coroutine(async move {
                let _guard = lock.acquire().await?;
                history.borrow_mut().push(i);
                Ok(())
            })
        })
        .collect();
    assert!(!futures.iter().any(|f| f.done()));
    drop(held);
    multi(futures).await?;
    assert_eq!(*history.borrow(), [0, 1, 2, 3, 4]);
    Ok(())
}

#[gen_test]
async fn lock_acquire_timeout_leaves_it_locked() -> Result<(), Error> {
    let _clock = virtual_time();
    let lock = Lock::new();
    let _held = lock.acquire().await?;
    assert!(is_timeout(&lock.acquire_timeout(ms(10)).await.unwrap_err()));
    assert!(lock.locked());
    assert!(!lock.acquire().done());
    Ok(())
}

#[gen_test]
async fn lock_multi_release() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(NotLocked));
    lock.try_acquire().unwrap().forget();
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Err(NotLocked));
}

#[gen_test]
async fn lock_is_never_handed_to_timed_out_cancelled_or_dropped_waiters() -> Result<(), Error> {
    let _clock = virtual_time();
    let lock = Lock::new();
    let held = lock.acquire().await?;
    let timed_out = lock.acquire_timeout(ms(5));
    let cancelled = lock.acquire();
    let dropped = lock.acquire();
    let live = lock.acquire();
    assert_eq!(lock.waiters(), 4);
    sleep(ms(10)).await; // the first times out
    assert!(cancelled.cancel());
    drop(dropped);
    assert_eq!(lock.waiters(), 1);
    drop(held);
    assert!(live.done(), "handed straight to the one live waiter");
    assert!(is_timeout(&timed_out.exception().unwrap()));
    drop(live);
    assert!(!lock.locked());
    Ok(())
}

#[gen_test]
async fn a_newcomer_never_overtakes_a_waiter() {
    let lock = Lock::new();
    let held = lock.try_acquire().unwrap();
    let waiter = lock.acquire();
    drop(held);
    assert!(lock.try_acquire().is_none(), "the waiter already has it");
    assert!(waiter.done());
}
