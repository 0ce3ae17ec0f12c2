//! The user guide's code, run by the test suite.
//!
//! The guide is an mdBook in `docs/` (build it with `mdbook build docs`).
//! Every chapter is included below as the documentation of a private item
//! that exists only under `cfg(doctest)`, so `cargo test` compiles and runs
//! each of its ```` ```rust ```` blocks as a doctest against the
//! workspace's crates, and CI needs no mdBook. Blocks in other languages
//! (Python, shell, TOML) are labelled so rustdoc leaves them alone.
//!
//! The database chapter needs the `databases` feature
//! (`cargo test -p tornado-guide --features databases`); CI runs it with
//! the other feature-gated tests.
//!
//! Snippets that serve something listen on ephemeral ports on 127.0.0.1
//! and stop by themselves.
#![deny(missing_docs)]

/// Declares one doctest-only item per chapter.
macro_rules! chapters {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!(concat!("../../../docs/src/", $file))]
            struct $name;
        )*
    };
}

/// The database chapter, only with the `databases` feature (its snippets
/// need the facade's `postgres`, `sqlite` and `tokio-compat` features).
#[cfg(all(doctest, feature = "databases"))]
#[doc = include_str!("../../../docs/src/databases.md")]
struct Databases;

chapters! {
    Introduction => "introduction.md",
    AsyncIo => "async.md",
    Coroutines => "coroutines.md",
    Spider => "spider.md",
    Structure => "structure.md",
    Templates => "templates.md",
    Security => "security.md",
    WebSockets => "websocket.md",
    Client => "client.md",
    Running => "running.md",
    Testing => "testing.md",
    Backends => "backends.md",
    Porting => "porting.md",
}
