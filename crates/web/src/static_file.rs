//! `StaticFileHandler`: files under a root directory, with conditional GET,
//! byte ranges and HEAD (Tornado's `web.StaticFileHandler`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tornado_gen::try_run_in_executor;
use tornado_http::httputil::{format_timestamp, parse_timestamp};

use crate::context::Context;
use crate::error::HttpError;
use crate::handler::{HandlerResult, RequestHandler};

/// Bytes read from disk per step when streaming a file: big enough to keep
/// system calls few, small enough that a large file is never held whole.
pub const STATIC_CHUNK_SIZE: usize = 64 * 1024;

/// Serves the files under a root directory; the route's first group is the
/// path inside it (Tornado's `StaticFileHandler`).
///
/// Every response carries `Etag` (size and modification time),
/// `Last-Modified`, `Accept-Ranges` and a content type from the file's
/// extension; `If-None-Match` and `If-Modified-Since` give 304, a single
/// `Range` gives 206 (or 416 if it lies outside the file). Paths that leave
/// the root (`..`, absolute paths, symbolic links pointing outside) get 403,
/// directories 403 unless a default file name is set, missing files 404.
/// The disk is only touched on the executor, and large files are sent in
/// chunks, each flushed before the next is read.
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_iostream::IOStream;
/// use tornado_web::{Application, StaticFileHandler, route};
///
/// let dir = std::env::temp_dir().join(format!("static-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("hello.txt"), "hello file").unwrap();
/// let ioloop = IOLoop::new().unwrap();
/// let app = Application::new(vec![route(r"/static/(.*)", StaticFileHandler::new(&dir))]);
/// let addr = app.listen_on(0, Some("127.0.0.1")).unwrap().1[0];
/// let reply = ioloop.run_sync(move || coroutine(async move {
///     let s = IOStream::connect(&addr.to_string()).await?;
///     s.write(b"GET /static/hello.txt HTTP/1.0\r\n\r\n".to_vec()).await?;
///     s.read_until_close().await
/// }), None).unwrap();
/// let reply = String::from_utf8(reply).unwrap();
/// assert!(reply.starts_with("HTTP/1.0 200 OK"));
/// assert!(reply.contains("Content-Type: text/plain"));
/// assert!(reply.ends_with("\r\n\r\nhello file"));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct StaticFileHandler {
    root: Arc<PathBuf>,
    default_filename: Option<Arc<str>>,
}

/// What the executor found at the requested path.
enum Found {
    File {
        file: Arc<File>,
        size: u64,
        modified: SystemTime,
        path: PathBuf,
    },
    /// A directory asked for without its trailing slash.
    Directory,
    Missing,
    Forbidden(String),
}

impl StaticFileHandler {
    /// Serves the files under `root`.
    pub fn new(root: impl AsRef<Path>) -> StaticFileHandler {
        StaticFileHandler {
            root: Arc::new(root.as_ref().to_path_buf()),
            default_filename: None,
        }
    }

