//! The runner for Rust `async` code: compiler-made state machines.
//!
//! Each coroutine is a task in a thread-local table. Its waker is
//! thread-safe: woken on the loop's own thread it queues a resume callback
//! on the current loop; woken from another thread it sends that callback
//! through the loop's remote queue. A task is resumed at most once per wake
//! (the `scheduled` flag), and never inline from `wake`.
//!
//! Before each resume the task checks whether anybody still wants its
//! result: if the result future was cancelled or set by someone else, or if
//! every handle to it was dropped, the state machine is dropped instead of
//! polled, releasing whatever it holds. When the loop a task was started on
//! closes, the task is dropped too: nothing can resume it any more.

use std::cell::RefCell;
use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;
use tornado_concurrent::schedule::{self, RemoteSchedule};
use tornado_concurrent::{Error, Future};

/// Something the table can resume.
trait Resume {
    /// Polls once (or drops the state machine if abandoned). Returns true
    /// when the task is finished and must leave the table.
    fn resume(&self) -> bool;
}

/// One table entry.
struct Slot {
    /// Distinguishes this task from a later one reusing the slab key.
    id: u64,
    /// The loop it was started on (`schedule::loop_identity`; 0: none).
    home: usize,
    task: Rc<dyn Resume>,
}

/// The tasks of this thread.
#[derive(Default)]
struct Table {
    slots: Slab<Slot>,
    next_id: u64,
}

thread_local! {
    static TASKS: RefCell<Table> = RefCell::new(Table::default());
    /// Its address identifies the thread, cheaper than `thread::current()`.
    static THREAD_MARK: u8 = const { 0 };
}

fn thread_mark() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// The `Send + Sync` half of a task: enough to find it again.
struct TaskWaker {
    /// Slab key in the owner thread's table.
    key: usize,
    /// The task's id, checked on resume.
    id: u64,
    /// The owner thread's mark.
    owner: usize,
    /// True from a wake until the resume starts.
    scheduled: AtomicBool,
    /// The owner loop's remote queue, for wakes from other threads.
    remote: Option<Arc<dyn RemoteSchedule>>,
    /// Where the coroutine was started: what the loop names if resuming it
    /// blocks (or, for a detached one, fails).
    location: &'static Location<'static>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let (key, id) = (self.key, self.id);
        if thread_mark() == self.owner {
            schedule::schedule_call_at(resume, key, id, self.location);
        } else if let Some(remote) = &self.remote {
            if remote
                .schedule_remote(Box::new(move || resume(key, id)), self.location)
                .is_err()
            {
                log::debug!(target: "tornado.general", "coroutine woken after its IOLoop closed");
            }
        }
    }
}

/// Runs on the owner thread: resumes the task `key` if it is still `id`.
fn resume(key: usize, id: u64) {
    let task = TASKS.with(|t| {
        let t = t.borrow();
        t.slots
            .get(key)
            .filter(|s| s.id == id)
            .map(|s| s.task.clone())
    });
    let Some(task) = task else { return };
    if task.resume() {
        let finished = TASKS.with(|t| {
            let mut t = t.borrow_mut();
            match t.slots.get(key) {
                Some(s) if s.id == id => Some(t.slots.remove(key)),
                _ => None,
            }
        });
        // Dropped outside the table's borrow: the state machine's captures
        // may run arbitrary code (even start coroutines) when dropped.
        drop(finished);
    }
}

/// A coroutine: its state machine and where its result goes.
struct Task<F, T> {
    /// `None` once finished or abandoned.
    future: RefCell<Option<Pin<Box<F>>>>,
    /// The coroutine's result; `None` for a detached (`spawn`ed) coroutine,
    /// whose result nobody can hold: it runs to its end, errors logged.
    result: Option<Future<T>>,
    /// This task's waker.
    waker: Waker,
    /// Its shared half, to clear `scheduled`.
    shared: Arc<TaskWaker>,
}

