//! Synchronisation primitives, swapped for loom's model-checked ones under
//! `--cfg safer_ring_loom` (see `tests/loom.rs`).
#![forbid(unsafe_code)]

#[cfg(safer_ring_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(safer_ring_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(safer_ring_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(safer_ring_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
