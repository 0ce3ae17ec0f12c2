//! The timer heap: a binary heap of deadlines plus a slab of callbacks.
//!
//! Cancelling only empties the callback's slab slot (O(1)); the heap entry
//! stays until it reaches the top or until cancelled entries pile up, when
//! the heap is compacted (over 512 and over half the heap, as Tornado does).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::panic::Location;
use std::time::{Duration, Instant};

use slab::Slab;

use tornado_concurrent::schedule::Callback;

/// Compaction threshold, as in Tornado's `_CANCELLED_TIMEOUT_COMPACT`.
const COMPACT_MIN_CANCELLED: usize = 512;

/// Identifies a scheduled timeout; pass it to `IOLoop::remove_timeout`.
/// Removing one that already fired or was removed is a no-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    /// Slab key of the slot.
    key: usize,
    /// Sequence number, so that a reused slot is not mistaken for this one.
    seq: u64,
}

/// A heap entry; ordered by deadline, then by insertion order.
///
/// 24 bytes: the deadline in nanoseconds since the heap's epoch, rather than
/// a 16-byte `Instant`, so that more entries share a cache line (a heap of a
/// million random deadlines is bound by cache misses).
struct Entry {
    at: u64,
    seq: u64,
    key: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A slot: the callback of one pending timeout.
struct Slot {
    /// Equals the heap entry's `seq`.
    seq: u64,
    /// Taken when the timeout runs or is cancelled after it was popped.
    callback: Option<(Callback, &'static Location<'static>)>,
    /// False once `pop_due` moved the entry out of the heap.
    in_heap: bool,
}

/// All pending timeouts of one loop.
#[derive(Default)]
pub(crate) struct TimerHeap {
    /// Min-heap by deadline; may contain cancelled (stale) entries.
    heap: BinaryHeap<Reverse<Entry>>,
    /// One slot per live timeout; a cancelled one's slot is freed at once.
    slots: Slab<Slot>,
    /// `live[key]` is the seq of the timeout whose heap entry is live at
    /// slab key `key`, 0 otherwise. Dense, so that checking heap entries
    /// (on pop and in compaction) touches 8 bytes per entry, not a slot.
    live: Vec<u64>,
    /// Number of stale entries in `heap`.
    cancelled: usize,
    /// Last sequence number given; never reused, and never 0.
    last_seq: u64,
    /// Origin of the entries' `at`: a day before the first deadline, so
    /// that deadlines somewhat in the past still order correctly.
    epoch: Option<Instant>,
}

impl TimerHeap {
    /// Nanoseconds from the epoch (0 for anything before it).
    fn at(&mut self, t: Instant) -> u64 {
        let epoch = *self
            .epoch
            .get_or_insert_with(|| t.checked_sub(Duration::from_secs(86_400)).unwrap_or(t));
        t.saturating_duration_since(epoch)
            .as_nanos()
            .min(u64::MAX as u128) as u64
    }

    pub(crate) fn add(
        &mut self,
        deadline: Instant,
        callback: Callback,
        loc: &'static Location<'static>,
    ) -> Timeout {
        let at = self.at(deadline);
        self.last_seq += 1;
        let seq = self.last_seq;
        let key = self.slots.insert(Slot {
            seq,
            callback: Some((callback, loc)),
            in_heap: true,
        });
        if self.live.len() <= key {
            self.live.resize(key + 1, 0);
        }
        self.live[key] = seq;
        let key32 = u32::try_from(key).expect("fewer than 4 billion pending timeouts");
        self.heap.push(Reverse(Entry {
            at,
            seq,
            key: key32,
        }));
        Timeout { key, seq }
    }

    /// Cancels `t` if it is still pending; returns the callback so that the
    /// caller drops it outside any borrow of the loop.
    pub(crate) fn remove(&mut self, t: Timeout) -> Option<Callback> {
        let slot = self.slots.get(t.key).filter(|s| s.seq == t.seq)?;
        if !slot.in_heap {
            // Popped as due and not run yet: `take` will find nothing.
            let (cb, _) = self.slots.get_mut(t.key)?.callback.take()?;
            return Some(cb);
        }
        let slot = self.slots.remove(t.key);
        self.live[t.key] = 0;
        self.cancelled += 1;
        if self.cancelled > COMPACT_MIN_CANCELLED && self.cancelled * 2 > self.heap.len() {
            self.compact();
        }
        slot.callback.map(|(cb, _)| cb)
    }

