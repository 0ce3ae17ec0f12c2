//! Coroutine benchmark: tornado-gen's runner against tokio's `spawn_local`
//! on a current_thread runtime, side by side in one run.
//!
//! Scenarios:
//! 1. resume after a future resolves: two coroutines ping-pong through
//!    futures (ours) / oneshot channels (tokio); one hop = resolve + wake +
//!    resume.
//! 2. `sleep(0)` round trip: one coroutine sleeping zero time N times
//!    (tokio: `sleep(ZERO)`, and `yield_now` as the cheapest yield).
//! 3. 1M coroutines each awaiting one future: spawn all, resolve all, run
//!    to completion; time per coroutine, and memory per suspended
//!    coroutine with the future (tokio: task + oneshot) it awaits: RSS
//!    growth while all are suspended, each side in a fresh process.
//!
//! Run: `cargo run --release -p tornado-bench --bin coro_bench`
//! (pinned to CPU 0 by itself on Linux).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tornado_concurrent::Future;
use tornado_gen::{coroutine, sleep, spawn};
use tornado_ioloop::IOLoop;

const HOPS: usize = 1_000_000;
const SLEEPS: usize = 200_000;
const SLEEPS_TOKIO_TIMER: usize = 200;
const SPAWNS: usize = 1_000_000;
const REPS: usize = 5;

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn new_loop() -> IOLoop {
    let l = IOLoop::new().expect("loop");
    l.make_current();
    l
}

fn tokio_rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (rt, tokio::task::LocalSet::new())
}

// ----- 1. ping-pong -------------------------------------------------------

/// A slot where one side leaves the future the other resolves.
type Slot = Rc<RefCell<Option<Future<()>>>>;

fn ours_pingpong(hops: usize) -> f64 {
    let l = new_loop();
    let (a_slot, b_slot): (Slot, Slot) = (Rc::default(), Rc::default());
    let started = Instant::now();
    l.run_sync(
        move || {
            // Each side: make a future, publish it, wake the other, await.
            fn side(mine: Slot, theirs: Slot, turns: usize) -> Future<()> {
                coroutine(async move {
                    for _ in 0..turns {
                        let f = Future::new();
                        *mine.borrow_mut() = Some(f.clone());
                        if let Some(other) = theirs.borrow_mut().take() {
                            other.set_result(()).expect("pending");
                        }
                        f.await?;
                    }
                    if let Some(other) = theirs.borrow_mut().take() {
                        let _ = other.set_result(());
                    }
                    Ok(())
                })
            }
            let a = side(a_slot.clone(), b_slot.clone(), hops / 2);
            let b = side(b_slot, a_slot, hops / 2);
            tornado_gen::multi((a, b))
        },
        None,
    )
    .expect("ping-pong");
    ns_per(started.elapsed(), hops)
}

fn tokio_pingpong(hops: usize) -> f64 {
    let (rt, local) = tokio_rt();
    let started = Instant::now();
    local.block_on(&rt, async move {
        let (to_b, mut b_rx) = tokio::sync::mpsc::unbounded_channel::<oneshot::Sender<()>>();
        let (to_a, mut a_rx) = tokio::sync::mpsc::unbounded_channel::<oneshot::Sender<()>>();
        // Each hop: a oneshot handed over and fired, the awaiting task woken.
        let a = tokio::task::spawn_local(async move {
            for _ in 0..hops / 2 {
                let (tx, rx) = oneshot::channel();
                to_b.send(tx).expect("b alive");
                if let Some(t) = a_rx.recv().await {
                    let _ = t.send(());
                }
                let _ = rx.await;
            }
        });
        let b = tokio::task::spawn_local(async move {
            for _ in 0..hops / 2 {
                let (tx, rx) = oneshot::channel();
                to_a.send(tx).expect("a alive");
                if let Some(t) = b_rx.recv().await {
                    let _ = t.send(());
                }
                let _ = rx.await;
            }
        });
        let _ = tokio::join!(a, b);
    });
    ns_per(started.elapsed(), hops)
}

// ----- 2. sleep(0) --------------------------------------------------------

fn ours_sleep0(n: usize) -> f64 {
    let l = new_loop();
    let started = Instant::now();
    l.run_sync(
        move || {
            coroutine(async move {
                for _ in 0..n {
                    sleep(Duration::ZERO).await;
                }
                Ok(())
            })
        },
        None,
    )
    .expect("sleeps");
    ns_per(started.elapsed(), n)
}

fn tokio_sleep0(n: usize, yield_only: bool) -> f64 {
    let (rt, local) = tokio_rt();
    let started = Instant::now();
    local.block_on(&rt, async move {
        for _ in 0..n {
            if yield_only {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::ZERO).await;
            }
        }
    });
    ns_per(started.elapsed(), n)
}

// ----- 3. many suspended coroutines ---------------------------------------

