//! Syscalls saved by the stream, counted through a transport that counts:
//! a read that returns less than it asked for has emptied a socket, so the
//! stream waits for the loop's next event instead of reading again only to
//! be told `WouldBlock` (and still sees the peer's close when that close
//! came with the last data); a corked stream sends one iteration's writes
//! in one `writev`.

mod common;

use std::cell::Cell;
use std::io::{self, IoSlice, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use tornado::r#gen::{coroutine, sleep};
use tornado::iostream::{IOStream, Transport};

/// Counts of a transport's calls: reads, reads that found nothing, writes.
#[derive(Default)]
struct Counts {
    reads: Cell<usize>,
    would_block: Cell<usize>,
    writes: Cell<usize>,
}

/// A Unix socket that counts its reads.
struct Counting {
    inner: UnixStream,
    counts: Rc<Counts>,
}

// SAFETY: `read_uninit` returns what the Unix socket's own (conforming)
// `read_uninit` returned.
unsafe impl Transport for Counting {
    fn fd(&self) -> RawFd {
        Transport::fd(&self.inner)
    }
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        self.counts.reads.set(self.counts.reads.get() + 1);
        let r = self.inner.read_uninit(buf);
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.counts
                .would_block
                .set(self.counts.would_block.get() + 1);
        }
        r
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.counts.writes.set(self.counts.writes.get() + 1);
        Transport::write_vectored(&mut self.inner, bufs)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Transport::shutdown_write(&mut self.inner)
    }
    fn short_read_drains(&self) -> bool {
        self.inner.short_read_drains()
    }
}

fn counting_pair() -> (IOStream, Rc<Counts>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    let counts = Rc::new(Counts::default());
    let stream = IOStream::new(Counting {
        inner: a,
        counts: counts.clone(),
    })
    .unwrap();
    (stream, counts, b)
}

#[test]
fn each_message_costs_one_read_and_no_would_block() {
    let ioloop = common::fresh_loop();
    let counts = ioloop
        .run_sync(
            || {
                coroutine(async {
                    let (stream, counts, mut peer) = counting_pair();
                    for i in 0..5 {
                        // The read starts before the message is sent: the
                        // previous message's short read said the socket is
                        // empty, so the stream waits for the event.
                        let line = stream.read_until(b"\n", None);
                        let msg = format!("message {i}\n");
                        peer.write_all(msg.as_bytes())?;
                        assert_eq!(line.await?, msg.as_bytes());
                    }
                    Ok(counts)
                })
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    // The first read of a new stream is tried at once (nothing is known
    // yet): at most that one finds the socket empty.
    assert!(
        counts.would_block.get() <= 1,
        "{} reads found nothing",
        counts.would_block.get()
    );
    assert!(counts.reads.get() <= 6, "{} reads", counts.reads.get());
}

#[test]
fn data_and_close_seen_together_still_reach_the_eof() {
    let ioloop = common::fresh_loop();
    let rest = ioloop
        .run_sync(
            || {
                coroutine(async {
                    let (stream, _counts, mut peer) = counting_pair();
                    peer.write_all(b"line\nrest")?;
                    peer.shutdown(Shutdown::Write)?;
                    // The loop reports data and close in one event; the
                    // stream buffers the data (a short read) meanwhile.
                    sleep(Duration::from_millis(30)).await;
                    assert_eq!(stream.read_until(b"\n", None).await?, b"line\n");
                    // No further event will come: the EOF must be read.
                    let rest = stream.read_until_close().await?;
                    drop(peer);
                    Ok(rest)
                })
            },
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(rest, b"rest");
}

#[test]
fn a_corked_stream_sends_an_iterations_writes_in_one_call() {
    let ioloop = common::fresh_loop();
    let (writes, got) = ioloop
        .run_sync(
            || {
                coroutine(async {
                    let (stream, counts, peer) = counting_pair();
                    let peer = IOStream::new(peer)?;
                    stream.cork();
                    let first = stream.write(b"one ".to_vec());
                    let second = stream.write(b"two ".to_vec());
                    let third = stream.write(b"three".to_vec());
                    // Held back within this iteration.
                    assert_eq!(counts.writes.get(), 0);
                    assert!(!first.done());
                    third.await?;
                    assert!(first.done() && second.done());
                    let writes = counts.writes.get();
                    // Uncorked: writes go straight out again.
                    stream.write(b"!".to_vec()).await?;
                    assert_eq!(counts.writes.get(), writes + 1);
                    let got = peer.read_bytes(14, false).await?;
                    Ok((writes, got))
                })
            },
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(writes, 1, "three writes, one call");
    assert_eq!(got, b"one two three!");
}
