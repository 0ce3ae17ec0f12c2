//! The kinds of read and how each finds its end in the buffer (Tornado's
//! `_find_read_pos`).

use memchr::memmem::Finder;
use regex::bytes::Regex;

/// One pending read.
pub(crate) enum ReadKind {
    /// `read_bytes(n, partial)`.
    Bytes { n: usize, partial: bool },
    /// `read_until(delimiter, max_bytes)`.
    Until {
        /// Boxed: a finder is large and reads of other kinds are common.
        finder: Box<Finder<'static>>,
        max_bytes: Option<usize>,
        /// Buffer offset before which the delimiter is known to be absent:
        /// each search looks at new data (plus a delimiter's length of
        /// overlap) only, so many small packets cost linear time.
        scanned: usize,
        /// Whether exceeding `max_bytes` closes the stream (Tornado) or only
        /// fails the read, leaving the stream open to answer (an HTTP
        /// server's 431).
        close_on_limit: bool,
    },
    /// `read_until_regex(regex, max_bytes)`.
    Regex {
        regex: Regex,
        max_bytes: Option<usize>,
    },
    /// `read_until_close()`.
    UntilClose,
    /// `read_into(buf, partial)`: fills the caller's buffer.
    Into { buf: Vec<u8>, partial: bool },
}

/// Where a read ends.
pub(crate) enum Found {
    /// It can complete, consuming this many buffered bytes.
    Ready(usize),
    /// It needs more data.
    NotYet,
    /// It never can (`max_bytes` exceeded): the message.
    Unsatisfiable(String),
}

impl ReadKind {
    pub(crate) fn until(
        delimiter: &[u8],
        max_bytes: Option<usize>,
        close_on_limit: bool,
    ) -> ReadKind {
        ReadKind::Until {
            finder: Box::new(Finder::new(delimiter).into_owned()),
            max_bytes,
            scanned: 0,
            close_on_limit,
        }
    }

    /// Whether an unsatisfiable read also closes the stream.
    pub(crate) fn closes_on_limit(&self) -> bool {
        !matches!(
            self,
            ReadKind::Until {
                close_on_limit: false,
                ..
            }
        )
    }

    /// How many buffered bytes would let this read finish, if known: the
    /// read loop stops there instead of draining the socket (Tornado's
    /// `target_bytes`). `None`: read until the socket is empty.
    pub(crate) fn target_bytes(&self) -> Option<usize> {
        match self {
            ReadKind::Bytes { n, .. } => Some(*n),
            ReadKind::Into { buf, .. } => Some(buf.len()),
            ReadKind::Until { max_bytes, .. } | ReadKind::Regex { max_bytes, .. } => *max_bytes,
            ReadKind::UntilClose => None,
        }
    }

    /// Tornado's `_find_read_pos`, on the unread bytes `buf`; `eof` is true
    /// once no more data can come.
    pub(crate) fn find(&mut self, buf: &[u8], eof: bool) -> Found {
        match self {
            ReadKind::Bytes { n, partial } => {
                if buf.len() >= *n || (*partial && !buf.is_empty()) {
                    Found::Ready(buf.len().min(*n))
                } else {
                    Found::NotYet
                }
            }
            ReadKind::Into { buf: dest, partial } => {
                if buf.len() >= dest.len() || (*partial && !buf.is_empty()) {
                    Found::Ready(buf.len().min(dest.len()))
                } else {
                    Found::NotYet
                }
            }
            ReadKind::Until {
                finder,
                max_bytes,
                scanned,
                ..
            } => {
                let delim_len = finder.needle().len();
                let from = (*scanned).min(buf.len());
                if let Some(at) = finder.find(&buf[from..]) {
                    let end = from + at + delim_len;
                    return check_max(end, *max_bytes, || Found::Ready(end), "delimiter");
                }
                *scanned = buf.len().saturating_sub(delim_len.saturating_sub(1));
                check_max(buf.len(), *max_bytes, || Found::NotYet, "delimiter")
            }
            ReadKind::Regex { regex, max_bytes } => {
                if let Some(m) = regex.find(buf) {
                    let end = m.end();
                    return check_max(end, *max_bytes, || Found::Ready(end), "regex");
                }
                check_max(buf.len(), *max_bytes, || Found::NotYet, "regex")
            }
            ReadKind::UntilClose => {
                if eof {
                    Found::Ready(buf.len())
                } else {
                    Found::NotYet
                }
            }
        }
    }
}

/// Tornado's `_check_max_bytes`: more than `max_bytes` without a match can
/// never succeed.
fn check_max(
    size: usize,
    max_bytes: Option<usize>,
    ok: impl FnOnce() -> Found,
    what: &str,
) -> Found {
    match max_bytes {
        Some(max) if size > max => {
            Found::Unsatisfiable(format!("{what} not found within {max} bytes"))
        }
        _ => ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_split_across_packets_is_found_once_scanned_linearly() {
        let mut k = ReadKind::until(b"\r\n\r\n", None, true);
        let mut buf = Vec::new();
        for piece in [&b"GET / HTTP/1.0\r"[..], b"\n\r", b"\n"] {
            buf.extend_from_slice(piece);
            if let Found::Ready(n) = k.find(&buf, false) {
                assert_eq!(n, buf.len());
                return;
            }
            if let ReadKind::Until { scanned, .. } = &k {
                assert!(
                    *scanned + 3 >= buf.len(),
                    "only the delimiter's overlap is rescanned"
                );
            }
        }
        panic!("delimiter not found");
    }

    #[test]
    fn max_bytes_is_enforced() {
        let mut k = ReadKind::until(b"\n", Some(4), true);
        assert!(matches!(k.find(b"abcdef", false), Found::Unsatisfiable(_)));
        let mut k = ReadKind::until(b"\n", Some(4), true);
        assert!(matches!(k.find(b"abc\nzzzz", false), Found::Ready(4)));
        let mut k = ReadKind::until(b"\n", Some(4), true);
        assert!(matches!(k.find(b"abcd\n", false), Found::Unsatisfiable(_)));
        let mut k = ReadKind::Regex {
            regex: Regex::new(r"\d+;").unwrap(),
            max_bytes: Some(3),
        };
        assert!(matches!(k.find(b"12;", false), Found::Ready(3)));
    }

    #[test]
    fn partial_and_exact_bytes() {
        let mut k = ReadKind::Bytes {
            n: 5,
            partial: false,
        };
        assert!(matches!(k.find(b"abc", false), Found::NotYet));
        assert!(matches!(k.find(b"abcdefg", false), Found::Ready(5)));
        let mut k = ReadKind::Bytes {
            n: 5,
            partial: true,
        };
        assert!(matches!(k.find(b"abc", false), Found::Ready(3)));
        assert!(matches!(
            ReadKind::UntilClose.find(b"abc", true),
            Found::Ready(3)
        ));
    }
}
