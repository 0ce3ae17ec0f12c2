//! `connect`: a `tokio-postgres` client over an `IOStream` on this loop.

use std::io;
use std::os::unix::net::UnixStream;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};
use tornado_concurrent::Future;
use tornado_gen::{coroutine, spawn, with_timeout};
use tornado_iostream::IOStream;
use tornado_tcp::TcpClient;

use crate::error::PgError;

/// PostgreSQL's default port.
const DEFAULT_PORT: u16 = 5432;

/// Connects to the server `config` names and starts the connection's
/// message pump as a coroutine on the current loop.
///
/// Hosts are tried in order (`host=a,b`): a TCP host through
/// [`TcpClient`], a directory as the
/// server's Unix socket `<dir>/.s.PGSQL.<port>`. The stream goes to
/// `Config::connect_raw` for the startup and authentication exchange; no
/// TLS (a config with `sslmode=require` is refused: for TLS, call
/// `connect_raw` with a TLS connector yourself). `connect_timeout`, if
/// set, bounds the TCP connect and, separately, the startup exchange; a
/// host that misses it is a [`PgError::Connect`] of kind `TimedOut`, and
/// the next host is tried.
///
/// Resolves to the client and a future that is done when the connection
/// ends: with `()` when the client was dropped and the connection closed
/// cleanly, with the [`PgError`] that ended it otherwise. Dropping that
/// future changes nothing; the pump runs as long as the connection does.
pub fn connect(config: &Config) -> Future<(Client, Future<()>)> {
    let config = config.clone();
    coroutine(async move { Ok(connect_inner(&config).await?) })
}

/// [`connect`], typed.
pub(crate) async fn connect_inner(config: &Config) -> Result<(Client, Future<()>), PgError> {
    if config.get_ssl_mode() == SslMode::Require {
        return Err(PgError::Config(
            "sslmode=require: tornado_pg::connect speaks plain TCP and Unix sockets only".into(),
        ));
    }
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err(PgError::Config("no host given".into()));
    }
    let ports = config.get_ports();
    let mut last = None;
    for (i, host) in hosts.iter().enumerate() {
        // libpq's rule: one port for all hosts, or one per host.
        let port = match ports {
            [] => DEFAULT_PORT,
            [one] => *one,
            many => many.get(i).copied().unwrap_or(DEFAULT_PORT),
        };
        match open_stream(config, host, port).await {
            Ok(stream) => {
                let (client, connection) = match config.get_connect_timeout() {
                    None => config.connect_raw(stream, NoTls).await?,
                    // The handshake too: a server that accepts and never
                    // answers must not hang the caller.
                    Some(&limit) => {
                        let config = config.clone();
                        let handshake = async move { Ok(config.connect_raw(stream, NoTls).await) };
                        match with_timeout(limit, handshake).await {
                            Ok(done) => done?,
                            Err(_) => {
                                last = Some(PgError::Connect {
                                    target: format!("{host:?} port {port}"),
                                    source: io::Error::new(
                                        io::ErrorKind::TimedOut,
                                        format!(
                                            "no answer to the startup message within {limit:?}"
                                        ),
                                    ),
                                });
                                continue;
                            }
                        }
                    }
                };
                let done = Future::new();
                let finished = done.clone();
                spawn(async move {
                    // The pump ends when the client is dropped or the
                    // server goes away; callers learn of it through
                    // `done` and `Client::is_closed`, so it is no
                    // application error.
                    match connection.await {
                        Ok(()) => {
                            let _ = finished.set_result(());
                        }
                        Err(e) => {
                            log::debug!(target: "tornado.general", "PostgreSQL connection ended: {e}");
                            let _ = finished.set_exception(PgError::from(e));
                        }
                    }
                    Ok::<(), tornado_concurrent::Error>(())
                });
                return Ok((client, done));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one host was tried"))
}

/// Opens the byte stream to one host.
async fn open_stream(config: &Config, host: &Host, port: u16) -> Result<IOStream, PgError> {
    match host {
        Host::Tcp(name) => {
            let timeout = config.get_connect_timeout().copied();
            let target = format!("{name}:{port}");
            let stream = TcpClient::new()
                .connect(name, port, timeout)
                .await
                .map_err(|e| PgError::Connect {
                    target: target.clone(),
                    source: to_io(e),
                })?;
            // Queries are small request/response exchanges: no Nagle delay.
            stream
                .set_nodelay(true)
                .map_err(|source| PgError::Connect { target, source })?;
            Ok(stream)
        }
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let target = path.display().to_string();
            // A local socket's connect completes (or fails) at once.
            let stream = UnixStream::connect(&path)
                .and_then(IOStream::new)
                .map_err(|source| PgError::Connect { target, source })?;
            Ok(stream)
        }
    }
}

/// The `io::Error` inside a connect failure, keeping its kind.
fn to_io(e: tornado_concurrent::Error) -> io::Error {
    let kind = e
        .downcast_ref::<tornado_tcp::ConnectError>()
        .map(|c| {
            if c.is_refused() {
                io::ErrorKind::ConnectionRefused
            } else if c.is_timeout() {
                io::ErrorKind::TimedOut
            } else {
                io::ErrorKind::Other
            }
        })
        .unwrap_or(io::ErrorKind::Other);
    io::Error::new(kind, e.to_string())
}
