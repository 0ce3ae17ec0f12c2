//! Happy eyeballs (RFC 6555), as Tornado's `_Connector`: connect to the
//! first address family's addresses one at a time; if none has connected
//! after a short delay, or one fails, start on the other family in
//! parallel. The first connection wins; every other attempt is cancelled
//! (which closes its socket) and a late winner is closed.
//!
//! The connector is generic over what an attempt yields so that its logic
//! can be tested with plain values instead of sockets.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tornado_concurrent::{Error, Future};
use tornado_gen::TimeoutError;
use tornado_ioloop::{IOLoop, Timeout};

/// How long the first family has alone before the second one starts
/// (Tornado's `_INITIAL_CONNECT_TIMEOUT`).
pub const DEFAULT_FALLBACK_DELAY: Duration = Duration::from_millis(300);

/// Which address queue an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Primary,
    Secondary,
}

/// Starts one attempt.
type ConnectFn<S> = Box<dyn FnMut(SocketAddr) -> Future<S>>;

/// The connector's state, shared with its timers and attempt callbacks.
struct State<S: 'static> {
    /// The winner with its address, or the last error, or a timeout.
    result: Future<(SocketAddr, S)>,
    /// Not yet tried addresses of the first address's family, in order.
    primary: VecDeque<SocketAddr>,
    /// Not yet tried addresses of the other families, in order.
    secondary: VecDeque<SocketAddr>,
    /// Addresses whose attempt has not finished (started or not); when it
    /// reaches zero with no winner, the connector fails.
    remaining: usize,
    /// Attempts in flight, with their address; cancelled once decided.
    pending: Vec<(SocketAddr, Future<S>)>,
    /// The most recent attempt error: what the connector fails with.
    last_error: Option<Error>,
    /// Armed while the secondary family waits for its turn.
    fallback: Option<Timeout>,
    /// Armed while an overall deadline is pending.
    deadline: Option<Timeout>,
    /// Starts an attempt; called once per address at most.
    connect: ConnectFn<S>,
    /// Disposes of an attempt that succeeded after the outcome was decided.
    close: fn(S),
    /// The loop the timers are on (the one current at start).
    ioloop: IOLoop,
}

/// One happy-eyeballs run; see the module docs.
pub(crate) struct Connector<S: 'static> {
    state: Rc<RefCell<State<S>>>,
}

impl<S: 'static> Clone for Connector<S> {
    fn clone(&self) -> Self {
        Connector {
            state: self.state.clone(),
        }
    }
}

/// Splits `addrs` into the first address's family and the rest, keeping
/// the order within each.
pub(crate) fn split(addrs: &[SocketAddr]) -> (VecDeque<SocketAddr>, VecDeque<SocketAddr>) {
    let Some(first) = addrs.first() else {
        return Default::default();
    };
    addrs.iter().partition(|a| a.is_ipv4() == first.is_ipv4())
}

