//! The client of the upload benchmarks: one `PUT` of `--bytes` bytes (with
//! `Content-Length`) to `--url`-less `--port` on 127.0.0.1, sent as fast as
//! the server takes it from a 1 MiB buffer, then the answer read to the
//! close. Prints `bytes seconds answer` on one line; exits non-zero if the
//! server's count differs from what was sent.
//!
//! Run: `upload_load --port 8890 [--bytes 1073741824] [--path /upload/x]`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut bytes, mut path) = (8890u16, 1u64 << 30, "/".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--bytes" => bytes = args.next().ok_or("--bytes takes a number")?.parse()?,
            "--path" => path = args.next().ok_or("--path takes a path")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: upload_load [--port P] [--bytes N] [--path /p]"
                )
                .into());
            }
        }
    }
    let block: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let mut s = TcpStream::connect(tornado_bench::loopback(port))?;
    s.set_nodelay(true)?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"
    )?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        s.write_all(&block[..n])?;
        left -= n as u64;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let secs = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&answer);
    let body = text
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    println!(
        "{bytes} {secs:.3} {}",
        body.replace(char::is_whitespace, "")
    );
    if !text.starts_with("HTTP/1.1 200") || !body.contains(&bytes.to_string()) {
        return Err(format!("unexpected answer: {text}").into());
    }
    Ok(())
}
