//! RFC 6455 frames: the header's parse and checks, masking, and the writer
//! (Tornado's `_receive_frame` header logic and `_write_frame`).

use std::fmt;

/// Continuation of a fragmented message.
pub const OP_CONTINUATION: u8 = 0x0;
/// A text message (UTF-8).
pub const OP_TEXT: u8 = 0x1;
/// A binary message.
pub const OP_BINARY: u8 = 0x2;
/// The close control frame.
pub const OP_CLOSE: u8 = 0x8;
/// The ping control frame.
pub const OP_PING: u8 = 0x9;
/// The pong control frame.
pub const OP_PONG: u8 = 0xA;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame header, parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate).
    pub rsv1: bool,
    /// The opcode (one of the `OP_*` values).
    pub opcode: u8,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
    /// Bytes the header took.
    pub header_len: usize,
}

impl FrameHeader {
    /// True for close, ping and pong.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Why a frame header is refused; each is a protocol error (close 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// RSV2 or RSV3 set, or RSV1 without a negotiated extension.
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    ReservedOpcode(u8),
    /// A control frame with FIN clear or more than 125 bytes.
    BadControlFrame,
    /// A client frame not masked, or a server frame masked.
    Masking,
    /// A 64-bit length with its most significant bit set.
    BadLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("reserved bits set"),
            FrameError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            FrameError::BadControlFrame => f.write_str("fragmented or oversized control frame"),
            FrameError::Masking => f.write_str("wrong masking for this direction"),
            FrameError::BadLength => f.write_str("invalid 64-bit payload length"),
        }
    }
}

impl std::error::Error for FrameError {}

/// What the parser expects of incoming frames.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Frames must be masked (a server reading a client) or must not be.
    pub masked: bool,
    /// RSV1 is allowed (permessage-deflate was negotiated).
    pub rsv1: bool,
}

/// Parses the frame header at the start of `buf`: `Ok(None)` if more bytes
/// are needed, an error for a header the protocol forbids.
pub fn parse_header(buf: &[u8], expect: Expect) -> Result<Option<FrameHeader>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && !expect.rsv1) {
        return Err(FrameError::ReservedBits);
    }
    let opcode = b0 & 0x0f;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError::ReservedOpcode(opcode));
    }
    let masked = b1 & 0x80 != 0;
    if masked != expect.masked {
        return Err(FrameError::Masking);
    }
    let short = b1 & 0x7f;
    let is_control = opcode & 0x8 != 0;
    if is_control && (!fin || short as usize > MAX_CONTROL_PAYLOAD) {
        return Err(FrameError::BadControlFrame);
    }
    // RSV1 marks a compressed message: only on its first data frame.
    if rsv1 && (is_control || opcode == OP_CONTINUATION) {
        return Err(FrameError::ReservedBits);
    }
    let (len, mut at) = match short {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let len = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
            if len >> 63 != 0 {
                return Err(FrameError::BadLength);
            }
            (len, 10)
        }
        n => (n as u64, 2),
    };
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let key = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(key)
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        rsv1,
        opcode,
        mask,
        len,
        header_len: at,
    }))
}

/// XORs `data` with `key`, as if `data` began `offset` bytes into the
/// payload. Eight bytes at a time; only the ragged ends go byte by byte.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // The key rotated so that byte 0 of `data` meets its key byte.
    let mut k = [0u8; 4];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(offset + i) % 4];
    }
    let word = u32::from_ne_bytes(k);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    // SAFETY: u64 has no invalid bit patterns and u8 arrays of any
    // alignment can be viewed as aligned u64s in the middle part; align_to
    // returns the unaligned head and tail separately.
    let (head, mid, tail) = unsafe { data.align_to_mut::<u64>() };
    let n = head.len();
    for (i, b) in head.iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
    // The key as it stands after the head bytes.
    let shift = n % 4;
    let (wide, word) = if shift == 0 {
        (wide, word)
    } else {
        let r = [
            k[shift],
            k[(shift + 1) % 4],
            k[(shift + 2) % 4],
            k[(shift + 3) % 4],
        ];
        (
            u64::from_ne_bytes([r[0], r[1], r[2], r[3], r[0], r[1], r[2], r[3]]),
            u32::from_ne_bytes(r),
        )
    };
    for w in mid.iter_mut() {
        *w ^= wide;
    }
    let r = word.to_ne_bytes();
    for (i, b) in tail.iter_mut().enumerate() {
        *b ^= r[i % 4];
    }
}

