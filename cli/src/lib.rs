//! The library half of the `safer-ring` command line: what its commands share with the
//! examples and tests — [`Failure`] and its exit codes, the echo server of `safer-ring echo`
//! ([`echo`], which the `echo_server` example runs) and the HTTPS server of `safer-ring serve`
//! ([`serve`], which the `https_server` example runs).
#![deny(unsafe_code)] // but in `serve/ktls.rs` (kernel TLS socket options) and `echo/limits.rs`

pub mod echo;
pub mod failure;
pub mod serve;

pub use failure::Failure;
