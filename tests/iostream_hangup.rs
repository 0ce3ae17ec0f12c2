//! A peer that sends a lot and hangs up: the bytes still in the kernel
//! when the hang-up is reported reach the reads, then EOF. (A Unix socket's
//! close is reported as a hang-up, `ERROR` on the loop, with the data not
//! yet read still queued.)

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tornado::r#gen::coroutine;
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
