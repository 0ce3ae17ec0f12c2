//! Request arguments on the `Context` (Tornado's `get_argument` family):
//! query and form-body values, stripped of surrounding whitespace, with
//! control characters turned into spaces; a required argument that is
//! missing is a 400.

use std::borrow::Cow;

use crate::context::Context;
use crate::error::HttpError;

/// Tornado's cleaning of an argument value: control characters (but tab,
/// newline and the like) become spaces, then surrounding whitespace goes
/// if `strip`.
fn clean(value: &str, strip: bool) -> String {
    let s: String = value
        .chars()
        .map(|c| match c {
            '\u{0}'..='\u{8}' | '\u{e}'..='\u{1f}' => ' ',
            c => c,
        })
        .collect();
    if strip { s.trim().to_owned() } else { s }
}

/// The 400 for a required argument that is absent (Tornado's
/// `MissingArgumentError`).
pub fn missing_argument(name: &str) -> HttpError {
    HttpError::new(400).with_log_message(format!("Missing argument {name}"))
}

/// Decodes a raw argument value as UTF-8 (Tornado's `decode_argument`): a
/// 400 naming the argument if it is not.
pub fn decode_argument(value: &[u8], name: &str) -> Result<String, HttpError> {
    String::from_utf8(value.to_vec())
        .map_err(|_| HttpError::new(400).with_log_message(format!("Invalid unicode in {name}")))
}

/// A path group percent-decoded, `None` if not UTF-8 then.
pub(crate) fn decode_path_argument(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Checks that the request's query and url-encoded form are UTF-8 once
/// percent-decoded: Tornado answers 400 for an argument that is not
/// (`decode_argument`). The parsed arguments have such bytes replaced, so
/// the raw forms are checked (only checked: they are parsed in one place).
pub(crate) fn check_arguments_utf8(
    request: &tornado_http::httputil::HttpServerRequest,
) -> Result<(), HttpError> {
    check_form(request.query.as_bytes())?;
    let form = request
        .headers
        .get("Content-Type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if form {
        check_form(&request.body)?;
    }
    Ok(())
}

fn check_form(data: &[u8]) -> Result<(), HttpError> {
    // Checked in place: nothing is copied or formatted unless it fails
    // (every request's query passes through here).
    if data.is_empty() {
        return Ok(());
    }
    for pair in data.split(|b| *b == b'&') {
        let mut parts = pair.splitn(2, |b| *b == b'=');
        let name: Cow<'_, [u8]> =
            percent_encoding::percent_decode(parts.next().unwrap_or(b"")).into();
        let Ok(name) = std::str::from_utf8(&name) else {
            return decode_argument(&name, "an argument name").map(drop);
        };
        let value: Cow<'_, [u8]> =
            percent_encoding::percent_decode(parts.next().unwrap_or(b"")).into();
        if std::str::from_utf8(&value).is_err() {
            return decode_argument(&value, &format!("argument {name:?}")).map(drop);
        }
    }
    Ok(())
}

/// Which arguments to look in.
#[derive(Clone, Copy)]
enum Source {
    Both,
    Query,
    Body,
}

impl Context {
    fn values(&self, name: &str, source: Source, strip: bool) -> Vec<String> {
        let r = &self.request;
        let query = r.query_arguments.get(name).into_iter().flatten();
        let body = r.body_arguments.get(name).into_iter().flatten();
        let all: Vec<&String> = match source {
            Source::Both => query.chain(body).collect(),
            Source::Query => query.collect(),
            Source::Body => body.collect(),
        };
        all.into_iter().map(|v| clean(v, strip)).collect()
    }

    /// The last value of argument `name` (query or body), stripped; a 400
    /// if absent (Tornado's `get_argument` without a default).
    pub fn get_argument(&self, name: &str) -> Result<String, HttpError> {
        self.get_argument_opt(name)
            .ok_or_else(|| missing_argument(name))
    }

    /// The last value of argument `name`, stripped, if any.
    pub fn get_argument_opt(&self, name: &str) -> Option<String> {
        self.values(name, Source::Both, true).pop()
    }

    /// The last value of argument `name`, or `default`.
    pub fn get_argument_or(&self, name: &str, default: &str) -> String {
        self.get_argument_opt(name)
            .unwrap_or_else(|| default.to_owned())
    }

    /// Every value of argument `name`, stripped: query first, then body.
    pub fn get_arguments(&self, name: &str) -> Vec<String> {
        self.values(name, Source::Both, true)
    }

    /// Every value of argument `name`, stripped only if `strip`.
    pub fn get_arguments_with(&self, name: &str, strip: bool) -> Vec<String> {
        self.values(name, Source::Both, strip)
    }

    /// The last value of query argument `name`; a 400 if absent.
    pub fn get_query_argument(&self, name: &str) -> Result<String, HttpError> {
        self.get_query_argument_opt(name)
            .ok_or_else(|| missing_argument(name))
    }

    /// The last value of query argument `name`, if any.
    pub fn get_query_argument_opt(&self, name: &str) -> Option<String> {
        self.values(name, Source::Query, true).pop()
    }

    /// Every value of query argument `name`.
    pub fn get_query_arguments(&self, name: &str) -> Vec<String> {
        self.values(name, Source::Query, true)
    }

    /// The last value of body argument `name`; a 400 if absent.
    pub fn get_body_argument(&self, name: &str) -> Result<String, HttpError> {
        self.get_body_argument_opt(name)
            .ok_or_else(|| missing_argument(name))
    }

    /// The last value of body argument `name`, if any.
    pub fn get_body_argument_opt(&self, name: &str) -> Option<String> {
        self.values(name, Source::Body, true).pop()
    }

    /// Every value of body argument `name`.
    pub fn get_body_arguments(&self, name: &str) -> Vec<String> {
        self.values(name, Source::Body, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_and_decoding() {
        assert_eq!(clean("  a\u{1}b\tc \n", true), "a b\tc");
        assert_eq!(clean(" a ", false), " a ");
        assert_eq!(decode_argument(b"caf\xc3\xa9", "x").unwrap(), "café");
        assert_eq!(decode_argument(b"\xff", "x").unwrap_err().status(), 400);
        assert_eq!(decode_path_argument("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode_path_argument("%FF"), None);
        assert!(check_form(b"a=%C3%A9&b=&c").is_ok());
        let e = check_form(b"a=1&b=%FF").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.log_message().unwrap().contains("\"b\""));
        assert!(check_form(b"%FE=1").is_err());
    }
}
