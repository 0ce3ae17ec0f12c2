//! SQLite on the thread pool (feature `sqlite`): one connection per pool
//! thread, results on the loop.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tornado::concurrent::{Error, PanicError};
use tornado::r#gen::{ThreadPool, coroutine, multi};
use tornado::sqlite::{Sqlite, rusqlite};
use tornado_testing::gen_test;

/// A fresh directory for one test's database, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("tornado-sqlite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[gen_test(timeout = 20)]
async fn one_connection_per_pool_thread() -> Result<(), Error> {
    let dir = TempDir::new("threads");
    let opened = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let counter = opened.clone();
    let db = Sqlite::builder(dir.0.join("app.db"))
        .executor(Arc::new(ThreadPool::new(3)))
        .init(move |c| {
            counter.fetch_add(1, Ordering::SeqCst);
            c.execute_batch("CREATE TABLE IF NOT EXISTS hits (n INTEGER NOT NULL)")
        })
        .build();
    // Many concurrent calls: at most three threads, each opening once.
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let (db, threads) = (db.clone(), threads.clone());
            coroutine(async move {
                db.call(move |c| {
                    threads.lock().unwrap().insert(std::thread::current().id());
                    c.execute("INSERT INTO hits (n) VALUES (?1)", [i])
                })
                .await
            })
        })
        .collect();
    let inserted = multi(calls).await?;
    assert!(inserted.iter().all(|&n| n == 1));
    let (count, sum): (i64, i64) = db
        .call(|c| {
            c.query_row("SELECT count(*), sum(n) FROM hits", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await?;
    assert_eq!((count, sum), (60, (0..60).sum()));
    let used = threads.lock().unwrap().len();
    assert!((1..=3).contains(&used), "{used} threads");
    assert_eq!(
        opened.load(Ordering::SeqCst),
        used,
        "one connection per thread"
    );
    Ok(())
}

#[gen_test(timeout = 20)]
async fn errors_and_panics_are_typed() -> Result<(), Error> {
    let dir = TempDir::new("errors");
    let db = Sqlite::builder(dir.0.join("e.db"))
        .executor(Arc::new(ThreadPool::new(1)))
        .build();
    let err = db
        .call(|c| c.execute("INSERT INTO missing VALUES (1)", []))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<rusqlite::Error>().is_some(), "{err}");
    assert!(err.to_string().contains("no such table"), "{err}");
    // A panic mid-transaction: an error here, and that connection is
    // closed (its transaction rolled back), so the next call is clean.
    db.call(|c| c.execute_batch("CREATE TABLE t (x INTEGER)"))
        .await?;
    let err = db
        .call(|c| -> rusqlite::Result<()> {
            c.execute_batch("BEGIN; INSERT INTO t VALUES (1);")?;
            panic!("handler bug");
        })
        .await
        .unwrap_err();
    assert!(err.is::<PanicError>(), "{err}");
    let n: i64 = db
        .call(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
        .await?;
    assert_eq!(n, 0);
    db.call(|c| c.execute("INSERT INTO t VALUES (2)", []))
        .await?;
    Ok(())
}

#[gen_test(timeout = 20)]
async fn an_unopenable_database_is_an_error() -> Result<(), Error> {
    let db = Sqlite::open("/nonexistent-dir-for-tornado-tests/x.db");
    let err = db.call(|c| c.execute_batch("SELECT 1")).await.unwrap_err();
    assert!(err.downcast_ref::<rusqlite::Error>().is_some(), "{err}");
    Ok(())
}
