//! Reading frames from a stream (Tornado's `_receive_frame`): the header
//! parsed in place from a buffer filled by whole stream reads, payloads
//! unmasked where they lie.

use tornado_iostream::IOStream;

use crate::frame::{Expect, FrameError, FrameHeader, apply_mask, parse_header};
use crate::utf8::Utf8Validator;

/// The most a single fill asks the stream for: what it holds is handed
/// over whole (no copy) when it is no more than this.
const FILL_CHUNK: usize = 256 * 1024;

/// Why no frame could be read.
#[derive(Debug)]
pub enum ReadFailure {
    /// The stream closed (or failed).
    Closed,
    /// The header breaks the protocol (close 1002).
    Protocol(FrameError),
    /// The frame would take its message past the size limit (close 1009).
    TooBig,
    /// Text that is not UTF-8 (close 1007).
    InvalidUtf8,
}

/// Frames from one stream, with the bytes read ahead of them.
pub struct FrameReader {
    stream: IOStream,
    buf: Vec<u8>,
    pos: usize,
}

impl FrameReader {
    /// A reader of `stream`; `buffered` are bytes already read from it.
    pub fn new(stream: IOStream, buffered: Vec<u8>) -> FrameReader {
        FrameReader {
            stream,
            buf: buffered,
            pos: 0,
        }
    }

    fn available(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads until at least `n` bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<(), ReadFailure> {
        while self.available() < n {
            let chunk = self
                .stream
                .read_bytes(FILL_CHUNK.max(n - self.available()), true)
                .await
                .map_err(|_| ReadFailure::Closed)?;
            if self.available() == 0 {
                self.buf = chunk;
            } else {
                self.buf.drain(..self.pos);
                self.buf.extend_from_slice(&chunk);
            }
            self.pos = 0;
        }
        Ok(())
    }

    /// The next frame's header. `room` is how many more payload bytes
    /// the message in progress may take: a data frame longer than that is
    /// refused before its payload is read.
    pub async fn read_header(
        &mut self,
        expect: Expect,
        room: usize,
    ) -> Result<FrameHeader, ReadFailure> {
        self.fill(2).await?;
        let b1 = self.buf[self.pos + 1];
        let header_len =
            2 + match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            } + if b1 & 0x80 != 0 { 4 } else { 0 };
        self.fill(header_len).await?;
        let header = parse_header(&self.buf[self.pos..], expect)
            .map_err(ReadFailure::Protocol)?
            .expect("the whole header is buffered");
        if !header.is_control() && header.len > room as u64 {
            return Err(ReadFailure::TooBig);
        }
        self.pos += header.header_len;
        Ok(header)
    }

    /// The payload of the frame `header` starts, unmasked. With `utf8`,
    /// each piece is checked as it arrives, so that invalid text fails
    /// before the rest of a long frame is read.
    pub async fn read_payload(
        &mut self,
        header: &FrameHeader,
        mut utf8: Option<&mut Utf8Validator>,
    ) -> Result<Vec<u8>, ReadFailure> {
        let len = header.len as usize;
        let have = self.available().min(len);
        let unmask = |piece: &mut [u8], offset: usize| {
            if let Some(key) = header.mask {
                apply_mask(piece, key, offset);
            }
        };
        let mut payload = self.buf[self.pos..self.pos + have].to_vec();
        self.pos += have;
        if self.pos == self.buf.len() {
            // Let an empty buffer go rather than hold its capacity.
            self.buf = Vec::new();
            self.pos = 0;
        }
        unmask(&mut payload, 0);
        if let Some(v) = utf8.as_deref_mut() {
            if !v.feed(&payload) {
                return Err(ReadFailure::InvalidUtf8);
            }
        }
        if have == len {
            return Ok(payload);
        }
        // An exact read needs the whole rest buffered at once: past the
        // stream's `max_buffer_size` it would fail, so such a payload is
        // read piece by piece like text (found by the soak's small-buffer
        // run: 8 KiB binary messages through a 4 KiB buffer).
        if utf8.is_none() && len - have <= self.stream.options().max_buffer_size {
            // The rest in one exact read, which the stream hands over
            // without a copy when nothing was buffered.
            let mut rest = self
                .stream
                .read_bytes(len - have, false)
                .await
                .map_err(|_| ReadFailure::Closed)?;
            unmask(&mut rest, have);
            if have == 0 {
                return Ok(rest);
            }
            payload.extend_from_slice(&rest);
            return Ok(payload);
        }
        // Text (or a payload larger than the stream may buffer): piece by
        // piece as it comes, text checked at once.
        payload.reserve(len - have);
        while payload.len() < len {
            let mut piece = self
                .stream
                .read_bytes((len - payload.len()).min(FILL_CHUNK), true)
                .await
                .map_err(|_| ReadFailure::Closed)?;
            unmask(&mut piece, payload.len());
            if let Some(v) = utf8.as_deref_mut() {
                if !v.feed(&piece) {
                    return Err(ReadFailure::InvalidUtf8);
                }
            }
            payload.extend_from_slice(&piece);
        }
        Ok(payload)
    }
}
