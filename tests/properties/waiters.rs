//! Queues and locks against FIFO models on a paused virtual clock: random
//! waits (with and without timeouts), cancellations, abandoned waits
//! (every handle dropped), releases, notifications, puts and gets. Each
//! waiter is served oldest first, never after it timed out, was cancelled
//! or dropped, and a timed-out wait fails exactly when its deadline comes.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use tornado::concurrent::Future;
use tornado::r#gen::{TimeoutError, coroutine, sleep};
use tornado::ioloop::IOLoop;
use tornado::locks::{Condition, Lock, LockGuard, Semaphore, SemaphoreGuard};
use tornado::queues::Queue;
use tornado_testing::VirtualClock;

/// A loop on a paused virtual clock: time moves only by [`Env::advance`].
/// Current for the whole case (the waits' timers go to the current loop),
/// and closed at its end, so that no case sees another's loop.
struct Env {
    ioloop: IOLoop,
    clock: Rc<VirtualClock>,
}

impl Env {
    fn new() -> Env {
        let ioloop = IOLoop::new().unwrap();
        let clock = VirtualClock::install(&ioloop);
        clock.pause();
        ioloop.make_current();
        Env { ioloop, clock }
    }

    /// Virtual milliseconds since the start.
    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Moves time on by `ms` and lets the timers now due run.
    fn advance(&self, ms: u8) {
        self.clock.advance(Duration::from_millis(u64::from(ms)));
        self.ioloop
            .run_sync(
                || {
                    coroutine(async {
                        sleep(Duration::ZERO).await;
                        Ok(())
                    })
                },
                None,
            )
            .unwrap();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        IOLoop::clear_current();
        let _ = self.ioloop.close(false);
    }
}

/// What became of a wait, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Served,
    TimedOut,
    /// Cancelled or dropped by its waiter: never served.
    Gone,
}

/// A FIFO of waits: (id, deadline in virtual ms).
#[derive(Default)]
struct Line(VecDeque<(usize, Option<u64>)>);

impl Line {
    fn push(&mut self, id: usize, now: u64, timeout: Option<u8>) {
        self.0.push_back((id, timeout.map(|t| now + u64::from(t))));
    }
    fn pop(&mut self) -> Option<usize> {
        self.0.pop_front().map(|(id, _)| id)
    }
    fn remove(&mut self, id: usize) {
        self.0.retain(|&(i, _)| i != id);
    }
    /// Removes and returns the waits whose deadline is `now` or past.
    fn expire(&mut self, now: u64) -> Vec<usize> {
        let (gone, kept) = self
            .0
            .drain(..)
            .partition(|&(_, d)| d.is_some_and(|d| d <= now));
        self.0 = kept;
        gone.into_iter().map(|(id, _)| id).collect()
    }
}

fn timeout() -> impl Strategy<Value = Option<u8>> {
    proptest::option::of(1u8..30)
}

/// Checks a wait's future against its fate; a served one's value is
/// handed to `served`.
fn check<T: 'static>(
    f: &Future<T>,
    fate: Fate,
    served: impl FnOnce(T),
) -> Result<(), TestCaseError> {
    match fate {
        Fate::Waiting => prop_assert!(!f.done(), "served or failed too early"),
        Fate::Served => {
            prop_assert!(f.done(), "not served");
            served(
                f.take_result()
                    .map_err(|e| TestCaseError::fail(format!("failed: {e}")))?,
            );
        }
        Fate::TimedOut => {
            prop_assert!(f.done(), "not timed out");
            let e = f.exception().expect("a timeout error");
            prop_assert!(e.is::<TimeoutError>(), "{}", e);
        }
        Fate::Gone => {}
    }
    Ok(())
}

// ----- Semaphore and Lock ----------------------------------------------

#[derive(Debug, Clone)]
enum PermitOp {
    Acquire(Option<u8>),
    /// Drops the guard held longest... or the `n`th held.
    Release(usize),
    Cancel(usize),
    Drop(usize),
    Advance(u8),
}

fn permit_op() -> impl Strategy<Value = PermitOp> {
    prop_oneof![
        4 => timeout().prop_map(PermitOp::Acquire),
        3 => any::<usize>().prop_map(PermitOp::Release),
        1 => any::<usize>().prop_map(PermitOp::Cancel),
        1 => any::<usize>().prop_map(PermitOp::Drop),
        2 => (0u8..20).prop_map(PermitOp::Advance),
    ]
}

