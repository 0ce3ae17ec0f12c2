//! Reading HTTP/1.x messages off a stream: the head (bounded), then the
//! body chunk by chunk as its [`Framing`] says, for the server's requests
//! and the client's responses alike.
//!
//! The reader keeps what it read past the message it is reading (the next
//! pipelined request, or bytes a protocol upgrade sent early), so a head is
//! found with one read in the common case; [`Reader::into_parts`] hands
//! those bytes over with the stream.

use tornado_iostream::IOStream;

use super::error::{BodyError, HeadError, ReadError};
use super::framing::{Framing, MAX_CHUNK_LINE, find_head_end, head_scan_resume, parse_chunk_size};

/// Largest single read asked of the stream for a head.
const HEAD_READ: usize = 64 * 1024;

/// A stream and the bytes read from it but not yet consumed.
pub struct Reader {
    stream: IOStream,
    /// Unconsumed bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    /// A reader of `stream` with nothing buffered.
    pub fn new(stream: IOStream) -> Reader {
        Reader {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// The stream.
    pub fn stream(&self) -> &IOStream {
        &self.stream
    }

    /// Bytes read from the stream and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Lends the buffer out as it is, (bytes, start of the unconsumed
    /// ones): no copy, however much is buffered. See [`Reader::restore`].
    pub(crate) fn lend(&mut self) -> (Vec<u8>, usize) {
        let pos = std::mem::take(&mut self.pos);
        (std::mem::take(&mut self.buf), pos)
    }

    /// Takes back a buffer lent with [`Reader::lend`] (nothing was read
    /// meanwhile).
    pub(crate) fn restore(&mut self, (buf, pos): (Vec<u8>, usize)) {
        debug_assert!(self.buf.is_empty());
        self.buf = buf;
        self.pos = pos.min(self.buf.len());
    }

    /// Takes the buffered bytes out (see [`Reader::put_back`]).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.drain(..self.pos);
        self.pos = 0;
        buf
    }

    /// Puts bytes taken with [`Reader::take_buffered`] back in front.
    pub fn put_back(&mut self, mut bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        bytes.extend_from_slice(&self.buf[self.pos..]);
        self.buf = bytes;
        self.pos = 0;
    }

    /// The stream and the bytes buffered past what was consumed.
    pub fn into_parts(mut self) -> (IOStream, Vec<u8>) {
        let rest = self.take_buffered();
        (self.stream, rest)
    }

    /// Reads up to `max` more bytes from the stream into the buffer.
    async fn fill(&mut self, max: usize) -> Result<(), ReadError> {
        let more = self
            .stream
            .read_bytes(max.max(1), true)
            .await
            .map_err(|e| ReadError::Closed(Some(e)))?;
        if self.pos == self.buf.len() {
            // Nothing left over: take the stream's allocation as it is.
            self.buf = more;
            self.pos = 0;
        } else {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&more);
        }
        Ok(())
    }

    /// Consumes and returns `n` buffered bytes.
    fn consume(&mut self, n: usize) -> Vec<u8> {
        let start = self.pos;
        self.pos += n;
        if self.pos == self.buf.len() && start == 0 {
            // The whole buffer: hand its allocation over uncopied.
            self.pos = 0;
            return std::mem::take(&mut self.buf);
        }
        let out = self.buf[start..self.pos].to_vec();
        self.release_if_empty();
        out
    }

    /// Frees the buffer once everything in it was consumed, so that an idle
    /// connection holds none.
    fn release_if_empty(&mut self) {
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    /// True if a complete head is already buffered (no wait needed).
    pub fn head_buffered(&self) -> bool {
        find_head_end(self.buffered(), 0).is_some()
    }

    /// Reads a head up to and including its blank line (CRLF or bare LF),
    /// at most `max` bytes. Empty lines before it (a client's stray CRLF
    /// after a previous body) are skipped, as RFC 9112 §2.2 allows.
    pub async fn read_head(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        let mut scanned = 0;
        loop {
            // Leading blank lines are not a head.
            while let Some(b'\r' | b'\n') = self.buffered().first() {
                let rest = self.buffered();
                let skip = if rest.starts_with(b"\r\n") {
                    2
                } else if rest[0] == b'\n' {
                    1
                } else if rest.len() == 1 {
                    break; // a lone CR: wait for what follows
                } else {
                    return Err(HeadError::Malformed("stray CR".into()).into());
                };
                self.pos += skip;
                scanned = 0;
            }
            if let Some(end) = find_head_end(self.buffered(), scanned) {
                if end > max {
                    return Err(HeadError::TooLarge { limit: max }.into());
                }
                return Ok(self.consume(end));
            }
            let have = self.buffered().len();
            if have > max {
                return Err(HeadError::TooLarge { limit: max }.into());
            }
            scanned = head_scan_resume(have);
            self.fill((max + 1 - have).min(HEAD_READ)).await?;
        }
    }

    /// Reads one CRLF-terminated line of at most `max` bytes (CRLF
    /// included), returning it without the CRLF.
    async fn read_crlf_line(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        let mut scanned = 0;
        loop {
            let rest = self.buffered();
            if let Some(i) = memchr::memmem::find(&rest[scanned..], b"\r\n") {
                let end = scanned + i;
                if end + 2 > max {
                    break;
                }
                let line = rest[..end].to_vec();
                self.pos += end + 2;
                self.release_if_empty();
                return Ok(line);
            }
            if rest.len() >= max {
                break;
            }
            scanned = rest.len().saturating_sub(1);
            let want = max - rest.len();
            self.fill(want).await?;
        }
        Err(BodyError::BadChunkFraming("line too long").into())
    }

    /// Up to `max` bytes: buffered ones first, else what the stream has.
    async fn read_some(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        if self.buffered().is_empty() {
            return self
                .stream
                .read_bytes(max, true)
                .await
                .map_err(|e| ReadError::Closed(Some(e)));
        }
        let n = self.buffered().len().min(max);
        Ok(self.consume(n))
    }

    /// Exactly `n` bytes.
    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buffered().len() < n {
            let need = n - self.buffered().len();
            self.fill(need).await?;
        }
        Ok(self.consume(n))
    }

