//! Tornado's `escape` helpers that templates use: `xhtml_escape`,
//! `url_escape`, `json_encode`, `squeeze`, `linkify`.

use std::sync::LazyLock;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use regex::Regex;

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML and XML.
pub fn xhtml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What Python's `quote` leaves alone besides letters and digits.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// `QUOTE` keeping `/` too (Python's `quote` default).
const QUOTE_PATH: &AsciiSet = &QUOTE.remove(b'/');

/// Percent-encodes `value` for a URL. With `plus` (Tornado's default) a
/// space becomes `+` and `/` is encoded, for query values; without it a
/// space is `%20` and `/` stays, for paths.
pub fn url_escape(value: &str, plus: bool) -> String {
    if plus {
        value
            .split(' ')
            .map(|part| utf8_percent_encode(part, QUOTE).to_string())
            .collect::<Vec<_>>()
            .join("+")
    } else {
        utf8_percent_encode(value, QUOTE_PATH).to_string()
    }
}

/// JSON for embedding in HTML: `</` becomes `<\/` so that a string cannot
/// close a `<script>` element.
pub fn json_encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string(value)?.replace("</", "<\\/"))
}

/// Collapses every run of whitespace (and control characters up to space)
/// into one space, trimming the ends.
pub fn squeeze(value: &str) -> String {
    value
        .split(|c: char| c <= ' ')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// URLs in text: a scheme (`http://`, `https://`) or `www.`, then anything
/// but spaces and quotes, not ending in punctuation.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[^\s<>"']*[^\s<>"'.,;:!?)\]}]"#)
        .expect("valid URL pattern")
});

/// Escapes `text` for HTML and turns the `http`/`https` URLs (and bare
/// `www.` addresses) in it into links (Tornado's `linkify` with its
/// default protocols). Other schemes, e.g. `javascript:`, stay text.
pub fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut last = 0;
    for m in URL.find_iter(text) {
        let url = m.as_str();
        let lower = url.to_ascii_lowercase();
        let href = if lower.starts_with("www.") {
            format!("http://{url}")
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            url.to_owned()
        } else {
            continue;
        };
        out.push_str(&xhtml_escape(&text[last..m.start()]));
        out.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            xhtml_escape(&href),
            xhtml_escape(url)
        ));
        last = m.end();
    }
    out.push_str(&xhtml_escape(&text[last..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            xhtml_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_escape("a b/c&d=é", true), "a+b%2Fc%26d%3D%C3%A9");
        assert_eq!(url_escape("a b/c", false), "a%20b/c");
        assert_eq!(json_encode("</script>").unwrap(), r#""<\/script>""#);
        assert_eq!(squeeze("  a \n\t b  c "), "a b c");
    }

    #[test]
    fn linkify_links_only_web_urls() {
        assert_eq!(
            linkify("see http://x.org/a?b=1&c=2. <b>"),
            "see <a href=\"http://x.org/a?b=1&amp;c=2\">http://x.org/a?b=1&amp;c=2</a>. &lt;b&gt;"
        );
        assert_eq!(
            linkify("www.example.com!"),
            "<a href=\"http://www.example.com\">www.example.com</a>!"
        );
        assert_eq!(linkify("javascript://alert(1)"), "javascript://alert(1)");
    }
}
