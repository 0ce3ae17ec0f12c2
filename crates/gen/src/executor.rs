//! Running blocking work off the loop: `run_in_executor` and a thread pool.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use tornado_concurrent::{Error, Future};

/// A job for an executor.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs jobs somewhere other than the loop's thread.
pub trait Executor: Send + Sync {
    /// Runs `job` eventually, on some other thread.
    fn execute(&self, job: Job);
}

/// How long an idle pool thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// A thread pool that grows on demand up to `max_threads` and shrinks when
/// idle.
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<Pool>,
}

/// The pool's shared state.
struct Pool {
    state: Mutex<PoolState>,
    /// Signalled when a job is queued.
    work: Condvar,
    /// Upper bound on threads.
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    /// Jobs not yet picked up.
    queue: VecDeque<Job>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a job and not yet claimed by one.
    idle: usize,
    /// Wake-ups sent to idle threads and not yet received. `execute` claims
    /// an idle thread for its job at once (moving it from `idle` to here),
    /// so that a second job submitted before that thread wakes gets another
    /// thread rather than queueing behind the first.
    claimed: usize,
}

impl ThreadPool {
    /// A pool of at most `max_threads` threads (at least one).
    pub fn new(max_threads: usize) -> ThreadPool {
        ThreadPool {
            inner: Arc::new(Pool {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// The default size, as Python's `ThreadPoolExecutor`: cores + 4, at most 32.
    pub fn default_size() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores + 4).min(32)
    }

    /// Threads alive now.
    pub fn threads(&self) -> usize {
        self.inner.state.lock().threads
    }

    /// Threads waiting for work that no job has claimed yet.
    pub fn idle_threads(&self) -> usize {
        self.inner.state.lock().idle
    }
}

impl Executor for ThreadPool {
    fn execute(&self, job: Job) {
        let mut state = self.inner.state.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.claimed += 1;
            self.inner.work.notify_one();
            return;
        }
        if state.threads < self.inner.max_threads {
            let pool = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("tornado-executor".into())
                .spawn(move || worker(pool));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(e) => {
                    log::error!(target: "tornado.general", "cannot start an executor thread: {e}")
                }
            }
        }
    }
}

/// A pool thread: runs jobs until idle for `IDLE_EXIT`.
fn worker(pool: Arc<Pool>) {
    let mut state = pool.state.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            // Jobs made by `run_on` catch their own panics; this is for
            // jobs given to `execute` directly.
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                log::error!(target: "tornado.application", "a job panicked in the executor");
            }
            state = pool.state.lock();
            continue;
        }
        state.idle += 1;
        let timed_out = pool.work.wait_for(&mut state, IDLE_EXIT).timed_out();
        // Whichever thread wakes first takes a pending claim (the notified
        // one, or one that timed out meanwhile); a thread without a claim
        // leaves `idle` itself. Either way each waker leaves it exactly once.
        let was_claimed = state.claimed > 0;
        if was_claimed {
            state.claimed -= 1;
        } else {
            state.idle -= 1;
        }
        if timed_out && !was_claimed && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

/// The executor `run_in_executor` uses; `None` until first needed.
static DEFAULT: RwLock<Option<Arc<dyn Executor>>> = RwLock::new(None);

/// The default executor: a [`ThreadPool`] of [`ThreadPool::default_size`]
/// threads, unless replaced with [`set_default_executor`].
pub fn default_executor() -> Arc<dyn Executor> {
    if let Some(e) = &*DEFAULT.read() {
        return e.clone();
    }
    DEFAULT
        .write()
        .get_or_insert_with(|| Arc::new(ThreadPool::new(ThreadPool::default_size())))
        .clone()
}

/// Replaces the default executor, process-wide.
pub fn set_default_executor(executor: Arc<dyn Executor>) {
    *DEFAULT.write() = Some(executor);
}

/// Runs the blocking `work` on the default executor and returns a future of
/// its result, resolved on the current loop (Tornado's
/// `IOLoop.run_in_executor`). A panic in `work` becomes the future's error.
///
/// ```
/// use tornado_gen::{coroutine, run_in_executor};
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// let n = ioloop.run_sync(|| coroutine(async {
///     let n = run_in_executor(|| (1..=10u64).product::<u64>()).await?;
///     Ok(n)
/// }), None).unwrap();
/// assert_eq!(n, 3_628_800);
/// ```
pub fn run_in_executor<T, W>(work: W) -> Future<T>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    run_on(&*default_executor(), move || Ok(work()))
}

/// As [`run_in_executor`] for fallible work: an `Err` from `work` becomes the
/// future's error.
pub fn try_run_in_executor<T, E, W>(work: W) -> Future<T>
where
    T: Send + 'static,
    E: Into<Error>,
    W: FnOnce() -> Result<T, E> + Send + 'static,
{
    run_on(&*default_executor(), move || work().map_err(Into::into))
}

/// Runs `work` on `executor`; see [`try_run_in_executor`].
pub fn run_on<T, W>(executor: &dyn Executor, work: W) -> Future<T>
where
    T: Send + 'static,
    W: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let future = Future::new();
    let setter = match future.remote_setter() {
        Ok(s) => s,
        Err(e) => return Future::failed(e),
    };
    executor.execute(Box::new(move || {
        match catch_unwind(AssertUnwindSafe(work)) {
            Ok(Ok(v)) => setter.set_result(v),
            Ok(Err(e)) => setter.set_exception(e),
            Err(p) => setter.set_exception(Error::from_panic(&*p)),
        }
    }));
    future
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Waits until `pool` has `n` idle threads.
    fn wait_idle(pool: &ThreadPool, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle_threads() != n {
            assert!(Instant::now() < deadline, "never {n} idle threads");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn two_jobs_submitted_together_on_one_idle_thread_run_in_parallel() {
        let pool = ThreadPool::new(2);
        pool.execute(Box::new(|| {}));
        wait_idle(&pool, 1);
        for _ in 0..20 {
            // Each job waits for the other's message: run one after the
            // other, the first would give up.
            let (tx1, rx1) = mpsc::channel();
            let (tx2, rx2) = mpsc::channel();
            let (done_tx, done) = mpsc::channel();
            let d = done_tx.clone();
            pool.execute(Box::new(move || {
                tx1.send(()).unwrap();
                d.send(rx2.recv_timeout(Duration::from_secs(5)).is_ok())
                    .unwrap();
            }));
            pool.execute(Box::new(move || {
                tx2.send(()).unwrap();
                done_tx
                    .send(rx1.recv_timeout(Duration::from_secs(5)).is_ok())
                    .unwrap();
            }));
            assert!(done.recv().unwrap() && done.recv().unwrap(), "ran serially");
            assert_eq!(pool.threads(), 2);
            wait_idle(&pool, 2);
        }
    }

    #[test]
    fn a_burst_gets_a_thread_per_job_up_to_the_limit() {
        let pool = ThreadPool::new(4);
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let (started_tx, started) = mpsc::channel();
        for _ in 0..4 {
            let (rx, started_tx) = (rx.clone(), started_tx.clone());
            pool.execute(Box::new(move || {
                started_tx.send(()).unwrap();
                let _ = rx.lock().recv_timeout(Duration::from_secs(2));
            }));
        }
        for _ in 0..4 {
            started
                .recv_timeout(Duration::from_secs(5))
                .expect("every job started at once");
        }
        assert_eq!(pool.threads(), 4);
        drop(tx);
        wait_idle(&pool, 4);
    }
}
