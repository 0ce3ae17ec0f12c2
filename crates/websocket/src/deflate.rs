//! permessage-deflate (RFC 7692): negotiation of its parameters on both
//! sides, and the per-message compressor and decompressor (Tornado's
//! `_PerMessageDeflateCompressor` / `_PerMessageDeflateDecompressor`).

use std::fmt;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Inflate, InflateFlush};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What a side is willing to use (Tornado's `get_compression_options`
/// dictionary and the client's `compression_options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionOptions {
    /// zlib level, 0 (none) to 9 (best); -1 for zlib's default (6).
    pub compression_level: i32,
    /// zlib memory level, 1 to 9 (default 8): more memory, faster.
    pub mem_level: i32,
    /// Ask (client) or announce (server) that the server starts each
    /// message with an empty window.
    pub server_no_context_takeover: bool,
    /// Ask (server) or announce (client) that the client starts each
    /// message with an empty window.
    pub client_no_context_takeover: bool,
    /// Largest window the server may compress with (9 to 15).
    pub server_max_window_bits: Option<u8>,
    /// Largest window the client may compress with (9 to 15).
    pub client_max_window_bits: Option<u8>,
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions {
            compression_level: -1,
            mem_level: 8,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
        }
    }
}

/// The parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compression window.
    pub server_max_window_bits: u8,
    /// The client's compression window.
    pub client_max_window_bits: u8,
}

/// One extension of a `Sec-WebSocket-Extensions` list and its parameters.
type Extension = (String, Vec<(String, Option<String>)>);

/// Parses an extension list: `name; p1; p2=v, name2`.
pub fn parse_extensions(value: &str) -> Vec<Extension> {
    value
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|ext| {
            let mut parts = ext.split(';').map(str::trim);
            let name = parts.next().unwrap_or("").to_ascii_lowercase();
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (
                        k.trim().to_ascii_lowercase(),
                        Some(v.trim().trim_matches('"').to_owned()),
                    ),
                    None => (p.to_ascii_lowercase(), None),
                })
                .collect();
            (name, params)
        })
        .collect()
}

fn window_bits(v: &Option<String>) -> Option<u8> {
    let v = v.as_deref()?;
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// The server's answer to one permessage-deflate offer: the agreed
/// parameters and the response header value, or `None` to decline it.
fn accept_offer(
    params: &[(String, Option<String>)],
    opts: &CompressionOptions,
) -> Option<(Agreed, String)> {
    let mut seen: Vec<&str> = Vec::new();
    let mut server_nct = opts.server_no_context_takeover;
    let mut client_nct = opts.client_no_context_takeover;
    let mut server_bits = opts.server_max_window_bits.unwrap_or(15);
    // `None`: the client cannot limit its window.
    let mut client_bits: Option<u8> = None;
    let mut server_bits_named = opts.server_max_window_bits.is_some();
    for (k, v) in params {
        if seen.contains(&k.as_str()) {
            return None;
        }
        seen.push(k);
        match k.as_str() {
            "server_no_context_takeover" if v.is_none() => server_nct = true,
            "client_no_context_takeover" if v.is_none() => client_nct = true,
            "server_max_window_bits" => {
                server_bits = server_bits.min(window_bits(v)?);
                server_bits_named = true;
            }
            "client_max_window_bits" => {
                let offered = match v {
                    None => 15,
                    Some(_) => window_bits(v)?,
                };
                client_bits = Some(offered.min(opts.client_max_window_bits.unwrap_or(15)));
            }
            _ => return None,
        }
    }
    // zlib cannot compress raw deflate with a 256-byte window.
    if server_bits < 9 {
        return None;
    }
    let mut header = String::from(PERMESSAGE_DEFLATE);
    if server_nct {
        header.push_str("; server_no_context_takeover");
    }
    if client_nct {
        header.push_str("; client_no_context_takeover");
    }
    if server_bits_named {
        header.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    let client_bits_effective = match client_bits {
        Some(b) if b < 15 || opts.client_max_window_bits.is_some() => {
            header.push_str(&format!("; client_max_window_bits={b}"));
            b
        }
        _ => 15,
    };
    let agreed = Agreed {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits_effective,
    };
    Some((agreed, header))
}

/// The server side: the first acceptable permessage-deflate offer in
/// `offers` (a `Sec-WebSocket-Extensions` value), or `None`.
pub fn server_accept(offers: &str, opts: &CompressionOptions) -> Option<(Agreed, String)> {
    parse_extensions(offers)
        .iter()
        .filter(|(name, _)| name == PERMESSAGE_DEFLATE)
        .find_map(|(_, params)| accept_offer(params, opts))
}

/// The client side: the offer to send.
pub fn client_offer(opts: &CompressionOptions) -> String {
    let mut offer = String::from(PERMESSAGE_DEFLATE);
    if opts.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if opts.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if let Some(b) = opts.server_max_window_bits {
        offer.push_str(&format!("; server_max_window_bits={b}"));
    }
    match opts.client_max_window_bits {
        Some(b) => offer.push_str(&format!("; client_max_window_bits={b}")),
        None => offer.push_str("; client_max_window_bits"),
    }
    offer
}

/// A server's extension response the client cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadExtensionResponse(pub String);

impl fmt::Display for BadExtensionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unacceptable Sec-WebSocket-Extensions response: {}",
            self.0
        )
    }
}

