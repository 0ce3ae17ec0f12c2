//! A message head as text: its header lookup, shared by the raw client's
//! responses (`common::http`) and the raw server's requests
//! (`client_support`, whose test crates all include `common`).

/// The value of the first header `name` (any case) in `head`, the start
/// line and the headers separated by CRLF.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}
