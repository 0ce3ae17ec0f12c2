//! The read and write buffers.
//!
//! Both are linear in the data they carry: the read buffer only moves its
//! unread bytes to the front when the consumed prefix is at least half of
//! it, and hands the whole allocation out, uncopied, when a read takes all
//! it holds. An emptied buffer keeps no allocation, so idle streams cost
//! nothing here.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use crate::transport::Transport;

/// Bytes read from the transport and not yet handed to a read.
#[derive(Default)]
pub(crate) struct ReadBuffer {
    /// `data[start..]` are the unread bytes.
    data: Vec<u8>,
    /// Bytes at the front already handed out.
    start: usize,
}

impl ReadBuffer {
    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// Reads once from `transport`, up to `chunk` bytes, appending them.
    pub(crate) fn read_from(
        &mut self,
        transport: &mut dyn Transport,
        chunk: usize,
    ) -> io::Result<usize> {
        if self.start > 0 && self.start * 2 >= self.data.len() {
            self.data.drain(..self.start);
            self.start = 0;
        }
        if self.data.capacity() == 0 {
            self.data = pool_take(chunk);
        }
        self.data.reserve(chunk);
        let spare = self.data.spare_capacity_mut();
        let len = spare.len().min(chunk);
        let n = match transport.read_uninit(&mut spare[..len]) {
            Ok(n) => n,
            Err(e) => {
                // Nothing came (typically WouldBlock): an empty buffer, of
                // any size, goes back to the pool rather than sit on an idle
                // stream (a WebSocket idle after a 16 KiB message held 16 KiB
                // here). A stream moving big messages gets it back from the
                // pool at its next read, without a malloc: the pool is
                // bounded by bytes, not by count.
                if self.data.is_empty() {
                    self.clear();
                }
                return Err(e);
            }
        };
        assert!(
            n <= len,
            "Transport::read_uninit returned more than it was given"
        );
        // SAFETY: the `Transport` contract says the first `n` spare bytes
        // were initialised, and `n` fits in the capacity.
        unsafe { self.data.set_len(self.data.len() + n) };
        Ok(n)
    }

    /// Removes and returns the first `n` unread bytes (`n <= len`).
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        debug_assert!(n <= self.len());
        if n == self.len() {
            // Hand the allocation over when the data fills most of it; for
            // a small message copy it out and recycle the buffer instead, so
            // that the next read needs no large allocation.
            if self.start == 0 && n * 2 >= self.data.capacity() {
                return std::mem::take(&mut self.data);
            }
            let out = self.data[self.start..].to_vec();
            self.clear();
            return out;
        }
        let out = self.data[self.start..self.start + n].to_vec();
        self.start += n;
        out
    }

    /// Copies the first `n` unread bytes into `dest[..n]` and drops them.
    pub(crate) fn take_into(&mut self, dest: &mut [u8]) {
        let n = dest.len();
        dest.copy_from_slice(&self.data[self.start..self.start + n]);
        self.start += n;
        if self.start == self.data.len() {
            self.clear();
        }
    }

    /// Empties the buffer; its allocation goes back to the thread's pool,
    /// so an idle stream holds none.
    pub(crate) fn clear(&mut self) {
        pool_put(std::mem::take(&mut self.data));
        self.start = 0;
    }
}

/// Most bytes of buffers a thread keeps for reuse: enough for a few hundred
/// connections moving 16 KiB messages at once. A pool smaller than the
/// buffers in flight frees the rest each round, and glibc then trims and
/// regrows its heap (a `brk` and page faults per message).
const POOL_MAX_BYTES: usize = 8 << 20;

/// Largest buffer worth keeping (the default largest read chunk, doubled).
const POOL_MAX_CAPACITY: usize = 128 * 1024;

/// Emptied buffers of one thread's streams, and their total capacity.
struct Pool {
    /// The buffers, the most recently returned last.
    bufs: Vec<Vec<u8>>,
    /// Sum of their capacities, at most `POOL_MAX_BYTES`.
    bytes: usize,
}

thread_local! {
    /// Emptied read buffers of this thread's streams. Streams on one loop
    /// take turns reading, so a few buffers serve many connections: active
    /// streams skip a large allocation per message, idle ones hold none.
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool { bufs: Vec::new(), bytes: 0 })
    };
}

/// How many of the most recent pooled buffers a take looks at: the pool
/// mostly holds one size, so the first usually fits; the bound keeps a
/// pool of small buffers from costing a long scan per read.
const POOL_SCAN: usize = 16;

