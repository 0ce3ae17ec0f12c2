//! The event-loop core against tokio's `current_thread` runtime, scenario by
//! scenario, in one run:
//!
//!     cargo run --release -p tornado-bench --bin loop_bench [--reps N] [SCENARIO...]
//!
//! Throughput scenarios report the median (and the best) ns/op of `--reps`
//! runs after one warm-up run; latency scenarios report percentiles over all
//! their samples. See bench/README.md for pinning and backends.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, LocalSet};
use tokio_util::time::DelayQueue;
use tornado_concurrent::Future as TornadoFuture;
use tornado_ioloop::{IOLoop, Metrics};

/// Callbacks (or tasks) queued per batch in the throughput scenarios: both
/// sides hand the loop one batch, let it run, and queue the next, so neither
/// side's queue grows to a million entries.
const BATCH: usize = 1024;

const CALLBACKS: usize = 1_000_000;
const TIMEOUTS: usize = 1_000_000;
const FIRED: usize = 100_000;
const FUTURES: usize = 1_000_000;
const WAKE_SAMPLES: usize = 10_000;
/// Scenario 5 alternates ours and tokio's in rounds, so that drift in the
/// machine's load (it is shared) hits both sides alike.
const WAKE_ROUNDS: usize = 5;
/// Samples discarded at the start of each round.
const WAKE_WARMUP: usize = 50;
/// The sender's sleep before each sample, long enough for the loop to be
/// back asleep in its poll.
const WAKE_GAP: Duration = Duration::from_micros(200);
const PRECISION_SAMPLES: usize = 200;

thread_local! {
    /// Work items that ran on this thread (the loop's or the runtime's).
    static HITS: Cell<usize> = const { Cell::new(0) };
    /// When the last fired timeout ran (scenario 3, ours).
    static END: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Told when the last fired timeout ran (scenario 3, tokio).
    static DONE: RefCell<Option<oneshot::Sender<Instant>>> = const { RefCell::new(None) };
    /// Latency samples in ns, recorded on the loop's thread.
    static SAMPLES: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

fn hit() -> usize {
    HITS.with(|h| {
        let v = h.get() + 1;
        h.set(v);
        v
    })
}

fn reset_hits() {
    HITS.with(|h| h.set(0));
}

fn hits() -> usize {
    HITS.with(Cell::get)
}

fn record(ns: i64) {
    SAMPLES.with(|s| s.borrow_mut().push(ns));
}

fn take_samples() -> Vec<i64> {
    SAMPLES.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn per_op(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// `a - b` in ns, negative if `a` is earlier.
fn signed_ns(a: Instant, b: Instant) -> i64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_nanos() as i64,
        None => -((b - a).as_nanos() as i64),
    }
}

fn spin_until(t: Instant) {
    while Instant::now() < t {
        std::hint::spin_loop();
    }
}

/// A cheap deterministic generator, the same sequence for both sides.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A timeout delay between 1 s and 61 s, in µs steps: far enough out that
/// none fires during scenario 2, spread so that our heap and tokio's wheel
/// both see unordered deadlines.
fn far_delay(rng: &mut Lcg) -> Duration {
    Duration::from_micros(1_000_000 + rng.next() % 60_000_000)
}

/// Scenario 2's delays: random (`far_delay`), or all the same, the common
/// case of a server's per-connection timeouts (deadlines then come in order).
fn timeout_delay(rng: &mut Lcg, same: bool) -> Duration {
    if same {
        Duration::from_secs(30)
    } else {
        far_delay(rng)
    }
}

// ----- loops and runtimes ---------------------------------------------------

fn new_loop() -> IOLoop {
    IOLoop::new().expect("cannot create an IOLoop (check TORNADO_IOLOOP_BACKEND)")
}

/// Closes the loop (so that it stops being current) and returns its counters.
fn finish(l: IOLoop) -> Metrics {
    let m = l.metrics();
    l.close(false).expect("close");
    m
}

/// Runs `f` inside a callback of a running loop and returns its result.
fn on_loop<R: 'static>(f: impl FnOnce(&IOLoop) -> R + 'static) -> R {
    let l = new_loop();
    let out = Rc::new(RefCell::new(None));
    let (o, l2) = (out.clone(), l.clone());
    l.add_callback(move || {
        *o.borrow_mut() = Some(f(&l2));
        l2.stop();
    });
    l.start().expect("start");
    finish(l);
    out.borrow_mut().take().expect("the callback ran")
}