/// (ns per coroutine, bytes per suspended coroutine)
fn ours_spawn(n: usize) -> (f64, f64) {
    let l = new_loop();
    let done = Rc::new(Cell::new(0usize));
    let before = rss();
    let started = Instant::now();
    let mut futures = Vec::with_capacity(n);
    for _ in 0..n {
        let f: Future<u32> = Future::new();
        let (g, d) = (f.clone(), done.clone());
        spawn(async move {
            let v = g.await?;
            d.set(d.get() + v as usize);
            Ok(())
        });
        futures.push(f);
    }
    let suspended = rss().saturating_sub(before);
    for f in &futures {
        f.set_result(1).expect("pending");
    }
    drop(futures);
    let d = done.clone();
    l.run_sync(
        move || {
            coroutine(async move {
                while d.get() < n {
                    sleep(Duration::ZERO).await;
                }
                Ok(())
            })
        },
        None,
    )
    .expect("all done");
    // Close: callbacks still queued (and the loop handles they hold) are
    // dropped now rather than kept alive by their own cycle.
    let _ = l.close(false);
    (ns_per(started.elapsed(), n), suspended as f64 / n as f64)
}

fn tokio_spawn(n: usize) -> (f64, f64) {
    let (rt, local) = tokio_rt();
    let done = Rc::new(Cell::new(0usize));
    let d = done.clone();
    let before = rss();
    let started = Instant::now();
    let suspended = local.block_on(&rt, async move {
        let mut senders = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = oneshot::channel::<u32>();
            let d = d.clone();
            tokio::task::spawn_local(async move {
                if let Ok(v) = rx.await {
                    d.set(d.get() + v as usize);
                }
            });
            senders.push(tx);
        }
        // Let every task run to its first suspension, as ours did at spawn.
        tokio::task::yield_now().await;
        let suspended = rss().saturating_sub(before);
        for tx in senders {
            let _ = tx.send(1);
        }
        while d.get() < n {
            tokio::task::yield_now().await;
        }
        suspended
    });
    (ns_per(started.elapsed(), n), suspended as f64 / n as f64)
}

/// RSS growth per suspended coroutine, measured in a fresh process so that
/// neither side reuses memory the other freed.
fn memory_in_child(which: &str) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg(which)
        .output()
        .expect("run self");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn main() {
    // Best effort: unpinned figures are only noisier.
    let _ = tornado_bench::pin_to(0);
    match std::env::args().nth(1).as_deref() {
        Some("--memory-ours") => return println!("{}", ours_spawn(SPAWNS).1),
        Some("--memory-tokio") => return println!("{}", tokio_spawn(SPAWNS).1),
        _ => {}
    }
    println!("coro_bench: tornado-gen vs tokio current_thread + spawn_local, median of {REPS}");
    println!(
        "{:<52} {:>12} {:>12} {:>10}",
        "scenario", "ours", "tokio", "ours/tokio"
    );
    let row = |name: &str, ours: f64, tokio: f64, unit: &str| {
        println!(
            "{name:<52} {:>9.1} {unit} {:>9.1} {unit} {:>9.2}x",
            ours,
            tokio,
            ours / tokio
        );
    };
    let ours = median((0..REPS).map(|_| ours_pingpong(HOPS)).collect());
    let theirs = median((0..REPS).map(|_| tokio_pingpong(HOPS)).collect());
    row("1 resume after resolve (ping-pong hop)", ours, theirs, "ns");
    let ours = median((0..REPS).map(|_| ours_sleep0(SLEEPS)).collect());
    // tokio's timer wheel has millisecond ticks: a zero sleep waits for the
    // next tick, so far fewer rounds are run (the figure is per round).
    let theirs = median(
        (0..REPS)
            .map(|_| tokio_sleep0(SLEEPS_TOKIO_TIMER, false))
            .collect(),
    );
    row("2 sleep(0) round trip [tokio sleep(0)]", ours, theirs, "ns");
    let theirs = median((0..REPS).map(|_| tokio_sleep0(SLEEPS, true)).collect());
    row(
        "2 sleep(0) round trip [tokio yield_now]",
        ours,
        theirs,
        "ns",
    );
    let ours_runs: Vec<(f64, f64)> = (0..3).map(|_| ours_spawn(SPAWNS)).collect();
    let tokio_runs: Vec<(f64, f64)> = (0..3).map(|_| tokio_spawn(SPAWNS)).collect();
    row(
        "3 1M coroutines awaiting a future: time each",
        median(ours_runs.iter().map(|r| r.0).collect()),
        median(tokio_runs.iter().map(|r| r.0).collect()),
        "ns",
    );
    row(
        "3 RSS per suspended coroutine (+ its future)",
        memory_in_child("--memory-ours"),
        memory_in_child("--memory-tokio"),
        " B",
    );
    println!("targets: 1 <= 150 ns");
}
