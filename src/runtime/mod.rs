//! Running futures: the built-in executor ([`Ring::block_on`](crate::Ring::block_on), with
//! tasks from [`spawn`](crate::spawn)) and
//! tokio integration ([`Ring::drive`](crate::Ring::drive)).

mod block_on;
#[cfg(feature = "tokio")]
mod driver_hook;
mod msg_wake;
mod pool;
mod tasks;
#[cfg(feature = "tokio")]
mod tokio;
mod wake_flag;

#[cfg(feature = "tokio")]
pub use self::tokio::Drive;
pub use pool::{Placement, PoolError, PoolHandle, RingPool, RingPoolBuilder, WorkerStats};
pub use tasks::{JoinError, JoinHandle, spawn};
#[cfg(safer_ring_loom)]
pub use wake_flag::WakeFlag;
