//! The client's URL handling: parsing a fetch's URL (scheme, host, port,
//! authority, target) and resolving a redirect's `Location` against it.
//! The input is the URL, then optionally a newline and a `Location`.
//! A parsed URL names a host, a target starting with `/`, an authority
//! made of exactly its host and port, and its absolute form parses back
//! to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tornado_http::fuzzing::{join_url, parse_url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (url, location) = text.split_once('\n').unwrap_or((text, "/"));
    let Ok(u) = parse_url(url) else {
        return;
    };
    assert!(!u.host.is_empty(), "{url:?}: no host");
    assert!(u.target.starts_with('/'), "{url:?}: target {:?}", u.target);
    let host = if u.host.contains(':') {
        format!("[{}]", u.host)
    } else {
        u.host.clone()
    };
    let port_given = u
        .authority
        .strip_prefix(host.as_str())
        .and_then(|r| r.strip_prefix(':'));
    assert!(
        u.authority == host || port_given.and_then(|p| p.parse::<u16>().ok()) == Some(u.port),
        "{url:?}: authority {:?} is not host {:?} and port {}",
        u.authority,
        u.host,
        u.port
    );
    let again = parse_url(&u.absolute).expect("the absolute form parses");
    assert_eq!(again, u, "{url:?} and its absolute form differ");
    if let Ok(joined) = join_url(url, location) {
        let _ = parse_url(&joined);
    }
});
