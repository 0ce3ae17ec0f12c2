//! Decoding `Content-Encoding: gzip` (and, for the client, `deflate`)
//! bodies as they stream in, for the server's `decompress_request` and the
//! client's `decompress_response`, with the decoded size bounded.

use std::io::Write as _;

use super::error::BodyError;

/// A streaming gzip decoder whose output is counted against a limit, so a
/// small compressed body cannot inflate without bound (Tornado's
/// `_GzipMessageDelegate`).
pub struct Inflater {
    decoder: Decoder,
}

/// The content codings understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: a zlib stream (RFC 1950), as RFC 9110 §8.4.1.2 defines it.
    Deflate,
}

impl Coding {
    /// The coding a `Content-Encoding` value names, if one of these.
    pub fn from_header(value: &str) -> Option<Coding> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }

    /// The coding's name.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

enum Decoder {
    Gzip(flate2::write::GzDecoder<Counted>),
    Deflate(flate2::write::ZlibDecoder<Counted>),
}

impl Decoder {
    fn sink(&self) -> &Counted {
        match self {
            Decoder::Gzip(d) => d.get_ref(),
            Decoder::Deflate(d) => d.get_ref(),
        }
    }
    fn sink_mut(&mut self) -> &mut Counted {
        match self {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Deflate(d) => d.get_mut(),
        }
    }
    fn write_all(&mut self, input: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Gzip(d) => d.write_all(input),
            Decoder::Deflate(d) => d.write_all(input),
        }
    }
    fn try_finish(&mut self) -> std::io::Result<()> {
        match self {
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Deflate(d) => d.try_finish(),
        }
    }
}

/// Collects decoded bytes, failing once more than `max` came out.
struct Counted {
    out: Vec<u8>,
    total: u64,
    max: u64,
    over: bool,
}

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.total += buf.len() as u64;
        if self.total > self.max {
            self.over = true;
            return Err(std::io::Error::other("decompressed body too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compressed input fed to the decoder at once: bounds what one step can
/// inflate to (about a thousand times this).
pub const INFLATE_STEP: usize = 1024;

impl Inflater {
    /// A gzip decoder refusing more than `max` decoded bytes.
    pub fn new(max: usize) -> Inflater {
        Inflater::with_coding(Coding::Gzip, max)
    }

    /// A decoder of `coding` refusing more than `max` decoded bytes.
    pub fn with_coding(coding: Coding, max: usize) -> Inflater {
        let sink = Counted {
            out: Vec::new(),
            total: 0,
            max: max as u64,
            over: false,
        };
        let decoder = match coding {
            Coding::Gzip => Decoder::Gzip(flate2::write::GzDecoder::new(sink)),
            Coding::Deflate => Decoder::Deflate(flate2::write::ZlibDecoder::new(sink)),
        };
        Inflater { decoder }
    }

    fn error(&self, e: std::io::Error) -> BodyError {
        let sink = self.decoder.sink();
        if sink.over {
            BodyError::TooLarge { limit: sink.max }
        } else {
            BodyError::BadGzip(e.to_string())
        }
    }

    /// Decodes one step of input; returns the decoded bytes so far.
    pub fn feed(&mut self, input: &[u8]) -> Result<Vec<u8>, BodyError> {
        if let Err(e) = self.decoder.write_all(input) {
            return Err(self.error(e));
        }
        Ok(std::mem::take(&mut self.decoder.sink_mut().out))
    }

    /// Ends the stream: the decoded bytes left, or an error if it was cut.
    pub fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        if let Err(e) = self.decoder.try_finish() {
            return Err(self.error(e));
        }
        Ok(std::mem::take(&mut self.decoder.sink_mut().out))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn deflate_is_a_zlib_stream_and_bounded() {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'a'; 5000]).unwrap();
        let data = enc.finish().unwrap();
        let mut inf = Inflater::with_coding(Coding::Deflate, 10_000);
        let mut out = inf.feed(&data).unwrap();
        out.extend(inf.finish().unwrap());
        assert_eq!(out, vec![b'a'; 5000]);
        let mut small = Inflater::with_coding(Coding::Deflate, 100);
        let r = small.feed(&data).and_then(|_| small.finish());
        assert!(matches!(r, Err(BodyError::TooLarge { .. })), "{r:?}");
        let mut bad = Inflater::with_coding(Coding::Deflate, 100);
        let r = bad.feed(b"not zlib at all").and_then(|_| bad.finish());
        assert!(matches!(r, Err(BodyError::BadGzip(_))));
        assert_eq!(Coding::from_header(" GZIP"), Some(Coding::Gzip));
        assert_eq!(Coding::from_header("br"), None);
    }
}
