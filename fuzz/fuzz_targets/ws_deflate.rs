//! permessage-deflate (RFC 7692) as the WebSocket connection runs it:
//! the `Decompressor` on arbitrary compressed messages (with and without
//! context takeover) within a size limit, and a `Compressor` /
//! `Decompressor` pair on arbitrary messages, which must give each message
//! back, in order, however the previous ones went.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tornado_websocket::CompressionOptions;
use tornado_websocket::deflate::{Compressor, Decompressor};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Payloads of compressed messages as a peer could send them.
    raw: Vec<Vec<u8>>,
    /// Messages to compress and inflate back.
    plain: Vec<Vec<u8>>,
    no_context_takeover: bool,
    window_bits: u8,
    level: i8,
    mem_level: u8,
}

/// The inflated size allowed per message.
const MAX: usize = 64 * 1024;

fuzz_target!(|input: Input| {
    let mut d = Decompressor::new(input.no_context_takeover);
    for m in &input.raw {
        if let Ok(out) = d.decompress(m, MAX) {
            assert!(
                out.len() <= MAX,
                "{} bytes inflated past the limit",
                out.len()
            );
        }
    }
    let opts = CompressionOptions {
        compression_level: i32::from(input.level),
        mem_level: i32::from(input.mem_level),
        ..CompressionOptions::default()
    };
    let window = 9 + input.window_bits % 7;
    let mut c = Compressor::new(window, input.no_context_takeover, &opts);
    let mut d = Decompressor::new(input.no_context_takeover);
    for m in &input.plain {
        let compressed = c.compress(m);
        let back = d
            .decompress(&compressed, usize::MAX)
            .expect("our own compression inflates");
        assert_eq!(&back, m);
    }
});
