//! Time on the ring: [`Ring::sleep`](crate::Ring::sleep) and
//! [`Ring::sleep_until`](crate::Ring::sleep_until), kernel timers (`IORING_OP_TIMEOUT`) that
//! work wherever the ring is driven — under [`Ring::block_on`](crate::Ring::block_on), from
//! tokio, or with the sync API — and cost nothing while they wait: the thread sleeps in
//! `io_uring_enter` until the timer fires.
//!
//! ```
//! # fn main() -> safer_ring::Result<()> {
//! use std::time::{Duration, Instant};
//! let ring = safer_ring::Ring::new(8)?;
//! let start = Instant::now();
//! ring.block_on(ring.sleep(Duration::from_millis(20)))?;
//! assert!(start.elapsed() >= Duration::from_millis(20));
//! # Ok(()) }
//! ```

mod sleep;
mod ticks;
mod timeout;

pub use sleep::Sleep;
pub use ticks::Ticks;
pub use timeout::Timeout;
