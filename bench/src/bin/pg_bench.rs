//! PostgreSQL point queries (`SELECT` by primary key, pg_api style) with
//! `--concurrency` requests in flight (default 50), three ways, against the
//! same server:
//!
//! - `native`: tokio-postgres over `IOStream` on our loop (`tornado-pg`),
//!   no tokio runtime;
//! - `bridge`: tokio-postgres on the `tornado-compat` tokio thread, each
//!   query sent there with `compat::tokio::run` from a coroutine on our
//!   loop and its row sent back (two thread hops per query);
//! - `tokio`: tokio-postgres on a plain tokio `current_thread` runtime.
//!
//! Each way opens one connection per concurrent worker and prepares the
//! statement, runs a warm-up, then `--queries` queries; it reports
//! queries/s and the CPU time of this process per query (every thread:
//! the bridge's tokio thread counts). The server's CPU is not counted (it
//! is the same work for all three).
//!
//! ```sh
//! cargo run --release -p tornado-bench --bin pg_bench                    # throwaway cluster
//! cargo run --release -p tornado-bench --bin pg_bench -- --dsn postgresql://postgres@127.0.0.1/postgres
//! cargo run --release -p tornado-bench --bin pg_bench -- --queries 500 --reps 1   # smoke test
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, NoTls, Statement};
use tornado_concurrent::Error;
use tornado_gen::{coroutine, multi};
use tornado_ioloop::IOLoop;
use tornado_pg::TempCluster;

/// Rows in the table; queries pick ids spread over them.
const ROWS: i32 = 10_000;
const QUERY: &str = "SELECT id, name FROM bench_items WHERE id = $1";

struct Args {
    queries: usize,
    concurrency: usize,
    reps: usize,
    dsn: Option<String>,
    ways: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        queries: 200_000,
        concurrency: 50,
        reps: 3,
        dsn: std::env::var("DATABASE_URL").ok(),
        ways: vec!["native".into(), "bridge".into(), "tokio".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} takes a value"));
        match arg.as_str() {
            "--queries" => a.queries = value("--queries")?.parse().map_err(|e| format!("{e}"))?,
            "--concurrency" => {
                a.concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|e| format!("{e}"))?
            }
            "--reps" => a.reps = value("--reps")?.parse().map_err(|e| format!("{e}"))?,
            "--dsn" => a.dsn = Some(value("--dsn")?),
            "--only" => a.ways = value("--only")?.split(',').map(String::from).collect(),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: pg_bench [--queries N] [--concurrency C] \
                     [--reps R] [--dsn DSN] [--only native,bridge,tokio]"
                ));
            }
        }
    }
    a.concurrency = a.concurrency.max(1);
    a.reps = a.reps.max(1);
    Ok(a)
}

/// The id the `i`-th query asks for.
fn id_of(i: usize) -> i32 {
    (i.wrapping_mul(7919) % ROWS as usize) as i32 + 1
}

/// CPU time of every thread of this process, in ns.
fn cpu_ns() -> u64 {
    tornado_bench::proc_sched_ns(std::process::id()).unwrap_or(0)
}

/// One measured run: queries/s and CPU µs per query.
struct Figure {
    qps: f64,
    cpu_us: f64,
}

fn measure(queries: usize, run: impl FnOnce()) -> Figure {
    let (t0, c0) = (Instant::now(), cpu_ns());
    run();
    let (wall, cpu) = (t0.elapsed(), cpu_ns() - c0);
    Figure {
        qps: queries as f64 / wall.as_secs_f64(),
        cpu_us: cpu as f64 / 1000.0 / queries as f64,
    }
}

/// Hands out query numbers to the workers of one run.
#[derive(Clone)]
struct Counter(Rc<Cell<usize>>, usize);

impl Counter {
    fn next(&self) -> Option<usize> {
        let i = self.0.get();
        (i < self.1).then(|| {
            self.0.set(i + 1);
            i
        })
    }
}

/// Checks a row: the name the setup gave that id.
fn check(id: i32, name: &str) {
    assert_eq!(name, format!("item-{id}"), "wrong row for id {id}");
}

// ----- native: tokio-postgres over IOStream on our loop -----------------

