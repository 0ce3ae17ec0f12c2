//! URLs as the HTTP client needs them: split into scheme, host, port and
//! request target, and `Location` values resolved against them.

use super::error::{HttpClientError, HttpClientErrorKind};

/// A URL split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) https: bool,
    /// The host without brackets (for TLS names).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host` or `host:port` as the `Host` header says it.
    pub(crate) authority: String,
    /// Path and query.
    pub(crate) target: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Result<Url, HttpClientError> {
        let bad = |why: &str| {
            HttpClientError::new(HttpClientErrorKind::InvalidUrl, format!("{why}: {url}"))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("unsupported scheme")),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 address"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if https => 443,
            None => 80,
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else if target.is_empty() {
            "/".to_owned()
        } else {
            target.to_owned()
        };
        Ok(Url {
            https,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            target,
        })
    }

    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The absolute form (`http://host:port/path?query`), as a request
    /// through a proxy names its target.
    pub(crate) fn absolute(&self) -> String {
        format!("{}{}", self.origin(), self.target)
    }

    /// `scheme://authority`, which a redirect elsewhere changes.
    pub(crate) fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }
}

/// Resolves a `Location` against the URL it came from.
pub(crate) fn join_url(base: &Url, location: &str) -> String {
    if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{}://{rest}", if base.https { "https" } else { "http" })
    } else if location.starts_with('/') {
        format!("{}{location}", base.origin())
    } else {
        let path = base.target.split('?').next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{dir}{location}", base.origin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://example.com/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("example.com", 80, "/a/b?x=1")
        );
        let u = Url::parse("HTTPS://[::1]:8443?q").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str(), u.https),
            ("::1", 8443, "/?q", true)
        );
        assert_eq!(u.host_port(), "[::1]:8443");
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://u:p@x/").is_err());
        assert!(Url::parse("http://x:port/").is_err());
        let base = Url::parse("http://h:1/dir/page?x").unwrap();
        assert_eq!(join_url(&base, "other"), "http://h:1/dir/other");
        assert_eq!(join_url(&base, "/root"), "http://h:1/root");
        assert_eq!(join_url(&base, "//g/x"), "http://g/x");
        assert_eq!(join_url(&base, "https://z/"), "https://z/");
    }
}