/// A buffer with room for `chunk` bytes, from the pool if one fits (the
/// most recently returned first: the likeliest to be in cache).
fn pool_take(chunk: usize) -> Vec<u8> {
    POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let from = p.bufs.len().saturating_sub(POOL_SCAN);
        let i = from + p.bufs[from..].iter().rposition(|b| b.capacity() >= chunk)?;
        let buf = p.bufs.swap_remove(i);
        p.bytes -= buf.capacity();
        Some(buf)
    })
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Returns an emptied buffer to the pool (or frees it).
fn pool_put(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > POOL_MAX_CAPACITY {
        return;
    }
    buf.clear();
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.bytes + buf.capacity() <= POOL_MAX_BYTES {
            p.bytes += buf.capacity();
            p.bufs.push(buf);
        }
    });
}

/// Smallest written buffer taken back into the pool: a read buffer's
/// smallest chunk. Smaller ones (an HTTP response head) are cheap to
/// allocate, and would sit on top of the pool where a read looks first.
const RECYCLE_MIN_CAPACITY: usize = crate::stream::MIN_CHUNK;

/// A buffer whose bytes went to the kernel: back to the pool if it is one a
/// read could use. An echo (or a proxy) then passes one allocation from
/// read to write and back, instead of allocating and freeing (and, with
/// glibc, growing and trimming the heap, page faults included) per message.
pub(crate) fn recycle(buf: Vec<u8>) {
    if buf.capacity() >= RECYCLE_MIN_CAPACITY {
        pool_put(buf);
    }
}

/// Data handed to `write` and not yet to the kernel, in order.
#[derive(Default)]
pub(crate) struct WriteBuffer {
    /// Whole chunks as given to `write`.
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    offset: usize,
    /// Unwritten bytes in all chunks.
    len: usize,
    /// Total bytes ever written to the transport (for write futures).
    written: u64,
    /// Total bytes ever queued.
    queued: u64,
}

impl WriteBuffer {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn queued(&self) -> u64 {
        self.queued
    }

    /// Counts bytes written without queueing them (a direct write).
    pub(crate) fn count_direct(&mut self, n: usize) {
        self.written += n as u64;
        self.queued += n as u64;
    }

