//! Behaviours of Tornado's `httputil_test.py` that apply: headers,
//! `url_concat`, query strings, multipart bodies (quoting, malformed
//! parts), cookies, timestamps, and the server request.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tornado::http::httputil::{
    Arguments, HttpFile, HttpHeaders, HttpServerRequest, format_timestamp, parse_body_arguments,
    parse_cookie, parse_header, parse_multipart_form_data, parse_qs, parse_timestamp,
    reason_phrase, url_concat,
};

// ----- HttpHeaders ---------------------------------------------------------

#[test]
fn headers_are_case_insensitive_and_keep_every_value_in_order() {
    let mut h = HttpHeaders::new();
    assert!(h.is_empty());
    h.add("Set-Cookie", "a=1");
    h.add("Content-Type", "text/plain");
    h.add("set-cookie", "b=2");
    h.add("SET-COOKIE", "c=3");
    assert_eq!(h.len(), 4);
    assert_eq!(h.get("content-TYPE"), Some("text/plain"));
    assert_eq!(h.get("Set-Cookie"), Some("a=1"), "the first value");
    assert_eq!(
        h.get_all("set-cookie").collect::<Vec<_>>(),
        ["a=1", "b=2", "c=3"]
    );
    assert!(h.contains("CONTENT-type"));
    assert!(!h.contains("Content"));
    assert_eq!(h.get("missing"), None);
    assert_eq!(h.get_all("missing").count(), 0);
    // Names keep the spelling they were given, in arrival order.
    let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["Set-Cookie", "Content-Type", "set-cookie", "SET-COOKIE"]
    );
}

#[test]
fn set_replaces_every_value_and_remove_counts() {
    let mut h = HttpHeaders::new();
    h.add("X-A", "1");
    h.add("x-a", "2");
    h.add("X-B", "b");
    h.set("X-a", "3");
    assert_eq!(h.get_all("x-a").collect::<Vec<_>>(), ["3"]);
    assert_eq!(h.len(), 2);
    assert_eq!(h.remove("X-A"), 1);
    assert_eq!(h.remove("X-A"), 0);
    assert_eq!(h.iter().collect::<Vec<_>>(), [("X-B", "b")]);
}