/// `enable_all` with the "net" feature: tokio parks in epoll_wait and is
/// woken through an eventfd, as our loop is.
fn tokio_rt() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// How tokio runs the per-item tasks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `LocalSet` + `spawn_local`: the natural home of `!Send` work, which is
    /// what our callbacks are (they may capture `Rc`s).
    Local,
    /// Plain `tokio::spawn` onto the current_thread runtime: tasks must be
    /// `Send`, but skip the LocalSet layer; tokio's fastest single-thread path.
    Spawn,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Local => "spawn_local",
            Flavor::Spawn => "spawn",
        }
    }
}

/// A fresh runtime running `f` to completion on this thread.
fn tk_run<F: std::future::Future>(flavor: Flavor, f: F) -> F::Output {
    let rt = tokio_rt();
    match flavor {
        Flavor::Local => LocalSet::new().block_on(&rt, f),
        Flavor::Spawn => rt.block_on(f),
    }
}

#[inline]
fn tk_spawn<F>(flavor: Flavor, f: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    match flavor {
        Flavor::Local => tokio::task::spawn_local(f),
        Flavor::Spawn => tokio::spawn(f),
    }
}

/// Waits until every task spawned before it has been polled: both task
/// queues are FIFO, so once a marker spawned last has run, so have they.
async fn tk_barrier(flavor: Flavor) {
    tk_spawn(flavor, async {}).await.expect("marker task");
}

// ----- 1. schedule + run callbacks -----------------------------------------

/// Ours: a driver callback queues a batch of callbacks and then itself; they
/// all run on the next iteration. Each callback captures a word, so it costs
/// one small allocation, like a tokio task's.
fn ours_callbacks(n: usize) -> (f64, Metrics) {
    fn drive(l: IOLoop, left: usize) {
        if left == 0 {
            l.stop();
            return;
        }
        let batch = left.min(BATCH);
        for i in 0..batch {
            l.add_callback(move || {
                black_box(i);
                hit();
            });
        }
        let next = l.clone();
        l.add_callback(move || drive(next, left - batch));
    }
    reset_hits();
    let l = new_loop();
    let l2 = l.clone();
    l.add_callback(move || drive(l2, n));
    let t = Instant::now();
    l.start().expect("start");
    let took = t.elapsed();
    assert_eq!(hits(), n);
    (per_op(took, n), finish(l))
}

/// Tokio: a tokio callback is a task, so the honest equivalent of "queue a
/// closure, run it on the next turn" is spawning a trivial task and letting
/// the scheduler poll it once (not `yield_now`, which re-polls one task and
/// allocates nothing). The driver spawns a batch, then waits for a marker.
fn tokio_callbacks(flavor: Flavor, n: usize) -> f64 {
    reset_hits();
    let took = tk_run(flavor, async move {
        let t = Instant::now();
        let mut left = n;
        while left > 0 {
            let batch = left.min(BATCH);
            for i in 0..batch {
                drop(tk_spawn(flavor, async move {
                    black_box(i);
                    hit();
                }));
            }
            left -= batch;
            tk_barrier(flavor).await;
        }
        t.elapsed()
    });
    assert_eq!(hits(), n);
    per_op(took, n)
}

// ----- 2. add and cancel timeouts ------------------------------------------

/// Ours: `call_later` then `remove_timeout`, inside a running loop.
/// Returns (add, cancel) ns/op.
fn ours_timeouts(n: usize, same: bool) -> (f64, f64) {
    on_loop(move |l| {
        let mut rng = Lcg(42);
        let mut handles = Vec::with_capacity(n);
        let t = Instant::now();
        for i in 0..n {
            handles.push(l.call_later(timeout_delay(&mut rng, same), move || {
                black_box(i);
            }));
        }
        let add = t.elapsed();
        assert_eq!(l.metrics().timeouts_pending, n);
        let t = Instant::now();
        for h in handles {
            l.remove_timeout(h);
        }
        let cancel = t.elapsed();
        assert_eq!(l.metrics().timeouts_pending, 0);
        (per_op(add, n), per_op(cancel, n))
    })
}

