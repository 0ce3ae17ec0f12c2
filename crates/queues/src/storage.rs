//! Where a queue keeps its items, which decides the order they come out:
//! first in first out, last in first out, or lowest first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The item store of a [`Queue`](crate::Queue): it decides which item `get`
/// returns. Implement it for an order of your own.
pub trait Storage<T>: Default {
    /// The queue's name in its `Debug` output (`Queue`, `LifoQueue`, ...).
    const NAME: &'static str;

    /// Stores `item`.
    fn push(&mut self, item: T);

    /// Removes the next item in this store's order.
    fn pop(&mut self) -> Option<T>;

    /// The number of items stored.
    fn len(&self) -> usize;

    /// True if nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out: the store of [`Queue`](crate::Queue).
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: the store of [`LifoQueue`](crate::LifoQueue).
pub struct Lifo<T>(Vec<T>);

/// Lowest first (a min-heap; equal items in no set order): the store of
/// [`PriorityQueue`](crate::PriorityQueue). Items are typically
/// `(priority, data)` tuples.
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Storage<T> for Fifo<T> {
    const NAME: &'static str = "Queue";
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Storage<T> for Lifo<T> {
    const NAME: &'static str = "LifoQueue";
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Storage<T> for Priority<T> {
    const NAME: &'static str = "PriorityQueue";
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<S: Storage<u8>>(mut s: S, items: &[u8]) -> Vec<u8> {
        for &i in items {
            s.push(i);
        }
        assert_eq!(s.len(), items.len());
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn orders() {
        assert_eq!(drain(Fifo::default(), &[1, 3, 2]), [1, 3, 2]);
        assert_eq!(drain(Lifo::default(), &[1, 3, 2]), [2, 3, 1]);
        assert_eq!(drain(Priority::default(), &[1, 3, 2]), [1, 2, 3]);
        assert!(Fifo::<u8>::default().is_empty());
    }
}
