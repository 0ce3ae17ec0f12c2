//! The standard async I/O traits on `IOStream` (features `futures-io` and
//! `tokio-io`), driven by third-party code on our loop, with no tokio
//! runtime: tokio-util's `Framed` with a line codec, `futures::io::copy`.

use std::io::{ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};
use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::iostream::{AlreadyReadingError, IOStream, MixedUseError, StreamOptions};
use tornado_testing::gen_test;

fn unix_pair() -> (IOStream, IOStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (IOStream::new(a).unwrap(), IOStream::new(b).unwrap())
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Bytes 0..n of a recognisable pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[gen_test(timeout = 10)]
async fn framed_line_codec_over_iostream() -> Result<(), Error> {
    let (a, b) = unix_pair();
    // The server: a line-upper-casing echo through the codec.
    let server = coroutine(async move {
        let mut lines = Framed::new(a, LinesCodec::new_with_max_length(1024));
        let mut seen = 0;
        while let Some(line) = lines.next().await {
            lines.send(line?.to_uppercase()).await?;
            seen += 1;
        }
        Ok(seen)
    });
    let mut client = Framed::new(b, LinesCodec::new());
    for word in ["hello", "tornado", "loop"] {
        client.send(word).await?;
    }
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(client.next().await.expect("a reply")?);
    }
    assert_eq!(replies, ["HELLO", "TORNADO", "LOOP"]);
    // Half-closing our side ends the server's line stream.
    SinkExt::<&str>::close(&mut client).await?;
    assert_eq!(server.await?, 3);
    assert!(client.next().await.is_none(), "EOF after the server closed");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn futures_io_copy_between_streams() -> Result<(), Error> {
    let data = pattern(3 * 1024 * 1024 + 17);
    let (src_w, mut src_r) = unix_pair();
    let (mut dst_w, dst_r) = unix_pair();
    let received = dst_r.read_until_close();
    let sent = src_w.write(data.clone());
    src_w.close_after_write(sent);
    let copied = futures::io::copy(&mut src_r, &mut dst_w).await?;
    futures::io::AsyncWriteExt::close(&mut dst_w).await?;
    assert_eq!(copied, data.len() as u64);
    let got = received.await?;
    assert!(got == data, "bytes arrive complete and in order");
    Ok(())
}

/// Helper so that the test above reads naturally: close once written.
trait CloseAfter {
    fn close_after_write(&self, write: tornado::concurrent::Future<()>);
}

impl CloseAfter for IOStream {
    fn close_after_write(&self, write: tornado::concurrent::Future<()>) {
        let me = self.clone();
        write.add_done_callback(move |_| me.close());
    }
}

#[gen_test(timeout = 10)]
async fn tokio_traits_read_write_and_half_close() -> Result<(), Error> {
    let (mut a, b) = unix_pair();
    a.write_all(b"ping").await?;
    AsyncWriteExt::shutdown(&mut a).await?;
    // The peer sees EOF after the bytes, and can still answer.
    assert_eq!(b.read_until_close().await?, b"ping");
    b.write(b"pong".to_vec()).await?;
    b.close();
    let mut reply = Vec::new();
    AsyncReadExt::read_to_end(&mut a, &mut reply).await?;
    assert_eq!(reply, b"pong");
    // EOF stays EOF.
    let mut buf = [0u8; 8];
    assert_eq!(AsyncReadExt::read(&mut a, &mut buf).await?, 0);
    // Writing after shutdown is a broken pipe.
    let err = a.write_all(b"more").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn futures_buf_read_lines_and_small_buffers() -> Result<(), Error> {
    use futures::io::AsyncBufReadExt;
    let (a, mut b) = unix_pair();
    a.write(b"first line\nsecond\nrest".to_vec()).await?;
    a.close();
    let mut line = String::new();
    b.read_line(&mut line).await?;
    assert_eq!(line, "first line\n");
    // A one-byte buffer still gets every byte, in order.
    let mut one = [0u8; 1];
    let mut out = Vec::new();
    while futures::io::AsyncReadExt::read(&mut b, &mut one).await? == 1 {
        out.push(one[0]);
    }
    assert_eq!(out, b"second\nrest");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn reset_reads_as_connection_reset() -> Result<(), Error> {
    let (ours, theirs) = tcp_pair();
    let mut ours = IOStream::new(ours)?;
    // SO_LINGER 0: closing sends a reset instead of a FIN.
    socket2::SockRef::from(&theirs).set_linger(Some(std::time::Duration::ZERO))?;
    drop(theirs);
    let mut buf = [0u8; 16];
    let err = AsyncReadExt::read(&mut ours, &mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let err = ours.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn closed_stream_reads_eof_and_refuses_writes() -> Result<(), Error> {
    let (mut a, _b) = unix_pair();
    a.close();
    let mut buf = [0u8; 4];
    assert_eq!(AsyncReadExt::read(&mut a, &mut buf).await?, 0);
    let err = a.write_all(b"late").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn writes_apply_back_pressure_and_keep_order() -> Result<(), Error> {
    let (mut a, b) = unix_pair();
    let chunk = vec![7u8; 16 * 1024];
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    // Nobody reads `b`: writing must stop accepting once the kernel's
    // buffer and our high-water mark are full, not queue without bound.
    let mut accepted = 0usize;
    let mut waited = false;
    for _ in 0..4096 {
        match tokio::io::AsyncWrite::poll_write(Pin::new(&mut a), &mut cx, &chunk) {
            Poll::Ready(Ok(n)) => accepted += n,
            Poll::Ready(Err(e)) => return Err(e.into()),
            Poll::Pending => {
                waited = true;
                break;
            }
        }
    }
    assert!(
        waited,
        "poll_write never pushed back ({accepted} bytes accepted)"
    );
    assert!(
        a.write_buffer_size() <= 128 * 1024,
        "queued {} bytes",
        a.write_buffer_size()
    );
    // Now the peer reads: everything arrives, then a tail written after.
    let reader = b.read_bytes(accepted + 4, false);
    a.write_all(b"tail").await?;
    a.flush().await?;
    let got = reader.await?;
    assert_eq!(got.len(), accepted + 4);
    assert!(got[..accepted].iter().all(|&x| x == 7));
    assert_eq!(&got[accepted..], b"tail");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn mixing_traits_and_tornado_reads_is_an_error() -> Result<(), Error> {
    let (a, b) = unix_pair();
    // A Tornado read pending: a trait read says so.
    let pending = a.read_until(b"\n", None);
    let mut handle = a.clone();
    let mut buf = [0u8; 8];
    let err = AsyncReadExt::read(&mut handle, &mut buf).await.unwrap_err();
    assert!(
        err.get_ref().is_some_and(|e| e.is::<MixedUseError>()),
        "{err:?}"
    );
    b.write(b"line\n".to_vec()).await?;
    assert_eq!(pending.await?, b"line\n");
    // A trait read pending: a Tornado read fails with AlreadyReadingError.
    let mut reader = a.clone();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut small = [0u8; 8];
    let mut rb = tokio::io::ReadBuf::new(&mut small);
    assert!(tokio::io::AsyncRead::poll_read(Pin::new(&mut reader), &mut cx, &mut rb).is_pending());
    let err = a.read_bytes(1, false).await.unwrap_err();
    assert!(err.is::<AlreadyReadingError>(), "{err}");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn reads_honour_the_buffer_limits() -> Result<(), Error> {
    let (ours, mut theirs) = UnixStream::pair()?;
    let options = StreamOptions {
        max_buffer_size: 8 * 1024,
        read_chunk_size: 4 * 1024,
        ..StreamOptions::default()
    };
    let mut ours = IOStream::with_options(ours, options)?;
    let data = pattern(256 * 1024);
    let sent = data.clone();
    let writer = std::thread::spawn(move || theirs.write_all(&sent));
    let mut got = Vec::new();
    AsyncReadExt::read_to_end(&mut ours, &mut got).await?;
    writer.join().unwrap()?;
    assert!(got == data);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn the_stream_write_limit_is_back_pressure_not_an_error() -> Result<(), Error> {
    let (ours, theirs) = UnixStream::pair()?;
    let options = StreamOptions {
        max_write_buffer_size: Some(32 * 1024),
        ..StreamOptions::default()
    };
    let mut ours = IOStream::with_options(ours, options)?;
    let theirs = IOStream::new(theirs)?;
    let data = pattern(4 * 1024 * 1024);
    // Far more than the kernel and the 32 KiB limit hold: write_all must
    // wait for the reader instead of failing with StreamBufferFullError.
    let reader = theirs.read_bytes(data.len(), false);
    ours.write_all(&data).await?;
    ours.flush().await?;
    assert!(reader.await? == data);
    Ok(())
}
