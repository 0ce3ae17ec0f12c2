//! `Pool`: up to `max_size` connections shared by the coroutines of one loop.
//!
//! A [`Semaphore`] of `max_size` permits bounds the connections in use and
//! queues the coroutines waiting for one, oldest first (a waiter that timed
//! out or was cancelled is skipped). Free connections wait in a list,
//! most recently used first, so a quiet pool reuses a warm one. A
//! connection whose server went away is dropped, on return or on checkout,
//! and the next checkout opens a new one: the pool recovers by itself once
//! the server is back.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Row, SimpleQueryMessage, Statement, ToStatement};
use tornado_gen::TimeoutError;
use tornado_locks::{Semaphore, SemaphoreGuard};

use crate::connect::connect_inner;
use crate::error::PgError;

/// A pool's settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    max_size: usize,
    wait_timeout: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            wait_timeout: None,
        }
    }
}

impl PoolOptions {
    /// At most 10 connections; waiters wait as long as it takes.
    pub fn new() -> PoolOptions {
        PoolOptions::default()
    }

    /// The most connections open at once (at least one).
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n.max(1);
        self
    }

    /// How long [`Pool::get`] waits for a free connection before failing
    /// with [`PgError::PoolTimeout`].
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = Some(timeout);
        self
    }
}

/// What the pool's handles share.
struct Shared {
    config: Config,
    options: PoolOptions,
    /// One permit per connection that may be in use.
    permits: Semaphore,
    /// Connections not in use; the most recently returned last.
    idle: RefCell<Vec<Client>>,
}

/// A pool of PostgreSQL connections on the current loop. Cloning gives
/// another handle to the same pool. Connections are opened lazily, by
/// [`get`](Pool::get), with [`connect`](crate::connect).
#[derive(Clone)]
pub struct Pool {
    shared: Rc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_size", &self.shared.options.max_size)
            .field("idle", &self.idle_count())
            .field("free_permits", &self.shared.permits.value())
            .finish()
    }
}

impl Pool {
    /// A pool for the server `config` names. Opens nothing yet.
    pub fn new(config: Config, options: PoolOptions) -> Pool {
        Pool {
            shared: Rc::new(Shared {
                permits: Semaphore::new(options.max_size),
                config,
                options,
                idle: RefCell::new(Vec::new()),
            }),
        }
    }

    /// A connection for the caller's use until the returned handle drops:
    /// a free one if there is one, a new one while fewer than `max_size`
    /// are open, else the next one returned (waiters are served oldest
    /// first). Fails with [`PgError::PoolTimeout`] past the wait timeout,
    /// and with the connect error when a new connection cannot be opened.
    pub async fn get(&self) -> Result<PooledClient, PgError> {
        let shared = &self.shared;
        let permit = match shared.options.wait_timeout {
            Some(t) => shared.permits.acquire_timeout(t).await,
            None => shared.permits.acquire().await,
        }
        .map_err(|e| {
            if e.is::<TimeoutError>() {
                PgError::PoolTimeout(shared.options.wait_timeout.unwrap_or_default())
            } else {
                PgError::PoolWait(e)
            }
        })?;
        let reused = {
            let mut idle = shared.idle.borrow_mut();
            // Connections that died while idle are dropped here.
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match reused {
            Some(c) => c,
            None => connect_inner(&shared.config).await?.0,
        };
        Ok(PooledClient {
            client: Some(client),
            broken: Cell::new(false),
            pool: self.shared.clone(),
            _permit: permit,
        })
    }

    /// Connections open and not in use.
    pub fn idle_count(&self) -> usize {
        self.shared.idle.borrow().len()
    }

    /// The most connections open at once.
    pub fn max_size(&self) -> usize {
        self.shared.options.max_size
    }

    /// Connections that [`get`](Pool::get) could hand out now without
    /// waiting (free or not opened yet).
    pub fn available(&self) -> usize {
        self.shared.permits.value()
    }
}

/// A connection taken from a [`Pool`]; derefs to the `tokio_postgres`
/// [`Client`]. Dropping it returns the connection (unless its server went
/// away) and wakes the oldest waiter.
///
/// Its own query methods (`query`, `query_one`, `query_opt`, `execute`,
/// `prepare`, `batch_execute`, `simple_query`) shadow the client's: the
/// same calls, with a [`PgError`], and an error saying the session is gone
/// (a terminated backend, a server shutting down: [`PgError::is_closed`])
/// marks the connection so that it is dropped, not reused, even before its
/// socket reports the close.
pub struct PooledClient {
    /// `None` only while dropping.
    client: Option<Client>,
    /// A query reported the session gone.
    broken: Cell<bool>,
    pool: Rc<Shared>,
    /// Released after the connection is back in the idle list, so the
    /// waiter it wakes finds it there.
    _permit: SemaphoreGuard,
}

impl PooledClient {
    /// Converts a driver result, noting a dead session.
    fn check<T>(&self, r: Result<T, tokio_postgres::Error>) -> Result<T, PgError> {
        r.map_err(|e| {
            let e = PgError::from(e);
            if e.is_closed() {
                self.broken.set(true);
            }
            e
        })
    }

    /// `Client::query`, with a [`PgError`].
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError>
    where
        T: ?Sized + ToStatement,
    {
        self.check(Client::query(self, statement, params).await)
    }

    /// `Client::query_one`, with a [`PgError`].
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError>
    where
        T: ?Sized + ToStatement,
    {
        self.check(Client::query_one(self, statement, params).await)
    }

    /// `Client::query_opt`, with a [`PgError`].
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError>
    where
        T: ?Sized + ToStatement,
    {
        self.check(Client::query_opt(self, statement, params).await)
    }

    /// `Client::execute`, with a [`PgError`].
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError>
    where
        T: ?Sized + ToStatement,
    {
        self.check(Client::execute(self, statement, params).await)
    }

    /// `Client::prepare`, with a [`PgError`].
    pub async fn prepare(&self, query: &str) -> Result<Statement, PgError> {
        self.check(Client::prepare(self, query).await)
    }

    /// `Client::batch_execute`, with a [`PgError`].
    pub async fn batch_execute(&self, query: &str) -> Result<(), PgError> {
        self.check(Client::batch_execute(self, query).await)
    }

    /// `Client::simple_query`, with a [`PgError`].
    pub async fn simple_query(&self, query: &str) -> Result<Vec<SimpleQueryMessage>, PgError> {
        self.check(Client::simple_query(self, query).await)
    }

    /// Closes this connection instead of returning it (for a session left
    /// in a state the next user should not inherit).
    pub fn discard(mut self) {
        self.client = None;
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a pooled client holds its connection until dropped")
    }
}

impl DerefMut for PooledClient {
    /// For the `&mut Client` methods (`transaction`, `build_transaction`).
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled client holds its connection until dropped")
    }
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledClient")
            .field(
                "closed",
                &self.client.as_ref().is_none_or(|c| c.is_closed()),
            )
            .finish()
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() && !self.broken.get() {
                self.pool.idle.borrow_mut().push(client);
            }
        }
    }
}
