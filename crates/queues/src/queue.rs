//! `Queue`: producer and consumer coroutines hand items over, with an
//! optional bound, blocking `put`/`get`, and `task_done`/`join`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use tornado_concurrent::Future;
use tornado_locks::{Deadline, Event, Waiters};

use crate::errors::{QueueEmpty, QueueFull, TaskDoneError};
use crate::storage::{Fifo, Lifo, Priority, Storage};

/// What every handle of one queue shares.
struct Shared<T: 'static, S> {
    /// Items allowed at once; 0 means no limit. Fixed at creation.
    maxsize: usize,
    /// The items. Empty while a wanted getter waits; full while a wanted
    /// putter waits (each side hands over directly to the other instead).
    items: RefCell<S>,
    /// `get`s waiting for an item.
    getters: Waiters<T>,
    /// `put`s waiting for room, each with its item.
    putters: Waiters<(), T>,
    /// Items put and not yet matched by `task_done`.
    unfinished: Cell<usize>,
    /// Set exactly while `unfinished` is zero; `join` waits on it.
    finished: Event,
}

/// A queue that coordinates producer and consumer coroutines (Tornado's
/// `queues.Queue`).
///
/// `maxsize` 0 means unbounded; otherwise [`put`](Queue::put) waits while
/// the queue is full. [`get`](Queue::get) waits while it is empty. Waiting
/// getters and putters are served oldest first, and one that timed out, was
/// cancelled or was dropped is skipped (an item is never handed to it). Each
/// item put counts as a task until a consumer calls
/// [`task_done`](Queue::task_done); [`join`](Queue::join) waits until none
/// is left. Single-threaded like the loop; a clone is another handle to the
/// same queue. The store `S` decides the order: see [`PriorityQueue`] and
/// [`LifoQueue`].
///
/// To give up a wait, cancel or drop the future `get` or `put` returned, or
/// use a timeout. A consumer *coroutine* dropped while it waits in `get`
/// keeps its place until the runner next resumes it (and then drops it),
/// so an item handed to it meanwhile is dropped with it.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use tornado_gen::{coroutine, sleep, spawn};
/// use tornado_ioloop::IOLoop;
/// use tornado_queues::Queue;
///
/// let q: Queue<u32> = Queue::new(2);
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (qc, lc) = (q.clone(), log.clone());
/// let consumer = async move {
///     loop {
///         let item = qc.get().await?;
///         lc.borrow_mut().push(format!("Doing work on {item}"));
///         sleep(Duration::from_millis(2)).await;
///         qc.task_done()?;
///     }
/// };
/// let (qp, lp) = (q.clone(), log.clone());
/// let ioloop = IOLoop::new().unwrap();
/// ioloop.run_sync(move || {
///     // Like Tornado's `spawn_callback`: the consumer starts next iteration.
///     IOLoop::current().add_callback(move || spawn::<(), _>(consumer));
///     coroutine(async move {
///         for item in 0..5 {
///             qp.put(item).await?;
///             lp.borrow_mut().push(format!("Put {item}"));
///         }
///         qp.join().await?; // every item got its task_done
///         lp.borrow_mut().push("Done".into());
///         Ok(())
///     })
/// }, None).unwrap();
/// assert_eq!(*log.borrow(), [
///     "Put 0", "Put 1", "Doing work on 0", "Put 2", "Doing work on 1", "Put 3",
///     "Doing work on 2", "Put 4", "Doing work on 3", "Doing work on 4", "Done",
/// ]);
/// ```
pub struct Queue<T: 'static, S: Storage<T> = Fifo<T>> {
    /// Shared by the clones.
    shared: Rc<Shared<T, S>>,
}

/// A [`Queue`] that returns the lowest item first (Tornado's
/// `PriorityQueue`); items are typically `(priority, data)` tuples.
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_queues::PriorityQueue;
///
/// let _ioloop = IOLoop::new().unwrap();
/// let q = PriorityQueue::new(0);
/// q.put_nowait((1, "medium-priority item")).unwrap();
/// q.put_nowait((0, "high-priority item")).unwrap();
/// q.put_nowait((10, "low-priority item")).unwrap();
/// assert_eq!(q.get_nowait().unwrap(), (0, "high-priority item"));
/// assert_eq!(q.get_nowait().unwrap(), (1, "medium-priority item"));
/// assert_eq!(q.get_nowait().unwrap(), (10, "low-priority item"));
/// ```
pub type PriorityQueue<T> = Queue<T, Priority<T>>;