    /// Everything until the peer closes, in pieces of at most `max`;
    /// `None` at the end.
    async fn read_to_close(&mut self, max: usize) -> Result<Option<Vec<u8>>, ReadError> {
        if !self.buffered().is_empty() {
            let n = self.buffered().len().min(max);
            return Ok(Some(self.consume(n)));
        }
        match self.stream.read_bytes(max, true).await {
            Ok(b) => Ok(Some(b)),
            // The close is how such a body ends.
            Err(e) if e.is::<tornado_iostream::StreamClosedError>() => Ok(None),
            Err(e) => Err(ReadError::Closed(Some(e))),
        }
    }
}

/// A body being read: yields its bytes in pieces of at most `chunk_size`
/// (Tornado's `_read_fixed_body`, `_read_chunked_body` and
/// `_read_body_until_close`), enforcing `max_body_size` as it goes.
pub struct BodyReader {
    framing: Framing,
    /// Bytes left of the body (`Length`) or of the current chunk (`Chunked`).
    left: u64,
    /// Bytes yielded so far.
    received: u64,
    /// The most bytes accepted.
    max: u64,
    /// Largest piece yielded at once.
    chunk_size: usize,
    /// Largest trailer section of a chunked body.
    max_trailer: usize,
    done: bool,
}

impl BodyReader {
    /// A reader of a body framed as `framing`, of at most `max` bytes.
    pub fn new(framing: Framing, max: usize, chunk_size: usize) -> BodyReader {
        BodyReader {
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            received: 0,
            max: max as u64,
            chunk_size: chunk_size.max(1),
            max_trailer: 64 * 1024,
            done: framing == Framing::Empty,
        }
    }

    /// Checks an announced length against the limit before anything is
    /// read (so a 413 is answered without waiting for the body).
    pub fn check_length(&self) -> Result<(), BodyError> {
        match self.framing {
            Framing::Length(n) if n > self.max => Err(BodyError::TooLarge { limit: self.max }),
            _ => Ok(()),
        }
    }

