//! A streamed download through our `HttpClient`: `--bytes` (1 GiB) from a
//! server thread in this process (sending from one 64 KiB buffer, chunked
//! with `--chunked`, else with a Content-Length), taken by a
//! `streaming_callback` that only counts. With `--upload`, the other
//! direction: a `body_producer` sends the bytes (chunked) in 64 KiB pieces
//! to a server thread that counts and discards them. Prints the throughput
//! and the process's peak RSS (VmHWM), and fails if the RSS passed
//! `--max-rss-mib` (64): a streamed body must not be buffered.
//!
//! Run: `cargo run --release -p tornado-bench --bin client_stream`
//! (`-- --upload` for the upload); `-- --bytes 67108864` for a quick check.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_bench::proc_status_bytes;
use tornado_http::httpclient::{HttpClient, HttpClientOptions, HttpRequest};
use tornado_ioloop::IOLoop;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bytes: u64 = 1 << 30;
    let mut chunked = false;
    let mut max_rss_mib: u64 = 64;
    let mut upload = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut v = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bytes" => bytes = v()?.parse()?,
            "--chunked" => chunked = true,
            "--upload" => upload = true,
            "--max-rss-mib" => max_rss_mib = v()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if upload {
        return upload_run(bytes, max_rss_mib);
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/", listener.local_addr()?);
    std::thread::spawn(move || {
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let mut w = conn;
        let head = if chunked {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {bytes}\r\n\r\n")
        };
        w.write_all(head.as_bytes()).expect("head");
        let block = vec![b'x'; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            if chunked {
                w.write_all(format!("{n:x}\r\n").as_bytes()).expect("size");
            }
            w.write_all(&block[..n]).expect("body");
            if chunked {
                w.write_all(b"\r\n").expect("crlf");
            }
            left -= n as u64;
        }
        if chunked {
            w.write_all(b"0\r\n\r\n").expect("end");
        }
    });
    let received = Rc::new(Cell::new(0u64));
    let r2 = received.clone();
    let started = Instant::now();
    let ioloop = IOLoop::new()?;
    let response = ioloop
        .run_sync(
            move || {
                HttpClient::new(HttpClientOptions::new()).fetch_request(
                    HttpRequest::with_url(url)
                        .max_body_size(usize::MAX)
                        .request_timeout(Duration::from_secs(600))
                        .streaming_callback(move |piece| r2.set(r2.get() + piece.len() as u64)),
                )
            },
            None,
        )
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let peak = proc_status_bytes(std::process::id(), "VmHWM")?;
    println!(
        "streamed {} bytes ({}) in {elapsed:.2?}: {:.0} MiB/s, peak RSS {:.1} MiB, body kept {} bytes",
        received.get(),
        if chunked { "chunked" } else { "Content-Length" },
        received.get() as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        peak as f64 / (1 << 20) as f64,
        response.body.len()
    );
    if received.get() != bytes || !response.body.is_empty() {
        return Err(format!("got {} of {bytes} bytes", received.get()).into());
    }
    if peak > max_rss_mib << 20 {
        return Err(format!("peak RSS {peak} bytes is over {max_rss_mib} MiB").into());
    }
    Ok(())
}

/// The upload: a chunked body of `bytes` from a producer, to a server
/// thread that reads it raw (counting every byte on the wire) and answers.
fn upload_run(bytes: u64, max_rss_mib: u64) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/", listener.local_addr()?);
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        // Everything up to the chunked body's end ("0\r\n\r\n"), then
        // the answer with the count of wire bytes.
        let mut buf = vec![0u8; 64 * 1024];
        let mut wire: u64 = 0;
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            wire += n as u64;
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 16 {
                tail.drain(..tail.len() - 16);
            }
            if tail.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
        let body = wire.to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(reply.as_bytes());
    });
    let started = Instant::now();
    let ioloop = IOLoop::new()?;
    let response = ioloop
        .run_sync(
            move || {
                HttpClient::new(HttpClientOptions::new()).fetch_request(
                    HttpRequest::with_url(url)
                        .method("PUT")
                        .request_timeout(Duration::from_secs(600))
                        .body_producer(move |w| {
                            tornado_gen::coroutine(async move {
                                let block = vec![b'u'; 64 * 1024];
                                let mut left = bytes;
                                while left > 0 {
                                    let n = left.min(block.len() as u64) as usize;
                                    w.write(block[..n].to_vec()).await?;
                                    left -= n as u64;
                                }
                                Ok(())
                            })
                        }),
                )
            },
            None,
        )
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let peak = proc_status_bytes(std::process::id(), "VmHWM")?;
    let wire: u64 = response.text().parse()?;
    println!(
        "uploaded {bytes} bytes (chunked, {wire} on the wire with the head) in {elapsed:.2?}: {:.0} MiB/s, peak RSS {:.1} MiB",
        bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        peak as f64 / (1 << 20) as f64,
    );
    if wire < bytes {
        return Err(format!("the server got {wire} of {bytes} bytes").into());
    }
    if peak > max_rss_mib << 20 {
        return Err(format!("peak RSS {peak} bytes is over {max_rss_mib} MiB").into());
    }
    Ok(())
}
