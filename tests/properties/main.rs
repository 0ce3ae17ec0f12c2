//! Property tests (proptest) of invariants the hand-written cases only
//! sample: the loop's timers against a sorted model, and the waiters of
//! queues and locks against FIFO models, all on a virtual clock. Case
//! counts are kept small so that the whole file runs in seconds; the heap,
//! the read buffer and chunked encoding have theirs as unit tests in their
//! crates (`timeouts.rs`, `buffer.rs`, `http1/chunked_props.rs`).

mod timers;
mod waiters;
