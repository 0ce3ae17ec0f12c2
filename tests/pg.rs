//! PostgreSQL on the loop (feature `postgres`), against real throwaway
//! clusters (`TempCluster`: initdb + pg_ctl in a temporary directory).
//!
//! Without PostgreSQL's server programs these tests say so and pass, unless
//! `TORNADO_PG_REQUIRED=1` (as CI sets), which makes that a failure.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tornado::concurrent::Error;
use tornado::r#gen::{coroutine, multi, run_in_executor, sleep};
use tornado::pg::tokio_postgres::error::SqlState;
use tornado::pg::{PgError, Pool, PoolOptions, TempCluster, connect};
use tornado_testing::gen_test;

/// A throwaway cluster, or `None` (after saying why) when PostgreSQL is
/// not installed and not required.
fn cluster() -> Option<TempCluster> {
    match TempCluster::start() {
        Ok(c) => Some(c),
        Err(e)
            if e.is_not_installed()
                && std::env::var("TORNADO_PG_REQUIRED").as_deref() != Ok("1") =>
        {
            eprintln!("SKIPPED (PostgreSQL absent): {e}");
            None
        }
        Err(e) => panic!("cannot start a throwaway PostgreSQL cluster: {e}"),
    }
}

#[gen_test(timeout = 120)]
async fn connect_over_tcp_and_unix_socket_then_pool() -> Result<(), Error> {
    let Some(pg) = cluster() else { return Ok(()) };

    // connect(): TCP, then the Unix socket in the cluster's directory.
    for config in [pg.config(), pg.unix_config()] {
        let (client, done) = connect(&config).await?;
        let row = client
            .query_one("SELECT $1::int4 + 1, current_user", &[&41i32])
            .await
            .map_err(PgError::from)?;
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(row.get::<_, String>(1), "postgres");
        // Dropping the client ends the connection cleanly.
        drop(client);
        done.await?;
    }

    // A bad host is a typed connect error.
    let mut bad = tornado::pg::Config::new();
    bad.host("127.0.0.1").port(1).user("postgres"); // nothing listens there
    let err = connect(&bad).await.unwrap_err();
    let err = err.downcast_ref::<PgError>().expect("a PgError");
    assert!(matches!(err, PgError::Connect { .. }), "{err}");
    // A server error is typed too.
    let (client, _done) = connect(&pg.config()).await?;
    let err = PgError::from(client.simple_query("SELEC 1").await.unwrap_err());
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
    assert!(!err.is_closed());

    // The pool: at most 2 connections, waiters served oldest first.
    let pool = Pool::new(pg.config(), PoolOptions::new().max_size(2));
    // Two connections opened first, so that the order below is the order
    // of the waits and not of two connection handshakes.
    let (a, b) = (pool.get().await?, pool.get().await?);
    drop((a, b));
    assert_eq!(pool.idle_count(), 2);
    let in_use = Rc::new(Cell::new(0usize));
    let most = Rc::new(Cell::new(0usize));
    let order = Rc::new(RefCell::new(Vec::new()));
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (pool, in_use, most, order) =
                (pool.clone(), in_use.clone(), most.clone(), order.clone());
            coroutine(async move {
                let client = pool.get().await?;
                order.borrow_mut().push(i);
                in_use.set(in_use.get() + 1);
                most.set(most.get().max(in_use.get()));
                let row = client
                    .query_one("SELECT pg_sleep(0.02), $1::int4", &[&i])
                    .await?;
                in_use.set(in_use.get() - 1);
                Ok(row.get::<_, i32>(1))
            })
        })
        .collect();
    let got = multi(workers).await?;
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    assert_eq!(most.get(), 2, "never more than max_size connections in use");
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4, 5], "FIFO");
    assert_eq!(pool.idle_count(), 2, "connections are kept for reuse");
    assert_eq!(pool.available(), 2);

    // A wait timeout is a typed error, and the waiter is forgotten.
    let short = Pool::new(
        pg.config(),
        PoolOptions::new()
            .max_size(1)
            .wait_timeout(Duration::from_millis(50)),
    );
    let held = short.get().await?;
    let err = short.get().await.unwrap_err();
    assert!(matches!(err, PgError::PoolTimeout(_)), "{err}");
    drop(held);
    short.get().await?.simple_query("SELECT 1").await?;
    Ok(())
}

#[gen_test(timeout = 20)]
async fn a_server_that_never_answers_times_out() -> Result<(), Error> {
    // No PostgreSQL needed: a listener that accepts and stays silent.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut config = tornado::pg::Config::new();
    config
        .host("127.0.0.1")
        .port(silent.local_addr()?.port())
        .user("postgres")
        .connect_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let err = connect(&config).await.unwrap_err();
    match err.downcast_ref::<PgError>() {
        Some(PgError::Connect { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{source}")
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
    Ok(())
}

/// Asserts that a query's error says the session is gone.
fn assert_gone(err: PgError) {
    assert!(
        err.is_closed(),
        "expected a closed-connection error, got {err:?}"
    );
}

#[gen_test(timeout = 120)]
async fn pool_recovers_after_the_server_goes_away_mid_query() -> Result<(), Error> {
    let Some(pg) = cluster() else { return Ok(()) };
    let pg = Arc::new(pg);
    let pool = Pool::new(pg.config(), PoolOptions::new().max_size(2));

    // 1. The backend is terminated while it runs our query.
    let victim = pool.get().await?;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    let long = coroutine(async move {
        let r = victim.query_one("SELECT pg_sleep(30)", &[]).await;
        Ok(r.map(|_| ()))
    });
    sleep(Duration::from_millis(200)).await;
    let killer = pool.get().await?;
    let killed: bool = killer
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await?
        .get(0);
    assert!(killed);
    drop(killer);
    let err = long.await?.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    assert_gone(err);
    // The pool dropped the dead connection and serves a new one.
    let client = pool.get().await?;
    let other: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    assert_ne!(other, pid);
    drop(client);

    // 2. The whole server stops while a query runs.
    let victim = pool.get().await?;
    let long = coroutine(async move {
        let r = victim.query_one("SELECT pg_sleep(30)", &[]).await;
        Ok(r.map(|_| ()))
    });
    sleep(Duration::from_millis(200)).await;
    let stopper = pg.clone();
    run_in_executor(move || stopper.stop("fast")).await??;
    assert_gone(long.await?.unwrap_err());
    // While it is down: a typed connect error, quickly.
    let err = pool.get().await.unwrap_err();
    assert!(matches!(err, PgError::Connect { .. }), "{err:?}");
    // Back up: the pool recovers without being told.
    let starter = pg.clone();
    run_in_executor(move || starter.restart()).await??;
    let client = pool.get().await?;
    let row = client.query_one("SELECT 7", &[]).await?;
    assert_eq!(row.get::<_, i32>(0), 7);
    Ok(())
}
