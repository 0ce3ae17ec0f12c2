//! Idle keep-alive connections, by the key of what they connect to
//! (scheme, host, port, proxy, TLS settings, source address), each closed
//! after an idle timeout, at most a few per key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use tornado_ioloop::{IOLoop, Timeout};
use tornado_iostream::IOStream;

/// One idle connection.
struct Idle {
    id: u64,
    stream: IOStream,
    timer: Timeout,
}

/// The idle connections of one client.
pub(crate) struct Pool {
    idle: HashMap<String, Vec<Idle>>,
    next_id: u64,
    /// Idle connections kept per key at most.
    pub(crate) max_idle_per_host: usize,
    /// How long a connection may stay idle.
    pub(crate) idle_timeout: Duration,
    /// Connections opened so far (for statistics and tests).
    pub(crate) opened: u64,
}

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: HashMap::new(),
            next_id: 0,
            max_idle_per_host,
            idle_timeout,
            opened: 0,
        }
    }

    /// The most recently returned open connection for `key`, if any
    /// (the most recent is the least likely to have been closed by its
    /// server).
    pub(crate) fn take(this: &Rc<RefCell<Pool>>, key: &str) -> Option<IOStream> {
        let ioloop = IOLoop::current();
        let mut pool = this.borrow_mut();
        let list = pool.idle.get_mut(key)?;
        let mut found = None;
        while let Some(idle) = list.pop() {
            ioloop.remove_timeout(idle.timer);
            if !idle.stream.closed() {
                found = Some(idle.stream);
                break;
            }
        }
        if list.is_empty() {
            pool.idle.remove(key);
        }
        found
    }

    /// Keeps `stream` for a later request to `key`, or closes it if the
    /// key already has its share of idle connections.
    pub(crate) fn put(this: &Rc<RefCell<Pool>>, key: String, stream: IOStream) {
        let mut pool = this.borrow_mut();
        let max = pool.max_idle_per_host;
        let list_len = pool.idle.get(&key).map_or(0, Vec::len);
        if list_len >= max || stream.closed() {
            stream.close();
            return;
        }
        pool.next_id += 1;
        let id = pool.next_id;
        let weak: Weak<RefCell<Pool>> = Rc::downgrade(this);
        let k = key.clone();
        let timer = IOLoop::current().call_later(pool.idle_timeout, move || {
            if let Some(pool) = weak.upgrade() {
                pool.borrow_mut().expire(&k, id);
            }
        });
        pool.idle
            .entry(key)
            .or_default()
            .push(Idle { id, stream, timer });
    }

    /// Closes the connection `id` of `key`, idle too long.
    fn expire(&mut self, key: &str, id: u64) {
        if let Some(list) = self.idle.get_mut(key) {
            if let Some(i) = list.iter().position(|c| c.id == id) {
                let idle = list.remove(i);
                log::debug!(target: "tornado.general", "closing idle connection to {key}");
                idle.stream.close();
            }
            if list.is_empty() {
                self.idle.remove(key);
            }
        }
    }

    /// Idle connections held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    /// Closes every idle connection.
    pub(crate) fn clear(&mut self) {
        let ioloop = IOLoop::current();
        for (_, list) in self.idle.drain() {
            for idle in list {
                ioloop.remove_timeout(idle.timer);
                idle.stream.close();
            }
        }
    }
}
