//! Behaviours of Tornado's `queues_test.py` that apply, plus the skipping
//! of cancelled and dropped waiters and a worker pool over a queue.
//! Timeouts run on a virtual clock: exact, and quick.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{TimeoutError, coroutine, moment, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::queues::{
    Deadline, LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, Storage, TaskDoneError,
};
use tornado_testing::{VirtualClock, gen_test};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time for this test's loop: timeouts are exact and instant.
fn virtual_time() -> Rc<VirtualClock> {
    VirtualClock::install(&IOLoop::current())
}

fn is_timeout(e: &Error) -> bool {
    e.is::<TimeoutError>()
}

// ----- basics ---------------------------------------------------------

#[gen_test]
async fn debug_output_like_tornado() {
    let q: Queue<()> = Queue::new(1);
    let _get = q.get();
    let s = format!("{q:?}");
    assert!(s.starts_with("<Queue") && s.contains("maxsize=1") && s.contains("getters[1]"));
    assert!(!s.contains("putters") && !s.contains("tasks"));
    let _puts = (q.put(()), q.put(()), q.put(())); // the last one blocks
    let s = format!("{q:?}");
    assert!(!s.contains("getters"));
    assert!(s.contains("putters[1]") && s.contains("tasks=2"), "{s}");
}

#[gen_test]
async fn fifo_order() {
    let q: Queue<u8> = Queue::new(0);
    for i in [1, 3, 2] {
        q.put_nowait(i).unwrap();
    }
    let items: Vec<u8> = (0..3).map(|_| q.get_nowait().unwrap()).collect();
    assert_eq!(items, [1, 3, 2]);
}

#[gen_test]
async fn maxsize() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(2);
    assert!(q.empty() && !q.full());
    assert_eq!(q.maxsize(), 2);
    assert!(q.put(0).done());
    assert!(q.put(1).done());
    assert!(!q.empty() && q.full());
    let put2 = q.put(2);
    assert!(!put2.done());
    assert_eq!(q.get().await?, 0); // makes room
    assert!(put2.done());
    assert!(!q.empty() && q.full());
    Ok(())
}

// ----- get ------------------------------------------------------------

#[gen_test]
async fn blocking_and_nonblocking_get() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(0);
    q.put_nowait(0).unwrap();
    assert_eq!(q.get().await?, 0);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    Ok(())
}

#[gen_test]
async fn get_with_putters() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(1);
    q.put_nowait(0).unwrap();
    let put = q.put(1);
    assert_eq!(q.get().await?, 0);
    put.await?;
    assert_eq!(q.get_nowait(), Ok(1));
    Ok(())
}

#[gen_test]
async fn blocking_get_wait() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(0);
    q.put(0).await?;
    let ioloop = IOLoop::current();
    let (q1, q2) = (q.clone(), q.clone());
    ioloop.call_later(ms(10), move || q1.put_nowait(1).unwrap());
    ioloop.call_later(ms(20), move || q2.put_nowait(2).unwrap());
    assert_eq!(q.get_timeout(Duration::from_secs(1)).await?, 0);
    assert_eq!(q.get_timeout(Duration::from_secs(1)).await?, 1);
    Ok(())
}

#[gen_test]
async fn get_timeout() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(0);
    let get_timeout = q.get_timeout(ms(10));
    let get = q.get();
    let err = get_timeout.await.unwrap_err();
    assert_eq!(err.downcast_ref(), Some(&TimeoutError(ms(10))));
    q.put_nowait(0).unwrap();
    assert_eq!(get.await?, 0, "the item skipped the timed-out getter");
    Ok(())
}

#[gen_test]
async fn get_zero_timeout_fails_at_once() {
    let ioloop = IOLoop::current();
    let q: Queue<u8> = Queue::new(0);
    let f = q.get_timeout(Duration::ZERO);
    assert!(is_timeout(&f.exception().expect("failed at once")));
    let g = q.get_timeout(Deadline::At(ioloop.time()));
    assert!(is_timeout(&g.exception().expect("failed at once")));
    q.put_nowait(5).unwrap();
    assert_eq!(q.get_timeout(Duration::ZERO).result().unwrap(), 5);
}

