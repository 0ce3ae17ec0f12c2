//! Decoding `Content-Encoding: gzip` bodies as they stream in, for the
//! server's `decompress_request` and the client's `decompress_response`,
//! with the decoded size bounded.

use std::io::Write as _;

use super::error::BodyError;

/// A streaming gzip decoder whose output is counted against a limit, so a
/// small compressed body cannot inflate without bound (Tornado's
/// `_GzipMessageDelegate`).
pub struct Inflater {
    decoder: flate2::write::GzDecoder<Counted>,
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
    /// A decoder refusing more than `max` decoded bytes.
    pub fn new(max: usize) -> Inflater {
        Inflater {
            decoder: flate2::write::GzDecoder::new(Counted {
                out: Vec::new(),
                total: 0,
                max: max as u64,
                over: false,
            }),
        }
    }

    fn error(&self, e: std::io::Error) -> BodyError {
        let sink = self.decoder.get_ref();
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
        Ok(std::mem::take(&mut self.decoder.get_mut().out))
    }

    /// Ends the stream: the decoded bytes left, or an error if it was cut.
    pub fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        if let Err(e) = self.decoder.try_finish() {
            return Err(self.error(e));
        }
        Ok(std::mem::take(&mut self.decoder.get_mut().out))
    }
}
