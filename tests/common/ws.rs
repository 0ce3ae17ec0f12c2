//! A raw WebSocket peer for the tests: the handshake by hand and frames
//! built and parsed with the crate's frame functions, so that tests can
//! send what no well-behaved client would.

use std::net::SocketAddr;

use tornado::concurrent::Error;
use tornado::iostream::IOStream;
use tornado::websocket::frame::{Expect, FrameHeader, apply_mask, parse_header, write_frame};

use super::http::{Resp, connect, parse_head};

/// A handshake request for `path` with `extra` header lines.
pub fn upgrade_request(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A raw client connection past its handshake.
pub struct RawWs {
    pub stream: IOStream,
    pub head: Resp,
}

impl RawWs {
    /// Connects and upgrades; fails unless the answer is 101.
    pub async fn open(addr: SocketAddr, path: &str, extra: &str) -> Result<RawWs, Error> {
        let stream = connect(addr).await?;
        stream.write(upgrade_request(path, extra)).await?;
        let head = parse_head(&stream.read_until(b"\r\n\r\n", None).await?)?;
        if head.status != 101 {
            return Err(Error::msg(format!("handshake answered {}", head.status)));
        }
        assert_eq!(
            head.header("Sec-WebSocket-Accept").as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        Ok(RawWs { stream, head })
    }

    /// Sends one masked frame with the given first byte's bits.
    pub async fn send(
        &self,
        fin: bool,
        rsv1: bool,
        opcode: u8,
        payload: &[u8],
    ) -> Result<(), Error> {
        let mut buf = Vec::new();
        write_frame(&mut buf, fin, rsv1, opcode, payload, Some([1, 2, 3, 4]));
        self.stream.write(buf).await
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), Error> {
        self.stream.write(bytes.to_vec()).await
    }

    /// Reads one (unmasked) frame from the server.
    pub async fn recv(&self) -> Result<(FrameHeader, Vec<u8>), Error> {
        let expect = Expect {
            masked: false,
            rsv1: true,
        };
        let mut buf = self.stream.read_bytes(2, false).await?;
        loop {
            if let Some(h) = parse_header(&buf, expect).map_err(Error::new)? {
                let mut payload = if h.len > 0 {
                    self.stream.read_bytes(h.len as usize, false).await?
                } else {
                    Vec::new()
                };
                if let Some(k) = h.mask {
                    apply_mask(&mut payload, k, 0);
                }
                return Ok((h, payload));
            }
            buf.extend(self.stream.read_bytes(1, false).await?);
        }
    }

    /// Reads frames until a close frame: its code (if any).
    pub async fn recv_close(&self) -> Result<Option<u16>, Error> {
        loop {
            let (h, p) = self.recv().await?;
            if h.opcode == 0x8 {
                return Ok((p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])));
            }
        }
    }

    /// True if the server closes the TCP connection (nothing more to read).
    pub async fn closed_by_server(&self) -> bool {
        matches!(self.stream.read_until_close().await, Ok(rest) if rest.is_empty())
    }
}
