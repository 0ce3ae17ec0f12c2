//! `WaitIterator`: results in the order they finish.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future as StdFuture;
use std::rc::Rc;
use std::task::{Poll, Waker};

use tornado_concurrent::{Error, Future};

use crate::multi::convert_yielded;

/// What the done-callbacks share with the iterator.
#[derive(Default)]
struct Finished {
    /// Indices of finished futures, in the order they finished.
    order: VecDeque<usize>,
    /// The task awaiting `next`, if any.
    waker: Option<Waker>,
}

/// Yields each future's result as soon as it is done, with its index in
/// the input (Tornado's `gen.WaitIterator`).
///
/// ```
/// use tornado_concurrent::Future;
/// use tornado_gen::{WaitIterator, coroutine};
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// let order = ioloop.run_sync(|| coroutine(async {
///     let (a, b) = (Future::new(), Future::new());
///     let b2 = b.clone();
///     IOLoop::current().add_callback(move || b2.set_result("b").unwrap());
///     let mut it = WaitIterator::new(vec![a.clone(), b]);
///     let mut order = Vec::new();
///     while let Some((i, r)) = it.next().await {
///         order.push((i, r?));
///         if i == 1 {
///             a.set_result("a").unwrap();
///         }
///     }
///     Ok(order)
/// }), None).unwrap();
/// assert_eq!(order, vec![(1, "b"), (0, "a")]);
/// ```
pub struct WaitIterator<T: 'static> {
    /// The inputs; each is taken when its result is handed out.
    futures: Vec<Option<Future<T>>>,
    /// Filled by the inputs' done-callbacks.
    finished: Rc<RefCell<Finished>>,
    /// Results not yet handed out.
    remaining: usize,
    /// The index of the result handed out last (Tornado's `current_index`).
    current_index: Option<usize>,
}

impl<T: 'static> WaitIterator<T> {
    /// Starts watching every future in `futures`.
    pub fn new<F>(futures: Vec<F>) -> WaitIterator<T>
    where
        F: StdFuture<Output = Result<T, Error>> + 'static,
    {
        let finished: Rc<RefCell<Finished>> = Rc::default();
        let futures: Vec<Option<Future<T>>> = futures
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let f = convert_yielded(f);
                let fin = finished.clone();
                f.add_done_callback(move |_| {
                    let mut fin = fin.borrow_mut();
                    fin.order.push_back(i);
                    if let Some(w) = fin.waker.take() {
                        w.wake();
                    }
                });
                Some(f)
            })
            .collect();
        WaitIterator {
            remaining: futures.len(),
            futures,
            finished,
            current_index: None,
        }
    }

    /// True once every result was handed out.
    pub fn done(&self) -> bool {
        self.remaining == 0
    }

    /// The index of the result returned last; `None` before the first and
    /// once `next` has returned `None` (as Tornado's, once done).
    pub fn current_index(&self) -> Option<usize> {
        self.current_index
    }

    /// The next result to finish, with its index; `None` when all were
    /// returned.
    pub async fn next(&mut self) -> Option<(usize, Result<T, Error>)> {
        if self.remaining == 0 {
            self.current_index = None;
            return None;
        }
        let index = std::future::poll_fn(|cx| {
            let mut fin = self.finished.borrow_mut();
            match fin.order.pop_front() {
                Some(i) => Poll::Ready(i),
                None => {
                    fin.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        self.remaining -= 1;
        self.current_index = Some(index);
        let f = self.futures[index]
            .take()
            .expect("each index finishes once");
        Some((index, f.take_result()))
    }
}
