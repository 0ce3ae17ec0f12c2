//! `multi` (waiting for several futures at once), `convert_yielded` and
//! `maybe_future`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future as StdFuture;
use std::rc::Rc;

use tornado_concurrent::{Error, Future};

use crate::coroutine::coroutine;

/// Turns anything awaitable into a Tornado [`Future`] (Tornado's
/// `convert_yielded`): a `Future` is returned as it is, any other future is
/// started as a coroutine.
pub fn convert_yielded<T, F>(future: F) -> Future<T>
where
    T: 'static,
    F: StdFuture<Output = Result<T, Error>> + 'static,
{
    let mut slot = Some(future);
    if let Some(f) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Future<T>>>() {
        return f.take().expect("just filled");
    }
    coroutine(slot.take().expect("just filled"))
}

/// A future already resolved with `value` (Tornado's `maybe_future`, for
/// code that may or may not have a value at hand).
pub fn maybe_future<T: 'static>(value: T) -> Future<T> {
    Future::resolved(value)
}

/// A collection of futures that [`multi`] can wait for: a `Vec` of futures
/// of one type, or a tuple of up to eight futures of any types. The values
/// must be `Clone` because a future listed twice gives its value at both
/// places (only those repeats are cloned; wrap other values in an `Rc`).
pub trait Multi {
    /// The results, in the collection's order.
    type Output: 'static;

    /// Starts waiting; see [`multi`].
    fn into_multi(self) -> Future<Self::Output>;
}

/// Waits for every future in `futures` and resolves with their results in
/// order (Tornado's `gen.multi`). The first error wins and is returned at
/// once; the other futures still run to completion, and their errors are
/// logged (target `tornado.application`).
///
/// ```
/// use tornado_concurrent::Future;
/// use tornado_gen::{coroutine, multi};
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// let (a, b) = ioloop
///     .run_sync(|| coroutine(async {
///         let (a, b) = multi((Future::resolved(1), async { Ok("two") })).await?;
///         Ok((a, b))
///     }), None)
///     .unwrap();
/// assert_eq!((a, b), (1, "two"));
/// ```
pub fn multi<M: Multi>(futures: M) -> Future<M::Output> {
    futures.into_multi()
}

/// The bookkeeping shared by the children's done-callbacks.
struct State<O> {
    /// What `multi` returned.
    result: Future<O>,
    /// Children not yet done.
    remaining: Cell<usize>,
    /// Collects the children's values once all succeeded.
    collect: RefCell<Option<Box<dyn FnOnce() -> O>>>,
    /// Identities of the futures listed so far (see `distinct`).
    seen: RefCell<HashSet<usize>>,
}

impl<O: 'static> State<O> {
    fn new(count: usize) -> Rc<State<O>> {
        Rc::new(State {
            result: Future::new(),
            remaining: Cell::new(count),
            collect: RefCell::new(None),
            seen: RefCell::new(HashSet::new()),
        })
    }

    /// The child to collect from at the next position. A future listed a
    /// second time gives its value at both places (as in Tornado): the later
    /// place gets a copy, made before anything can take the original's
    /// value, since the result is collected only once every copy is done.
    /// The copy is watched without reporting its error, which the original
    /// already reports.
    fn distinct<T: Clone + 'static>(self: &Rc<Self>, child: Future<T>) -> Future<T> {
        if self.seen.borrow_mut().insert(child.identity()) {
            self.watch(&child, true);
            return child;
        }
        let copy = Future::new();
        let c = copy.clone();
        child.add_done_callback(move |f| {
            let _ = match f.result() {
                Ok(v) => c.set_result(v),
                Err(e) => c.set_exception(e),
            };
        });
        self.watch(&copy, false);
        copy
    }

    /// Watches one child; `report`: its error fails (or is logged).
    fn watch<T: 'static>(self: &Rc<Self>, child: &Future<T>, report: bool) {
        let state = self.clone();
        child.add_done_callback(move |c| {
            let error = if report { c.exception() } else { None };
            state.child_done(error)
        });
    }

    fn child_done(&self, error: Option<Error>) {
        self.remaining.set(self.remaining.get() - 1);
        if let Some(e) = error {
            if self.result.done() {
                if !e.is_cancelled() {
                    log::error!(target: "tornado.application", "Multiple exceptions in yield list: {e}");
                }
            } else {
                let _ = self.result.set_exception(e);
            }
        }
        self.finish_if_complete();
    }

    /// Sets how the values are collected, once the children are known.
    fn collect_with(self: &Rc<Self>, collect: Box<dyn FnOnce() -> O>) -> Future<O> {
        *self.collect.borrow_mut() = Some(collect);
        self.finish_if_complete();
        self.result.clone()
    }

    fn finish_if_complete(&self) {
        if self.remaining.get() == 0 && !self.result.done() {
            let collect = self.collect.borrow_mut().take();
            if let Some(collect) = collect {
                let _ = self.result.set_result(collect());
            }
        }
    }
}

/// The value of a child known to have succeeded.
fn value<T: 'static>(f: &Future<T>) -> T {
    f.take_result()
        .expect("multi collects only after every child succeeded")
}

impl<F, T> Multi for Vec<F>
where
    T: Clone + 'static,
    F: StdFuture<Output = Result<T, Error>> + 'static,
{
    type Output = Vec<T>;

    fn into_multi(self) -> Future<Vec<T>> {
        let state = State::new(self.len());
        let children: Vec<Future<T>> = self
            .into_iter()
            .map(|f| state.distinct(convert_yielded(f)))
            .collect();
        state.collect_with(Box::new(move || children.iter().map(value).collect()))
    }
}

macro_rules! multi_tuple {
    ($($F:ident $T:ident $i:tt),+) => {
        impl<$($F, $T),+> Multi for ($($F,)+)
        where
            $($T: Clone + 'static, $F: StdFuture<Output = Result<$T, Error>> + 'static,)+
        {
            type Output = ($($T,)+);

            fn into_multi(self) -> Future<Self::Output> {
                let count = [$(stringify!($i)),+].len();
                let state = State::new(count);
                let children = ($(state.distinct(convert_yielded(self.$i)),)+);
                state.collect_with(Box::new(move || ($(value(&children.$i),)+)))
            }
        }
    };
}
multi_tuple!(F0 T0 0);
multi_tuple!(F0 T0 0, F1 T1 1);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2, F3 T3 3);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2, F3 T3 3, F4 T4 4);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2, F3 T3 3, F4 T4 4, F5 T5 5);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2, F3 T3 3, F4 T4 4, F5 T5 5, F6 T6 6);
multi_tuple!(F0 T0 0, F1 T1 1, F2 T2 2, F3 T3 3, F4 T4 4, F5 T5 5, F6 T6 6, F7 T7 7);