/// Tokio: `sleep` is what every tokio timeout is built on. A `Sleep` joins
/// the timer wheel only when first polled, so "add" is create + pin + one
/// poll, and "cancel" is dropping it (which unlinks it from the wheel).
/// `unconstrained`: otherwise coop budgeting makes polls after the 128th
/// return Pending without registering.
fn tokio_sleeps(n: usize, same: bool) -> (f64, f64) {
    tk_run(
        Flavor::Spawn,
        tokio::task::unconstrained(async move {
            let mut cx = Context::from_waker(Waker::noop());
            let mut rng = Lcg(42);
            let mut sleeps = Vec::with_capacity(n);
            let t = Instant::now();
            for _ in 0..n {
                let mut s = Box::pin(tokio::time::sleep(timeout_delay(&mut rng, same)));
                assert!(s.as_mut().poll(&mut cx).is_pending());
                sleeps.push(s);
            }
            let add = t.elapsed();
            let t = Instant::now();
            for s in sleeps {
                drop(s);
            }
            let cancel = t.elapsed();
            (per_op(add, n), per_op(cancel, n))
        }),
    )
}

/// tokio-util's `DelayQueue`: the closest in shape to ours (a key per entry,
/// removal by key, no task per timer), on its own hierarchical wheel.
fn tokio_delay_queue(n: usize) -> (f64, f64) {
    tk_run(Flavor::Spawn, async move {
        let mut rng = Lcg(42);
        let mut dq = DelayQueue::new();
        let mut keys = Vec::with_capacity(n);
        let t = Instant::now();
        for i in 0..n {
            keys.push(dq.insert(i, far_delay(&mut rng)));
        }
        let add = t.elapsed();
        let t = Instant::now();
        for k in keys {
            black_box(dq.remove(&k));
        }
        let cancel = t.elapsed();
        assert!(dq.is_empty());
        (per_op(add, n), per_op(cancel, n))
    })
}

// ----- 3. fire timeouts -----------------------------------------------------

/// Deadlines 100 ms ahead (so that all are still pending while they are
/// added), spread over 3 ms in random order; both sides then spin until
/// every one is due (tokio rounds deadlines up to its 1 ms tick) and the
/// clock starts: what is measured is only the firing of due timers. Should
/// registering take longer than that on a loaded machine, timers fired
/// before the clock started are left out of the count.
fn fire_deadlines(n: usize) -> (Vec<Instant>, Instant) {
    let base = Instant::now() + Duration::from_millis(100);
    let mut rng = Lcg(7);
    let deadlines = (0..n)
        .map(|_| base + Duration::from_nanos(rng.next() % 3_000_000))
        .collect();
    (deadlines, base + Duration::from_millis(5))
}

fn ours_fire(n: usize) -> f64 {
    reset_hits();
    END.with(|e| e.set(None));
    let l = new_loop();
    let start = Rc::new(Cell::new(None));
    let (s, l2) = (start.clone(), l.clone());
    l.add_callback(move || {
        let (deadlines, all_due) = fire_deadlines(n);
        for d in deadlines {
            l2.add_timeout(d, move || {
                if hit() == n {
                    END.with(|e| e.set(Some(Instant::now())));
                    IOLoop::current().stop();
                }
            });
        }
        spin_until(all_due);
        s.set(Some((Instant::now(), hits())));
    });
    l.start().expect("start");
    finish(l);
    let end = END.with(Cell::get).expect("every timeout fired");
    let (start, early) = start.get().expect("set up");
    per_op(end - start, n - early)
}

/// Tokio: a timer firing means a task parked on `sleep_until` being woken
/// and polled to completion; that is what a tokio program does where Tornado
/// would use `call_at`. The tasks are spawned (and their sleeps registered,
/// see `tk_barrier`) before the clock starts.
fn tokio_fire(flavor: Flavor, n: usize) -> f64 {
    reset_hits();
    let took = tk_run(flavor, async move {
        let (tx, rx) = oneshot::channel();
        DONE.with(|d| *d.borrow_mut() = Some(tx));
        let (deadlines, all_due) = fire_deadlines(n);
        for d in deadlines {
            drop(tk_spawn(flavor, async move {
                tokio::time::sleep_until(d.into()).await;
                if hit() == n {
                    let tx = DONE.with(|d| d.borrow_mut().take()).expect("once");
                    let _ = tx.send(Instant::now());
                }
            }));
        }
        tk_barrier(flavor).await;
        spin_until(all_due);
        let (start, early) = (Instant::now(), hits());
        (rx.await.expect("every sleep fired") - start, early)
    });
    per_op(took.0, n - took.1)
}

