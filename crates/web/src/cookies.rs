//! Cookies: `Set-Cookie` formatting and signed values in Tornado's version 2
//! format (`2|1:0|10:<time>|<name>|<value>|<hmac-sha256>`), so that cookies
//! signed by Tornado with the same secret are accepted here and back.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use tornado_http::httputil::format_timestamp;

/// Attributes of a cookie to set.
#[derive(Debug, Clone, Default)]
pub struct CookieOptions {
    /// `Domain=`.
    pub domain: Option<String>,
    /// `Path=` (Tornado's default is `/`; `None` sends `/`).
    pub path: Option<String>,
    /// `Expires=`.
    pub expires: Option<SystemTime>,
    /// `Max-Age=` in seconds.
    pub max_age: Option<u64>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub httponly: bool,
    /// `SameSite=` (`Strict`, `Lax` or `None`).
    pub samesite: Option<String>,
}

/// A `Set-Cookie` value, or `None` if the name or value cannot be sent
/// safely (control characters, separators in the name).
pub(crate) fn format_set_cookie(name: &str, value: &str, o: &CookieOptions) -> Option<String> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    let value_ok = value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'"' && b != b'\\');
    if !name_ok || !value_ok {
        return None;
    }
    let mut s = format!("{name}={value}; Path={}", o.path.as_deref().unwrap_or("/"));
    if let Some(d) = &o.domain {
        s.push_str(&format!("; Domain={d}"));
    }
    if let Some(e) = o.expires {
        s.push_str(&format!("; Expires={}", format_timestamp(e)));
    }
    if let Some(m) = o.max_age {
        s.push_str(&format!("; Max-Age={m}"));
    }
    if o.secure {
        s.push_str("; Secure");
    }
    if o.httponly {
        s.push_str("; HttpOnly");
    }
    if let Some(ss) = &o.samesite {
        s.push_str(&format!("; SameSite={ss}"));
    }
    Some(s)
}

fn field(s: &str) -> String {
    format!("{}:{s}", s.len())
}

fn signature(secret: &str, data: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Signs `value` for cookie `name` at time `now` (key version 0).
pub fn create_signed_value(secret: &str, name: &str, value: &str, now: SystemTime) -> String {
    create_signed_value_versioned(secret, 0, name, value, now)
}

/// Signs `value` for cookie `name` at time `now` with `secret`, recording
/// `key_version` (the key of `secret` in the application's
/// `cookie_secrets`) so that the reader knows which key to check it with.
pub fn create_signed_value_versioned(
    secret: &str,
    key_version: u32,
    name: &str,
    value: &str,
    now: SystemTime,
) -> String {
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        .to_string();
    let encoded = B64.encode(value.as_bytes());
    let to_sign = format!(
        "2|{}|{}|{}|{}|",
        field(&key_version.to_string()),
        field(&timestamp),
        field(name),
        field(&encoded)
    );
    let sig = signature(secret, &to_sign);
    format!("{to_sign}{sig}")
}

/// Takes one `len:value|` field off the front of `s`.
fn take_field(s: &str) -> Option<(&str, &str)> {
    let (len, rest) = s.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let value = rest.get(..len)?;
    let rest = rest.get(len..)?.strip_prefix('|')?;
    Some((value, rest))
}

/// The value of a signed cookie if its signature, name and age check out.
pub fn decode_signed_value(
    secret: &str,
    name: &str,
    signed: &str,
    max_age_days: f64,
    now: SystemTime,
) -> Option<String> {
    decode(|_| Some(secret), name, signed, max_age_days, now)
}

/// As [`decode_signed_value`], checking the signature with the secret of
/// the key version the value names (none if `secrets` lacks it).
pub fn decode_signed_value_versioned(
    secrets: &BTreeMap<u32, String>,
    name: &str,
    signed: &str,
    max_age_days: f64,
    now: SystemTime,
) -> Option<String> {
    decode(
        |v| secrets.get(&v).map(String::as_str),
        name,
        signed,
        max_age_days,
        now,
    )
}

fn decode<'a>(
    secret_for: impl Fn(u32) -> Option<&'a str>,
    name: &str,
    signed: &str,
    max_age_days: f64,
    now: SystemTime,
) -> Option<String> {
    let rest = signed.strip_prefix("2|")?;
    let (key_version, rest) = take_field(rest)?;
    let (timestamp, rest) = take_field(rest)?;
    let (cookie_name, rest) = take_field(rest)?;
    let (encoded, sig) = take_field(rest)?;
    let secret = secret_for(key_version.parse().ok()?)?;
    let to_sign = &signed[..signed.len() - sig.len()];
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    let sig_bytes: Vec<u8> = (0..sig.len() / 2)
        .map(|i| u8::from_str_radix(sig.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    // Constant-time comparison.
    mac.verify_slice(&sig_bytes).ok()?;
    if cookie_name != name {
        return None;
    }
    let ts: u64 = timestamp.parse().ok()?;
    let now_s = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if (ts as f64) < now_s as f64 - max_age_days * 86400.0 {
        return None; // expired
    }
    String::from_utf8(B64.decode(encoded).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_round_trip_and_resist_tampering() {
        let now = UNIX_EPOCH + Duration::from_secs(1_300_000_000);
        let s = create_signed_value("secret", "user", "alice", now);
        assert!(s.starts_with("2|1:0|10:1300000000|4:user|8:YWxpY2U=|"));
        assert_eq!(
            decode_signed_value("secret", "user", &s, 31.0, now).as_deref(),
            Some("alice")
        );
        assert_eq!(
            decode_signed_value("other", "user", &s, 31.0, now),
            None,
            "wrong secret"
        );
        assert_eq!(
            decode_signed_value("secret", "admin", &s, 31.0, now),
            None,
            "wrong name"
        );
        let later = now + Duration::from_secs(40 * 86400);
        assert_eq!(
            decode_signed_value("secret", "user", &s, 31.0, later),
            None,
            "expired"
        );
        let tampered = s.replace("YWxpY2U=", "Ym9iYm9i");
        assert_eq!(
            decode_signed_value("secret", "user", &tampered, 31.0, now),
            None
        );
        assert_eq!(
            decode_signed_value("secret", "user", "garbage", 31.0, now),
            None
        );
    }

    #[test]
    fn set_cookie_format() {
        let o = CookieOptions {
            httponly: true,
            max_age: Some(60),
            ..Default::default()
        };
        assert_eq!(
            format_set_cookie("a", "b", &o).unwrap(),
            "a=b; Path=/; Max-Age=60; HttpOnly"
        );
        assert!(format_set_cookie("a b", "x", &o).is_none());
        assert!(format_set_cookie("a", "x;y", &o).is_none());
    }
}