#[gen_test]
async fn get_timeout_preempted() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(0);
    let get = q.get_timeout(ms(10));
    q.put(0).await?;
    sleep(ms(20)).await;
    assert_eq!(get.await?, 0);
    Ok(())
}

#[gen_test]
async fn get_skips_timed_out_putters() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u32> = Queue::new(1);
    // The first put gets in; the other nine block, then time out.
    let putters: Vec<Future<()>> = (0..10).map(|i| q.put_timeout(i, ms(10))).collect();
    let put = q.put(10);
    sleep(ms(20)).await;
    assert!(!put.done(), "the untimed putter still waits");
    assert_eq!(q.get().await?, 0);
    assert!(put.done());
    assert_eq!(q.get().await?, 10, "no timed-out item ever got in");
    assert!(
        putters[1..]
            .iter()
            .all(|p| is_timeout(&p.exception().unwrap()))
    );
    assert!(q.empty());
    Ok(())
}

#[gen_test]
async fn put_skips_timed_out_getters() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(0);
    let getters: Vec<Future<u8>> = (0..10).map(|_| q.get_timeout(ms(10))).collect();
    let get = q.get();
    sleep(ms(20)).await;
    assert!(!get.done());
    q.put(0).await?;
    assert_eq!(get.await?, 0);
    assert!(getters.iter().all(|g| is_timeout(&g.exception().unwrap())));
    assert_eq!(format!("{q:?}"), "<Queue maxsize=0 tasks=1>");
    Ok(())
}

// ----- put ------------------------------------------------------------

#[gen_test]
async fn blocking_and_nonblocking_put() {
    let q: Queue<u8> = Queue::new(1);
    assert!(q.put(0).done());
    let full = q.put_nowait(1).unwrap_err();
    assert_eq!(full, QueueFull(1));
    assert_eq!(full.into_inner(), 1, "the item comes back");
    assert_eq!(q.get_nowait(), Ok(0));
}

#[gen_test]
async fn put_with_getters() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(0);
    let get0 = q.get();
    let get1 = q.get();
    q.put(0).await?;
    assert_eq!(get0.await?, 0);
    q.put(1).await?;
    assert_eq!(get1.await?, 1);
    Ok(())
}

#[gen_test]
async fn put_nowait_resumes_getters_on_the_next_iteration() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(0);
    let got = Rc::new(RefCell::new(Vec::new()));
    let (q2, g) = (q.clone(), got.clone());
    let getter = coroutine(async move {
        for _ in 0..2 {
            let item = q2.get().await?;
            g.borrow_mut().push(item);
        }
        Ok(())
    });
    q.put_nowait(0).unwrap();
    assert!(got.borrow().is_empty(), "resolved, but not resumed inline");
    moment().await;
    assert_eq!(*got.borrow(), [0]);
    q.put_nowait(1).unwrap();
    getter.await?;
    assert_eq!(*got.borrow(), [0, 1]);
    Ok(())
}

#[gen_test]
async fn blocking_put_wait() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(1);
    q.put_nowait(0).unwrap();
    for delay in [10, 20] {
        let q = q.clone();
        IOLoop::current().call_later(ms(delay), move || drop(q.get()));
    }
    let futures = vec![q.put(0), q.put(1)];
    assert!(!futures.iter().any(|f| f.done()));
    multi(futures).await?;
    Ok(())
}

#[gen_test]
async fn put_timeout() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(1);
    q.put_nowait(0).unwrap(); // now it is full
    let put_timeout = q.put_timeout(1, ms(10));
    let put = q.put(2);
    assert!(is_timeout(&put_timeout.await.unwrap_err()));
    assert_eq!(q.get_nowait(), Ok(0));
    assert_eq!(q.get().await?, 2, "1 was never put");
    put.await?;
    // A full queue and a deadline already passed: fails at once.
    q.put_nowait(3).unwrap();
    assert!(is_timeout(
        &q.put_timeout(4, Duration::ZERO).exception().unwrap()
    ));
    Ok(())
}