fn native(config: &Config, args: &Args) -> Vec<Figure> {
    let ioloop = IOLoop::new().expect("loop");
    ioloop.make_current();
    let c = config.clone();
    let n = args.concurrency;
    let clients: Vec<(Rc<tokio_postgres::Client>, Statement)> = ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let mut out = Vec::new();
                    for _ in 0..n {
                        let (client, _done) = tornado_pg::connect(&c).await?;
                        let st = client.prepare(QUERY).await?;
                        out.push((Rc::new(client), st));
                    }
                    Ok(out)
                })
            },
            None,
        )
        .expect("connect natively");
    let round = |queries: usize| {
        let counter = Counter(Rc::new(Cell::new(0)), queries);
        let clients = clients.clone();
        // The coroutines start inside run_sync, on this loop.
        let start = move || {
            let workers: Vec<_> = clients
                .into_iter()
                .map(|(client, st)| {
                    let counter = counter.clone();
                    coroutine(async move {
                        while let Some(i) = counter.next() {
                            let id = id_of(i);
                            let row = client.query_one(&st, &[&id]).await?;
                            check(id, row.get(1));
                        }
                        Ok(())
                    })
                })
                .collect();
            multi(workers)
        };
        ioloop.run_sync(start, None).expect("native run");
    };
    round(args.queries / 10 + 1);
    (0..args.reps)
        .map(|_| measure(args.queries, || round(args.queries)))
        .collect()
}

// ----- bridge: tokio-postgres on the compat runtime, driven from our loop --

fn bridge(config: &Config, args: &Args) -> Vec<Figure> {
    let ioloop = IOLoop::new().expect("loop");
    ioloop.make_current();
    let c = config.clone();
    let n = args.concurrency;
    let clients: Vec<(Arc<Client>, Statement)> = ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let mut out = Vec::new();
                    for _ in 0..n {
                        let c = c.clone();
                        let pair = tornado_compat::tokio::run(async move {
                            let (client, connection) = c.connect(NoTls).await?;
                            tokio::spawn(connection);
                            let st = client.prepare(QUERY).await?;
                            Ok::<_, tokio_postgres::Error>((Arc::new(client), st))
                        })
                        .await?;
                        out.push(pair);
                    }
                    Ok(out)
                })
            },
            None,
        )
        .expect("connect through the bridge");
    let round = |queries: usize| {
        let counter = Counter(Rc::new(Cell::new(0)), queries);
        let clients = clients.clone();
        // The coroutines start inside run_sync: `run` answers to the loop
        // that is current when it is called.
        let start = move || {
            let workers: Vec<_> = clients
                .into_iter()
                .map(|(client, st)| {
                    let counter = counter.clone();
                    coroutine(async move {
                        while let Some(i) = counter.next() {
                            let id = id_of(i);
                            let (client, st) = (client.clone(), st.clone());
                            let name: String = tornado_compat::tokio::run(async move {
                                let row = client.query_one(&st, &[&id]).await?;
                                Ok::<_, tokio_postgres::Error>(row.get(1))
                            })
                            .await?;
                            check(id, &name);
                        }
                        Ok::<(), Error>(())
                    })
                })
                .collect();
            multi(workers)
        };
        ioloop.run_sync(start, None).expect("bridge run");
    };
    round(args.queries / 10 + 1);
    (0..args.reps)
        .map(|_| measure(args.queries, || round(args.queries)))
        .collect()
}

// ----- tokio: tokio-postgres on a plain current_thread runtime ----------

