//! A peer that sends a lot and hangs up: the bytes still in the kernel
//! when the hang-up is reported reach the reads, then EOF. (A Unix socket's
//! close is reported as a hang-up, `ERROR` on the loop, with the data not
//! yet read still queued; `poll(2)`-style level-triggered selectors report
//! it on every wait.)

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tornado::r#gen::coroutine;
use tornado::ioloop::sys::SelectSelector;
use tornado::ioloop::{Backend, Error as LoopError, Events, IOLoop, Selector, Trigger};
use tornado::iostream::IOStream;

#[test]
fn partial_reads_get_everything_sent_before_a_hang_up() {
    let ioloop = common::fresh_loop();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let data: Vec<u8> = (0..150 * 1024).map(|i| (i % 253) as u8).collect();
    let sent = data.clone();
    let got = ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let stream = IOStream::new(ours)?;
                    // Everything is queued and the peer gone before we read.
                    theirs.write_all(&sent)?;
                    drop(theirs);
                    tornado::r#gen::sleep(Duration::from_millis(20)).await;
                    let mut got = Vec::new();
                    while let Ok(chunk) = stream.read_bytes(64 * 1024, true).await {
                        got.extend_from_slice(&chunk);
                    }
                    Ok(got)
                })
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}

/// A level-triggered selector that, like `poll(2)`, reports a hung-up fd
/// as `READ | ERROR` on every wait while it stays registered, asked or not
/// (here: the fds the test says were hung up, over `select`).
struct HangUpReporting {
    inner: SelectSelector,
    hung_up: Arc<Mutex<Vec<RawFd>>>,
    registered: Vec<RawFd>,
    waits: Arc<AtomicUsize>,
}

impl Selector for HangUpReporting {
    fn name(&self) -> &'static str {
        "hang-up-reporting"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Level
    }
    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), LoopError> {
        self.registered.push(fd);
        self.inner.register(fd, events)
    }
    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), LoopError> {
        self.inner.modify(fd, events)
    }
    fn unregister(&mut self, fd: RawFd) -> Result<(), LoopError> {
        self.registered.retain(|&f| f != fd);
        self.inner.unregister(fd)
    }
    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), LoopError> {
        self.waits.fetch_add(1, Ordering::SeqCst);
        let hung_up: Vec<RawFd> = self
            .hung_up
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|fd| self.registered.contains(fd))
            .collect();
        let timeout = if hung_up.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        self.inner.select(timeout, ready)?;
        ready.retain(|(fd, _)| !hung_up.contains(fd));
        ready.extend(hung_up.iter().map(|&fd| (fd, Events::READ | Events::ERROR)));
        Ok(())
    }
}

#[test]
fn level_triggered_hang_up_delivers_everything_then_closes_without_spinning() {
    let hung_up = Arc::new(Mutex::new(Vec::new()));
    let waits = Arc::new(AtomicUsize::new(0));
    let (h, w) = (hung_up.clone(), waits.clone());
    let backend = Backend::custom("hang-up-reporting", move || {
        Ok(HangUpReporting {
            inner: SelectSelector::new(),
            hung_up: h.clone(),
            registered: Vec::new(),
            waits: w.clone(),
        })
    });
    let ioloop = IOLoop::with_backend(&backend).unwrap();
    ioloop.make_current();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let data: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
    theirs.write_all(&data).unwrap();
    drop(theirs);
    let fd = ours.as_raw_fd();
    hung_up.lock().unwrap().push(fd);
    let stream = IOStream::new(ours).unwrap();
    let reader = stream.clone();
    let got = ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    // Nobody reads for a while: the hang-up is reported on
                    // every wait, and must not close the stream early nor
                    // keep the loop spinning.
                    tornado::r#gen::sleep(Duration::from_millis(50)).await;
                    let mut got = Vec::new();
                    while let Ok(chunk) = reader.read_bytes(4096, true).await {
                        got.extend_from_slice(&chunk);
                    }
                    Ok(got)
                })
            },
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
    assert!(stream.closed());
    // While nobody reads, the stream stops watching the fd (its buffer
    // holds data), so the hang-up is not reported again: a handful of
    // waits, not one per spin during the 50 ms sleep.
    let n = waits.load(Ordering::SeqCst);
    assert!(n < 50, "{n} waits");
}