impl<S: 'static> Connector<S> {
    /// Starts connecting to `addrs` with `connect`, and returns the
    /// connector (for tests to poke at) and its outcome. `deadline` fails
    /// the whole run with `TimeoutError` and cancels what is in flight.
    pub(crate) fn start(
        addrs: &[SocketAddr],
        fallback_delay: Duration,
        deadline: Option<Duration>,
        connect: impl FnMut(SocketAddr) -> Future<S> + 'static,
        close: fn(S),
    ) -> (Connector<S>, Future<(SocketAddr, S)>) {
        let (primary, secondary) = split(addrs);
        let ioloop = IOLoop::current();
        let result = Future::new();
        let me = Connector {
            state: Rc::new(RefCell::new(State {
                result: result.clone(),
                primary,
                secondary,
                remaining: addrs.len(),
                pending: Vec::new(),
                last_error: None,
                fallback: None,
                deadline: None,
                connect: Box::new(connect),
                close,
                ioloop: ioloop.clone(),
            })),
        };
        if addrs.is_empty() {
            let _ = result.set_exception(io::Error::new(
                io::ErrorKind::NotFound,
                "no address to connect to",
            ));
            return (me, result);
        }
        me.try_next(Queue::Primary);
        let c = me.clone();
        let t = ioloop.call_later(fallback_delay, move || c.on_fallback());
        me.state.borrow_mut().fallback = Some(t);
        if let Some(d) = deadline {
            let c = me.clone();
            let t = ioloop.call_later(d, move || c.on_deadline(d));
            me.state.borrow_mut().deadline = Some(t);
        }
        (me, result)
    }

    /// Starts an attempt on the next address of `queue`; with the queue
    /// empty, fails the run if nothing else is left either.
    fn try_next(&self, queue: Queue) {
        let mut st = self.state.borrow_mut();
        let next = match queue {
            Queue::Primary => st.primary.pop_front(),
            Queue::Secondary => st.secondary.pop_front(),
        };
        let Some(addr) = next else {
            if st.remaining == 0 && !st.result.done() {
                let e = st
                    .last_error
                    .take()
                    .unwrap_or_else(|| io::Error::other("connection failed").into());
                let result = st.result.clone();
                drop(st);
                self.finish();
                let _ = result.set_exception(e);
            }
            return;
        };
        let attempt = (st.connect)(addr);
        st.pending.push((addr, attempt.clone()));
        drop(st);
        let me = self.clone();
        attempt.add_done_callback(move |f| me.on_attempt_done(queue, addr, f));
    }

    /// Tornado's `on_connect_done`.
    fn on_attempt_done(&self, queue: Queue, addr: SocketAddr, attempt: Future<S>) {
        let mut st = self.state.borrow_mut();
        st.remaining -= 1;
        st.pending.retain(|(a, _)| *a != addr);
        match attempt.take_result() {
            Err(e) => {
                if st.result.done() {
                    return;
                }
                st.last_error = Some(e);
                let fallback = st.fallback.take();
                let ioloop = st.ioloop.clone();
                drop(st);
                self.try_next(queue);
                // A failure means no reason to wait before trying the
                // other family.
                if let Some(t) = fallback {
                    ioloop.remove_timeout(t);
                    self.on_fallback();
                }
            }
            Ok(stream) => {
                if st.result.done() {
                    let close = st.close;
                    drop(st);
                    close(stream);
                    return;
                }
                let result = st.result.clone();
                drop(st);
                self.finish();
                let _ = result.set_result((addr, stream));
            }
        }
    }

    /// The fallback delay passed: start on the secondary family.
    pub(crate) fn on_fallback(&self) {
        let decided = {
            let mut st = self.state.borrow_mut();
            st.fallback = None;
            st.result.done()
        };
        if !decided {
            self.try_next(Queue::Secondary);
        }
    }

    /// The overall deadline passed.
    pub(crate) fn on_deadline(&self, after: Duration) {
        let result = {
            let mut st = self.state.borrow_mut();
            st.deadline = None;
            st.result.clone()
        };
        self.finish();
        if !result.done() {
            let _ = result.set_exception(TimeoutError(after));
        }
    }

    /// The outcome is decided: disarm the timers and cancel every attempt
    /// still in flight.
    fn finish(&self) {
        let (timers, pending, ioloop) = {
            let mut st = self.state.borrow_mut();
            let timers = [st.fallback.take(), st.deadline.take()];
            (timers, std::mem::take(&mut st.pending), st.ioloop.clone())
        };
        for t in timers.into_iter().flatten() {
            ioloop.remove_timeout(t);
        }
        // Outside the borrow: a cancel schedules callbacks that come back.
        for (_, f) in pending {
            f.cancel();
        }
    }

    /// Attempts in flight (for tests).
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.state.borrow().pending.len()
    }
}

#[cfg(test)]
mod tests {
    //! Tornado's `ConnectorTest`, with plain numbers for streams: each
    //! attempt's future is kept in a table so the test decides when and how
    //! it finishes, and timers are fired by hand.
    use std::collections::BTreeMap;

    use super::*;

    const A: &str = "127.0.0.1:1";
    const B: &str = "127.0.0.1:2";
    const C: &str = "[::1]:3";
    const D: &str = "[::1]:4";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    thread_local! {
        /// Late winners closed by the connector.
        static CLOSED: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
    }

    struct Harness {
        ioloop: IOLoop,
        /// Attempts started and not yet finished by the test, by address.
        attempts: Rc<RefCell<BTreeMap<SocketAddr, Future<u16>>>>,
        /// Every attempt ever started, to see which were cancelled.
        all: Rc<RefCell<BTreeMap<SocketAddr, Future<u16>>>>,
    }

    impl Harness {
        fn new() -> Harness {
            let ioloop = IOLoop::new().unwrap();
            ioloop.make_current();
            CLOSED.with(|c| c.borrow_mut().clear());
            Harness {
                ioloop,
                attempts: Default::default(),
                all: Default::default(),
            }
        }