// ----- 4. resolve a future, run its done-callback ---------------------------

/// Ours: per item, `Future::new` + `add_done_callback`; on the next
/// iteration `set_result`, which schedules the callback for the one after.
fn ours_futures(n: usize) -> (f64, Metrics) {
    fn drive(l: IOLoop, left: usize) {
        if left == 0 {
            l.stop();
            return;
        }
        let batch = left.min(BATCH);
        let futures: Vec<TornadoFuture<usize>> = (0..batch)
            .map(|_| {
                let f = TornadoFuture::new();
                f.add_done_callback(|f| {
                    black_box(f.take_result().expect("resolved"));
                    hit();
                });
                f
            })
            .collect();
        let l2 = l.clone();
        l.add_callback(move || {
            for (i, f) in futures.into_iter().enumerate() {
                f.set_result(i).expect("pending");
            }
            let l3 = l2.clone();
            l2.add_callback(move || drive(l3, left - batch));
        });
    }
    reset_hits();
    let l = new_loop();
    let l2 = l.clone();
    l.add_callback(move || drive(l2, n));
    let t = Instant::now();
    l.start().expect("start");
    let took = t.elapsed();
    assert_eq!(hits(), n);
    (per_op(took, n), finish(l))
}

/// Tokio: the done-callback is a task awaiting a oneshot receiver. It is
/// spawned and parked on the receiver first (as our callback is registered
/// first); then `send` wakes it and the scheduler polls it to completion.
fn tokio_futures(flavor: Flavor, n: usize) -> f64 {
    reset_hits();
    let took = tk_run(flavor, async move {
        let t = Instant::now();
        let mut left = n;
        while left > 0 {
            let batch = left.min(BATCH);
            let mut senders = Vec::with_capacity(batch);
            for _ in 0..batch {
                let (tx, rx) = oneshot::channel::<usize>();
                drop(tk_spawn(flavor, async move {
                    black_box(rx.await.expect("sent"));
                    hit();
                }));
                senders.push(tx);
            }
            tk_barrier(flavor).await; // every task now waits on its receiver
            for (i, tx) in senders.into_iter().enumerate() {
                tx.send(i).expect("receiver alive");
            }
            tk_barrier(flavor).await; // every woken task ran
            left -= batch;
        }
        t.elapsed()
    });
    assert_eq!(hits(), n);
    per_op(took, n)
}

// ----- 5. cross-thread wake-up latency ---------------------------------------

/// Samples acknowledged by the loop thread.
static ACKED: AtomicUsize = AtomicUsize::new(0);

/// Runs on the loop thread for each sample: records the latency, then tells
/// the sender it may go on.
fn ack_sample(sent: Instant) {
    record(signed_ns(Instant::now(), sent));
    ACKED.fetch_add(1, Ordering::Release);
}

/// The other thread: sleeps (so that the loop goes back to sleep in its
/// poll), takes the time, sends one item, waits for it to be acknowledged.
fn sender_thread(
    cpu: Option<usize>,
    samples: usize,
    gap: Duration,
    mut send: impl FnMut(Instant) + Send + 'static,
    stop: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    ACKED.store(0, Ordering::Release);
    std::thread::spawn(move || {
        if let Some(c) = cpu {
            let _ = tornado_bench::pin_to(c);
        }
        for i in 0..WAKE_WARMUP + samples {
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
            send(Instant::now());
            let give_up = Instant::now() + Duration::from_secs(5);
            while ACKED.load(Ordering::Acquire) <= i {
                assert!(Instant::now() < give_up, "sample {i} was never run");
                std::hint::spin_loop();
            }
        }
        stop();
    })
}

fn wake_samples() -> Vec<i64> {
    let mut s = take_samples();
    s.drain(..WAKE_WARMUP);
    s
}

