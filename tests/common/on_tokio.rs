//! Running a test's future on a tokio current-thread runtime with a `LocalSet`, the ring
//! driven beside it, bounded in time.

use std::future::Future;
use std::time::Duration;

use safer_ring::Ring;

/// Runs `fut` on a fresh current-thread runtime inside a `LocalSet` (so it may
/// `spawn_local`) while driving `ring`; panics if it takes longer than `secs` seconds.
pub fn run<F: Future>(ring: &Ring, secs: u64, fut: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::time::timeout(Duration::from_secs(secs), ring.run_on_tokio(fut))
            .await
            .unwrap_or_else(|_| panic!("the test did not finish within {secs} s"))
            .expect("driving the ring from tokio")
    })
}