impl<F, T> Task<F, T>
where
    F: StdFuture<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    /// Nobody can observe the result any more: cancelled, set by someone
    /// else, or (for attached tasks) every other handle dropped with no
    /// done-callback left to receive it.
    fn abandoned(&self) -> bool {
        self.result
            .as_ref()
            .is_some_and(|r| r.done() || !r.is_wanted_elsewhere())
    }
}

impl<F, T> Resume for Task<F, T>
where
    F: StdFuture<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    fn resume(&self) -> bool {
        self.shared.scheduled.store(false, Ordering::Release);
        let mut slot = self.future.borrow_mut();
        let Some(fut) = slot.as_mut() else {
            return true;
        };
        let outcome = if self.abandoned() {
            None
        } else {
            let mut cx = Context::from_waker(&self.waker);
            match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
                Ok(Poll::Pending) => return false,
                Ok(Poll::Ready(value)) => Some(value),
                Err(payload) => Some(Err(Error::from_panic(&*payload))),
            }
        };
        // Finished, failed or abandoned: drop the state machine first (it
        // releases what it holds), outside the borrow, then publish.
        let state_machine = slot.take();
        drop(slot);
        drop(state_machine);
        match outcome {
            Some(Ok(v)) => {
                if let Some(r) = &self.result {
                    let _ = r.set_result(v);
                }
            }
            Some(Err(e)) => match &self.result {
                Some(r) => {
                    let _ = r.set_exception(e);
                }
                None if !e.is_cancelled() => {
                    log::error!(
                        target: "tornado.application",
                        "Exception in spawned coroutine started at {}: {e}",
                        self.shared.location
                    );
                }
                None => {}
            },
            None => {}
        }
        true
    }
}

/// Creates a task for `fut`, resolving `result` (none: detached), started
/// by the code at `location`, and runs it once now.
pub(crate) fn start<F, T>(fut: F, result: Option<Future<T>>, location: &'static Location<'static>)
where
    F: StdFuture<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    let remote = schedule::current_or_fallback().map(|s| s.remote());
    let home = remote.as_ref().map_or(0, schedule::loop_identity);
    schedule::set_close_hook(release_closed_loop);
    let (key, id) = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        let id = t.next_id;
        t.next_id += 1;
        (t.slots.vacant_key(), id)
    });
    let shared = Arc::new(TaskWaker {
        key,
        id,
        owner: thread_mark(),
        // Set while the first run happens, so that a wake during it queues
        // exactly one resume.
        scheduled: AtomicBool::new(true),
        remote,
        location,
    });
    if let Some(result) = &result {
        // Cancelled, or its last handle dropped: resume at once so that the
        // state machine is dropped now, not at its next wake-up.
        result.set_abandon_hook(move || resume(key, id));
    }
    let task: Rc<dyn Resume> = Rc::new(Task {
        future: RefCell::new(Some(Box::pin(fut))),
        result,
        waker: Waker::from(shared.clone()),
        shared,
    });
    TASKS.with(|t| {
        let inserted = t.borrow_mut().slots.insert(Slot { id, home, task });
        debug_assert_eq!(inserted, key);
    });
    resume(key, id);
}

/// The close hook: drops the tasks of the loop `home`, which just closed
/// (Tornado's coroutines are collected with their closed loop). Their state
/// machines are dropped, releasing what they hold; their futures stay
/// pending.
fn release_closed_loop(home: usize) {
    let released: Vec<Slot> = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        let keys: Vec<usize> = t
            .slots
            .iter()
            .filter(|(_, s)| s.home == home)
            .map(|(k, _)| k)
            .collect();
        keys.into_iter().map(|k| t.slots.remove(k)).collect()
    });
    if !released.is_empty() {
        log::debug!(
            target: "tornado.general",
            "{} coroutine(s) still suspended on a closed IOLoop are dropped",
            released.len()
        );
    }
    // Outside the table's borrow: dropping a state machine runs user code.
    drop(released);
}

/// Number of live coroutines on this thread (for tests and metrics).
pub fn live_coroutines() -> usize {
    TASKS.with(|t| t.borrow().slots.len())
}
