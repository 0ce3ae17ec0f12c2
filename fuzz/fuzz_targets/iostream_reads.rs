//! `IOStream` reads fed the same bytes in different pieces: a sequence of
//! `read_until`, `read_until_regex`, `read_bytes`, `read_into` and
//! `read_until_close` must give the same results (and the same failures)
//! whether the bytes arrive in one piece or in the fuzzer's pieces, and
//! the bytes read must be the input's, in order.
//!
//! The pieces are made by a transport over one end of a socket pair that
//! hands the stream at most the rest of the current piece per read (the
//! library's own Unix socket transport does the reading): as a peer
//! sending in those pieces would, but deterministic.
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tornado_fuzz::run;
use tornado_iostream::{IOStream, Regex, StreamOptions, Transport};

/// Regexes whose first match in a prefix of the input is also the first
/// match in the whole input (each ends in a fixed byte), so the results
/// cannot depend on how much had arrived when the stream searched.
const PATTERNS: &[&str] = &[r"\r?\n", r"[0-9]+;", r"a[^z]*z", r"(ab|b)c", r"\n\r?\n"];

#[derive(Arbitrary, Debug, Clone)]
enum Read {
    Until { delimiter: Vec<u8>, max: Option<u8> },
    Regex { pattern: u8, max: Option<u8> },
    Bytes { n: u8 },
    Into { n: u8 },
    UntilClose,
}

#[derive(Arbitrary, Debug)]
struct Input {
    data: Vec<u8>,
    /// Sizes of the pieces (cycled; 0 is read as 1).
    pieces: Vec<u8>,
    reads: Vec<Read>,
    /// A small read buffer limit, so that overflowing reads are covered.
    small_buffer: bool,
}

/// A socket end whose reads stop at piece boundaries.
struct Pieces {
    socket: UnixStream,
    /// Bytes left of each piece still to be read.
    left: Rc<RefCell<VecDeque<usize>>>,
}

// SAFETY: `read_uninit` forwards to the library's Unix socket transport
// with a shorter buffer, which upholds the contract.
unsafe impl Transport for Pieces {
    fn fd(&self) -> RawFd {
        self.socket.fd()
    }

    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        let mut left = self.left.borrow_mut();
        let cap = match left.front() {
            Some(&n) => n.min(buf.len()),
            None => buf.len(),
        };
        let n = self.socket.read_uninit(&mut buf[..cap])?;
        if let Some(front) = left.front_mut() {
            *front -= n;
            if *front == 0 {
                left.pop_front();
            }
        }
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Transport::write_vectored(&mut self.socket, bufs)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Transport::shutdown_write(&mut self.socket)
    }
}

/// What a read gave: its bytes, or its failure's type and message.
type Outcome = Result<Vec<u8>, String>;

/// Runs `reads` on a stream receiving `data` in `pieces`.
fn reads_over(data: &[u8], pieces: VecDeque<usize>, reads: &[Read], small: bool) -> Vec<Outcome> {
    let data = data.to_vec();
    let reads = reads.to_vec();
    run(async move {
        let (a, mut b) = UnixStream::pair()?;
        // The whole input fits the socket's buffer (the input is small).
        b.write_all(&data)?;
        b.shutdown(std::net::Shutdown::Write)?;
        let options = StreamOptions {
            max_buffer_size: if small {
                64
            } else {
                StreamOptions::default().max_buffer_size
            },
            ..StreamOptions::default()
        };
        let left = Rc::new(RefCell::new(pieces));
        let stream = IOStream::with_options(Pieces { socket: a, left }, options)?;
        let mut out = Vec::new();
        for r in reads {
            let f = match r {
                Read::Until { delimiter, max } => {
                    stream.read_until(&delimiter, max.map(usize::from))
                }
                Read::Regex { pattern, max } => {
                    let re = Regex::new(PATTERNS[usize::from(pattern) % PATTERNS.len()]).unwrap();
                    stream.read_until_regex(&re, max.map(usize::from))
                }
                Read::Bytes { n } => stream.read_bytes(usize::from(n), false),
                Read::Into { n } => stream.read_into(vec![0; usize::from(n)], false),
                Read::UntilClose => stream.read_until_close(),
            };
            let outcome = f.await.map_err(|e| e.to_string());
            let failed = outcome.is_err();
            out.push(outcome);
            if failed {
                break;
            }
        }
        drop(b);
        Ok(out)
    })
    .expect("the reads run")
}

fuzz_target!(|input: Input| {
    if input.data.len() > 16 * 1024 || input.reads.len() > 64 {
        return;
    }
    let whole = reads_over(
        &input.data,
        VecDeque::new(),
        &input.reads,
        input.small_buffer,
    );
    let mut pieces = VecDeque::new();
    let mut total = 0;
    let sizes = if input.pieces.is_empty() {
        vec![1]
    } else {
        input.pieces.clone()
    };
    for &s in sizes.iter().cycle() {
        if total >= input.data.len() {
            break;
        }
        let s = usize::from(s).max(1).min(input.data.len() - total);
        pieces.push_back(s);
        total += s;
    }
    let split = reads_over(&input.data, pieces, &input.reads, input.small_buffer);
    assert_eq!(
        whole, split,
        "reads differ between one piece and {:?}",
        input.pieces
    );
    let read: Vec<u8> = whole.iter().flatten().flatten().copied().collect();
    assert!(
        input.data.starts_with(&read),
        "the reads are not the input's bytes in order"
    );
});
