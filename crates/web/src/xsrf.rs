//! XSRF protection (Tornado's `xsrf_token`, `check_xsrf_cookie`): a random
//! token in the `_xsrf` cookie that forms and scripts must send back.
//!
//! Tokens use Tornado's version-2 format, `2|<mask>|<masked token>|<time>`
//! (mask and masked token in hex; the token XORed with the 4-byte mask
//! repeated), so that every page gets a differently masked copy of the
//! same secret (against BREACH) and Python Tornado services sharing the
//! cookie accept each other's tokens. A bare hex token (Tornado's version
//! 1) is read too.

use rand::RngCore;

use crate::context::Context;
use crate::cookies::CookieOptions;
use crate::error::HttpError;

/// The cookie and form field name.
pub const XSRF_COOKIE: &str = "_xsrf";

/// A request's token.
#[derive(Debug, Clone)]
pub(crate) struct XsrfState {
    /// The unmasked token.
    raw: Vec<u8>,
    /// When it was made (seconds since the epoch).
    timestamp: u64,
    /// The masked form handed out on this request.
    masked: String,
    /// The cookie still has to be set (the request had no usable one).
    needs_cookie: bool,
}

/// Compares without an early exit, so the time taken does not tell how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// XORs `data` with `mask` repeated (the WebSocket masking function).
fn apply_mask(mask: &[u8; 4], data: &[u8]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect()
}

/// `raw` masked with `mask`, in the version-2 format.
pub fn encode_xsrf_token(raw: &[u8], mask: [u8; 4], timestamp: u64) -> String {
    format!(
        "2|{}|{}|{timestamp}",
        hex(&mask),
        hex(&apply_mask(&mask, raw))
    )
}

/// The unmasked token and its time from a token or cookie in version 2 or
/// 1 (bare hex; a value that is not hex is taken as the token itself, as
/// Tornado does). `None` for a malformed value.
pub fn decode_xsrf_token(value: &str) -> Option<(Vec<u8>, u64)> {
    let version_end = value.find('|');
    let numbered = version_end.is_some_and(|i| {
        i > 0 && value[..i].bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0')
    });
    if !numbered {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let raw = unhex(value).unwrap_or_else(|| value.as_bytes().to_vec());
        return Some((raw, now));
    }
    let mut parts = value.split('|');
    let (Some("2"), Some(mask), Some(masked), Some(ts), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None; // an unknown version or a wrong number of fields
    };
    let mask: [u8; 4] = unhex(mask)?.try_into().ok()?;
    let raw = apply_mask(&mask, &unhex(masked)?);
    Some((raw, ts.parse().ok()?))
}

impl Context {
    /// This request's token, made (or read from the cookie) once; the
    /// cookie is not set yet.
    pub(crate) fn peek_xsrf_token(&mut self) -> String {
        if let Some(x) = &self.xsrf {
            return x.masked.clone();
        }
        let from_cookie = self
            .get_cookie(XSRF_COOKIE)
            .and_then(|c| decode_xsrf_token(&c))
            .filter(|(raw, _)| !raw.is_empty());
        let mut rng = rand::rng();
        let (raw, timestamp, needs_cookie) = match from_cookie {
            Some((raw, ts)) => (raw, ts, false),
            None => {
                let mut raw = vec![0u8; 16];
                rng.fill_bytes(&mut raw);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                (raw, now, true)
            }
        };
        let mut mask = [0u8; 4];
        rng.fill_bytes(&mut mask);
        let masked = encode_xsrf_token(&raw, mask, timestamp);
        self.xsrf = Some(XsrfState {
            raw,
            timestamp,
            masked: masked.clone(),
            needs_cookie,
        });
        masked
    }