    /// Serves `name` (e.g. `index.html`) for requests naming a directory;
    /// a directory path without its trailing slash is redirected (301) to
    /// the path with it, so that relative links in the page work.
    pub fn with_default_filename(mut self, name: &str) -> StaticFileHandler {
        self.default_filename = Some(name.into());
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// GET and HEAD: the file, or the status that stands for it.
    async fn serve(&mut self, cx: &mut Context, include_body: bool) -> HandlerResult {
        let requested = cx.path_args().first().cloned().unwrap_or_default();
        let relative = normalize(&requested).ok_or_else(|| {
            HttpError::new(403).with_log_message(format!("{requested:?} is not in the root"))
        })?;
        let (root, default) = (self.root.clone(), self.default_filename.clone());
        let slash = cx.request().path.ends_with('/');
        let found =
            try_run_in_executor(move || locate(&root, &relative, default.as_deref(), slash))
                .await
                .map_err(HttpError::from)?;
        let (file, size, modified, path) = match found {
            Found::File {
                file,
                size,
                modified,
                path,
            } => (file, size, modified, path),
            Found::Missing => return Err(HttpError::new(404)),
            Found::Forbidden(why) => return Err(HttpError::new(403).with_log_message(why)),
            Found::Directory => {
                let dir_url = format!("{}/", cx.request().path);
                cx.redirect(&dir_url, true);
                return Ok(());
            }
        };
        let etag = file_etag(size, modified);
        cx.set_header("Accept-Ranges", "bytes");
        cx.set_header("Etag", &etag);
        cx.set_header("Last-Modified", format_timestamp(modified));
        cx.set_header("Content-Type", content_type(&path));
        // Tornado's `get_cache_time`: a versioned URL (`static_url`'s
        // `?v=`) names content that never changes, so it may be cached for
        // long; other URLs get no caching headers.
        if cx.request().query_arguments.contains_key("v") {
            let max_age = crate::static_url::VERSIONED_CACHE_SECONDS;
            cx.set_header(
                "Expires",
                format_timestamp(SystemTime::now() + std::time::Duration::from_secs(max_age)),
            );
            cx.set_header("Cache-Control", format!("max-age={max_age}"));
        }
        if not_modified(cx, modified) {
            cx.set_status(304);
            return Ok(());
        }
        let (start, end) = match cx.request().headers.get("Range").and_then(parse_range) {
            None => (0, size),
            Some(range) => match satisfiable(range, size) {
                Some((s, e)) => {
                    if (s, e) != (0, size) {
                        cx.set_status(206);
                        cx.set_header("Content-Range", format!("bytes {s}-{}/{size}", e - 1));
                    }
                    (s, e)
                }
                None => {
                    cx.set_status(416);
                    cx.set_header("Content-Type", "text/plain");
                    cx.set_header("Content-Range", format!("bytes */{size}"));
                    return Ok(());
                }
            },
        };
        cx.set_header("Content-Length", end - start);
        if !include_body {
            return Ok(());
        }
        let mut offset = start;
        while offset < end {
            let want = (end - offset).min(STATIC_CHUNK_SIZE as u64) as usize;
            let f = file.clone();
            let chunk = try_run_in_executor(move || read_chunk(&f, offset, want)).await?;
            offset += chunk.len() as u64;
            cx.write(chunk);
            // A small file is sent by `finish` whole; a large one leaves in
            // chunks, the next read only once the last chunk was taken.
            if end - start > STATIC_CHUNK_SIZE as u64 {
                cx.flush().await?;
            }
        }
        Ok(())
    }
}

impl RequestHandler for StaticFileHandler {
    async fn get(&mut self, cx: &mut Context) -> HandlerResult {
        self.serve(cx, true).await
    }

    async fn head(&mut self, cx: &mut Context) -> HandlerResult {
        self.serve(cx, false).await
    }
}

/// The requested path made relative and free of `.` and `..`; `None` if
/// it is absolute or climbs above the root.
pub(crate) fn normalize(requested: &str) -> Option<PathBuf> {
    if requested.contains('\0') {
        return None;
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(requested).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// On the executor: resolves `relative` under `root`, following symbolic
/// links, and opens the file if it is one that may be served. A directory
/// whose URL lacks its trailing slash is `Found::Directory` (to redirect).
fn locate(
    root: &Path,
    relative: &Path,
    default: Option<&str>,
    url_has_slash: bool,
) -> io::Result<Found> {
    let root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) => return classify(e),
    };
    let mut path = match root.join(relative).canonicalize() {
        Ok(p) => p,
        Err(e) => return classify(e),
    };
    // A link may point anywhere: only what really lies under the root is
    // served.
    if !path.starts_with(&root) {
        return Ok(Found::Forbidden(format!(
            "{} is not in the root directory",
            relative.display()
        )));
    }
    if path.is_dir() {
        let Some(name) = default else {
            return Ok(Found::Forbidden(format!(
                "{} is a directory",
                relative.display()
            )));
        };
        if !url_has_slash {
            return Ok(Found::Directory);
        }
        let with_index = path.join(name);
        path = match with_index.canonicalize() {
            Ok(p) if p.starts_with(&root) => p,
            Ok(_) => return Ok(Found::Forbidden(format!("{name} leaves the root"))),
            Err(e) => return classify(e),
        };
    }
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => return classify(e),
    };
    if !meta.is_file() {
        return Ok(Found::Forbidden(format!(
            "{} is not a file",
            relative.display()
        )));
    }
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => return classify(e),
    };
    Ok(Found::File {
        file: Arc::new(file),
        size: meta.len(),
        modified: meta.modified().unwrap_or(UNIX_EPOCH),
        path,
    })
}

