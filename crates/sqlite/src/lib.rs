//! SQLite on Tornado's `IOLoop`: `rusqlite` calls on a thread pool, one
//! connection per pool thread.
//!
//! SQLite is a blocking library; the loop must never wait in it. The
//! pattern: send each database call to the executor (Tornado's
//! `run_in_executor`), where every pool thread keeps its own
//! `rusqlite::Connection`, opened on the first call that thread runs and
//! kept until the thread exits. A connection is never shared between
//! threads and never moved, so no locking is needed around it, and
//! concurrent calls run in parallel as far as SQLite allows (WAL mode:
//! readers never block the writer; writers wait for each other up to the
//! busy timeout).
//!
//! [`Sqlite::call`] is that pattern as one method:
//!
//! ```
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//! use tornado_sqlite::Sqlite;
//!
//! let dir = std::env::temp_dir().join(format!("tornado-sqlite-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let db = Sqlite::open(dir.join("app.db"));
//! let ioloop = IOLoop::new().unwrap();
//! let n: i64 = ioloop.run_sync(move || coroutine(async move {
//!     db.call(|c| c.execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER)")).await?;
//!     db.call(|c| c.execute("INSERT INTO t (x) VALUES (?1)", [7])).await?;
//!     let n = db.call(|c| c.query_row("SELECT sum(x) FROM t", [], |r| r.get(0))).await?;
//!     Ok(n)
//! }), None).unwrap();
//! assert_eq!(n, 7);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Every pool thread has its own connection, so a private in-memory
//! database (`:memory:`) would be a different database on each thread: use
//! a file (or a shared-cache URI).
#![deny(missing_docs)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tornado_concurrent::Future;
use tornado_gen::{Executor, default_executor, run_on};

pub use rusqlite;

/// Sets up a connection just opened (pragmas, functions…).
type Init = dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync;

/// What the handles of one database share.
struct Shared {
    /// Identifies this database in the threads' connection tables.
    id: u64,
    path: PathBuf,
    init: Option<Box<Init>>,
    busy_timeout: Duration,
    executor: Arc<dyn Executor>,
}

/// Distinguishes the databases of a process.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connections, by database id; the `Weak` tells when a
    /// database's handles are all gone, so its connection can be closed.
    static CONNECTIONS: RefCell<HashMap<u64, (Weak<Shared>, Connection)>> =
        RefCell::new(HashMap::new());
}

/// A SQLite database used from the loop. `Send + Sync` and cheap to clone;
/// opens nothing until the first call on each pool thread.
#[derive(Clone)]
pub struct Sqlite {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.shared.path)
            .finish()
    }
}

/// How a [`Sqlite`] is set up, before the first call.
pub struct SqliteBuilder {
    path: PathBuf,
    init: Option<Box<Init>>,
    busy_timeout: Duration,
    executor: Option<Arc<dyn Executor>>,
}

impl SqliteBuilder {
    /// Runs `init` on each connection when its thread opens it (after the
    /// WAL and busy-timeout settings).
    pub fn init(
        mut self,
        init: impl Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.init = Some(Box::new(init));
        self
    }

    /// How long a write waits for another connection's write (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Runs the calls on `executor` (a `tornado_gen::ThreadPool`, say)
    /// rather than the default executor.
    pub fn executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// The database handle.
    pub fn build(self) -> Sqlite {
        Sqlite {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                path: self.path,
                init: self.init,
                busy_timeout: self.busy_timeout,
                executor: self.executor.unwrap_or_else(default_executor),
            }),
        }
    }
}

impl Sqlite {
    /// The database in the file at `path` (created if missing), with
    /// default settings, on the default executor.
    pub fn open(path: impl AsRef<Path>) -> Sqlite {
        Sqlite::builder(path).build()
    }

    /// A builder for the database at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteBuilder {
        SqliteBuilder {
            path: path.as_ref().to_path_buf(),
            init: None,
            busy_timeout: Duration::from_secs(5),
            executor: None,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `f` with the pool thread's connection and resolves, on the
    /// calling loop, with its result. An error (opening the connection, or
    /// from `f`) is the future's error, a `rusqlite::Error`; a panic in `f`
    /// is a `PanicError` (and that thread's connection is closed, in case
    /// the panic left it mid-transaction).
    pub fn call<T, F>(&self, f: F) -> Future<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        run_on(&*self.shared.executor.clone(), move || {
            with_connection(&shared, f).map_err(Into::into)
        })
    }
}

/// Runs `f` on this thread's connection to `shared`, opening it first if
/// needed, and closes connections of databases nobody holds any more.
fn with_connection<T>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    // Take the connection out while `f` runs, so that `f` may itself use
    // another database without a double borrow, and so that a panic in `f`
    // drops (closes, rolling back) the connection instead of keeping it.
    let existing = CONNECTIONS.with(|c| {
        let mut table = c.borrow_mut();
        table.retain(|_, (owner, _)| owner.strong_count() > 0);
        table.remove(&shared.id)
    });
    let mut conn = match existing {
        Some((_, conn)) => conn,
        None => open(shared)?,
    };
    let out = f(&mut conn);
    CONNECTIONS.with(|c| {
        c.borrow_mut()
            .insert(shared.id, (Arc::downgrade(shared), conn))
    });
    out
}

/// Runs `step` again while it fails with `SQLITE_BUSY`, backing off from
/// 1 ms up to 50 ms, until `timeout` has passed; then returns its error.
fn retry_busy<T>(
    timeout: Duration,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            out => return out,
        }
    }
}

/// Opens and sets up one thread's connection.
fn open(shared: &Shared) -> rusqlite::Result<Connection> {
    let conn = Connection::open(&shared.path)?;
    conn.busy_timeout(shared.busy_timeout)?;
    // WAL: readers on other threads' connections never block the writer.
    // Switching a new file to WAL takes its exclusive lock without calling
    // the busy handler, so two threads opening at once can see "database
    // is locked" at once; retry within the busy timeout instead.
    retry_busy(shared.busy_timeout, || {
        conn.pragma_update(None, "journal_mode", "WAL")
    })?;
    if let Some(init) = &shared.init {
        init(&conn)?;
    }
    log::debug!(
        target: "tornado.general",
        "opened SQLite connection to {} on {:?}",
        shared.path.display(),
        std::thread::current().id()
    );
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None)
    }

    #[test]
    fn busy_steps_are_retried_until_they_succeed() {
        let mut tries = 0;
        let out = retry_busy(Duration::from_secs(5), || {
            tries += 1;
            if tries < 4 { Err(busy()) } else { Ok(tries) }
        });
        assert_eq!(out.unwrap(), 4);
    }

    #[test]
    fn busy_past_the_timeout_and_other_errors_are_returned() {
        let out: rusqlite::Result<()> = retry_busy(Duration::from_millis(20), || Err(busy()));
        let Err(rusqlite::Error::SqliteFailure(e, _)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(e.code, rusqlite::ErrorCode::DatabaseBusy);
        let mut tries = 0;
        let out: rusqlite::Result<()> = retry_busy(Duration::from_secs(5), || {
            tries += 1;
            Err(rusqlite::Error::InvalidQuery)
        });
        assert!(matches!(out, Err(rusqlite::Error::InvalidQuery)));
        assert_eq!(tries, 1, "only SQLITE_BUSY is retried");
    }
}