    /// The XSRF token for this request's forms (Tornado's `xsrf_token`):
    /// masked anew per request, the same secret as the `_xsrf` cookie, which
    /// is set if the request had none (for 30 days when a user is logged
    /// in, else for the browser session).
    pub fn xsrf_token(&mut self) -> String {
        let token = self.peek_xsrf_token();
        let needs = self.xsrf.as_ref().is_some_and(|x| x.needs_cookie);
        if needs {
            let mut options = CookieOptions::default();
            if self.current_user().is_some() {
                options.max_age = Some(30 * 86400);
            }
            self.set_cookie(XSRF_COOKIE, &token, &options);
            if let Some(x) = self.xsrf.as_mut() {
                x.needs_cookie = false;
            }
        }
        token
    }

    /// A hidden `_xsrf` form field with the token (Tornado's
    /// `xsrf_form_html`); sets the cookie as `xsrf_token` does.
    pub fn xsrf_form_html(&mut self) -> String {
        let token = crate::escape::xhtml_escape(&self.xsrf_token());
        format!("<input type=\"hidden\" name=\"_xsrf\" value=\"{token}\"/>")
    }

    /// Checks the request's XSRF token, from the `_xsrf` argument or the
    /// `X-XSRFToken` / `X-CSRFToken` header, against the `_xsrf` cookie:
    /// a 403 if it is missing, malformed or different (Tornado's
    /// `check_xsrf_cookie`). Run for POST, PUT, PATCH and DELETE (any
    /// method but GET, HEAD and OPTIONS) when `xsrf_cookies` is on.
    pub fn check_xsrf_cookie(&mut self) -> Result<(), HttpError> {
        let sent = self
            .get_argument_opt(XSRF_COOKIE)
            .filter(|t| !t.is_empty())
            .or_else(|| self.request.headers.get("X-Xsrftoken").map(str::to_owned))
            .or_else(|| self.request.headers.get("X-Csrftoken").map(str::to_owned));
        let Some(sent) = sent else {
            return Err(HttpError::new(403).with_log_message("'_xsrf' argument missing from POST"));
        };
        let Some((token, _)) = decode_xsrf_token(&sent).filter(|(t, _)| !t.is_empty()) else {
            return Err(HttpError::new(403).with_log_message("'_xsrf' argument has invalid format"));
        };
        let Some((expected, _)) = self
            .get_cookie(XSRF_COOKIE)
            .and_then(|c| decode_xsrf_token(&c))
            .filter(|(t, _)| !t.is_empty())
        else {
            return Err(HttpError::new(403).with_log_message("'_xsrf' cookie missing or malformed"));
        };
        if !constant_time_eq(&token, &expected) {
            return Err(
                HttpError::new(403).with_log_message("XSRF cookie does not match POST argument")
            );
        }
        Ok(())
    }

    /// The time the XSRF token was made (seconds since the epoch).
    pub fn xsrf_token_timestamp(&mut self) -> u64 {
        self.peek_xsrf_token();
        self.xsrf.as_ref().map_or(0, |x| x.timestamp)
    }

    /// The unmasked XSRF secret (for comparisons of one's own).
    pub fn raw_xsrf_token(&mut self) -> Vec<u8> {
        self.peek_xsrf_token();
        self.xsrf
            .as_ref()
            .map(|x| x.raw.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let raw = b"0123456789abcdef";
        let t = encode_xsrf_token(raw, [1, 2, 3, 4], 1_700_000_000);
        assert!(t.starts_with("2|01020304|"));
        assert!(t.ends_with("|1700000000"));
        assert_eq!(decode_xsrf_token(&t), Some((raw.to_vec(), 1_700_000_000)));
        // Version 1: bare hex.
        assert_eq!(decode_xsrf_token("6869").unwrap().0, b"hi".to_vec());
        for bad in [
            "2|zz|00|1",
            "2|01020304|0g|1",
            "2|0102|00|1",
            "3|a|b|c",
            "2|01020304|00",
            "2|01020304|00|x",
        ] {
            assert_eq!(decode_xsrf_token(bad), None, "{bad}");
        }
    }
}