fn tokio_plain(config: &Config, args: &Args) -> Vec<Figure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let clients: Vec<(Rc<Client>, Statement)> = local.block_on(&rt, async {
        let mut out = Vec::new();
        for _ in 0..args.concurrency {
            let (client, connection) = config.connect(NoTls).await.expect("connect (tokio)");
            tokio::task::spawn_local(connection);
            let st = client.prepare(QUERY).await.expect("prepare");
            out.push((Rc::new(client), st));
        }
        out
    });
    let round = |queries: usize| {
        let counter = Counter(Rc::new(Cell::new(0)), queries);
        local.block_on(&rt, async {
            let tasks: Vec<_> = clients
                .iter()
                .map(|(client, st)| {
                    let (client, st, counter) = (client.clone(), st.clone(), counter.clone());
                    tokio::task::spawn_local(async move {
                        while let Some(i) = counter.next() {
                            let id = id_of(i);
                            let row = client.query_one(&st, &[&id]).await.expect("query");
                            check(id, row.get(1));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("tokio worker");
            }
        });
    };
    round(args.queries / 10 + 1);
    (0..args.reps)
        .map(|_| measure(args.queries, || round(args.queries)))
        .collect()
}

/// The bridge's own cost: sequential round trips of an empty future from
/// our loop to the tokio thread and back; µs per round trip.
fn bridge_hop(rounds: usize) -> f64 {
    let ioloop = IOLoop::new().expect("loop");
    ioloop.make_current();
    let once = move |n: usize| {
        ioloop
            .run_sync(
                move || {
                    coroutine(async move {
                        for _ in 0..n {
                            tornado_compat::tokio::run(async { Ok::<_, Error>(()) }).await?;
                        }
                        Ok(())
                    })
                },
                None,
            )
            .expect("bridge hops");
    };
    once(rounds / 10 + 1);
    let t0 = Instant::now();
    once(rounds);
    t0.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// Creates and fills the table (through the plain tokio client).
fn setup(config: &Config) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, connection) = config.connect(NoTls).await.expect("connect for setup");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS bench_items;
                 CREATE TABLE bench_items (id int4 PRIMARY KEY, name text NOT NULL);
                 INSERT INTO bench_items SELECT i, 'item-' || i FROM generate_series(1, {ROWS}) i;
                 ANALYZE bench_items;"
            ))
            .await
            .expect("create the table");
    });
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Without a DSN, a throwaway cluster for the whole run.
    let mut _cluster = None;
    let config: Config = match &args.dsn {
        Some(dsn) => dsn.parse().expect("a valid DSN"),
        None => match TempCluster::start() {
            Ok(c) => {
                let config = c.config();
                _cluster = Some(c);
                config
            }
            Err(e) => {
                eprintln!("pg_bench: {e}");
                std::process::exit(if e.is_not_installed() { 0 } else { 1 });
            }
        },
    };
    setup(&config);
    println!(
        "pg_bench: {} point queries, {} in flight, median of {} (load {})",
        args.queries,
        args.concurrency,
        args.reps,
        tornado_bench::loadavg()
    );
    println!("{:<44} {:>12} {:>14}", "way", "queries/s", "CPU µs/query");
    let mut rows = Vec::new();
    for way in &args.ways {
        let (label, figures) = match way.as_str() {
            "native" => (
                "native: IOStream traits on our loop",
                native(&config, &args),
            ),
            "bridge" => (
                "bridge: our loop -> compat tokio thread",
                bridge(&config, &args),
            ),
            "tokio" => (
                "tokio: plain current_thread runtime",
                tokio_plain(&config, &args),
            ),
            other => {
                eprintln!("unknown way {other}");
                std::process::exit(2);
            }
        };
        let qps = median(figures.iter().map(|f| f.qps).collect());
        let cpu = median(figures.iter().map(|f| f.cpu_us).collect());
        println!("{label:<44} {qps:>12.0} {cpu:>14.1}");
        rows.push((way.clone(), qps, cpu));
    }
    if args.ways.iter().any(|w| w == "bridge") {
        let hops = (args.queries / 4).max(100);
        println!(
            "bridge round trip of an empty future: {:.1} µs ({hops} in a row)",
            bridge_hop(hops)
        );
    }
    let find = |w: &str| rows.iter().find(|r| r.0 == w).map(|r| (r.1, r.2));
    if let (Some((nq, nc)), Some((tq, tc))) = (find("native"), find("tokio")) {
        let met = nq >= 0.95 * tq && nc <= tc;
        println!(
            "native/tokio: {:.2}x queries/s, {:.2}x CPU per query (target >= 0.95x and <= 1.00x: {})",
            nq / tq,
            nc / tc,
            if met { "met" } else { "NOT met" }
        );
    }
    // Leave the tokio thread and the clients to process exit.
    std::thread::sleep(Duration::from_millis(0));
}