    /// Bytes of body yielded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// True once the whole body was read.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The next piece of the body, `None` once it is all read.
    pub async fn next(&mut self, r: &mut Reader) -> Result<Option<Vec<u8>>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let piece = match self.framing {
            Framing::Empty => None,
            Framing::Length(_) => {
                self.check_length()?;
                if self.left == 0 {
                    None
                } else {
                    let want = self.left.min(self.chunk_size as u64) as usize;
                    let piece = r.read_some(want).await?;
                    self.left -= piece.len() as u64;
                    Some(piece)
                }
            }
            Framing::Chunked => self.next_chunked(r).await?,
            Framing::UntilClose => {
                let piece = r.read_to_close(self.chunk_size).await?;
                if let Some(p) = &piece {
                    if self.received + p.len() as u64 > self.max {
                        return Err(BodyError::TooLarge { limit: self.max }.into());
                    }
                }
                piece
            }
        };
        match &piece {
            Some(p) => self.received += p.len() as u64,
            None => self.done = true,
        }
        Ok(piece)
    }

    async fn next_chunked(&mut self, r: &mut Reader) -> Result<Option<Vec<u8>>, ReadError> {
        if self.left == 0 {
            let line = r.read_crlf_line(MAX_CHUNK_LINE).await?;
            let size = parse_chunk_size(&line)?;
            if size == 0 {
                self.read_trailers(r).await?;
                return Ok(None);
            }
            if self.received.saturating_add(size) > self.max {
                return Err(BodyError::TooLarge { limit: self.max }.into());
            }
            self.left = size;
        }
        let want = self.left.min(self.chunk_size as u64) as usize;
        let piece = r.read_some(want).await?;
        self.left -= piece.len() as u64;
        if self.left == 0 {
            let crlf = r.read_exact(2).await?;
            if crlf != b"\r\n" {
                return Err(BodyError::BadChunkFraming("chunk data not followed by CRLF").into());
            }
        }
        Ok(Some(piece))
    }

    /// The trailer section after the last chunk: header lines up to an
    /// empty one, accepted and ignored (RFC 9112 §7.1.2).
    async fn read_trailers(&mut self, r: &mut Reader) -> Result<(), ReadError> {
        let mut total = 0;
        loop {
            let line = r
                .read_crlf_line(self.max_trailer - total.min(self.max_trailer))
                .await
                .map_err(|e| match e {
                    ReadError::Body(_) => BodyError::BadChunkFraming("trailers too long").into(),
                    other => other,
                })?;
            if line.is_empty() {
                return Ok(());
            }
            if memchr::memchr(b':', &line).is_none() {
                return Err(BodyError::BadChunkFraming("malformed trailer field").into());
            }
            total += line.len() + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use tornado_gen::coroutine;
    use tornado_ioloop::IOLoop;

    use super::*;

    /// Runs `f` with a reader on one end of a socket pair whose other end
    /// has `input` written (and then closed).
    fn with_input<T: 'static>(
        input: &'static [u8],
        f: impl AsyncFnOnce(&mut Reader) -> T + 'static,
    ) -> T {
        let ioloop = IOLoop::new().unwrap();
        ioloop
            .run_sync(
                move || {
                    coroutine(async move {
                        let (a, b) = UnixStream::pair()?;
                        let (a, b) = (IOStream::new(a)?, IOStream::new(b)?);
                        b.write(input.to_vec()).await?;
                        b.close();
                        let mut r = Reader::new(a);
                        Ok(f(&mut r).await)
                    })
                },
                None,
            )
            .unwrap()
    }

    #[test]
    fn heads_skip_leading_blank_lines_and_keep_what_follows() {
        let (head, rest) = with_input(b"\r\n\nGET / HTTP/1.0\nA: b\n\nnext", async |r| {
            let head = r.read_head(1024).await.unwrap();
            (head, r.take_buffered())
        });
        assert_eq!(head, b"GET / HTTP/1.0\nA: b\n\n");
        assert_eq!(rest, b"next");
    }

    #[test]
    fn a_head_over_the_limit_is_a_typed_error() {
        let e = with_input(
            b"GET / HTTP/1.0\r\nA: bbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n",
            async |r| r.read_head(20).await.unwrap_err(),
        );
        assert!(
            matches!(e, ReadError::Head(HeadError::TooLarge { limit: 20 })),
            "{e}"
        );
        let e = with_input(b"GET / HTTP/1.0\r\n", async |r| {
            r.read_head(1024).await.unwrap_err()
        });
        assert!(matches!(e, ReadError::Closed(_)), "{e}");
    }

    #[test]
    fn chunked_bodies_yield_pieces_then_the_next_message() {
        let (pieces, rest) = with_input(
            b"5;ext\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\nNEXT",
            async |r| {
                let mut body = BodyReader::new(Framing::Chunked, 100, 4);
                let mut pieces = Vec::new();
                while let Some(p) = body.next(r).await.unwrap() {
                    pieces.push(p);
                }
                (pieces, r.take_buffered())
            },
        );
        assert_eq!(
            pieces,
            vec![b"hell".to_vec(), b"o".to_vec(), b"abc".to_vec()]
        );
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn bodies_over_the_limit_and_cut_bodies_fail_typed() {
        let e = with_input(b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", async |r| {
            let mut body = BodyReader::new(Framing::Chunked, 10, 64);
            loop {
                match body.next(r).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("accepted"),
                    Err(e) => return e,
                }
            }
        });
        assert!(
            matches!(e, ReadError::Body(BodyError::TooLarge { limit: 10 })),
            "{e}"
        );
        let e = with_input(b"abc", async |r| {
            let mut body = BodyReader::new(Framing::Length(10), 100, 64);
            loop {
                match body.next(r).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("accepted"),
                    Err(e) => return e,
                }
            }
        });
        assert!(matches!(e, ReadError::Closed(_)), "{e}");
        // Until the close: the close ends the body.
        let all = with_input(b"to the end", async |r| {
            let mut body = BodyReader::new(Framing::UntilClose, 100, 64);
            let mut all = Vec::new();
            while let Some(p) = body.next(r).await.unwrap() {
                all.extend(p);
            }
            all
        });
        assert_eq!(all, b"to the end");
    }
}