    /// Drops every stale heap entry.
    fn compact(&mut self) {
        let live = &self.live;
        self.heap.retain(|Reverse(e)| live[e.key as usize] == e.seq);
        self.cancelled = 0;
    }

    /// Moves the timeouts due at `now` from the heap to `due`, in deadline
    /// order. Their callbacks stay in their slots until `take`n, so that one
    /// due timeout can still cancel another due in the same iteration.
    pub(crate) fn pop_due(&mut self, now: Instant, due: &mut Vec<Timeout>) {
        if self.heap.is_empty() {
            return;
        }
        let now = self.at(now);
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.at > now {
                break;
            }
            let Reverse(e) = self.heap.pop().expect("peeked");
            let key = e.key as usize;
            if self.live[key] == e.seq {
                self.live[key] = 0;
                self.slots[key].in_heap = false;
                due.push(Timeout { key, seq: e.seq });
            } else {
                self.cancelled -= 1;
            }
        }
    }

    /// Takes the callback of a due timeout (popped by `pop_due`) and frees its
    /// slot; `None` if it was cancelled meanwhile.
    pub(crate) fn take(&mut self, t: Timeout) -> Option<(Callback, &'static Location<'static>)> {
        self.slots
            .get(t.key)
            .filter(|s| s.seq == t.seq && !s.in_heap)?;
        self.slots.remove(t.key).callback
    }

