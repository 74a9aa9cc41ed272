//! Which backend the suite runs on, and the tests that only mean something on io_uring.
//!
//! `.ci/fallback.sh` runs the suite with `SAFER_RING_BACKEND=fallback`: every ring is then
//! the fallback backend, which runs the same operations but is not the kernel's io_uring.
//! A test of something only io_uring has (its setup flags, the multishot and zero-copy
//! forms, `MSG_RING`, pinned memory, CQ overflow) says so with [`kernel_only`]; on the
//! fallback it is skipped, and the skip is written to `SAFER_RING_SKIP_LOG` (if set) so the
//! script lists every skipped test and why. The degraded forms those tests' operations take
//! there have tests of their own (`tests/degraded.rs`, `tests/fallback.rs`).

use std::io::Write;

/// Whether the suite runs on the fallback backend.
pub fn on_fallback() -> bool {
    std::env::var("SAFER_RING_BACKEND").is_ok_and(|b| b == "fallback")
}

/// `true` on io_uring; on the fallback, records that the calling test is skipped because it
/// checks `what` (something of the kernel's io_uring) and returns `false`.
pub fn kernel_only(what: &str) -> bool {
    if !on_fallback() {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    let line = format!("{test}: {what}\n");
    eprint!("skipped on the fallback backend: {line}");
    if let Ok(path) = std::env::var("SAFER_RING_SKIP_LOG") {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut log) = log {
            let _ = log.write_all(line.as_bytes());
        }
    }
    false
}
