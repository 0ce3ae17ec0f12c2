//! The readiness flags of fd handlers: `READ` (and `READ_CLOSED`),
//! `WRITE`, `ERROR`.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of readiness events, as Tornado's `IOLoop.READ | IOLoop.WRITE`.
///
/// ```
/// use tornado_ioloop::Events;
/// let ev = Events::READ | Events::WRITE;
/// assert!(ev.contains(Events::READ));
/// assert!(!ev.contains(Events::ERROR));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Events(u8);

impl Events {
    /// No events.
    pub const NONE: Events = Events(0);
    /// The fd is readable (data, a pending connection, or EOF).
    pub const READ: Events = Events(0x01);
    /// Comes with `READ` when the peer will send nothing more (it shut
    /// down its writing half, or hung up): what is buffered in the kernel
    /// is all there is. Edge-triggered backends report it, so a reader that
    /// stops before `WouldBlock` knows the fd will not signal again; a
    /// level-triggered backend may leave it out (the fd stays readable).
    pub const READ_CLOSED: Events = Events(0x02);
    /// The fd is writable.
    pub const WRITE: Events = Events(0x04);
    /// An error or hang-up on the fd; always reported, whatever was asked.
    pub const ERROR: Events = Events(0x18);
    /// The fd is no longer open (it was closed behind the loop's back). The
    /// loop delivers it with `ERROR` once, after dropping the registration.
    pub const INVALID: Events = Events(0x20);

    /// True if every event in `other` is set here.
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// True if any event in `other` is set here.
    pub const fn intersects(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no event is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Wants `READ` or `WRITE`: something a backend must be asked to watch.
    pub const fn wants_io(self) -> bool {
        self.intersects(Events(Self::READ.0 | Self::WRITE.0))
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Events {
    type Output = Events;
    fn bitand(self, rhs: Events) -> Events {
        Events(self.0 & rhs.0)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Events::READ, "READ"),
            (Events::READ_CLOSED, "READ_CLOSED"),
            (Events::WRITE, "WRITE"),
            (Events::ERROR, "ERROR"),
            (Events::INVALID, "INVALID"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(e, _)| self.contains(*e))
            .map(|(_, n)| *n)
            .collect();
        if set.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}