/// What the model needs of a semaphore or a lock.
trait Permits {
    type Guard: 'static;
    fn acquire(&self, timeout: Option<u8>) -> Future<Self::Guard>;
    fn free(&self) -> usize;
}

impl Permits for Semaphore {
    type Guard = SemaphoreGuard;
    fn acquire(&self, timeout: Option<u8>) -> Future<SemaphoreGuard> {
        match timeout {
            Some(t) => self.acquire_timeout(Duration::from_millis(u64::from(t))),
            None => Semaphore::acquire(self),
        }
    }
    fn free(&self) -> usize {
        self.value()
    }
}

impl Permits for Lock {
    type Guard = LockGuard;
    fn acquire(&self, timeout: Option<u8>) -> Future<LockGuard> {
        match timeout {
            Some(t) => self.acquire_timeout(Duration::from_millis(u64::from(t))),
            None => Lock::acquire(self),
        }
    }
    fn free(&self) -> usize {
        usize::from(!self.locked())
    }
}

fn run_permits<P: Permits>(
    env: &Env,
    p: &P,
    initial: usize,
    ops: Vec<PermitOp>,
) -> Result<(), TestCaseError> {
    let mut free = initial;
    let mut line = Line::default();
    let mut fates: Vec<Fate> = Vec::new();
    let mut futures: HashMap<usize, Future<P::Guard>> = HashMap::new();
    let mut held: Vec<P::Guard> = Vec::new();
    for op in ops {
        match op {
            PermitOp::Acquire(t) => {
                let id = fates.len();
                futures.insert(id, p.acquire(t));
                if free > 0 {
                    free -= 1;
                    fates.push(Fate::Served);
                } else {
                    fates.push(Fate::Waiting);
                    line.push(id, env.now(), t);
                }
            }
            PermitOp::Release(i) => {
                if held.is_empty() {
                    continue;
                }
                drop(held.remove(i % held.len()));
                match line.pop() {
                    Some(id) => fates[id] = Fate::Served,
                    None => free += 1,
                }
            }
            PermitOp::Cancel(i) | PermitOp::Drop(i) => {
                let Some(&(id, _)) = line.0.get(i % line.0.len().max(1)) else {
                    continue;
                };
                line.remove(id);
                fates[id] = Fate::Gone;
                let f = futures.remove(&id).unwrap();
                if matches!(op, PermitOp::Cancel(_)) {
                    f.cancel();
                }
            }
            PermitOp::Advance(ms) => {
                env.advance(ms);
                for id in line.expire(env.now()) {
                    fates[id] = Fate::TimedOut;
                }
            }
        }
        prop_assert_eq!(p.free(), free);
        let mut finished = Vec::new();
        for (&id, f) in &futures {
            check(f, fates[id], |g| held.push(g))?;
            if fates[id] != Fate::Waiting {
                finished.push(id);
            }
        }
        for id in finished {
            futures.remove(&id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn semaphore_waiters_are_served_in_order(initial in 0usize..3, ops in proptest::collection::vec(permit_op(), 1..80)) {
        let env = Env::new();
        run_permits(&env, &Semaphore::new(initial), initial, ops)?;
    }

    #[test]
    fn lock_waiters_are_served_in_order(ops in proptest::collection::vec(permit_op(), 1..80)) {
        let env = Env::new();
        run_permits(&env, &Lock::new(), 1, ops)?;
    }

    #[test]
    fn condition_notifies_the_oldest_waiters(ops in proptest::collection::vec(condition_op(), 1..80)) {
        let env = Env::new();
        let c = Condition::new();
        let mut line = Line::default();
        let mut fates: Vec<Fate> = Vec::new();
        let mut futures: HashMap<usize, Future<bool>> = HashMap::new();
        for op in ops {
            match op {
                ConditionOp::Wait(t) => {
                    let id = fates.len();
                    futures.insert(id, match t {
                        Some(t) => c.wait_timeout(Duration::from_millis(u64::from(t))),
                        None => c.wait(),
                    });
                    fates.push(Fate::Waiting);
                    line.push(id, env.now(), t);
                }
                ConditionOp::Notify(n) => {
                    c.notify(n);
                    for _ in 0..n {
                        if let Some(id) = line.pop() {
                            fates[id] = Fate::Served;
                        }
                    }
                }
                ConditionOp::NotifyAll => {
                    c.notify_all();
                    while let Some(id) = line.pop() {
                        fates[id] = Fate::Served;
                    }
                }
                ConditionOp::Cancel(i) | ConditionOp::Drop(i) => {
                    let Some(&(id, _)) = line.0.get(i % line.0.len().max(1)) else {
                        continue;
                    };
                    line.remove(id);
                    fates[id] = Fate::Gone;
                    let f = futures.remove(&id).unwrap();
                    if matches!(op, ConditionOp::Cancel(_)) {
                        f.cancel();
                    }
                }
                ConditionOp::Advance(ms) => {
                    env.advance(ms);
                    for id in line.expire(env.now()) {
                        fates[id] = Fate::Served;
                        // A condition's timeout is no error: the wait
                        // resolves to false.
                        let f = futures.remove(&id).unwrap();
                        prop_assert_eq!(f.take_result().ok(), Some(false));
                    }
                }
            }
            let mut finished = Vec::new();
            for (&id, f) in &futures {
                let mut value = None;
                check(f, fates[id], |v| value = Some(v))?;
                if fates[id] != Fate::Waiting {
                    prop_assert_eq!(value, Some(true), "a notified wait resolves to true");
                    finished.push(id);
                }
            }
            for id in finished {
                futures.remove(&id);
            }
        }
    }

    #[test]
    fn queue_matches_a_fifo_model(maxsize in 0usize..3, ops in proptest::collection::vec(queue_op(), 1..100)) {
        let env = Env::new();
        run_queue(&env, maxsize, ops)?;
    }
}

// ----- Condition --------------------------------------------------------

#[derive(Debug, Clone)]
enum ConditionOp {
    Wait(Option<u8>),
    Notify(usize),
    NotifyAll,
    Cancel(usize),
    Drop(usize),
    Advance(u8),
}

fn condition_op() -> impl Strategy<Value = ConditionOp> {
    prop_oneof![
        4 => timeout().prop_map(ConditionOp::Wait),
        2 => (0usize..3).prop_map(ConditionOp::Notify),
        1 => Just(ConditionOp::NotifyAll),
        1 => any::<usize>().prop_map(ConditionOp::Cancel),
        1 => any::<usize>().prop_map(ConditionOp::Drop),
        2 => (0u8..20).prop_map(ConditionOp::Advance),
    ]
}

// ----- Queue ------------------------------------------------------------

#[derive(Debug, Clone)]
enum QueueOp {
    PutNowait,
    Put(Option<u8>),
    GetNowait,
    Get(Option<u8>),
    TaskDone,
    Cancel(usize),
    Drop(usize),
    Advance(u8),
}

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        2 => Just(QueueOp::PutNowait),
        3 => timeout().prop_map(QueueOp::Put),
        2 => Just(QueueOp::GetNowait),
        3 => timeout().prop_map(QueueOp::Get),
        1 => Just(QueueOp::TaskDone),
        1 => any::<usize>().prop_map(QueueOp::Cancel),
        1 => any::<usize>().prop_map(QueueOp::Drop),
        2 => (0u8..20).prop_map(QueueOp::Advance),
    ]
}

/// A waiting get or put, as the test holds it.
enum Wait {
    Get(Future<u32>),
    Put(Future<()>),
}

fn run_queue(env: &Env, maxsize: usize, ops: Vec<QueueOp>) -> Result<(), TestCaseError> {
    let q: Queue<u32> = Queue::new(maxsize);
    let mut items: VecDeque<u32> = VecDeque::new();
    let mut getters = Line::default();
    // Waiting puts: their items, by id.
    let mut putters = Line::default();
    let mut put_items: HashMap<usize, u32> = HashMap::new();
    let mut unfinished = 0usize;
    let mut fates: Vec<Fate> = Vec::new();
    // What each served get must give.
    let mut expected: HashMap<usize, u32> = HashMap::new();
    let mut waits: HashMap<usize, Wait> = HashMap::new();
    let mut next_item = 0u32;
    let full = |items: &VecDeque<u32>| maxsize > 0 && items.len() >= maxsize;
    for op in ops {
        match op {
            QueueOp::PutNowait | QueueOp::Put(_) => {
                let item = next_item;
                next_item += 1;
                let id = fates.len();
                let result = match op {
                    QueueOp::Put(t) => {
                        let f = match t {
                            Some(t) => q.put_timeout(item, Duration::from_millis(u64::from(t))),
                            None => q.put(item),
                        };
                        waits.insert(id, Wait::Put(f));
                        None
                    }
                    _ => Some(q.put_nowait(item).is_ok()),
                };
                let fits = if let Some(getter) = getters.pop() {
                    fates[getter] = Fate::Served;
                    expected.insert(getter, item);
                    true
                } else if full(&items) {
                    false
                } else {
                    items.push_back(item);
                    true
                };
                if fits {
                    unfinished += 1;
                }
                if let Some(ok) = result {
                    prop_assert_eq!(ok, fits);
                }
                fates.push(if fits { Fate::Served } else { Fate::Waiting });
                if !fits && result.is_none() {
                    let t = if let QueueOp::Put(t) = op { t } else { None };
                    putters.push(id, env.now(), t);
                    put_items.insert(id, item);
                }
            }
            QueueOp::GetNowait | QueueOp::Get(_) => {
                let id = fates.len();
                let real = match op {
                    QueueOp::Get(t) => {
                        let f = match t {
                            Some(t) => q.get_timeout(Duration::from_millis(u64::from(t))),
                            None => q.get(),
                        };
                        waits.insert(id, Wait::Get(f));
                        None
                    }
                    _ => Some(q.get_nowait().ok()),
                };
                let got = if let Some(putter) = putters.pop() {
                    fates[putter] = Fate::Served;
                    items.push_back(put_items.remove(&putter).unwrap());
                    unfinished += 1;
                    items.pop_front()
                } else {
                    items.pop_front()
                };
                if let Some(real) = real {
                    prop_assert_eq!(real, got);
                }
                match got {
                    Some(v) => {
                        fates.push(Fate::Served);
                        expected.insert(id, v);
                    }
                    None => {
                        fates.push(Fate::Waiting);
                        if let QueueOp::Get(t) = op {
                            getters.push(id, env.now(), t);
                        }
                    }
                }
            }
            QueueOp::TaskDone => {
                prop_assert_eq!(q.task_done().is_ok(), unfinished > 0);
                unfinished = unfinished.saturating_sub(1);
            }
            QueueOp::Cancel(i) | QueueOp::Drop(i) => {
                let waiting: Vec<usize> = getters
                    .0
                    .iter()
                    .chain(&putters.0)
                    .map(|&(id, _)| id)
                    .collect();
                let Some(&id) = waiting.get(i % waiting.len().max(1)) else {
                    continue;
                };
                getters.remove(id);
                putters.remove(id);
                put_items.remove(&id);
                fates[id] = Fate::Gone;
                let w = waits.remove(&id).unwrap();
                if matches!(op, QueueOp::Cancel(_)) {
                    match w {
                        Wait::Get(f) => drop(f.cancel()),
                        Wait::Put(f) => drop(f.cancel()),
                    }
                }
            }
            QueueOp::Advance(ms) => {
                env.advance(ms);
                for id in getters
                    .expire(env.now())
                    .into_iter()
                    .chain(putters.expire(env.now()))
                {
                    fates[id] = Fate::TimedOut;
                    put_items.remove(&id);
                }
            }
        }
        prop_assert_eq!(q.qsize(), items.len());
        prop_assert_eq!(q.unfinished_tasks(), unfinished);
        let mut finished = Vec::new();
        for (&id, w) in &waits {
            match w {
                Wait::Get(f) => {
                    let mut value = None;
                    check(f, fates[id], |v| value = Some(v))?;
                    if fates[id] == Fate::Served {
                        prop_assert_eq!(
                            value,
                            expected.get(&id).copied(),
                            "get {} got the wrong item",
                            id
                        );
                    }
                }
                Wait::Put(f) => check(f, fates[id], |()| {})?,
            }
            if fates[id] != Fate::Waiting {
                finished.push(id);
            }
        }
        for id in finished {
            waits.remove(&id);
        }
    }
    Ok(())
}