        fn start(&self, addrs: &[&str]) -> (Connector<u16>, Future<(SocketAddr, u16)>) {
            let addrs: Vec<SocketAddr> = addrs.iter().map(|s| addr(s)).collect();
            let (attempts, all) = (self.attempts.clone(), self.all.clone());
            // Huge timers: the tests fire them by hand.
            Connector::start(
                &addrs,
                Duration::from_secs(3600),
                Some(Duration::from_secs(3600)),
                move |a| {
                    let f = Future::new();
                    attempts.borrow_mut().insert(a, f.clone());
                    all.borrow_mut().insert(a, f.clone());
                    f
                },
                |port| CLOSED.with(|c| c.borrow_mut().push(port)),
            )
        }

        /// Runs a few loop iterations: callbacks scheduled by a finished
        /// attempt, then those they scheduled (cancellations).
        fn settle(&self) {
            let settled = || {
                tornado_gen::coroutine(async {
                    for _ in 0..3 {
                        tornado_gen::moment().await;
                    }
                    Ok(())
                })
            };
            self.ioloop.run_sync(settled, None).unwrap();
        }

        fn assert_pending(&self, expected: &[&str]) {
            let mut want: Vec<SocketAddr> = expected.iter().map(|s| addr(s)).collect();
            want.sort();
            let got: Vec<SocketAddr> = self.attempts.borrow().keys().copied().collect();
            assert_eq!(got, want);
        }

        fn finish(&self, a: &str, success: bool) {
            let f = self
                .attempts
                .borrow_mut()
                .remove(&addr(a))
                .expect("pending");
            if success {
                f.set_result(addr(a).port()).unwrap();
            } else {
                f.set_exception(io::Error::other(format!("{a} failed")))
                    .unwrap();
            }
            self.settle();
        }

        /// Forgets an attempt the connector cancelled, checking it was.
        fn take_cancelled(&self, a: &str) {
            let f = self
                .attempts
                .borrow_mut()
                .remove(&addr(a))
                .expect("pending");
            assert!(f.cancelled(), "{a} should have been cancelled");
        }

        fn cancelled(&self) -> Vec<SocketAddr> {
            let all = self.all.borrow();
            all.iter()
                .filter(|(_, f)| f.cancelled())
                .map(|(a, _)| *a)
                .collect()
        }
    }

    fn winner(f: &Future<(SocketAddr, u16)>) -> SocketAddr {
        f.take_result().unwrap().0
    }

    fn failed_with(f: &Future<(SocketAddr, u16)>) -> Error {
        assert!(f.done());
        f.exception().expect("failed")
    }