/// Ours: `Remote::add_callback` while the loop sleeps in its poll.
fn ours_wake(cpu: Option<usize>, samples: usize, gap: Duration) -> (Vec<i64>, Metrics) {
    take_samples();
    let l = new_loop();
    let (remote, stopper) = (l.remote(), l.remote());
    let sender = sender_thread(
        cpu,
        samples,
        gap,
        move |sent| remote.add_callback(move || ack_sample(sent)),
        move || stopper.stop(),
    );
    l.start().expect("start");
    sender.join().expect("sender thread");
    (wake_samples(), finish(l))
}

/// Tokio: `Handle::spawn` from the other thread is the same operation as our
/// remote `add_callback`: a boxed unit of work pushed onto the runtime's
/// inject queue, then an unpark (eventfd write) of the thread in `block_on`.
fn tokio_wake_spawn(cpu: Option<usize>, samples: usize, gap: Duration) -> Vec<i64> {
    take_samples();
    let rt = tokio_rt();
    let handle = rt.handle().clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let sender = sender_thread(
        cpu,
        samples,
        gap,
        move |sent| drop(handle.spawn(async move { ack_sample(sent) })),
        move || {
            let _ = stop_tx.send(());
        },
    );
    rt.block_on(stop_rx).expect("stop");
    sender.join().expect("sender thread");
    wake_samples()
}

/// Tokio, the other common shape: an unbounded mpsc send to a task parked in
/// `recv` (no task allocation per item, one waker wake).
fn tokio_wake_mpsc(cpu: Option<usize>, samples: usize, gap: Duration) -> Vec<i64> {
    take_samples();
    let rt = tokio_rt();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let sender = sender_thread(
        cpu,
        samples,
        gap,
        move |sent| tx.send(sent).expect("receiver alive"),
        || {},
    );
    rt.block_on(async move {
        while let Some(sent) = rx.recv().await {
            ack_sample(sent);
        }
    });
    sender.join().expect("sender thread");
    wake_samples()
}

// ----- 6. timer precision ----------------------------------------------------

/// 1 to 3 ms, with sub-millisecond parts that a millisecond-resolution poll
/// has to round.
fn precision_delay(i: usize) -> Duration {
    Duration::from_micros(1000 + (i as u64 * 7919) % 2000)
}

/// Ours: one timeout at a time, each armed by the previous one's callback.
fn ours_precision(n: usize) -> Vec<i64> {
    fn arm(l: &IOLoop, i: usize, n: usize) {
        let deadline = l.time() + precision_delay(i);
        let l2 = l.clone();
        l.add_timeout(deadline, move || {
            record(signed_ns(Instant::now(), deadline));
            if i + 1 == n {
                l2.stop();
            } else {
                arm(&l2, i + 1, n);
            }
        });
    }
    take_samples();
    let l = new_loop();
    arm(&l, 0, n);
    l.start().expect("start");
    finish(l);
    take_samples()
}

/// Tokio: a task awaiting `sleep_until` on the same deadlines.
fn tokio_precision(n: usize) -> Vec<i64> {
    take_samples();
    tk_run(Flavor::Spawn, async move {
        for i in 0..n {
            let deadline = Instant::now() + precision_delay(i);
            tokio::time::sleep_until(deadline.into()).await;
            record(signed_ns(Instant::now(), deadline));
        }
    });
    take_samples()
}

// ----- CPU pinning -----------------------------------------------------------

// ----- statistics and the table ------------------------------------------------

#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    best: f64,
    runs: usize,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(f64::total_cmp);
        Stat {
            median: v[v.len() / 2],
            best: v[0],
            runs: v.len(),
        }
    }

    fn single(v: f64) -> Stat {
        Stat {
            median: v,
            best: v,
            runs: 1,
        }
    }

    fn show(self) -> String {
        if self.runs > 1 {
            format!("{:.1} [{:.1}]", self.median, self.best)
        } else {
            format!("{:.1}", self.median)
        }
    }
}

/// One warm-up run, then `reps` measured ones.
fn runs<T>(reps: usize, mut f: impl FnMut() -> T) -> Vec<T> {
    f();
    (0..reps).map(|_| f()).collect()
}

fn stat<T>(v: &[T], f: impl Fn(&T) -> f64) -> Stat {
    Stat::of(v.iter().map(f).collect())
}

