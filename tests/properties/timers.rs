//! `call_at`, `remove_timeout` and the loop's firing against a model: a
//! map of the live timeouts sorted by (deadline, order of scheduling).
//! Timeouts fire in that order, each at exactly its virtual deadline,
//! never after being cancelled (even by another timeout due at the same
//! iteration), and every one due by the time the loop is run to fires.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use tornado::concurrent::Future;
use tornado::ioloop::{IOLoop, Timeout};
use tornado_testing::VirtualClock;

#[derive(Debug, Clone)]
enum Op {
    /// A timeout `delay` ms from now; when `cancels` is set, its callback
    /// cancels that earlier timeout (by index, modulo their number).
    Add { delay: u8, cancels: Option<usize> },
    /// Cancels a timeout (maybe already fired or cancelled).
    Cancel(usize),
    /// Runs the loop until `ms` more virtual milliseconds have passed.
    Run(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, proptest::option::weighted(0.2, any::<usize>()))
            .prop_map(|(delay, cancels)| Op::Add { delay, cancels }),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => (0u8..50).prop_map(Op::Run),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn timeouts_fire_in_deadline_order_at_their_deadlines(ops in proptest::collection::vec(op(), 1..60)) {
        let ioloop = IOLoop::new().unwrap();
        let clock = VirtualClock::install(&ioloop);
        let t0 = clock.now();
        let ms = |n: u64| Duration::from_millis(n);
        let mut now = 0u64;
        // Every timeout given, by index, and its (deadline, index) key.
        let handles: Rc<RefCell<Vec<Timeout>>> = Rc::default();
        let mut keys: Vec<(u64, usize)> = Vec::new();
        // Live timeouts -> the index they cancel when they fire.
        let mut model: BTreeMap<(u64, usize), Option<usize>> = BTreeMap::new();
        // (index, virtual time it ran at), as the callbacks ran.
        let fired: Rc<RefCell<Vec<(usize, Duration)>>> = Rc::default();
        for op in ops {
            match op {
                Op::Add { delay, cancels } => {
                    let id = keys.len();
                    let at = now + u64::from(delay);
                    let victim = cancels.filter(|_| id > 0).map(|c| c % id);
                    let (f, h, l) = (fired.clone(), handles.clone(), ioloop.clone());
                    let t = ioloop.call_at(t0 + ms(at), move || {
                        f.borrow_mut().push((id, l.time() - t0));
                        if let Some(v) = victim {
                            let victim = h.borrow()[v];
                            l.remove_timeout(victim);
                        }
                    });
                    handles.borrow_mut().push(t);
                    keys.push((at, id));
                    model.insert((at, id), victim);
                }
                Op::Cancel(i) => {
                    if keys.is_empty() {
                        continue;
                    }
                    let i = i % keys.len();
                    ioloop.remove_timeout(handles.borrow()[i]);
                    model.remove(&keys[i]);
                }
                Op::Run(by) => {
                    let target = now + u64::from(by);
                    let l = ioloop.clone();
                    ioloop.run_sync(move || {
                        // Scheduled last: it runs after every timeout due
                        // at the same time.
                        let done = Future::new();
                        let d = done.clone();
                        l.call_at(t0 + ms(target), move || {
                            let _ = d.set_result(());
                        });
                        done
                    }, None).unwrap();
                    now = target;
                    let mut expected = Vec::new();
                    while let Some((&(at, id), &victim)) = model.first_key_value() {
                        if at > now {
                            break;
                        }
                        model.remove(&(at, id));
                        expected.push((id, ms(at)));
                        if let Some(v) = victim {
                            model.remove(&keys[v]);
                        }
                    }
                    let got = std::mem::take(&mut *fired.borrow_mut());
                    prop_assert_eq!(got, expected, "by {} ms", now);
                    prop_assert_eq!(clock.elapsed(), ms(now));
                }
            }
        }
    }
}
