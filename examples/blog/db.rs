//! The blog's storage: SQLite through rusqlite, every call on the thread
//! pool (never on the loop), the schema created on first use.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use tornado::concurrent::{Error, Future};
use tornado::r#gen::try_run_in_executor;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS authors (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    hashed_password TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id),
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    markdown TEXT NOT NULL,
    html TEXT NOT NULL,
    published TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_published ON entries(published);
";

/// An author (the logged-in user).
#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub id: i64,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub hashed_password: String,
}

/// A blog entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub author_id: i64,
    pub slug: String,
    pub title: String,
    pub markdown: String,
    pub html: String,
    pub published: String,
    pub updated: String,
}

fn author(r: &Row) -> rusqlite::Result<Author> {
    Ok(Author {
        id: r.get("id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        hashed_password: r.get("hashed_password")?,
    })
}

fn entry(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get("id")?,
        author_id: r.get("author_id")?,
        slug: r.get("slug")?,
        title: r.get("title")?,
        markdown: r.get("markdown")?,
        html: r.get("html")?,
        published: r.get("published")?,
        updated: r.get("updated")?,
    })
}

/// The database: one connection, used from the thread pool.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if need be) the database at `path`, with its schema.
    /// Called before the loop runs.
    pub fn open(path: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` with the connection on the thread pool.
    fn run<T, W>(&self, work: W) -> Future<T>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        try_run_in_executor(move || {
            let conn = conn
                .lock()
                .map_err(|_| Error::msg("database lock poisoned"))?;
            work(&conn).map_err(Error::new)
        })
    }

    pub fn any_author_exists(&self) -> Future<bool> {
        self.run(|c| c.query_row("SELECT EXISTS(SELECT 1 FROM authors)", [], |r| r.get(0)))
    }

    pub fn author_by_id(&self, id: i64) -> Future<Option<Author>> {
        self.run(move |c| {
            c.query_row("SELECT * FROM authors WHERE id = ?1", [id], author)
                .optional()
        })
    }

    pub fn author_by_email(&self, email: String) -> Future<Option<Author>> {
        self.run(move |c| {
            c.query_row("SELECT * FROM authors WHERE email = ?1", [email], author)
                .optional()
        })
    }

    /// Creates the first author; `None` if there is one already (checked
    /// in the same transaction, so two racing sign-ups cannot both win).
    pub fn create_first_author(
        &self,
        email: String,
        name: String,
        hashed_password: String,
    ) -> Future<Option<i64>> {
        self.run(move |c| {
            let tx = c.unchecked_transaction()?;
            let exists: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM authors)", [], |r| r.get(0))?;
            if exists {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO authors (email, name, hashed_password) VALUES (?1, ?2, ?3)",
                params![email, name, hashed_password],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// The newest entries, at most `limit` (all with `None`).
    pub fn latest_entries(&self, limit: Option<u32>) -> Future<Vec<Entry>> {
        self.run(move |c| {
            let limit = limit.map_or(-1, i64::from);
            let mut st =
                c.prepare("SELECT * FROM entries ORDER BY published DESC, id DESC LIMIT ?1")?;
            let rows = st.query_map([limit], entry)?;
            rows.collect()
        })
    }

    pub fn entry_by_slug(&self, slug: String) -> Future<Option<Entry>> {
        self.run(move |c| {
            c.query_row("SELECT * FROM entries WHERE slug = ?1", [slug], entry)
                .optional()
        })
    }

    pub fn entry_by_id(&self, id: i64) -> Future<Option<Entry>> {
        self.run(move |c| {
            c.query_row("SELECT * FROM entries WHERE id = ?1", [id], entry)
                .optional()
        })
    }

    /// Updates an entry's text; its slug stays. False if there is none.
    pub fn update_entry(
        &self,
        id: i64,
        title: String,
        markdown: String,
        html: String,
    ) -> Future<bool> {
        self.run(move |c| {
            let n = c.execute(
                "UPDATE entries SET title = ?1, markdown = ?2, html = ?3, \
                 updated = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?4",
                params![title, markdown, html, id],
            )?;
            Ok(n == 1)
        })
    }

    /// Adds an entry under `slug`, or `slug-2`, `slug-2-2`… if taken (as
    /// the original demo); returns the slug used.
    pub fn insert_entry(
        &self,
        author_id: i64,
        slug: String,
        title: String,
        markdown: String,
        html: String,
    ) -> Future<String> {
        self.run(move |c| {
            let tx = c.unchecked_transaction()?;
            let mut slug = slug;
            loop {
                let taken: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM entries WHERE slug = ?1)",
                    [&slug],
                    |r| r.get(0),
                )?;
                if !taken {
                    break;
                }
                slug.push_str("-2");
            }
            tx.execute(
                "INSERT INTO entries (author_id, slug, title, markdown, html, published, updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), \
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                params![author_id, slug, title, markdown, html],
            )?;
            tx.commit()?;
            Ok(slug)
        })
    }
}
