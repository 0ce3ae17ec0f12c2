//! Unit tests on a minimal stand-in loop (the real one lives in
//! `tornado-ioloop`, which this crate must not depend on).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::schedule::{self, Callback, RemoteSchedule, Schedule, SendCallback};
use crate::*;

/// Runs callbacks only when `turn` is called, like one loop iteration.
struct FakeLoop {
    queue: RefCell<VecDeque<Callback>>,
    remote: Arc<FakeRemote>,
}

#[derive(Default)]
struct FakeRemote {
    queue: Mutex<Vec<SendCallback>>,
}

impl RemoteSchedule for FakeRemote {
    fn schedule_remote(
        &self,
        cb: SendCallback,
        _: &'static std::panic::Location<'static>,
    ) -> Result<(), SendCallback> {
        self.queue.lock().unwrap().push(cb);
        Ok(())
    }
}

impl Schedule for FakeLoop {
    fn schedule(&self, cb: Callback, _: &'static std::panic::Location<'static>) {
        self.queue.borrow_mut().push_back(cb);
    }
    fn remote(&self) -> Arc<dyn RemoteSchedule> {
        self.remote.clone()
    }
}

impl FakeLoop {
    fn install() -> Rc<FakeLoop> {
        let l = Rc::new(FakeLoop {
            queue: RefCell::new(VecDeque::new()),
            remote: Arc::default(),
        });
        schedule::set_current(Some(l.clone()));
        l
    }
    /// Runs what was queued before this call; returns how many ran.
    fn turn(&self) -> usize {
        let remote: Vec<_> = std::mem::take(&mut *self.remote.queue.lock().unwrap());
        for cb in remote {
            self.queue.borrow_mut().push_back(cb);
        }
        let n = self.queue.borrow().len();
        for _ in 0..n {
            let cb = self.queue.borrow_mut().pop_front().unwrap();
            cb();
        }
        n
    }
}

#[test]
fn callbacks_are_scheduled_not_inline() {
    let l = FakeLoop::install();
    let f = Future::new();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    f.add_done_callback(move |f| h.set(h.get() + f.result().unwrap()));
    f.set_result(5).unwrap();
    assert_eq!(hits.get(), 0, "must not run inline");
    assert_eq!(l.turn(), 1);
    assert_eq!(hits.get(), 5);
    // Added after done: still scheduled, not inline.
    let h = hits.clone();
    f.add_done_callback(move |_| h.set(h.get() + 1));
    assert_eq!(hits.get(), 5);
    l.turn();
    assert_eq!(hits.get(), 6);
}

#[test]
fn set_twice_is_an_error_and_cancel_rules() {
    let _l = FakeLoop::install();
    let f: Future<i32> = Future::new();
    assert!(f.cancel());
    assert!(f.cancelled());
    assert!(f.exception().unwrap().is_cancelled());
    assert!(f.set_result(1).is_err());
    assert!(!f.cancel(), "cancelling a done future does nothing");
    let g = Future::resolved(1);
    assert!(!g.cancel());
    assert!(!g.cancelled());
}

#[test]
fn result_states() {
    let _l = FakeLoop::install();
    let f: Future<String> = Future::new();
    assert!(f.result().unwrap_err().is::<InvalidStateError>());
    assert!(f.exception().is_none());
    f.set_result("x".into()).unwrap();
    assert_eq!(f.result().unwrap(), "x");
    assert_eq!(f.take_result().unwrap(), "x");
    assert!(f.take_result().unwrap_err().is::<InvalidStateError>());
    let e: Future<u8> = Future::failed(Error::msg("bad"));
    assert_eq!(e.take_result().unwrap_err().to_string(), "bad");
    assert_eq!(
        e.exception().unwrap().to_string(),
        "bad",
        "errors stay readable"
    );
}

#[test]
fn await_through_a_waker() {
    use std::task::{Context, Poll, Wake, Waker};
    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let _l = FakeLoop::install();
    let flag = Arc::new(Flag(false.into()));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let f: Future<u8> = Future::new();
    let mut awaiting = std::pin::pin!(f.clone());
    assert!(awaiting.as_mut().poll(&mut cx).is_pending());
    f.set_result(9).unwrap();
    assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
    assert!(matches!(
        awaiting.as_mut().poll(&mut cx),
        Poll::Ready(Ok(9))
    ));
}

#[test]
fn chain_and_unless_cancelled() {
    let l = FakeLoop::install();
    let a = Future::new();
    let b = Future::new();
    chain_future(&a, &b);
    a.set_result(3).unwrap();
    l.turn();
    assert_eq!(b.result().unwrap(), 3);

    let a: Future<i32> = Future::new();
    let b = Future::new();
    chain_future(&a, &b);
    b.cancel();
    a.set_exception(Error::msg("late")).unwrap();
    l.turn();
    assert!(b.cancelled());

    let c: Future<i32> = Future::new();
    c.cancel();
    future_set_result_unless_cancelled(&c, 1);
    future_set_exception_unless_cancelled(&c, Error::msg("x"));
    assert!(c.cancelled());
}

#[test]
fn remote_setter_resolves_on_the_owner_thread() {
    let l = FakeLoop::install();
    let f: Future<u64> = Future::new();
    let setter = f.remote_setter().unwrap();
    std::thread::spawn(move || setter.set_result(77))
        .join()
        .unwrap();
    assert!(!f.done(), "the value travels through the loop's queue");
    l.turn();
    assert_eq!(f.result().unwrap(), 77);

    let g: Future<u64> = Future::new();
    let setter = g.remote_setter().unwrap();
    std::thread::spawn(move || drop(setter)).join().unwrap();
    l.turn();
    assert!(g.exception().unwrap().is::<SetterDropped>());
}

#[test]
fn multiple_callbacks_each_scheduled() {
    let l = FakeLoop::install();
    let f = Future::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let o = order.clone();
        f.add_done_callback(move |_| o.borrow_mut().push(i));
    }
    f.set_result(()).unwrap();
    assert_eq!(l.turn(), 3);
    assert_eq!(*order.borrow(), vec![0, 1, 2]);
}

#[test]
fn interest_in_a_pending_future() {
    let l = FakeLoop::install();
    let f: Future<u8> = Future::new();
    assert_eq!(f.handle_count(), 1);
    assert!(!f.has_done_callbacks());
    let g = f.clone();
    assert_eq!(f.handle_count(), 2);
    drop(g);
    // A callback receives the future when called: it holds no handle.
    f.add_done_callback(|_| {});
    assert_eq!(f.handle_count(), 1);
    assert!(f.has_done_callbacks());
    f.set_result(1).unwrap();
    assert!(!f.has_done_callbacks(), "scheduled, no longer waiting");
    l.turn();
}