    /// Queues what a direct write of `data` left: its first `written` bytes
    /// already went to the kernel. Only valid on an empty buffer.
    pub(crate) fn push_partial(&mut self, data: Vec<u8>, written: usize) {
        debug_assert!(self.chunks.is_empty() && written < data.len());
        self.written += written as u64;
        self.queued += written as u64;
        self.len += data.len() - written;
        self.queued += (data.len() - written) as u64;
        self.offset = written;
        self.chunks.push_back(data);
    }

    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        self.queued += data.len() as u64;
        self.chunks.push_back(data);
    }

    /// Writes as much as the transport takes, in as few calls as it can.
    /// Returns `Ok(true)` when all was written, `Ok(false)` on `WouldBlock`.
    pub(crate) fn write_to(&mut self, transport: &mut dyn Transport) -> io::Result<bool> {
        while self.len > 0 {
            let mut slices: [IoSlice<'_>; 16] = [IoSlice::new(&[]); 16];
            let mut count = 0;
            for (i, chunk) in self.chunks.iter().take(slices.len()).enumerate() {
                let from = if i == 0 { self.offset } else { 0 };
                slices[i] = IoSlice::new(&chunk[from..]);
                count += 1;
            }
            let n = match transport.write_vectored(&slices[..count]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the transport accepted no bytes",
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.advance(n);
        }
        Ok(true)
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        self.written += n as u64;
        while n > 0 {
            let front = self
                .chunks
                .front()
                .expect("written bytes were queued")
                .len()
                - self.offset;
            if n >= front {
                n -= front;
                if let Some(done) = self.chunks.pop_front() {
                    recycle(done);
                }
                self.offset = 0;
            } else {
                self.offset += n;
                n = 0;
            }
        }
        if self.chunks.is_empty() {
            // Free the deque's storage too: idle streams hold nothing.
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::{self, IoSlice};
    use std::mem::MaybeUninit;
    use std::os::fd::RawFd;

    use proptest::prelude::*;

    use super::ReadBuffer;
    use crate::transport::Transport;

    /// Bytes a peer has sent and the kernel holds: reads take what fits,
    /// `WouldBlock` when none is there.
    #[derive(Default)]
    pub(super) struct Kernel(VecDeque<u8>);

    // SAFETY: `read_uninit` initialises exactly the bytes it counts.
    unsafe impl Transport for Kernel {
        fn fd(&self) -> RawFd {
            -1
        }

        fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.0.len());
            for (slot, b) in buf.iter_mut().zip(self.0.drain(..n)) {
                slot.write(b);
            }
            Ok(n)
        }

        fn write_vectored(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }

        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// The peer sends `len` bytes; the stream reads once, up to `chunk`.
        Read {
            len: usize,
            chunk: usize,
        },
        Take(usize),
        TakeInto(usize),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..3000, 1usize..5000).prop_map(|(len, chunk)| Op::Read { len, chunk }),
            2 => any::<usize>().prop_map(Op::Take),
            2 => any::<usize>().prop_map(Op::TakeInto),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The read buffer against a `Vec<u8>`: the same bytes, in order,
        /// whatever the mix of reads (compaction, pooled allocations, short
        /// reads) and takes (handed over or copied); and an emptied buffer
        /// holds no allocation.
        #[test]
        fn read_buffer_matches_a_vec(ops in proptest::collection::vec(op(), 1..80)) {
            let mut buf = ReadBuffer::default();
            let mut kernel = Kernel::default();
            let mut model: Vec<u8> = Vec::new();
            let mut sent: u8 = 0;
            for op in ops {
                match op {
                    Op::Read { len, chunk } => {
                        for _ in 0..len {
                            kernel.0.push_back(sent);
                            sent = sent.wrapping_add(1);
                        }
                        let had = kernel.0.clone();
                        match buf.read_from(&mut kernel, chunk) {
                            Ok(n) => {
                                prop_assert_eq!(n, chunk.min(had.len()));
                                model.extend(had.iter().take(n));
                            }
                            Err(e) => {
                                prop_assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                                prop_assert!(had.is_empty());
                            }
                        }
                    }
                    Op::Take(n) => {
                        let n = n % (model.len() + 1);
                        let out = buf.take(n);
                        prop_assert_eq!(&out[..], &model[..n]);
                        model.drain(..n);
                    }
                    Op::TakeInto(n) => {
                        let n = n % (model.len() + 1);
                        let mut dest = vec![0; n];
                        buf.take_into(&mut dest);
                        prop_assert_eq!(&dest[..], &model[..n]);
                        model.drain(..n);
                        if model.is_empty() {
                            prop_assert_eq!(buf.data.capacity(), 0, "emptied, yet holding memory");
                        }
                    }
                    Op::Clear => {
                        buf.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(buf.len(), model.len());
                prop_assert_eq!(buf.is_empty(), model.is_empty());
                prop_assert_eq!(buf.bytes(), &model[..]);
            }
        }
    }
}

#[cfg(test)]
mod pool_tests {
    use super::{POOL, POOL_MAX_BYTES, RECYCLE_MIN_CAPACITY, ReadBuffer, pool_take, recycle};

    fn pooled_bytes() -> usize {
        POOL.with(|p| p.borrow().bytes)
    }

    fn empty_pool() {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            p.bufs.clear();
            p.bytes = 0;
        });
    }

    #[test]
    fn a_written_buffer_comes_back_for_the_next_read() {
        empty_pool();
        let buf = Vec::<u8>::with_capacity(32 * 1024);
        let ptr = buf.as_ptr();
        recycle(buf);
        assert_eq!(pooled_bytes(), 32 * 1024);
        // A smaller buffer returned later does not hide the one that fits.
        recycle(Vec::with_capacity(4096));
        let again = pool_take(32 * 1024);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert_eq!(pooled_bytes(), 4096);
        // Nothing fits: a new (empty) buffer, the pool untouched.
        assert_eq!(pool_take(64 * 1024).capacity(), 0);
        assert_eq!(pooled_bytes(), 4096);
        empty_pool();
    }

    /// Nothing to read: the stream keeps no buffer, however large the
    /// last message made it; the next read gets the same allocation back.
    #[test]
    fn an_idle_stream_gives_its_buffer_back_whatever_its_size() {
        empty_pool();
        // A peer that sent nothing: every read would block.
        let mut dry = super::tests::Kernel::default();
        let mut rb = ReadBuffer::default();
        assert!(rb.read_from(&mut dry, 32 * 1024).is_err());
        assert_eq!(rb.data.capacity(), 0, "an idle stream holds no buffer");
        assert!(pooled_bytes() >= 32 * 1024);
        let ptr = POOL.with(|p| p.borrow().bufs.last().map(|b| b.as_ptr()));
        assert!(rb.read_from(&mut dry, 32 * 1024).is_err());
        let again = POOL.with(|p| p.borrow().bufs.last().map(|b| b.as_ptr()));
        assert_eq!(ptr, again, "the same allocation went out and back");
        empty_pool();
    }

    #[test]
    fn small_buffers_are_not_kept_and_the_pool_is_bounded() {
        empty_pool();
        recycle(Vec::with_capacity(RECYCLE_MIN_CAPACITY - 1));
        assert_eq!(pooled_bytes(), 0);
        let size = 64 * 1024;
        for _ in 0..(POOL_MAX_BYTES / size + 10) {
            recycle(Vec::with_capacity(size));
        }
        assert_eq!(pooled_bytes(), POOL_MAX_BYTES);
        empty_pool();
    }
}
