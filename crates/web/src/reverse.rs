//! Reversing a route's pattern into a URL (Tornado's `URLSpec.reverse`
//! and `Application.reverse_url`).

use std::collections::HashMap;

use crate::escape::url_escape;

/// A pattern cut into literal text and the places of its groups.
#[derive(Debug, Clone)]
pub(crate) struct ReversePattern {
    /// Literal pieces; a group goes between two consecutive pieces.
    pieces: Vec<String>,
}

impl ReversePattern {
    /// Parses `pattern` (without anchors); `None` when it cannot be
    /// reversed: a nested group, or a regex construct outside the groups.
    pub(crate) fn parse(pattern: &str) -> Option<ReversePattern> {
        let pattern = pattern.strip_prefix('^').unwrap_or(pattern);
        let pattern = pattern.strip_suffix('$').unwrap_or(pattern);
        let mut pieces = vec![String::new()];
        let mut depth = 0usize;
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let e = chars.next()?;
                    if depth == 0 {
                        // Only escaped punctuation is a literal; `\d` and
                        // friends are classes that have no one value.
                        if e.is_ascii_alphanumeric() {
                            return None;
                        }
                        pieces.last_mut()?.push(e);
                    }
                }
                '(' => {
                    if depth > 0 {
                        return None; // nested groups are not reversible
                    }
                    depth = 1;
                }
                ')' => {
                    if depth == 0 {
                        return None;
                    }
                    depth = 0;
                    pieces.push(String::new());
                }
                _ if depth > 0 => {}
                '.' | '*' | '+' | '?' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => return None,
                c => pieces.last_mut()?.push(c),
            }
        }
        (depth == 0).then_some(ReversePattern { pieces })
    }

    /// The number of groups.
    pub(crate) fn groups(&self) -> usize {
        self.pieces.len() - 1
    }

    /// The URL with `args` (percent-encoded, `/` kept) in the groups.
    pub(crate) fn reverse(&self, args: &[String]) -> Result<String, String> {
        if args.len() != self.groups() {
            return Err(format!(
                "{} argument(s) given for {} group(s)",
                args.len(),
                self.groups()
            ));
        }
        let mut url = self.pieces[0].clone();
        for (arg, piece) in args.iter().zip(&self.pieces[1..]) {
            url.push_str(&url_escape(arg, false));
            url.push_str(piece);
        }
        Ok(url)
    }
}

/// The application's named routes.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReverseTable {
    pub(crate) named: HashMap<String, Option<ReversePattern>>,
}

impl ReverseTable {
    /// The URL of route `name` with `args`.
    pub(crate) fn reverse(&self, name: &str, args: &[String]) -> Result<String, String> {
        match self.named.get(name) {
            None => Err(format!("{name} not found in named urls")),
            Some(None) => Err(format!(
                "route {name} has a pattern that cannot be reversed"
            )),
            Some(Some(p)) => p.reverse(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(p: &str, args: &[&str]) -> Result<String, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        ReversePattern::parse(p)
            .ok_or("unreversible".to_owned())?
            .reverse(&args)
    }

    #[test]
    fn reverses_groups_and_escapes() {
        assert_eq!(
            rev(r"/entry/([^/]+)", &["a b/c"]).unwrap(),
            "/entry/a%20b/c"
        );
        assert_eq!(
            rev(r"/a/(\d+)/b/(?P<x>.*)\.json$", &["1", "é"]).unwrap(),
            "/a/1/b/%C3%A9.json"
        );
        assert_eq!(rev(r"/", &[]).unwrap(), "/");
        assert!(rev(r"/x/([0-9]+)", &[]).is_err());
        assert!(ReversePattern::parse(r"/x/((a)b)").is_none());
        assert!(ReversePattern::parse(r"/x/.*").is_none());
        assert!(ReversePattern::parse(r"/x/\d").is_none());
    }
}
