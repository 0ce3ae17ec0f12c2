//! The seed documents' `AsyncFileWrapper`: reading a large file in chunks
//! on the executor's thread pool, so the loop's timers keep ticking. For
//! contrast, the same file is first read with blocking calls on the loop.
//!
//! Run: `cargo run --release --example chunked_file -- [--size-mib N]`

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, try_run_in_executor};
use tornado::ioloop::{IOLoop, PeriodicCallback};

#[path = "common/logging.rs"]
mod logging;

/// A file whose reads run on the executor and return futures.
struct AsyncFileWrapper {
    file: Arc<Mutex<File>>,
}

impl AsyncFileWrapper {
    fn open(path: PathBuf) -> Future<AsyncFileWrapper> {
        let opened = try_run_in_executor(move || File::open(path));
        coroutine(async move {
            Ok(AsyncFileWrapper {
                file: Arc::new(Mutex::new(opened.await?)),
            })
        })
    }

    /// Up to `size` bytes; empty at end of file.
    fn read(&self, size: usize) -> Future<Vec<u8>> {
        let file = self.file.clone();
        try_run_in_executor(move || {
            let mut buf = vec![0u8; size];
            let n = file.lock().read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>(buf)
        })
    }
}

/// Ticks every 10 ms and records the longest gap between ticks.
fn ticker(longest: Rc<Cell<Duration>>) -> PeriodicCallback {
    let last = Cell::new(Instant::now());
    PeriodicCallback::new(
        move || {
            let now = Instant::now();
            longest.set(longest.get().max(now - last.replace(now)));
        },
        Duration::from_millis(10),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let mut size_mib = 256usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--size-mib" {
            size_mib = args
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or("--size-mib takes a number")?;
        }
    }
    let path = std::env::temp_dir().join(format!("tornado-chunked-{}.bin", std::process::id()));
    {
        let mut f = File::create(&path)?;
        let block = vec![7u8; 1 << 20];
        for _ in 0..size_mib {
            f.write_all(&block)?;
        }
        f.sync_all()?;
    }
    let ioloop = IOLoop::current();
    const CHUNK: usize = 1 << 20;

    // 1. Blocking reads on the loop: the ticker stalls.
    let longest = Rc::new(Cell::new(Duration::ZERO));
    let tick = ticker(longest.clone());
    tick.start();
    let p = path.clone();
    let blocking_bytes = ioloop.run_sync(
        move || {
            coroutine(async move {
                tornado::r#gen::sleep(Duration::from_millis(30)).await;
                let (mut total, mut buf) = (0, vec![0u8; CHUNK]);
                // Three passes, so the stall shows even when the page cache
                // makes one pass fast.
                for _ in 0..3 {
                    let mut f = File::open(&p)?;
                    loop {
                        let n = f.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        total += n;
                    }
                }
                Ok::<_, Error>(total)
            })
        },
        None,
    )?;
    tick.stop();
    println!(
        "blocking reads on the loop: {} MiB, longest gap between 10 ms ticks: {:?}",
        blocking_bytes >> 20,
        longest.get()
    );

    // 2. Reads on the executor: the ticker keeps its pace.
    let longest = Rc::new(Cell::new(Duration::ZERO));
    let tick = ticker(longest.clone());
    tick.start();
    let p = path.clone();
    let started = Instant::now();
    let (bytes, chunks) = ioloop.run_sync(
        move || {
            coroutine(async move {
                tornado::r#gen::sleep(Duration::from_millis(30)).await;
                let (mut total, mut chunks) = (0usize, 0usize);
                for _ in 0..3 {
                    let file = AsyncFileWrapper::open(p.clone()).await?;
                    loop {
                        let chunk = file.read(CHUNK).await?;
                        if chunk.is_empty() {
                            break;
                        }
                        total += chunk.len();
                        chunks += 1;
                    }
                }
                Ok((total, chunks))
            })
        },
        None,
    )?;
    tick.stop();
    println!(
        "reads on the executor:      {} MiB in {} chunks ({:?}), longest gap between 10 ms ticks: {:?}",
        bytes >> 20,
        chunks,
        started.elapsed(),
        longest.get()
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