/// A [`Queue`] that returns the most recently put item first (Tornado's
/// `LifoQueue`).
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_queues::LifoQueue;
///
/// let _ioloop = IOLoop::new().unwrap();
/// let q = LifoQueue::new(0);
/// for i in [3, 2, 1] {
///     q.put_nowait(i).unwrap();
/// }
/// let out: Vec<i32> = (0..3).map(|_| q.get_nowait().unwrap()).collect();
/// assert_eq!(out, [1, 2, 3]);
/// ```
pub type LifoQueue<T> = Queue<T, Lifo<T>>;

impl<T: 'static, S: Storage<T>> Clone for Queue<T, S> {
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
        }
    }
}

impl<T: 'static, S: Storage<T>> Default for Queue<T, S> {
    /// An unbounded queue.
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T: 'static, S: Storage<T>> Queue<T, S> {
    /// A queue holding at most `maxsize` items; 0 for no limit. (For the
    /// FIFO default, name the item type: `Queue::<u32>::new(0)` or
    /// `let q: Queue<u32> = Queue::new(0)`.)
    pub fn new(maxsize: usize) -> Self {
        let finished = Event::new();
        finished.set();
        Queue {
            shared: Rc::new(Shared {
                maxsize,
                items: RefCell::new(S::default()),
                getters: Waiters::new(),
                putters: Waiters::new(),
                unfinished: Cell::new(0),
                finished,
            }),
        }
    }

    /// The most items the queue holds at once; 0 for no limit.
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize
    }

    /// The number of items in the queue.
    pub fn qsize(&self) -> usize {
        self.shared.items.borrow().len()
    }

    /// True if the queue holds no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True if the queue is bounded and holds `maxsize` items.
    pub fn full(&self) -> bool {
        self.shared.maxsize > 0 && self.qsize() >= self.shared.maxsize
    }

    /// Puts `item` in the queue, waiting for room if it is full. The future
    /// resolves once the item is in (at once if there was room).
    pub fn put(&self, item: T) -> Future<()> {
        self.put_until(item, None)
    }

    /// As [`put`](Queue::put), failing with
    /// [`TimeoutError`](tornado_locks::TimeoutError) if there was no room by
    /// `deadline`; the item is then dropped, never put. A deadline already
    /// passed fails at once unless there is room now.
    pub fn put_timeout(&self, item: T, deadline: impl Into<Deadline>) -> Future<()> {
        self.put_until(item, Some(deadline.into()))
    }

    fn put_until(&self, item: T, deadline: Option<Deadline>) -> Future<()> {
        match self.put_nowait(item) {
            Ok(()) => Future::resolved(()),
            Err(QueueFull(item)) => self.shared.putters.push(item, deadline),
        }
    }

    /// Puts `item` in the queue if there is room now; else returns it in a
    /// [`QueueFull`]. A getter waiting for an item gets it directly (its
    /// coroutine resumes on the loop's next iteration).
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        let shared = &*self.shared;
        if let Some((getter, ())) = shared.getters.pop() {
            // A getter waits only while the queue is empty: hand it over.
            self.count_task();
            let _ = getter.set_result(item);
            return Ok(());
        }
        if self.full() {
            return Err(QueueFull(item));
        }
        self.count_task();
        shared.items.borrow_mut().push(item);
        Ok(())
    }

    /// Removes and returns an item, waiting for one if the queue is empty.
    pub fn get(&self) -> Future<T> {
        self.get_until(None)
    }

    /// As [`get`](Queue::get), failing with
    /// [`TimeoutError`](tornado_locks::TimeoutError) if no item came by
    /// `deadline`. A deadline already passed fails at once unless an item is
    /// there now.
    pub fn get_timeout(&self, deadline: impl Into<Deadline>) -> Future<T> {
        self.get_until(Some(deadline.into()))
    }

    fn get_until(&self, deadline: Option<Deadline>) -> Future<T> {
        match self.get_nowait() {
            Ok(item) => Future::resolved(item),
            Err(QueueEmpty) => self.shared.getters.push((), deadline),
        }
    }

    /// Removes and returns an item if there is one now; else [`QueueEmpty`].
    /// The oldest putter waiting for room, if any, gets its item in.
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let shared = &*self.shared;
        if let Some((putter, item)) = shared.putters.pop() {
            // A putter waits only while the queue is full: its item takes
            // the place of the one leaving (in the store's order).
            self.count_task();
            let out = {
                let mut items = shared.items.borrow_mut();
                items.push(item);
                items.pop()
            };
            let _ = putter.set_result(());
            return out.ok_or(QueueEmpty);
        }
        let out = shared.items.borrow_mut().pop();
        out.ok_or(QueueEmpty)
    }

    /// Marks one task (one item got earlier) as processed. When every item
    /// put has been marked, [`join`](Queue::join) returns. More calls than
    /// items put is a [`TaskDoneError`].
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let shared = &*self.shared;
        let n = shared.unfinished.get();
        if n == 0 {
            return Err(TaskDoneError);
        }
        shared.unfinished.set(n - 1);
        if n == 1 {
            shared.finished.set();
        }
        Ok(())
    }

    /// The number of items put and not yet marked with `task_done`.
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.unfinished.get()
    }

    /// Resolves once every item put so far has been marked with
    /// [`task_done`](Queue::task_done) (at once if none is pending).
    pub fn join(&self) -> Future<()> {
        self.shared.finished.wait()
    }

    /// As [`join`](Queue::join), failing with
    /// [`TimeoutError`](tornado_locks::TimeoutError) after `deadline`.
    pub fn join_timeout(&self, deadline: impl Into<Deadline>) -> Future<()> {
        self.shared.finished.wait_timeout(deadline)
    }

    /// One more item counts as a task until its `task_done`.
    fn count_task(&self) {
        let shared = &*self.shared;
        shared.unfinished.set(shared.unfinished.get() + 1);
        shared.finished.clear();
    }
}

