//! `TempCluster`: a throwaway PostgreSQL server for tests, examples and
//! benchmarks.
//!
//! `initdb` makes a cluster in a fresh temporary directory (trust
//! authentication, no fsync), and `pg_ctl` starts it listening on a free
//! port of 127.0.0.1 and on a Unix socket in that directory; never the
//! system's own service. PostgreSQL refuses to run as root, so when the
//! process is root the directory is given to the `postgres` user (the one
//! Debian's package creates) and both programs run as that user through
//! `runuser`. Dropping the guard stops the server (immediately: it is
//! throwaway) and removes the directory, also when a test panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::Config;

/// Why a throwaway cluster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `initdb`/`pg_ctl` were not found: PostgreSQL's server is not installed.
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) not found in $TORNADO_PG_BIN, \
         /usr/lib/postgresql/*/bin or PATH: install PostgreSQL's server \
         (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)"
    )]
    NotInstalled,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root and there is no `postgres` user to run the server as \
         (PostgreSQL refuses root); create one, or run as an ordinary user"
    )]
    NoPostgresUser,
    /// A command failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// Which step.
        what: &'static str,
        /// Its status and output.
        detail: String,
    },
    /// A file system or process error.
    #[error("throwaway cluster: {0}")]
    Io(#[from] std::io::Error),
}

impl ClusterError {
    /// True when PostgreSQL is simply absent (a test should skip, saying
    /// so) rather than broken.
    pub fn is_not_installed(&self) -> bool {
        matches!(self, ClusterError::NotInstalled)
    }
}

/// A running throwaway PostgreSQL server; stopped and deleted on drop.
#[derive(Debug)]
pub struct TempCluster {
    bin: PathBuf,
    /// The temporary directory: `data/`, the log and the socket.
    dir: PathBuf,
    port: u16,
    /// Run the server programs as this user (when we are root).
    run_as: Option<String>,
}

/// Distinguishes clusters made by one process.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl TempCluster {
    /// The directory holding `initdb` and `pg_ctl`: `$TORNADO_PG_BIN`, else
    /// the newest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
    pub fn find_bin_dir() -> Option<PathBuf> {
        let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
        if let Some(dir) = std::env::var_os("TORNADO_PG_BIN") {
            let dir = PathBuf::from(dir);
            return has_tools(&dir).then_some(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, d)| has_tools(d))
            .collect();
        versions.sort();
        if let Some((_, dir)) = versions.pop() {
            return Some(dir);
        }
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).find(|d| has_tools(d)))
    }

    /// Creates and starts a cluster; [`ClusterError::NotInstalled`] when
    /// PostgreSQL is absent.
    pub fn start() -> Result<TempCluster, ClusterError> {
        let bin = Self::find_bin_dir().ok_or(ClusterError::NotInstalled)?;
        let run_as = if is_root()? {
            if !command_ok(Command::new("id").args(["-u", "postgres"]))? {
                return Err(ClusterError::NoPostgresUser);
            }
            Some("postgres".to_string())
        } else {
            None
        };
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short: the socket path must fit in sockaddr_un (~107 bytes).
        let dir = std::env::temp_dir().join(format!(
            "tpg-{}-{}-{stamp:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)?;
        let cluster = TempCluster {
            bin,
            dir,
            port: free_port()?,
            run_as,
        };
        // From here on, Drop cleans up whatever step fails.
        if let Some(user) = &cluster.run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&cluster.dir)
                .output()?;
            check("chown of the cluster directory", status)?;
        }
        let out = cluster
            .server_command("initdb")
            .arg("-D")
            .arg(cluster.data_dir())
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .arg("--locale=C")
            .output()?;
        check("initdb", out)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A configuration for TCP on 127.0.0.1, as user `postgres`, database
    /// `postgres`.
    pub fn config(&self) -> Config {
        let mut c = Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        c
    }

    /// The same server through its Unix socket.
    pub fn unix_config(&self) -> Config {
        let mut c = Config::new();
        c.host_path(&self.dir)
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        c
    }

    /// A connection string for TCP (`--dsn`, `DATABASE_URL`).
    pub fn dsn(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`pg_ctl stop`; `mode` is `smart`, `fast` or
    /// `immediate`), keeping its data: [`restart`](Self::restart) brings it
    /// back on the same port.
    pub fn stop(&self, mode: &str) -> Result<(), ClusterError> {
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "stop"])
            .output()?;
        check("pg_ctl stop", out)
    }

    /// Starts a stopped server again.
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.start_server()
    }

    fn start_server(&self) -> Result<(), ClusterError> {
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -F -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()?;
        check("pg_ctl start", out).map_err(|e| match e {
            ClusterError::Command { what, detail } => ClusterError::Command {
                what,
                detail: format!("{detail}\nserver log:\n{}", self.log()),
            },
            e => e,
        })
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `bin/<program>`, run as the server's user.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            if let Err(e) = self.stop("immediate") {
                eprintln!("throwaway PostgreSQL cluster: {e}");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("removing {}: {e}", self.dir.display());
        }
    }
}

/// True when this process runs as root.
fn is_root() -> Result<bool, ClusterError> {
    let out = Command::new("id").arg("-u").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// True if the command ran and succeeded.
fn command_ok(c: &mut Command) -> Result<bool, ClusterError> {
    Ok(c.output()?.status.success())
}

/// A port free on 127.0.0.1 now (the kernel's choice of an ephemeral one).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An error describing a failed command's status and output.
fn check(what: &'static str, out: Output) -> Result<(), ClusterError> {
    if out.status.success() {
        return Ok(());
    }
    Err(ClusterError::Command {
        what,
        detail: format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}