/// (p50, p99, max) in µs of ns samples.
fn percentiles(samples: &[i64]) -> (f64, f64, f64) {
    let mut v = samples.to_vec();
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (at(0.50), at(0.99), at(1.0))
}

#[derive(Clone, Copy)]
enum Target {
    None,
    /// Ours at most this many (of the row's unit).
    AtMost(f64),
    /// Ours no slower than tokio.
    NotSlower,
    /// Ours exactly zero.
    Zero,
}

struct Table {
    /// (target text, met) for the summary.
    verdicts: Vec<(String, String, bool)>,
}

impl Table {
    fn header() {
        println!(
            "\n{:<52} {:<6} {:>18} {:>18} {:>10}  target",
            "scenario [tokio variant]", "unit", "ours", "tokio", "ours/tokio"
        );
        println!("{}", "-".repeat(124));
    }

    fn row(
        &mut self,
        label: &str,
        unit: &str,
        ours: Option<Stat>,
        peer: Option<Stat>,
        target: Target,
    ) {
        let show = |s: Option<Stat>| s.map_or_else(|| "-".to_owned(), Stat::show);
        let ratio = match (ours, peer) {
            (Some(o), Some(p)) if p.median > 0.0 => format!("{:.2}x", o.median / p.median),
            _ => "-".to_owned(),
        };
        let verdict = match (target, ours) {
            (Target::None, _) | (_, None) => None,
            (Target::AtMost(x), Some(o)) => Some((format!("<= {x} {unit}"), o.median <= x)),
            (Target::NotSlower, Some(o)) => Some((
                "<= tokio".to_owned(),
                peer.is_some_and(|p| o.median <= p.median),
            )),
            (Target::Zero, Some(o)) => Some(("== 0".to_owned(), o.median == 0.0)),
        };
        let target_text = verdict.as_ref().map_or(String::new(), |(t, met)| {
            format!("{t} {}", if *met { "met" } else { "MISSED" })
        });
        println!(
            "{label:<52} {unit:<6} {:>18} {:>18} {ratio:>10}  {target_text}",
            show(ours),
            show(peer)
        );
        if let Some((t, met)) = verdict {
            self.verdicts.push((label.to_owned(), t, met));
        }
    }
}

// ----- main ----------------------------------------------------------------------

struct Args {
    reps: usize,
    only: Vec<u32>,
}

fn parse_args() -> Args {
    let mut args = Args {
        reps: 5,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--reps" => {
                args.reps = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--reps needs a positive number");
            }
            "-h" | "--help" => {
                println!(
                    "usage: loop_bench [--reps N] [SCENARIO 1-6 ...]\n\
                     env: TORNADO_IOLOOP_BACKEND=epoll|select, BENCH_NO_PIN=1"
                );
                std::process::exit(0);
            }
            n => args
                .only
                .push(n.parse().expect("a scenario number, 1 to 6, or --reps N")),
        }
    }
    args
}