#[gen_test]
async fn put_timeout_preempted() -> Result<(), Error> {
    let _clock = virtual_time();
    let q: Queue<u8> = Queue::new(1);
    q.put_nowait(0).unwrap();
    let put = q.put_timeout(1, ms(10));
    assert_eq!(q.get().await?, 0);
    sleep(ms(20)).await;
    put.await?;
    Ok(())
}

// ----- cancellation and fairness --------------------------------------

#[gen_test]
async fn cancelled_and_dropped_getters_never_get_an_item() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(0);
    let cancelled = q.get();
    drop(q.get()); // nobody holds it
    let live = q.get();
    assert!(cancelled.cancel());
    q.put_nowait(7).unwrap();
    assert_eq!(live.await?, 7);
    assert!(q.empty() && cancelled.cancelled());
    // With no live getter left, the next item stays in the queue.
    drop(q.get());
    q.put_nowait(8).unwrap();
    assert_eq!(q.get_nowait(), Ok(8));
    Ok(())
}

#[gen_test]
async fn a_cancelled_put_never_gets_in() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(1);
    q.put_nowait(0).unwrap();
    let cancelled = q.put(1);
    drop(q.put(2)); // dropped: its item is dropped too
    let live = q.put(3);
    assert!(cancelled.cancel());
    assert_eq!(q.get_nowait(), Ok(0));
    assert!(live.done());
    assert_eq!(q.get_nowait(), Ok(3));
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    Ok(())
}

#[gen_test]
async fn getters_are_served_oldest_first() -> Result<(), Error> {
    let q: Queue<u8> = Queue::new(0);
    let order = Rc::new(RefCell::new(Vec::new()));
    let getters: Vec<Future<()>> = (0..3)
        .map(|i| {
            let (q, order) = (q.clone(), order.clone());
            coroutine(async move {
                let item = q.get().await?;
                order.borrow_mut().push((i, item));
                Ok(())
            })
        })
        .collect();
    for item in [10, 11, 12] {
        q.put(item).await?;
    }
    multi(getters).await?;
    assert_eq!(*order.borrow(), [(0, 10), (1, 11), (2, 12)]);
    Ok(())
}

// ----- task_done and join, for every kind of queue --------------------

async fn join_behaviours<S: Storage<u32> + 'static>() -> Result<(), Error> {
    let _clock = virtual_time();
    // task_done underflow.
    let q: Queue<u32, S> = Queue::new(0);
    assert_eq!(q.task_done(), Err(TaskDoneError));

    // Two workers share 100 items; join returns once each is done.
    for i in 0..100 {
        q.put_nowait(i).unwrap();
    }
    let total = Rc::new(Cell::new(0));
    let _workers: Vec<Future<()>> = (0..2)
        .map(|w| {
            let (q, total) = (q.clone(), total.clone());
            coroutine(async move {
                for n in 0u64.. {
                    let item = q.get().await?;
                    total.set(total.get() + item);
                    q.task_done()?;
                    sleep(ms((n * 7 + w) % 10)).await;
                }
                Ok(())
            })
        })
        .collect();
    q.join().await?;
    assert_eq!(total.get(), (0..100).sum::<u32>());

    // It is task_done, not get, that unblocks join.
    q.put_nowait(0).unwrap();
    let q2: Queue<u32, S> = Queue::new(0);
    q2.put_nowait(0).unwrap();
    let join = q2.join();
    assert!(!join.done());
    q2.get().await?;
    moment().await;
    assert!(!join.done());
    q2.task_done()?;
    assert!(join.done());

    // join on an empty queue, twice; join with a timeout.
    let empty: Queue<u32, S> = Queue::new(0);
    empty.join().await?;
    empty.join().await?;
    let pending: Queue<u32, S> = Queue::new(0);
    pending.put_nowait(0).unwrap();
    assert!(is_timeout(&pending.join_timeout(ms(10)).await.unwrap_err()));
    Ok(())
}

#[gen_test]
async fn queue_task_done_and_join() -> Result<(), Error> {
    join_behaviours::<tornado::queues::Fifo<u32>>().await
}