impl std::error::Error for BadExtensionResponse {}

/// The client side: what the server's `Sec-WebSocket-Extensions` value
/// agreed to (`None` if it declined compression).
pub fn client_accept(
    response: &str,
    opts: &CompressionOptions,
) -> Result<Option<Agreed>, BadExtensionResponse> {
    let bad = || BadExtensionResponse(response.to_owned());
    let exts = parse_extensions(response);
    let Some((name, params)) = exts.first() else {
        return Ok(None);
    };
    if exts.len() > 1 || name != PERMESSAGE_DEFLATE {
        return Err(bad());
    }
    let mut agreed = Agreed {
        server_no_context_takeover: false,
        client_no_context_takeover: opts.client_no_context_takeover,
        server_max_window_bits: 15,
        client_max_window_bits: opts.client_max_window_bits.unwrap_or(15),
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in params {
        if seen.contains(&k.as_str()) {
            return Err(bad());
        }
        seen.push(k);
        match k.as_str() {
            "server_no_context_takeover" if v.is_none() => agreed.server_no_context_takeover = true,
            "client_no_context_takeover" if v.is_none() => agreed.client_no_context_takeover = true,
            "server_max_window_bits" => {
                let b = window_bits(v).ok_or_else(bad)?;
                if opts.server_max_window_bits.is_some_and(|m| b > m) {
                    return Err(bad());
                }
                agreed.server_max_window_bits = b;
            }
            "client_max_window_bits" => {
                let b = window_bits(v).ok_or_else(bad)?;
                // zlib cannot compress raw deflate in a 256-byte window.
                if b < 9 {
                    return Err(bad());
                }
                agreed.client_max_window_bits = b.min(agreed.client_max_window_bits);
            }
            _ => return Err(bad()),
        }
    }
    if opts.server_no_context_takeover && !agreed.server_no_context_takeover {
        return Err(bad());
    }
    Ok(Some(agreed))
}

/// The trailer every sync-flushed block ends with; RFC 7692 strips it.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses outgoing messages.
pub struct Compressor {
    deflate: Deflate,
    no_context_takeover: bool,
}

impl Compressor {
    /// A compressor with the agreed window and reset policy, at `opts`'
    /// level and memory level (clamped to zlib's ranges).
    pub fn new(
        window_bits: u8,
        no_context_takeover: bool,
        opts: &CompressionOptions,
    ) -> Compressor {
        let config = DeflateConfig {
            level: opts.compression_level.clamp(-1, 9),
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: opts.mem_level.clamp(1, 9),
            ..DeflateConfig::default()
        };
        Compressor {
            deflate: Deflate::new_with_config(config),
            no_context_takeover,
        }
    }

    /// One message's payload, compressed and without the flush trailer.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start_in = self.deflate.total_in();
        loop {
            let consumed = (self.deflate.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.deflate.total_out();
            let len = out.len();
            out.resize(out.capacity(), 0);
            let r =
                self.deflate
                    .compress(&data[consumed..], &mut out[len..], DeflateFlush::SyncFlush);
            let produced = (self.deflate.total_out() - before) as usize;
            out.truncate(len + produced);
            let done = (self.deflate.total_in() - start_in) as usize == data.len();
            // A sync flush is complete once input is used up and output
            // was not cut short by a full buffer.
            if r.is_err() || (done && out.len() < out.capacity()) {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.no_context_takeover {
            self.deflate.reset();
        }
        out
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateFailure {
    /// It inflates to more than the message size limit (close 1009).
    TooBig,
    /// It is not a valid deflate stream (close 1007).
    Invalid,
}

/// Decompresses incoming messages.
pub struct Decompressor {
    inflate: Inflate,
    no_context_takeover: bool,
}

impl Default for Decompressor {
    fn default() -> Self {
        Decompressor::new(false)
    }
}

impl Decompressor {
    /// A decompressor; a 32 KiB window reads any smaller one too.
    pub fn new(no_context_takeover: bool) -> Decompressor {
        Decompressor {
            inflate: Inflate::new(false, 15),
            no_context_takeover,
        }
    }

    /// One message's payload inflated, at most `max` bytes.
    pub fn decompress(&mut self, data: &[u8], max: usize) -> Result<Vec<u8>, InflateFailure> {
        let mut out: Vec<u8> = Vec::with_capacity((data.len() * 4).clamp(64, max.max(64)));
        // The message, then the sync-flush tail RFC 7692 had the sender
        // strip, unless its stream ended (BFINAL): the tail would start a
        // new stream with half a stored block.
        let inflated = self.inflate_all(data, &mut out, max).and_then(|ended| {
            if ended {
                return Ok(());
            }
            self.inflate_all(&TAIL, &mut out, max).map(drop)
        });
        // After a failure the stream state is unusable (the connection is
        // failed anyway); without context takeover each message starts anew.
        if inflated.is_err() || self.no_context_takeover {
            self.inflate.reset(false);
        }
        inflated.map(|()| out)
    }

    fn inflate_all(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<bool, InflateFailure> {
        // Returns whether the input ended exactly at the end of a stream.
        loop {
            if out.len() == out.capacity() {
                if out.len() > max {
                    return Err(InflateFailure::TooBig);
                }
                out.reserve(out.capacity().max(256));
            }
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let len = out.len();
            out.resize(out.capacity(), 0);
            let r = self
                .inflate
                .decompress(input, &mut out[len..], InflateFlush::SyncFlush);
            let produced = (self.inflate.total_out() - out_before) as usize;
            let consumed = (self.inflate.total_in() - in_before) as usize;
            out.truncate(len + produced);
            input = &input[consumed..];
            if out.len() > max {
                return Err(InflateFailure::TooBig);
            }
            match r {
                Err(_) => return Err(InflateFailure::Invalid),
                // A block with BFINAL (RFC 7692 §7.2.3.4 permits it) ends
                // the sender's deflate stream: what follows, in this
                // message or the next, is a new stream.
                Ok(zlib_rs::Status::StreamEnd) => {
                    self.inflate.reset(false);
                    if input.is_empty() {
                        return Ok(true);
                    }
                }
                Ok(_) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        return Ok(false);
                    }
                    if produced == 0 && consumed == 0 && out.len() < out.capacity() {
                        // No progress with room to spare: more input needed.
                        return Ok(false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CompressionOptions {
        CompressionOptions::default()
    }

    #[test]
    fn round_trip_with_and_without_context_takeover() {
        for nct in [false, true] {
            let mut c = Compressor::new(15, nct, &opts());
            let mut d = Decompressor::new(nct);
            for i in 0..5 {
                let msg = format!("hello hello hello {i} ").repeat(100 * (i + 1));
                let z = c.compress(msg.as_bytes());
                assert!(
                    z.len() < msg.len() / 4,
                    "compressed {} of {}",
                    z.len(),
                    msg.len()
                );
                assert_eq!(d.decompress(&z, 1 << 20).unwrap(), msg.as_bytes());
            }
            assert!(c.compress(b"").len() <= 2);
        }
    }

    #[test]
    fn incompressible_and_large_data_round_trips() {
        let mut x: u32 = 12345;
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut c = Compressor::new(
            9,
            false,
            &CompressionOptions {
                compression_level: 1,
                mem_level: 2,
                ..opts()
            },
        );
        let z = c.compress(&data);
        assert_eq!(
            Decompressor::new(false).decompress(&z, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn decompression_stops_at_the_limit_and_on_garbage() {
        let mut c = Compressor::new(15, false, &opts());
        let z = c.compress(&vec![0u8; 1 << 20]);
        assert!(z.len() < 2048);
        let mut d = Decompressor::new(false);
        assert_eq!(d.decompress(&z, 1000), Err(InflateFailure::TooBig));
        let mut d = Decompressor::new(false);
        assert_eq!(
            d.decompress(&[0xff, 0xff, 0xff, 0x00, 0x12], 1000),
            Err(InflateFailure::Invalid)
        );
    }

    #[test]
    fn a_final_block_ends_a_stream_and_the_next_message_starts_one() {
        // A sender that finishes its stream (BFINAL) per message.
        let finish = |data: &[u8]| {
            let mut z = Deflate::new(6, false, 15);
            let mut out = vec![0u8; data.len() + 64];
            let r = z.compress(data, &mut out, DeflateFlush::Finish);
            assert_eq!(r, Ok(zlib_rs::Status::StreamEnd));
            out.truncate(z.total_out() as usize);
            out
        };
        let mut d = Decompressor::new(false);
        for msg in [&b"first message, first message"[..], b"second", b""] {
            assert_eq!(
                d.decompress(&finish(msg), 1000),
                Ok(msg.to_vec()),
                "{msg:?}"
            );
        }
    }

    #[test]
    fn server_negotiation() {
        let o = opts();
        let (a, h) = server_accept("permessage-deflate; client_max_window_bits", &o).unwrap();
        assert_eq!(h, "permessage-deflate");
        assert_eq!(
            (a.server_max_window_bits, a.client_max_window_bits),
            (15, 15)
        );
        let (a, h) = server_accept(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
            &o,
        )
        .unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
        );
        assert!(a.server_no_context_takeover);
        assert_eq!(a.server_max_window_bits, 10);
        // Unknown parameters, bad values and duplicates decline an offer;
        // a later acceptable offer is taken instead.
        assert!(server_accept("permessage-deflate; foo", &o).is_none());
        assert!(server_accept("permessage-deflate; server_max_window_bits=16", &o).is_none());
        assert!(server_accept("permessage-deflate; server_max_window_bits", &o).is_none());
        assert!(server_accept("permessage-deflate; server_max_window_bits=8", &o).is_none());
        assert!(
            server_accept(
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                &o
            )
            .is_none()
        );
        assert!(server_accept("x-webkit-deflate-frame", &o).is_none());
        let (_, h) = server_accept("permessage-deflate; foo, permessage-deflate", &o).unwrap();
        assert_eq!(h, "permessage-deflate");
        // The server's own wishes.
        let mine = CompressionOptions {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(11),
            client_max_window_bits: Some(10),
            ..opts()
        };
        let (a, h) = server_accept("permessage-deflate; client_max_window_bits", &mine).unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10"
        );
        assert_eq!(a.client_max_window_bits, 10);
    }

    #[test]
    fn client_negotiation() {
        let o = opts();
        assert_eq!(
            client_offer(&o),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(client_accept("", &o), Ok(None));
        let a = client_accept("permessage-deflate; server_max_window_bits=10", &o)
            .unwrap()
            .unwrap();
        assert_eq!(a.server_max_window_bits, 10);
        assert!(client_accept("permessage-deflate; bogus", &o).is_err());
        assert!(client_accept("permessage-deflate, permessage-deflate", &o).is_err());
        assert!(client_accept("permessage-deflate; client_max_window_bits=8", &o).is_err());
        let strict = CompressionOptions {
            server_no_context_takeover: true,
            ..opts()
        };
        assert!(client_accept("permessage-deflate", &strict).is_err());
    }
}
