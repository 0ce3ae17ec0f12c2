//! `PeriodicCallback` on a virtual clock (Tornado's `TestPeriodicCallbackMath`
//! and `TestPeriodicCallbackAsync`): its grid, skipped periods, jitter, and
//! coroutine callbacks that never overlap.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::fresh_loop;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, sleep};
use tornado::ioloop::{IOLoop, PeriodicCallback};
use tornado_testing::VirtualClock;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs the loop until `pc` has stopped itself, or fails after a minute of
/// virtual time.
fn run_until_stopped(l: &IOLoop, pc: &PeriodicCallback) {
    let m = l.clone();
    let guard = l.call_later(Duration::from_secs(60), move || m.stop());
    let (p, m) = (pc.clone(), l.clone());
    let watch = PeriodicCallback::new(
        move || {
            if !p.is_running() {
                m.stop();
            }
        },
        ms(1),
    );
    watch.start();
    l.start().unwrap();
    watch.stop();
    l.remove_timeout(guard);
    assert!(!pc.is_running(), "the periodic callback never stopped");
}

/// A periodic callback whose n-th run lasts `durations[n]` of virtual time
/// and stops after the last; returns the virtual times the runs started at.
fn run_times(durations: &'static [u64], jitter: f64) -> Vec<Duration> {
    let l = fresh_loop();
    let clock = VirtualClock::install(&l);
    let starts = Rc::new(RefCell::new(Vec::new()));
    let pc_slot: Rc<RefCell<Option<PeriodicCallback>>> = Rc::default();
    let (s, c, slot) = (starts.clone(), clock.clone(), pc_slot.clone());
    let pc = PeriodicCallback::new(
        move || {
            let n = s.borrow().len();
            s.borrow_mut().push(c.elapsed());
            c.advance(ms(durations[n]));
            if n + 1 == durations.len() {
                slot.borrow().as_ref().unwrap().stop();
            }
        },
        ms(10),
    )
    .with_jitter(jitter);
    *pc_slot.borrow_mut() = Some(pc.clone());
    pc.start();
    run_until_stopped(&l, &pc);
    pc_slot.borrow_mut().take();
    starts.take()
}

#[test]
fn runs_follow_the_period() {
    let times = run_times(&[0; 5], 0.0);
    assert_eq!(times, [10, 20, 30, 40, 50].map(ms));
}

#[test]
fn overrunning_runs_skip_whole_periods_and_keep_the_grid() {
    let times = run_times(&[9, 9, 10, 11, 20, 20, 35, 35, 0, 0, 0], 0.0);
    assert_eq!(
        times,
        [10, 20, 30, 50, 70, 100, 130, 170, 210, 220, 230].map(ms)
    );
}

#[test]
fn jitter_moves_runs_within_its_bounds() {
    let times = run_times(&[0; 40], 0.5);
    let gaps: Vec<Duration> = std::iter::once(times[0])
        .chain(times.windows(2).map(|w| w[1] - w[0]))
        .collect();
    for g in &gaps {
        assert!(
            *g >= Duration::from_micros(7_500) && *g <= Duration::from_micros(12_500),
            "a step of {g:?} is outside 10 ms ± 25 %"
        );
    }
    assert!(
        gaps.iter().any(|g| *g != gaps[0]),
        "jitter moved nothing: {gaps:?}"
    );
}

#[test]
fn a_coroutine_callback_never_overlaps_its_previous_run() {
    let l = fresh_loop();
    let clock = VirtualClock::install(&l);
    let started = Rc::new(Cell::new(0));
    let finished = Rc::new(Cell::new(0));
    let starts = Rc::new(RefCell::new(Vec::new()));
    let pc_slot: Rc<RefCell<Option<PeriodicCallback>>> = Rc::default();
    let (s, f, at, c, slot) = (
        started.clone(),
        finished.clone(),
        starts.clone(),
        clock.clone(),
        pc_slot.clone(),
    );
    let pc = PeriodicCallback::new_coroutine(
        move || {
            assert_eq!(s.get(), f.get(), "a run started before the last ended");
            s.set(s.get() + 1);
            at.borrow_mut().push(c.elapsed());
            let (f, slot) = (f.clone(), slot.clone());
            coroutine(async move {
                sleep(ms(25)).await;
                f.set(f.get() + 1);
                if f.get() == 3 {
                    slot.borrow().as_ref().unwrap().stop();
                }
                Ok(())
            })
        },
        ms(10),
    );
    *pc_slot.borrow_mut() = Some(pc.clone());
    pc.start();
    run_until_stopped(&l, &pc);
    pc_slot.borrow_mut().take();
    assert_eq!((started.get(), finished.get()), (3, 3));
    // Each run lasts 25 ms: the next starts at the first grid point after.
    assert_eq!(*starts.borrow(), [10, 40, 70].map(ms));
}

#[test]
fn a_plain_callback_and_a_ready_future_run_every_period() {
    // Tornado's test_periodic_plain, and a callback returning a future
    // that is already done.
    let l = fresh_loop();
    let _clock = VirtualClock::install(&l);
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let pc = PeriodicCallback::new(
        move || {
            m.set(m.get() + 1);
            if m.get() == 3 {
                IOLoop::current().stop();
            }
        },
        ms(10),
    );
    pc.start();
    l.start().unwrap();
    pc.stop();
    assert_eq!(n.get(), 3);

    let k = Rc::new(Cell::new(0));
    let j = k.clone();
    let pc = PeriodicCallback::new_coroutine(
        move || {
            j.set(j.get() + 1);
            if j.get() == 3 {
                IOLoop::current().stop();
            }
            Future::resolved(())
        },
        ms(10),
    );
    pc.start();
    l.start().unwrap();
    pc.stop();
    assert_eq!(k.get(), 3);
}

#[test]
fn a_failing_coroutine_is_logged_and_the_schedule_goes_on() {
    common::capture_logs();
    let l = fresh_loop();
    let _clock = VirtualClock::install(&l);
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let pc = PeriodicCallback::new_coroutine(
        move || {
            m.set(m.get() + 1);
            if m.get() == 4 {
                IOLoop::current().stop();
            }
            let run = m.get();
            coroutine(async move {
                sleep(ms(1)).await;
                match run {
                    1 => Err(Error::msg("periodic-coroutine-failure-7741")),
                    2 => panic!("periodic-coroutine-panic-7741"),
                    _ => Ok(()),
                }
            })
        },
        ms(10),
    );
    pc.start();
    l.start().unwrap();
    pc.stop();
    assert_eq!(n.get(), 4);
    let logs = common::logs_containing("periodic-coroutine-");
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs.iter().all(|l| l.0 == "tornado.application"));
}

#[test]
fn stopped_while_a_coroutine_runs_no_further_run_happens() {
    let l = fresh_loop();
    let clock = VirtualClock::install(&l);
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let pc = PeriodicCallback::new_coroutine(
        move || {
            m.set(m.get() + 1);
            coroutine(async {
                sleep(ms(50)).await;
                Ok(())
            })
        },
        ms(10),
    );
    pc.start();
    let p = pc.clone();
    l.call_later(ms(20), move || p.stop()); // during the first run
    let m = l.clone();
    l.call_later(ms(200), move || m.stop());
    l.start().unwrap();
    assert_eq!(clock.elapsed(), ms(200));
    assert_eq!(n.get(), 1);
}
