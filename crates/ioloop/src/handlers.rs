//! The fd-handler table, indexed by fd number.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::panic::Location;
use std::rc::Rc;

use crate::events::Events;
use crate::selector::Trigger;

/// A handler as stored: shared so that it can be called without holding a
/// borrow of the table (it may add or remove handlers itself).
pub(crate) type Handler = Rc<RefCell<dyn FnMut(RawFd, Events)>>;

/// One registered fd.
pub(crate) struct Entry {
    /// The events the user asked for (`ERROR` is always delivered).
    pub(crate) events: Events,
    /// `Level`: called again while the fd stays ready. `Edge`: the handler
    /// drains the fd itself and is called once per readiness change.
    pub(crate) trigger: Trigger,
    /// Whether the selector watches the fd (only when `events` has READ or
    /// WRITE; an ERROR-only registration lives in the table alone).
    pub(crate) in_backend: bool,
    /// Whether `close(true)` closes the fd: false when a Rust object owns
    /// it and closes it itself.
    pub(crate) loop_may_close: bool,
    /// The user's callback.
    pub(crate) handler: Handler,
    /// Where `add_handler` was called, for logs.
    pub(crate) location: &'static Location<'static>,
    /// The poll generation at registration: events from that poll predate
    /// the handler and are not delivered to it.
    pub(crate) added_poll: u64,
    /// The poll generation of the last delivery, to deliver once per poll.
    pub(crate) last_poll: u64,
}

/// All handlers of one loop. Fds are small integers, so a vector beats a
/// hash map here.
#[derive(Default)]
pub(crate) struct HandlerTable {
    /// Entry per fd number.
    entries: Vec<Option<Entry>>,
    /// Number of `Some` entries.
    count: usize,
}

impl HandlerTable {
    pub(crate) fn get(&self, fd: RawFd) -> Option<&Entry> {
        self.entries.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, fd: RawFd) -> Option<&mut Entry> {
        self.entries.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    pub(crate) fn contains(&self, fd: RawFd) -> bool {
        self.get(fd).is_some()
    }

    /// Inserts; the caller checked that `fd` (non-negative) is free.
    pub(crate) fn insert(&mut self, fd: RawFd, entry: Entry) {
        let i = fd as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
        }
        debug_assert!(self.entries[i].is_none());
        self.entries[i] = Some(entry);
        self.count += 1;
    }

    pub(crate) fn remove(&mut self, fd: RawFd) -> Option<Entry> {
        let entry = self.entries.get_mut(usize::try_from(fd).ok()?)?.take()?;
        self.count -= 1;
        Some(entry)
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Every registered fd, in order.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].is_some())
            .map(|i| i as RawFd)
            .collect()
    }
}