fn first_line_with(path: &str, prefix: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(prefix))
                .map(|l| l.split_once(':').map_or(l, |(_, v)| v).trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The version of `name` in the workspace's Cargo.lock, as built.
fn locked_version(name: &str) -> &'static str {
    const LOCK: &str = include_str!("../../../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.find(&needle)
        .and_then(|i| LOCK[i + needle.len()..].split('"').next())
        .unwrap_or("?")
}

fn main() {
    let args = parse_args();
    let wants = |n: u32| args.only.is_empty() || args.only.contains(&n);
    let reps = args.reps;

    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpus = tornado_bench::allowed_cpus();
    let pin = std::env::var_os("BENCH_NO_PIN").is_none() && !cpus.is_empty();
    let loop_cpu = cpus.first().copied().filter(|_| pin);
    let sender_cpu = cpus.get(1).or(cpus.first()).copied().filter(|_| pin);
    let pinned = loop_cpu.is_some_and(|c| tornado_bench::pin_to(c).is_ok());

    let probe = new_loop();
    let backend = probe.backend_name();
    finish(probe);
    println!(
        "loop_bench: tornado-ioloop vs tokio {} current_thread (tokio-util {})",
        locked_version("tokio"),
        locked_version("tokio-util")
    );
    println!(
        "  cpus: nproc {} (allowed {:?}), {}",
        nproc,
        cpus,
        first_line_with("/proc/cpuinfo", "model name")
    );
    println!(
        "  kernel: {}",
        first_line_with("/proc/sys/kernel/osrelease", "")
    );
    println!(
        "  backend: {backend} (TORNADO_IOLOOP_BACKEND={})",
        std::env::var("TORNADO_IOLOOP_BACKEND").unwrap_or_else(|_| "<unset>".into())
    );
    println!(
        "  pinning: loop thread {}, sender thread (scenario 5) {}",
        if pinned {
            format!("cpu {}", loop_cpu.unwrap_or(0))
        } else {
            "not pinned".to_owned()
        },
        sender_cpu.map_or("not pinned".to_owned(), |c| format!("cpu {c}"))
    );
    println!(
        "  throughput rows: median [best] of {reps} runs after a warm-up; latency rows: over all samples"
    );

    let mut table = Table {
        verdicts: Vec::new(),
    };
    let mut notes = Vec::new();
    Table::header();

    if wants(1) {
        let ours = runs(reps, || ours_callbacks(CALLBACKS));
        let metrics = ours.last().expect("runs").1;
        let ours = stat(&ours, |r| r.0);
        for flavor in [Flavor::Local, Flavor::Spawn] {
            let peer = Stat::of(runs(reps, || tokio_callbacks(flavor, CALLBACKS)));
            table.row(
                &format!("1 schedule+run 1M callbacks [{}]", flavor.name()),
                "ns/op",
                Some(ours),
                Some(peer),
                Target::AtMost(60.0),
            );
        }
        notes.push(format!(
            "1: ours ran {} iterations for {} callbacks (batches of {BATCH})",
            metrics.iterations, metrics.callbacks_run
        ));
    }

    if wants(2) {
        let ours = runs(reps, || ours_timeouts(TIMEOUTS, false));
        let sleep = runs(reps, || tokio_sleeps(TIMEOUTS, false));
        let dq = runs(reps, || tokio_delay_queue(TIMEOUTS));
        let add = stat(&ours, |r| r.0);
        let cancel = stat(&ours, |r| r.1);
        let both = stat(&ours, |r| r.0 + r.1);
        table.row(
            "2 add 1M timeouts, random [sleep + first poll]",
            "ns/op",
            Some(add),
            Some(stat(&sleep, |r| r.0)),
            Target::AtMost(100.0),
        );
        table.row(
            "2 add 1M timeouts, random [DelayQueue::insert]",
            "ns/op",
            Some(add),
            Some(stat(&dq, |r| r.0)),
            Target::None,
        );
        table.row(
            "2 cancel 1M timeouts, random [drop Sleep]",
            "ns/op",
            Some(cancel),
            Some(stat(&sleep, |r| r.1)),
            Target::AtMost(40.0),
        );
        table.row(
            "2 cancel 1M timeouts, random [DelayQueue::remove]",
            "ns/op",
            Some(cancel),
            Some(stat(&dq, |r| r.1)),
            Target::None,
        );
        table.row(
            "2 add+cancel, random [sleep]",
            "ns/op",
            Some(both),
            Some(stat(&sleep, |r| r.0 + r.1)),
            Target::None,
        );
        let ours = runs(reps, || ours_timeouts(TIMEOUTS, true));
        let sleep = runs(reps, || tokio_sleeps(TIMEOUTS, true));
        table.row(
            "2 add 1M timeouts, same delay [sleep + first poll]",
            "ns/op",
            Some(stat(&ours, |r| r.0)),
            Some(stat(&sleep, |r| r.0)),
            Target::AtMost(100.0),
        );
        table.row(
            "2 cancel 1M timeouts, same delay [drop Sleep]",
            "ns/op",
            Some(stat(&ours, |r| r.1)),
            Some(stat(&sleep, |r| r.1)),
            Target::AtMost(40.0),
        );
    }

    if wants(3) {
        let ours = Stat::of(runs(reps, || ours_fire(FIRED)));
        for flavor in [Flavor::Local, Flavor::Spawn] {
            let peer = Stat::of(runs(reps, || tokio_fire(flavor, FIRED)));
            table.row(
                &format!("3 fire 100k due timeouts [{} + sleep]", flavor.name()),
                "ns/op",
                Some(ours),
                Some(peer),
                Target::None,
            );
        }
    }

    if wants(4) {
        let ours = runs(reps, || ours_futures(FUTURES));
        let metrics = ours.last().expect("runs").1;
        let ours = stat(&ours, |r| r.0);
        for flavor in [Flavor::Local, Flavor::Spawn] {
            let peer = Stat::of(runs(reps, || tokio_futures(flavor, FUTURES)));
            table.row(
                &format!("4 future resolve+callback [{} + oneshot]", flavor.name()),
                "ns/op",
                Some(ours),
                Some(peer),
                Target::AtMost(150.0),
            );
        }
        notes.push(format!(
            "4: ours ran {} iterations for {} callbacks",
            metrics.iterations, metrics.callbacks_run
        ));
    }

    if wants(5) {
        // BENCH_WAKE_BACK_TO_BACK=1 adds a round with no gap, where the loop
        // is often caught before it sleeps: noisy (bimodal), so not default.
        let mut gaps = vec![(WAKE_GAP, "wake")];
        if std::env::var_os("BENCH_WAKE_BACK_TO_BACK").is_some() {
            gaps.push((Duration::ZERO, "back-to-back"));
        }
        for (gap, name) in gaps {
            let (mut ours, mut spawn, mut chan) = (Vec::new(), Vec::new(), Vec::new());
            let mut iterations = 0;
            let per_round = WAKE_SAMPLES / WAKE_ROUNDS;
            for _ in 0..WAKE_ROUNDS {
                let (o, m) = ours_wake(sender_cpu, per_round, gap);
                ours.extend(o);
                iterations += m.iterations;
                spawn.extend(tokio_wake_spawn(sender_cpu, per_round, gap));
                chan.extend(tokio_wake_mpsc(sender_cpu, per_round, gap));
            }
            let (o50, o99, omax) = percentiles(&ours);
            let (s50, s99, smax) = percentiles(&spawn);
            let (c50, c99, cmax) = percentiles(&chan);
            let one = |v| Some(Stat::single(v));
            for (q, o, s, c) in [("p50", o50, s50, c50), ("p99", o99, s99, c99)] {
                let target = if gap.is_zero() || q != "p50" {
                    Target::None
                } else {
                    Target::NotSlower
                };
                table.row(
                    &format!("5 cross-thread {name} {q} [Handle::spawn]"),
                    "µs",
                    one(o),
                    one(s),
                    target,
                );
                table.row(
                    &format!("5 cross-thread {name} {q} [mpsc send]"),
                    "µs",
                    one(o),
                    one(c),
                    Target::None,
                );
            }
            notes.push(format!(
                "5 {name}: {} samples per side in {WAKE_ROUNDS} alternating rounds, {gap:?} \
                 sleep before each; max µs: ours {omax:.1}, spawn {smax:.1}, mpsc {cmax:.1}; \
                 ours ran {iterations} iterations",
                ours.len(),
            ));
        }
    }

    if wants(6) {
        let ours = ours_precision(PRECISION_SAMPLES);
        let peer = tokio_precision(PRECISION_SAMPLES);
        let (o50, o99, omax) = percentiles(&ours);
        let (p50, p99, pmax) = percentiles(&peer);
        let early = |v: &[i64]| v.iter().filter(|&&x| x < 0).count() as f64;
        let one = |v| Some(Stat::single(v));
        table.row(
            "6 timer lateness p50 (1-3 ms delays) [sleep]",
            "µs",
            one(o50),
            one(p50),
            Target::None,
        );
        table.row(
            "6 timer lateness p99 [sleep]",
            "µs",
            one(o99),
            one(p99),
            Target::None,
        );
        table.row(
            "6 timer lateness max [sleep]",
            "µs",
            one(omax),
            one(pmax),
            Target::None,
        );
        table.row(
            "6 timers fired early (count) [sleep]",
            "count",
            one(early(&ours)),
            one(early(&peer)),
            Target::Zero,
        );
    }

    if !notes.is_empty() {
        println!();
        for n in &notes {
            println!("  {n}");
        }
    }
    println!("\ntargets ({backend}):");
    for (label, target, met) in &table.verdicts {
        println!(
            "  {:<7} {label} (ours {target})",
            if *met { "met" } else { "MISSED" }
        );
    }
}