    #[test]
    fn split_by_family_of_the_first() {
        let (p, s) = split(&[addr(A), addr(C), addr(B), addr(D)]);
        assert_eq!(p, [addr(A), addr(B)]);
        assert_eq!(s, [addr(C), addr(D)]);
        let (p, s) = split(&[addr(C), addr(A)]);
        assert_eq!(p, [addr(C)]);
        assert_eq!(s, [addr(A)]);
        let (p, s) = split(&[addr(A), addr(B)]);
        assert_eq!(p.len(), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn immediate_success() {
        let h = Harness::new();
        let (_c, f) = h.start(&[A, B, C, D]);
        h.assert_pending(&[A]);
        h.finish(A, true);
        assert_eq!(winner(&f), addr(A));
        assert!(h.cancelled().is_empty());
    }

    #[test]
    fn immediate_failure_with_one_address() {
        let h = Harness::new();
        let (_c, f) = h.start(&[A]);
        h.finish(A, false);
        assert!(failed_with(&f).to_string().contains("127.0.0.1:1 failed"));
    }

    #[test]
    fn one_family_second_try() {
        let h = Harness::new();
        let (_c, f) = h.start(&[A, B]);
        h.assert_pending(&[A]);
        h.finish(A, false);
        h.assert_pending(&[B]);
        h.finish(B, true);
        assert_eq!(winner(&f), addr(B));
    }

    #[test]
    fn one_family_second_try_failure_reports_the_last_error() {
        let h = Harness::new();
        let (_c, f) = h.start(&[A, B]);
        h.finish(A, false);
        h.finish(B, false);
        assert!(failed_with(&f).to_string().contains("127.0.0.1:2 failed"));
    }

    #[test]
    fn fallback_with_one_family_does_nothing() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B]);
        c.on_fallback();
        h.assert_pending(&[A]);
        h.finish(A, false);
        h.assert_pending(&[B]);
        h.finish(B, true);
        assert_eq!(winner(&f), addr(B));
    }

    #[test]
    fn two_families_failure_starts_the_secondary_at_once() {
        let h = Harness::new();
        let (_c, f) = h.start(&[A, B, C, D]);
        h.finish(A, false);
        h.assert_pending(&[B, C]);
        h.finish(B, false);
        h.finish(C, true);
        assert_eq!(winner(&f), addr(C));
    }

    #[test]
    fn two_families_fallback_then_secondary_wins() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B, C, D]);
        c.on_fallback();
        h.assert_pending(&[A, C]);
        h.finish(C, true);
        assert_eq!(winner(&f), addr(C));
        // The loser was cancelled, and its queue is not continued.
        h.take_cancelled(A);
        h.assert_pending(&[]);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn late_success_is_closed() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B, C, D]);
        c.on_fallback();
        h.assert_pending(&[A, C]);
        // Both succeed in the same iteration: A's callback runs first.
        let fa = h.attempts.borrow_mut().remove(&addr(A)).unwrap();
        let fc = h.attempts.borrow_mut().remove(&addr(C)).unwrap();
        fa.set_result(1).unwrap();
        fc.set_result(3).unwrap();
        h.settle();
        assert_eq!(winner(&f), addr(A));
        CLOSED.with(|c| assert_eq!(*c.borrow(), vec![3]));
    }

    #[test]
    fn all_fail() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B, C, D]);
        c.on_fallback();
        h.assert_pending(&[A, C]);
        h.finish(C, false);
        h.assert_pending(&[A, D]);
        h.finish(D, false);
        h.assert_pending(&[A]);
        h.finish(A, false);
        h.assert_pending(&[B]);
        assert!(!f.done());
        h.finish(B, false);
        assert!(failed_with(&f).to_string().contains("127.0.0.1:2 failed"));
    }

    #[test]
    fn deadline_cancels_everything_and_stops_the_queue() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B]);
        c.on_deadline(Duration::from_millis(5));
        h.settle();
        h.take_cancelled(A);
        c.on_fallback();
        h.assert_pending(&[]);
        assert!(failed_with(&f).is::<TimeoutError>());
    }

    #[test]
    fn success_before_deadline_is_kept() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B]);
        h.finish(A, true);
        c.on_deadline(Duration::from_millis(5));
        h.settle();
        assert_eq!(winner(&f), addr(A));
        assert!(h.cancelled().is_empty());
        CLOSED.with(|c| assert!(c.borrow().is_empty()));
    }

    #[test]
    fn deadline_during_second_try() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B]);
        h.finish(A, false);
        h.assert_pending(&[B]);
        c.on_deadline(Duration::from_millis(5));
        h.settle();
        h.take_cancelled(B);
        assert!(failed_with(&f).is::<TimeoutError>());
    }

    #[test]
    fn failure_before_deadline_is_kept() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B]);
        h.finish(A, false);
        h.finish(B, false);
        c.on_deadline(Duration::from_millis(5));
        assert!(!failed_with(&f).is::<TimeoutError>());
    }

    #[test]
    fn deadline_with_both_families_in_flight() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B, C, D]);
        c.on_fallback();
        h.assert_pending(&[A, C]);
        c.on_deadline(Duration::from_millis(5));
        h.settle();
        h.take_cancelled(A);
        h.take_cancelled(C);
        h.assert_pending(&[]);
        assert!(failed_with(&f).is::<TimeoutError>());
    }

    #[test]
    fn primary_wins_after_fallback_and_the_secondary_is_cancelled() {
        let h = Harness::new();
        let (c, f) = h.start(&[A, B, C, D]);
        c.on_fallback();
        h.finish(A, true);
        h.take_cancelled(C);
        h.assert_pending(&[]);
        assert_eq!(winner(&f), addr(A));
    }

    #[test]
    fn no_address_fails_at_once() {
        let _h = Harness::new();
        let (_c, f) =
            Connector::<u16>::start(&[], DEFAULT_FALLBACK_DELAY, None, |_| Future::new(), |_| {});
        assert!(failed_with(&f).to_string().contains("no address"));
    }

    #[test]
    fn real_timers_fire() {
        let h = Harness::new();
        let (attempts, all) = (h.attempts.clone(), h.all.clone());
        let (_c, f) = Connector::start(
            &[addr(A), addr(C)],
            Duration::from_millis(10),
            Some(Duration::from_millis(60)),
            move |a| {
                let f = Future::new();
                attempts.borrow_mut().insert(a, f.clone());
                all.borrow_mut().insert(a, f.clone());
                f
            },
            |_| {},
        );
        let started = std::time::Instant::now();
        let f2 = f.clone();
        let e = h
            .ioloop
            .run_sync(move || f2, Some(Duration::from_secs(5)))
            .unwrap_err();
        assert!(e.to_string().contains("Timeout"), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(60));
        // The fallback started C before the deadline; both were cancelled.
        assert_eq!(h.cancelled(), vec![addr(A), addr(C)]);
    }
}