/// A file system error as the client should see it: a path that does not
/// exist (or runs through a file) is 404, an unreadable one 403; the rest
/// are server errors.
fn classify(e: io::Error) -> io::Result<Found> {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Ok(Found::Missing),
        io::ErrorKind::PermissionDenied => Ok(Found::Forbidden(format!("permission denied: {e}"))),
        _ => Err(e),
    }
}

/// Reads up to `len` bytes at `offset` (fewer only at the end of the file).
fn read_chunk(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if filled == 0 {
        // The file shrank under us: better an error than a short response
        // that hangs the client waiting for the promised length.
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shorter than when it was opened",
        ));
    }
    buf.truncate(filled);
    Ok(buf)
}

/// A strong validator from size and modification time: changes whenever
/// the file is rewritten, without reading it.
fn file_etag(size: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos();
    format!("\"{size:x}-{nanos:x}\"")
}

/// Tornado's `should_return_304`: `If-None-Match` decides if present,
/// else `If-Modified-Since` (to the second, as HTTP dates go).
fn not_modified(cx: &Context, modified: SystemTime) -> bool {
    let headers = &cx.request().headers;
    if headers.contains("If-None-Match") {
        return cx.check_etag_header();
    }
    let Some(since) = headers.get("If-Modified-Since").and_then(parse_timestamp) else {
        return false;
    };
    let secs = modified
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    since >= UNIX_EPOCH + Duration::from_secs(secs)
}

/// A `Range` header's single byte range as (start, end) in Tornado's
/// convention: end exclusive, a negative start counts from the end, `None`
/// for an open end. Several ranges or other units give `None` (the whole
/// file is sent, as the header may be ignored).
fn parse_range(header: &str) -> Option<(Option<i64>, Option<u64>)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (start, end) = (num(a)?, num(b)?);
    match (start, end) {
        (None, None) => None,
        // `-0` asks for nothing: kept as an empty end, refused later.
        (None, Some(0)) => Some((None, Some(0))),
        (None, Some(n)) => Some((Some(-(n.min(i64::MAX as u64) as i64)), None)),
        (Some(s), e) => Some((Some(s.min(i64::MAX as u64) as i64), e.map(|e| e + 1))),
    }
}

/// The range clipped to the file, or `None` if it cannot be satisfied (the
/// 416 case of Tornado's `get`).
fn satisfiable(range: (Option<i64>, Option<u64>), size: u64) -> Option<(u64, u64)> {
    let (start, end) = range;
    if end == Some(0) {
        return None;
    }
    let start = match start {
        Some(s) if s < 0 => size.saturating_sub(s.unsigned_abs()),
        Some(s) => s as u64,
        None => 0,
    };
    if start >= size || end.is_some_and(|e| start >= e) {
        return None;
    }
    Some((start, end.map_or(size, |e| e.min(size))))
}

/// The content type for a file name's extension; unknown ones are
/// `application/octet-stream`.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "json" | "map" => "application/json",
        "txt" | "text" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "avif" => "image/avif",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "wasm" => "application/wasm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9"), Some((Some(0), Some(10))));
        assert_eq!(parse_range("bytes=5-"), Some((Some(5), None)));
        assert_eq!(parse_range("bytes=-3"), Some((Some(-3), None)));
        assert_eq!(parse_range("bytes=-0"), Some((None, Some(0))));
        assert_eq!(parse_range("bytes=1-2,4-5"), None);
        assert_eq!(parse_range("items=1-2"), None);
        assert_eq!(parse_range("bytes=x-2"), None);
        assert_eq!(satisfiable((Some(0), Some(10)), 100), Some((0, 10)));
        assert_eq!(satisfiable((Some(-3), None), 100), Some((97, 100)));
        assert_eq!(satisfiable((Some(-300), None), 100), Some((0, 100)));
        assert_eq!(satisfiable((Some(90), Some(200)), 100), Some((90, 100)));
        assert_eq!(satisfiable((Some(100), None), 100), None);
        assert_eq!(satisfiable((None, Some(0)), 100), None);
        assert_eq!(satisfiable((Some(0), None), 0), None);
    }

    #[test]
    fn paths_and_types() {
        assert_eq!(normalize("a/./b/../c"), Some(PathBuf::from("a/c")));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("a/../../x"), None);
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize(""), Some(PathBuf::new()));
        assert_eq!(content_type(Path::new("x/y.CSS")), "text/css");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
