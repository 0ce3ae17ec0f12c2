//! Cookies as the web layer reads them: `Cookie` header parsing and signed
//! values (Tornado's v2 format). Decoding a fuzzed value never panics and
//! never accepts it without the secret; a value signed here decodes back
//! to itself, and only under its own name and secret.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tornado_http::httputil::parse_cookie;
use tornado_web::{create_signed_value, decode_signed_value};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    header: &'a str,
    secret: &'a str,
    name: &'a str,
    value: &'a str,
    /// A signed value as a client could send it.
    signed: &'a str,
    /// Seconds since the epoch, and the age accepted.
    now: u32,
    max_age_days: u8,
}

fuzz_target!(|input: Input<'_>| {
    for (name, _) in parse_cookie(input.header) {
        assert!(!name.contains(';'), "a cookie name holds the separator");
    }
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(input.now));
    let age = f64::from(input.max_age_days);
    // The fuzzer cannot forge an HMAC: a fuzzed value is never valid
    // under a secret it did not sign with.
    assert_eq!(
        decode_signed_value(
            "not the fuzzer's secret",
            input.name,
            input.signed,
            age,
            now
        ),
        None
    );
    let _ = decode_signed_value(input.secret, input.name, input.signed, age, now);
    let signed = create_signed_value(input.secret, input.name, input.value, now);
    assert_eq!(
        decode_signed_value(input.secret, input.name, &signed, age, now).as_deref(),
        Some(input.value),
        "{signed}"
    );
    let other = format!("{}x", input.name);
    assert_eq!(
        decode_signed_value(input.secret, &other, &signed, age, now),
        None
    );
});
