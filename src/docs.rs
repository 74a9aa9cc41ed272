//! Guides, rendered by rustdoc (`cargo doc --open`, then *docs* in the sidebar); each page is a
//! markdown file of the top-level `docs/` folder, and every Rust block in them runs as a
//! doctest (`cargo test --doc`), so the snippets stay true.
//!
//! - [`guide`]: the crate from `Cargo.toml` to a TCP echo server — operations, buffers,
//!   files and sockets, multishot, groups, timeouts, cancellation, registration, many cores,
//!   errors, presets and the fallback backend.
//! - [`why_safe`]: the twelve invariants of `SAFETY.md`, each mapped to the tests that fail if
//!   it breaks, then the contract in full.
//! - [`coming_from`]: tokio-uring, monoio, tokio and the `io-uring` crate side by side with
//!   this crate — files, TCP, spawning, buffers, cancellation.
//! - [`tokio`]: using a ring inside a tokio program — current-thread runtime or `LocalSet`
//!   with [`Ring::drive`](crate::Ring::drive), the multi-thread runtime through
//!   [`RingPool`](crate::RingPool), the `AsyncRead`/`AsyncWrite` adapters, and what to avoid.
#![forbid(unsafe_code)]

#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

#[doc = include_str!("../docs/why_safe.md")]
#[doc = include_str!("../SAFETY.md")]
pub mod why_safe {}

#[doc = include_str!("../docs/coming_from.md")]
pub mod coming_from {}

#[cfg_attr(feature = "tokio", doc = include_str!("../docs/tokio.md"))]
#[cfg_attr(
    not(feature = "tokio"),
    doc = "Using a ring inside a tokio program: this page needs the `tokio` feature (on by default)."
)]
pub mod tokio {}