    /// The earliest live deadline, dropping stale entries found on top.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.live[top.key as usize] == top.seq {
                let epoch = self.epoch.expect("set by the first add");
                return Some(epoch + Duration::from_nanos(top.at));
            }
            self.heap.pop();
            self.cancelled -= 1;
        }
        None
    }

    /// Pending (not cancelled) timeouts; a due one that awaits `take` may
    /// still be counted for the rest of its iteration.
    pub(crate) fn pending(&self) -> usize {
        self.slots.len()
    }

    /// Entries in the heap, stale ones included (for tests of compaction).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every timeout (when the loop closes).
    pub(crate) fn clear(&mut self) -> Vec<Callback> {
        self.heap.clear();
        self.live.clear();
        self.cancelled = 0;
        self.slots
            .drain()
            .filter_map(|s| s.callback.map(|(cb, _)| cb))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Callback {
        Box::new(|| {})
    }

    #[test]
    fn order_and_cancel() {
        let mut h = TimerHeap::default();
        let t0 = Instant::now();
        let loc = Location::caller();
        let a = h.add(t0 + Duration::from_millis(2), noop(), loc);
        let b = h.add(t0 + Duration::from_millis(1), noop(), loc);
        let c = h.add(t0 + Duration::from_millis(1), noop(), loc);
        assert!(h.remove(c).is_some());
        assert!(h.remove(c).is_none(), "second removal is a no-op");
        assert_eq!(h.pending(), 2);
        let mut due = Vec::new();
        h.pop_due(t0 + Duration::from_millis(5), &mut due);
        assert_eq!(due, vec![b, a]);
        assert!(h.take(b).is_some());
        assert!(
            h.remove(a).is_some(),
            "a due timeout can still be cancelled"
        );
        assert!(h.take(a).is_none());
        assert_eq!(h.pending(), 0);
        assert!(h.remove(b).is_none(), "removing a fired timeout is a no-op");
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn compacts_when_cancelled_pile_up() {
        let mut h = TimerHeap::default();
        let t0 = Instant::now() + Duration::from_secs(60);
        let loc = Location::caller();
        let handles: Vec<_> = (0..2000)
            .map(|i| h.add(t0 + Duration::from_millis(i), noop(), loc))
            .collect();
        for t in &handles[..1500] {
            h.remove(*t);
        }
        assert!(h.heap_len() < 2000, "heap was compacted: {}", h.heap_len());
        assert_eq!(h.pending(), 500);
        assert_eq!(h.next_deadline(), Some(t0 + Duration::from_millis(1500)));
        // A slot freed by compaction and reused must not be cancellable
        // through the old handle.
        let fresh = h.add(t0, noop(), loc);
        assert!(h.remove(handles[0]).is_none());
        assert!(h.remove(fresh).is_some());
        // Stale entries of reused keys never fire.
        let mut due = Vec::new();
        h.pop_due(t0 + Duration::from_secs(10), &mut due);
        assert_eq!(due.len(), 500);
        assert!(due.iter().all(|t| h.take(*t).is_some()));
        assert_eq!(h.pending(), 0);
    }

    /// The heap against a model: a sorted map of the live timeouts, keyed
    /// by (deadline, insertion order), under random adds, cancels (of
    /// pending, due and already run timeouts) and firings.
    mod model {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            /// `count` timeouts, `delay` ms and on from the model's now.
            Add { delay: u16, count: u8 },
            /// Cancels the `pick`th of every handle ever given, `count`
            /// times (stale handles included).
            Cancel { pick: usize, count: u8 },
            /// Moves now by `by` ms and fires what is due, cancelling one
            /// due timeout between the pop and the takes if `cancel_due`.
            Fire { by: u16, cancel_due: Option<usize> },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u16..50, 1u8..40).prop_map(|(delay, count)| Op::Add { delay, count }),
                (any::<usize>(), 1u8..60).prop_map(|(pick, count)| Op::Cancel { pick, count }),
                (0u16..30, proptest::option::of(any::<usize>()))
                    .prop_map(|(by, cancel_due)| Op::Fire { by, cancel_due }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

            #[test]
            fn timer_heap_matches_a_sorted_model(ops in proptest::collection::vec(op(), 1..120)) {
                let mut h = TimerHeap::default();
                let t0 = Instant::now();
                let loc = Location::caller();
                let mut now = 0u64;
                // (deadline ms, insertion number) -> handle: the live ones.
                let mut model: BTreeMap<(u64, usize), Timeout> = BTreeMap::new();
                let mut handles: Vec<(Timeout, (u64, usize))> = Vec::new();
                for op in ops {
                    match op {
                        Op::Add { delay, count } => {
                            for _ in 0..count {
                                let at = now + u64::from(delay);
                                let t = h.add(t0 + Duration::from_millis(at), noop(), loc);
                                let k = (at, handles.len());
                                model.insert(k, t);
                                handles.push((t, k));
                            }
                        }
                        Op::Cancel { pick, count } => {
                            for i in 0..usize::from(count) {
                                let Some(&(t, k)) = handles.get(pick.wrapping_add(i * 7) % handles.len().max(1)) else {
                                    break;
                                };
                                let was_live = model.remove(&k).is_some();
                                prop_assert_eq!(h.remove(t).is_some(), was_live);
                            }
                        }
                        Op::Fire { by, cancel_due } => {
                            now += u64::from(by);
                            let mut due = Vec::new();
                            h.pop_due(t0 + Duration::from_millis(now), &mut due);
                            let expected: Vec<Timeout> =
                                model.range(..(now + 1, 0)).map(|(_, t)| *t).collect();
                            prop_assert_eq!(&due, &expected, "due at {}", now);
                            let mut cancelled = None;
                            if let Some(i) = cancel_due.filter(|_| !due.is_empty()) {
                                let victim = due[i % due.len()];
                                prop_assert!(h.remove(victim).is_some(), "a due timeout can be cancelled");
                                cancelled = Some(victim);
                            }
                            for t in due {
                                prop_assert_eq!(h.take(t).is_some(), Some(t) != cancelled);
                            }
                            model.retain(|&(at, _), _| at > now);
                        }
                    }
                    prop_assert_eq!(h.pending(), model.len());
                    // Stale entries never exceed the compaction bound.
                    let stale = h.heap_len() - model.len();
                    prop_assert!(
                        stale <= COMPACT_MIN_CANCELLED || stale * 2 <= h.heap_len(),
                        "{} stale of {}", stale, h.heap_len()
                    );
                    let next = model.keys().next().map(|&(at, _)| t0 + Duration::from_millis(at));
                    prop_assert_eq!(h.next_deadline(), next);
                }
            }
        }
    }
}