/// Appends one frame to `out`: header, then the payload (masked with
/// `mask` if given, as a client must).
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let b0 = (fin as u8) << 7 | (rsv1 as u8) << 6 | opcode;
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    out.reserve(len + 14);
    out.push(b0);
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Expect = Expect {
        masked: true,
        rsv1: false,
    };
    const CLIENT: Expect = Expect {
        masked: false,
        rsv1: false,
    };

    fn naive_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn mask_matches_bytewise_at_every_alignment_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let src: Vec<u8> = (0..100u8).collect();
        for start in 0..8 {
            for len in [0, 1, 3, 7, 8, 9, 31, 64, 92] {
                for offset in 0..4 {
                    let mut a = src.clone();
                    let mut b = src.clone();
                    apply_mask(&mut a[start..start + len], key, offset);
                    naive_mask(&mut b[start..start + len], key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn mask_vectors() {
        let m = |key: &[u8; 4], data: &[u8]| {
            let mut d = data.to_vec();
            apply_mask(&mut d, *key, 0);
            d
        };
        assert_eq!(m(b"abcd", b""), b"");
        assert_eq!(m(b"abcd", b"b"), b"\x03");
        assert_eq!(m(b"abcd", b"54321"), b"TVPVP");
        assert_eq!(m(b"ZXCV", b"98765432"), b"c`t`olpd");
        // Zero bytes and high bits.
        assert_eq!(
            m(b"\x00\x01\x02\x03", b"\xff\xfb\xfd\xfc\xfe\xfa"),
            b"\xff\xfa\xff\xff\xfe\xfb"
        );
        assert_eq!(
            m(b"\xff\xfb\xfd\xfc", b"\x00\x01\x02\x03\x04\x05"),
            b"\xff\xfa\xff\xff\xfb\xfe"
        );
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 §5.7: a masked "Hello".
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse_header(&wire, SERVER).unwrap().unwrap();
        assert!(h.fin);
        assert_eq!((h.opcode, h.len, h.header_len), (OP_TEXT, 5, 6));
        let mut payload = wire[6..].to_vec();
        apply_mask(&mut payload, h.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
        let mut out = Vec::new();
        write_frame(&mut out, true, false, OP_TEXT, b"Hello", h.mask);
        assert_eq!(out, wire);
    }

    #[test]
    fn lengths_round_trip_in_all_three_encodings() {
        for len in [0usize, 125, 126, 65535, 65536, 70000] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            write_frame(&mut out, true, false, OP_BINARY, &payload, None);
            let h = parse_header(&out, CLIENT).unwrap().unwrap();
            assert_eq!(h.len as usize, len);
            assert_eq!(out.len(), h.header_len + len);
            // Every proper prefix of the header asks for more bytes.
            for cut in 0..h.header_len {
                assert_eq!(parse_header(&out[..cut], CLIENT), Ok(None));
            }
        }
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let p = |b: &[u8], e| parse_header(b, e);
        assert_eq!(
            p(&[0xC1, 0x80, 0, 0, 0, 0], SERVER),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            p(&[0xA1, 0x80, 0, 0, 0, 0], SERVER),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(p(&[0x83, 0x80], SERVER), Err(FrameError::ReservedOpcode(3)));
        assert_eq!(
            p(&[0x8B, 0x80], SERVER),
            Err(FrameError::ReservedOpcode(0xB))
        );
        // A fragmented ping, and a ping of 126 bytes.
        assert_eq!(p(&[0x09, 0x80], SERVER), Err(FrameError::BadControlFrame));
        assert_eq!(
            p(&[0x89, 0xFE, 0, 126], SERVER),
            Err(FrameError::BadControlFrame)
        );
        // Unmasked from a client; masked from a server.
        assert_eq!(p(&[0x81, 0x00], SERVER), Err(FrameError::Masking));
        assert_eq!(
            p(&[0x81, 0x80, 1, 2, 3, 4], CLIENT),
            Err(FrameError::Masking)
        );
        let mut huge = vec![0x82, 0x7F];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(p(&huge, CLIENT), Err(FrameError::BadLength));
        // RSV1 only where negotiated, and only on a message's first frame.
        let deflate = Expect {
            masked: false,
            rsv1: true,
        };
        assert!(p(&[0xC1, 0x00], deflate).unwrap().unwrap().rsv1);
        assert_eq!(p(&[0xC0, 0x00], deflate), Err(FrameError::ReservedBits));
        assert_eq!(p(&[0xC9, 0x00], deflate), Err(FrameError::ReservedBits));
    }
}
