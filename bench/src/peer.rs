//! What the HTTP "Hello, world" peers (`hyper_hello`, `axum_hello`) share:
//! their command line, their tokio runtime and the headers they answer
//! with, so that the peers of `http_bench.sh` and `multicore_bench.sh`
//! differ only in the HTTP stack under test.

/// The body every hello server answers `GET /` with.
pub const HELLO_BODY: &str = "Hello, world";

/// The Content-Type our `hello` example sends (Tornado's default for a
/// `write` of a string); the peers send the same.
pub const HELLO_CONTENT_TYPE: &str = "text/html; charset=UTF-8";

/// A peer's command line: `[--port P] [--threads N] [--nodelay]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerArgs {
    /// The port to listen on, on 127.0.0.1.
    pub port: u16,
    /// `None`: a tokio `current_thread` runtime (the one-core peer of our
    /// loop); `Some(n)`: a multi-thread runtime of `n` workers.
    pub threads: Option<usize>,
    /// Set `TCP_NODELAY` on every accepted connection. Off by default, as
    /// hyper and axum leave it; `http_bench.sh` turns it on for pipelined
    /// runs, where Nagle's algorithm would hold each batch's later answers
    /// until the client's delayed ACK (tens of ms) and the run would time
    /// that timer instead of the server.
    pub nodelay: bool,
}

impl PeerArgs {
    /// Parses `args` (without the program name); `name` goes into the usage
    /// message, `default_port` is used without `--port`.
    pub fn parse<I>(name: &str, default_port: u16, args: I) -> Result<PeerArgs, String>
    where
        I: IntoIterator<Item = String>,
    {
        let usage = || format!("usage: {name} [--port P] [--threads N] [--nodelay]");
        let mut out = PeerArgs {
            port: default_port,
            threads: None,
            nodelay: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |what: &str| {
                args.next()
                    .ok_or_else(|| format!("{arg} takes {what}; {}", usage()))
            };
            match arg.as_str() {
                "--port" => {
                    let v = value("a port number")?;
                    out.port = v.parse().map_err(|e| format!("--port {v}: {e}"))?;
                }
                "--threads" => {
                    let v = value("a number of workers")?;
                    match v.parse::<usize>() {
                        // tokio panics on zero workers: refuse it here.
                        Ok(0) => return Err("--threads must be at least 1".to_string()),
                        Ok(n) => out.threads = Some(n),
                        Err(e) => return Err(format!("--threads {v}: {e}")),
                    }
                }
                "--nodelay" => out.nodelay = true,
                other => return Err(format!("unknown argument {other}; {}", usage())),
            }
        }
        Ok(out)
    }

    /// The tokio runtime these arguments ask for, with the I/O and time
    /// drivers enabled.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.threads {
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Some(n) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<PeerArgs, String> {
        PeerArgs::parse("peer", 8889, args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_without_arguments() {
        assert_eq!(
            parse(&[]).unwrap(),
            PeerArgs {
                port: 8889,
                threads: None,
                nodelay: false,
            }
        );
    }

    #[test]
    fn reads_port_and_threads_in_any_order() {
        let want = PeerArgs {
            port: 18881,
            threads: Some(2),
            nodelay: true,
        };
        let args = ["--port", "18881", "--threads", "2", "--nodelay"];
        assert_eq!(parse(&args).unwrap(), want);
        let args = ["--nodelay", "--threads", "2", "--port", "18881"];
        assert_eq!(parse(&args).unwrap(), want);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(parse(&["--port"]).unwrap_err().contains("--port takes"));
        assert!(
            parse(&["--port", "70000"])
                .unwrap_err()
                .contains("--port 70000")
        );
        assert!(
            parse(&["--threads", "0"])
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            parse(&["--threads", "x"])
                .unwrap_err()
                .contains("--threads x")
        );
        let e = parse(&["--verbose"]).unwrap_err();
        assert!(
            e.contains("unknown argument --verbose") && e.contains("usage: peer"),
            "{e}"
        );
    }

    #[test]
    fn builds_the_runtime_asked_for() {
        let one = parse(&[]).unwrap().runtime().unwrap();
        assert_eq!(one.metrics().num_workers(), 1);
        let two = parse(&["--threads", "2"]).unwrap().runtime().unwrap();
        assert_eq!(two.metrics().num_workers(), 2);
    }
}