#[test]
fn headers_serialize_as_lines_and_compare_by_content() {
    let mut h = HttpHeaders::new();
    h.add("A", "1");
    h.add("B", "two words");
    let mut out = Vec::new();
    h.write_to(&mut out);
    assert_eq!(out, b"A: 1\r\nB: two words\r\n");
    let copy = h.clone();
    assert_eq!(copy, h);
    h.add("C", "3");
    assert_ne!(copy, h);
    assert_eq!(format!("{copy:?}"), r#"{"A": "1", "B": "two words"}"#);
}

// ----- url_concat and query strings -------------------------------------------

#[test]
fn url_concat_cases() {
    let yz = [("y", "y"), ("z", "z")];
    let base = "https://localhost/path";
    assert_eq!(url_concat(base, &yz), format!("{base}?y=y&z=z"));
    assert_eq!(
        url_concat(base, &[("y", "/y"), ("z", "z")]),
        format!("{base}?y=%2Fy&z=z")
    );
    assert_eq!(
        url_concat(&format!("{base}?"), &yz),
        format!("{base}?y=y&z=z")
    );
    assert_eq!(
        url_concat(&format!("{base}?x"), &yz),
        format!("{base}?x&y=y&z=z")
    );
    assert_eq!(
        url_concat(&format!("{base}?x&"), &yz),
        format!("{base}?x&y=y&z=z")
    );
    assert_eq!(
        url_concat(&format!("{base}?a=1&b=2"), &yz),
        format!("{base}?a=1&b=2&y=y&z=z")
    );
    assert_eq!(
        url_concat(&format!("{base}?r=1&t=2"), &[]),
        format!("{base}?r=1&t=2")
    );
    assert_eq!(url_concat("/a", &[("q", "x y&z")]), "/a?q=x+y%26z");
}

#[test]
fn parse_qs_keeps_blanks_and_order_and_decodes() {
    let a = parse_qs(b"a=1&b=&c&a=2&d=x+y%2Bz&e=%C3%A9&%E2%9C%93=ok");
    assert_eq!(a["a"], ["1", "2"]);
    assert_eq!(a["b"], [""]);
    assert_eq!(a["c"], [""]);
    assert_eq!(a["d"], ["x y+z"]);
    assert_eq!(a["e"], ["é"]);
    assert_eq!(a["✓"], ["ok"]);
    assert!(parse_qs(b"").is_empty());
    // A malformed escape is kept as it is rather than failing.
    assert_eq!(parse_qs(b"p=100%")["p"], ["100%"]);
}

// ----- multipart -----------------------------------------------------------------

fn multipart(
    boundary: &str,
    body: &str,
) -> Result<(Arguments, HashMap<String, Vec<HttpFile>>), String> {
    let (mut args, mut files) = (Arguments::new(), HashMap::new());
    parse_multipart_form_data(
        boundary.as_bytes(),
        body.replace('\n', "\r\n").as_bytes(),
        &mut args,
        &mut files,
    )
    .map_err(|e| e.0)?;
    Ok((args, files))
}

const UPLOAD: &str =
    "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"\n\nFoo\n--1234--";

#[test]
fn multipart_file_upload_and_quoting() {
    let (_, files) = multipart("1234", UPLOAD).unwrap();
    let f = &files["files"][0];
    assert_eq!(
        (f.filename.as_str(), f.body.as_slice()),
        ("ab.txt", &b"Foo"[..])
    );
    assert_eq!(f.content_type, "application/unknown");
    // Quotes are optional, and a quoted boundary is unquoted.
    let unquoted =
        "--1234\nContent-Disposition: form-data; name=files; filename=ab.txt\n\nFoo\n--1234--";
    assert_eq!(
        multipart("1234", unquoted).unwrap().1["files"][0].filename,
        "ab.txt"
    );
    assert_eq!(
        multipart("\"1234\"", UPLOAD).unwrap().1["files"][0].body,
        b"Foo"
    );
    // Data after the final boundary is ignored.
    let (_, files) = multipart("1234", &format!("{UPLOAD}\n\ntrailing junk")).unwrap();
    assert_eq!(files["files"].len(), 1);
}

#[test]
fn multipart_special_filenames_survive_quoting() {
    for filename in [
        "a;b.txt",
        "a\"b.txt",
        "a\";b.txt",
        "a;\"b.txt",
        "a\";\";.txt",
        "a\\\"b.txt",
        "a\\b.txt",
    ] {
        let quoted = filename.replace('\\', "\\\\").replace('"', "\\\"");
        let body = format!(
            "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"{quoted}\"\n\nFoo\n--1234--"
        );
        let (_, files) = multipart("1234", &body).unwrap_or_else(|e| panic!("{filename}: {e}"));
        assert_eq!(files["files"][0].filename, filename);
        assert_eq!(files["files"][0].body, b"Foo");
    }
}

#[test]
fn multipart_rfc2231_filename_wins_over_the_plain_one() {
    let body = "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"; filename*=UTF-8''%C3%A1b.txt\n\nFoo\n--1234--";
    assert_eq!(
        multipart("1234", body).unwrap().1["files"][0].filename,
        "áb.txt"
    );
}

#[test]
fn multipart_fields_files_and_content_types() {
    let body = "--b\nContent-Disposition: form-data; name=\"f\"\n\nv1\n\
                --b\nContent-Disposition: form-data; name=\"f\"\n\nv2\n\
                --b\nContent-Disposition: form-data; name=\"up\"; filename=\"x.png\"\nContent-Type: image/png\n\n\x01\x02\n\
                --b\nContent-Disposition: form-data; name=\"empty\"\n\n\n\
                --b--\n";
    let (args, files) = multipart("b", body).unwrap();
    assert_eq!(args["f"], ["v1", "v2"]);
    assert_eq!(args["empty"], [""]);
    assert!(!args.contains_key("up"), "a file is not a field");
    assert_eq!(files["up"][0].content_type, "image/png");
    assert_eq!(files["up"][0].body, b"\x01\x02");
    assert!(!files.contains_key("f"));
}

#[test]
fn malformed_multipart_bodies_are_errors() {
    let cases = [
        (
            "missing final boundary",
            "--1234\nContent-Disposition: form-data; name=\"a\"\n\nFoo\n",
        ),
        ("missing headers", "--1234\n\nFoo\n--1234--"),
        (
            "invalid disposition",
            "--1234\nContent-Disposition: invalid; name=\"files\"; filename=\"ab.txt\"\n\nFoo\n--1234--",
        ),
        (
            "no line break before the boundary",
            "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"\n\nFoo--1234--",
        ),
        (
            "no name",
            "--1234\nContent-Disposition: form-data; filename=\"ab.txt\"\n\nFoo\n--1234--",
        ),
    ];
    for (what, body) in cases {
        assert!(multipart("1234", body).is_err(), "{what}");
    }
}

#[test]
fn body_arguments_by_content_type() {
    let (mut args, mut files) = (Arguments::new(), HashMap::new());
    parse_body_arguments(
        "application/x-www-form-urlencoded; charset=UTF-8",
        b"a=1&b=x+y",
        &mut args,
        &mut files,
    )
    .unwrap();
    assert_eq!((args["a"][0].as_str(), args["b"][0].as_str()), ("1", "x y"));
    // Other types are left alone; a multipart type needs a boundary.
    let mut other = Arguments::new();
    parse_body_arguments("application/json", b"{\"a\":1}", &mut other, &mut files).unwrap();
    assert!(other.is_empty());
    assert!(parse_body_arguments("multipart/form-data", b"", &mut other, &mut files).is_err());
    let body = UPLOAD.replace('\n', "\r\n");
    parse_body_arguments(
        "multipart/form-data; boundary=\"1234\"",
        body.as_bytes(),
        &mut other,
        &mut files,
    )
    .unwrap();
    assert_eq!(files["files"][0].filename, "ab.txt");
}

#[test]
fn parse_header_splits_parameters_outside_quotes() {
    let (main, params) = parse_header("form-data; name=\"a;b\"; x=1;y=\"q\\\"uote\"; bare");
    assert_eq!(main, "form-data");
    assert_eq!(
        params,
        [
            ("name".to_owned(), "a;b".to_owned()),
            ("x".to_owned(), "1".to_owned()),
            ("y".to_owned(), "q\"uote".to_owned()),
        ]
    );
    assert_eq!(parse_header("text/plain").0, "text/plain");
}

// ----- cookies ----------------------------------------------------------------------

fn cookies(header: &str) -> Vec<(String, String)> {
    parse_cookie(header)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parse_cookie_cases() {
    assert_eq!(
        cookies("chips=ahoy; vienna=finger"),
        pairs(&[("chips", "ahoy"), ("vienna", "finger")])
    );
    // Splitting is naive on `;`, as in Tornado (and browsers).
    assert_eq!(
        cookies("keebler=\"E=mc2; L=\\\"Loves\\\"; fudge=\\012;\""),
        pairs(&[
            ("keebler", "\"E=mc2"),
            ("L", "\\\"Loves\\\""),
            ("fudge", "\\012"),
            ("", "\"")
        ])
    );
    assert_eq!(
        cookies("key:term=value:term"),
        pairs(&[("key:term", "value:term")])
    );
    assert_eq!(
        cookies("a=b; c=[; d=r; f=h"),
        pairs(&[("a", "b"), ("c", "["), ("d", "r"), ("f", "h")])
    );
    // Blanks and nameless values.
    assert_eq!(
        cookies("  =  b  ;  ;  =  ;   c  =  ;  "),
        pairs(&[("", "b"), ("c", "")])
    );
    assert_eq!(cookies("novalue"), pairs(&[("", "novalue")]));
    // A quoted value loses its quotes; escapes inside are decoded.
    assert_eq!(
        cookies("q=\"a\\\"b\\012c\\\\d\""),
        pairs(&[("q", "a\"b\nc\\d")])
    );
    assert_eq!(cookies("q=\""), pairs(&[("q", "\"")]));
    assert!(cookies("").is_empty());
}

// ----- timestamps and reasons ----------------------------------------------------------

#[test]
fn timestamps_format_and_parse() {
    let t = UNIX_EPOCH + Duration::from_micros(1_359_312_200_503_611);
    assert_eq!(format_timestamp(t), "Sun, 27 Jan 2013 18:43:20 GMT");
    let whole = UNIX_EPOCH + Duration::from_secs(784_111_777);
    for s in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(parse_timestamp(s), Some(whole), "{s}");
    }
    assert_eq!(parse_timestamp("yesterday"), None);
    assert_eq!(parse_timestamp(""), None);
    let now = SystemTime::now();
    let round = parse_timestamp(&format_timestamp(now)).unwrap();
    assert!(now.duration_since(round).unwrap() < Duration::from_secs(1));
}

#[test]
fn reason_phrases() {
    assert_eq!(reason_phrase(200), "OK");
    assert_eq!(reason_phrase(404), "Not Found");
    assert_eq!(reason_phrase(418), "I'm a Teapot");
    assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
    assert_eq!(reason_phrase(599), "Unknown");
}

// ----- HttpServerRequest -------------------------------------------------------------------

#[test]
fn server_request_splits_the_uri_and_merges_arguments() {
    let mut r = HttpServerRequest::new("POST", "/p%20ath?a=1&b=2&a=3");
    assert_eq!(
        (r.path.as_str(), r.query.as_str()),
        ("/p%20ath", "a=1&b=2&a=3")
    );
    assert_eq!(r.query_arguments["a"], ["1", "3"]);
    assert_eq!(r.full_url(), "http://127.0.0.1/p%20ath?a=1&b=2&a=3");
    r.headers
        .add("Content-Type", "application/x-www-form-urlencoded");
    r.headers.add("Cookie", "x=1; y=2");
    r.headers.add("Cookie", "z=3");
    r.body = b"a=body&c=4".to_vec();
    r.parse_body().unwrap();
    assert_eq!(r.arguments("a"), ["1", "3", "body"]);
    assert_eq!(r.arguments("c"), ["4"]);
    assert!(r.arguments("none").is_empty());
    assert_eq!(r.cookies(), pairs(&[("x", "1"), ("y", "2"), ("z", "3")]));
    let bare = HttpServerRequest::new("GET", "/");
    assert_eq!((bare.path.as_str(), bare.query.as_str()), ("/", ""));
    assert!(bare.query_arguments.is_empty());
    // A malformed multipart body is an input error.
    let mut bad = HttpServerRequest::new("POST", "/");
    bad.headers
        .add("Content-Type", "multipart/form-data; boundary=zz");
    bad.body = b"--zz\r\nno end".to_vec();
    assert!(bad.parse_body().is_err());
}
