//! Incremental UTF-8 validation of a text message arriving in fragments,
//! so that invalid text fails fast (close 1007) rather than at its end.

/// Validates a byte sequence given in pieces.
#[derive(Debug, Default)]
pub struct Utf8Validator {
    /// The bytes of a code point cut at a fragment boundary (at most 3).
    pending: Vec<u8>,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Feeds the next piece; false once the bytes so far cannot be the
    /// start of valid UTF-8.
    pub fn feed(&mut self, mut piece: &[u8]) -> bool {
        // Complete a code point cut by the previous piece first.
        while !self.pending.is_empty() && !piece.is_empty() {
            self.pending.push(piece[0]);
            piece = &piece[1..];
            match std::str::from_utf8(&self.pending) {
                Ok(_) => self.pending.clear(),
                Err(e) if e.error_len().is_some() => return false,
                Err(_) => {}
            }
        }
        if piece.is_empty() {
            return true;
        }
        match std::str::from_utf8(piece) {
            Ok(_) => true,
            // `error_len() == None`: the piece ends inside a code point.
            Err(e) if e.error_len().is_none() => {
                self.pending.extend_from_slice(&piece[e.valid_up_to()..]);
                true
            }
            Err(_) => false,
        }
    }

    /// True if the bytes fed end on a code point boundary.
    pub fn complete(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(bytes: &[u8], size: usize) -> (bool, bool) {
        let mut v = Utf8Validator::new();
        for p in bytes.chunks(size.max(1)) {
            if !v.feed(p) {
                return (false, false);
            }
        }
        (true, v.complete())
    }

    #[test]
    fn valid_text_passes_in_any_split() {
        let text = "κόσμε, héllo, 𝄞 music, 中文".as_bytes();
        for size in 1..text.len() {
            assert_eq!(pieces(text, size), (true, true), "size {size}");
        }
    }

    #[test]
    fn invalid_bytes_fail_as_soon_as_seen() {
        // A surrogate, an overlong form, a stray continuation byte.
        for bad in [&b"ab\xed\xa0\x80cd"[..], b"\xc0\xaf", b"a\x80"] {
            for size in 1..=bad.len() {
                assert!(!pieces(bad, size).0, "{bad:?} size {size}");
            }
        }
        // Fails at the first impossible byte, before the message ends.
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));
        assert!(!v.feed(b"\xf4\x90\x80\x80"));
    }

    #[test]
    fn truncated_code_point_is_incomplete() {
        assert_eq!(pieces(b"ab\xe2\x82", 2), (true, false));
        assert_eq!(pieces(b"ab\xe2\x82\xac", 2), (true, true));
    }
}