#[gen_test]
async fn priority_queue_task_done_and_join() -> Result<(), Error> {
    join_behaviours::<tornado::queues::Priority<u32>>().await
}

#[gen_test]
async fn lifo_queue_task_done_and_join() -> Result<(), Error> {
    join_behaviours::<tornado::queues::Lifo<u32>>().await
}

#[gen_test]
async fn priority_queue_order() -> Result<(), Error> {
    let q = PriorityQueue::new(2);
    q.put_nowait((1, "a")).unwrap();
    q.put_nowait((0, "b")).unwrap();
    assert!(q.full());
    let puts = (q.put((3, "c")), q.put((2, "d")));
    assert_eq!(q.get_nowait(), Ok((0, "b")));
    assert_eq!(q.get().await?, (1, "a"));
    assert_eq!(q.get_nowait(), Ok((2, "d")));
    assert_eq!(q.get().await?, (3, "c"));
    assert!(q.empty() && puts.0.done() && puts.1.done());
    Ok(())
}

#[gen_test]
async fn lifo_queue_order() -> Result<(), Error> {
    let q = LifoQueue::new(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(0).unwrap();
    assert!(q.full());
    let puts = (q.put(3), q.put(2));
    assert_eq!(q.get_nowait(), Ok(3));
    assert_eq!(q.get().await?, 2);
    assert_eq!(q.get_nowait(), Ok(0));
    assert_eq!(q.get().await?, 1);
    assert!(q.empty() && puts.0.done() && puts.1.done());
    Ok(())
}

// ----- producers and consumers ----------------------------------------

#[gen_test]
async fn producer_consumer() -> Result<(), Error> {
    let q: Queue<u32> = Queue::new(3);
    let history = Rc::new(RefCell::new(Vec::new()));
    let (qc, h) = (q.clone(), history.clone());
    let _consumer: Future<()> = coroutine(async move {
        loop {
            let item = qc.get().await?;
            h.borrow_mut().push(item);
            qc.task_done()?;
        }
    });
    let qp = q.clone();
    coroutine(async move {
        for item in 0..10 {
            qp.put(item).await?;
        }
        Ok(())
    })
    .await?;
    q.join().await?;
    assert_eq!(*history.borrow(), (0..10).collect::<Vec<_>>());
    Ok(())
}

#[gen_test]
async fn a_worker_pool_over_a_queue() -> Result<(), Error> {
    // The web spider's shape without a network: each "page" links to two
    // more, up to 31 pages, fetched by 4 workers; join ends the crawl and
    // `None` items stop the workers.
    let _clock = virtual_time();
    let q: Queue<Option<u32>> = Queue::new(0);
    let seen = Rc::new(RefCell::new(std::collections::BTreeSet::new()));
    let busy = Rc::new(Cell::new((0u32, 0u32))); // (now, most at once)
    let workers: Vec<Future<u32>> = (0..4)
        .map(|_| {
            let (q, seen, busy) = (q.clone(), seen.clone(), busy.clone());
            coroutine(async move {
                let mut fetched = 0;
                while let Some(page) = q.get().await? {
                    if seen.borrow_mut().insert(page) {
                        let (now, most) = busy.get();
                        busy.set((now + 1, most.max(now + 1)));
                        sleep(ms(10)).await; // the "fetch"
                        busy.set((busy.get().0 - 1, busy.get().1));
                        fetched += 1;
                        for link in [2 * page + 1, 2 * page + 2] {
                            if link < 31 {
                                q.put(Some(link)).await?;
                            }
                        }
                    }
                    q.task_done()?;
                }
                Ok(fetched)
            })
        })
        .collect();
    q.put(Some(0)).await?;
    q.join_timeout(Duration::from_secs(300)).await?;
    for _ in 0..4 {
        q.put(None).await?;
    }
    let per_worker = multi(workers).await?;
    assert_eq!(per_worker.iter().sum::<u32>(), 31);
    assert_eq!(seen.borrow().len(), 31);
    assert_eq!(busy.get().1, 4, "the workers fetched concurrently");
    Ok(())
}