impl<T: 'static, S: Storage<T>> fmt::Debug for Queue<T, S> {
    /// Tornado's `str(queue)`: `<Queue maxsize=1 getters[1] tasks=2>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        write!(f, "<{} maxsize={}", S::NAME, shared.maxsize)?;
        let size = self.qsize();
        if size > 0 {
            write!(f, " qsize={size}")?;
        }
        let getters = shared.getters.len();
        if getters > 0 {
            write!(f, " getters[{getters}]")?;
        }
        let putters = shared.putters.len();
        if putters > 0 {
            write!(f, " putters[{putters}]")?;
        }
        let tasks = shared.unfinished.get();
        if tasks > 0 {
            write!(f, " tasks={tasks}")?;
        }
        write!(f, ">")
    }
}

#[cfg(test)]
mod tests {
    use tornado_ioloop::IOLoop;

    use super::*;

    #[test]
    fn debug_like_tornado() {
        let _l = IOLoop::new().unwrap();
        let q: Queue<()> = Queue::new(1);
        let g = q.get();
        assert_eq!(format!("{q:?}"), "<Queue maxsize=1 getters[1]>");
        let p = (q.put(()), q.put(()), q.put(()));
        assert!(g.done() && p.0.done() && p.1.done() && !p.2.done());
        assert_eq!(
            format!("{q:?}"),
            "<Queue maxsize=1 qsize=1 putters[1] tasks=2>"
        );
        assert_eq!(
            format!("{:?}", PriorityQueue::<u8>::new(0)),
            "<PriorityQueue maxsize=0>"
        );
    }

    #[test]
    fn fifo_order_and_nowait_errors() {
        let _l = IOLoop::new().unwrap();
        let q = Queue::<u8>::new(2);
        assert!(q.empty() && !q.full());
        assert_eq!(q.get_nowait(), Err(QueueEmpty));
        q.put_nowait(1).unwrap();
        q.put_nowait(3).unwrap();
        assert!(q.full());
        assert_eq!(q.put_nowait(2).unwrap_err().into_inner(), 2);
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(3));
        assert_eq!(q.unfinished_tasks(), 2);
        q.task_done().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError));
        assert!(q.join().done());
    }
}
