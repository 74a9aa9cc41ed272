//! The library half of the `safer-ring` command line: what its commands share with the
//! examples and tests — [`Failure`] and its exit codes, and the HTTPS server of
//! `safer-ring serve` ([`serve`]), which the `https_server` example runs too.
#![deny(unsafe_code)] // but in `serve/ktls.rs`, the kernel TLS socket options

pub mod failure;
pub mod serve;

pub use failure::Failure;
