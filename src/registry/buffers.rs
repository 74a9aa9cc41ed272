//! A [`BufferPool`] registered with a ring as its fixed buffers (`IORING_REGISTER_BUFFERS`).
#![allow(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

use super::resources::Resources;
use crate::buf::{BufferPool, PoolShared, PooledBuffer};
use crate::error::{Result, SaferRingError, human_bytes};
use crate::fd::Claim;
use crate::ring::Ring;
use crate::sync::Arc;

/// Most buffers the kernel accepts in one registration.
const MAX_REGISTERED: usize = 1 << 14;

/// The ring's registered pool and how many in-flight operations use it.
pub(crate) struct BufferTable {
    pool: Arc<PoolShared>,
    users: Rc<Cell<u32>>,
}

impl Ring {
    /// Registers every buffer of `pool` with this ring, so that
    /// [`read_fixed_at`](Ring::read_fixed_at) / [`write_fixed_at`](Ring::write_fixed_at) can
    /// use them without the kernel mapping pages per operation. The ring keeps the pool's
    /// memory alive while registered.
    ///
    /// # Errors
    /// [`MemlockExceeded`](SaferRingError::MemlockExceeded), naming the pool's size, the
    /// limit and the `ulimit -l` advice, when the pool does not fit in the locked-memory limit
    /// (`RLIMIT_MEMLOCK`: registered buffers are pinned) — the pool still works unregistered,
    /// with the plain `read_at`/`write_at`; [`InUse`](SaferRingError::InUse) if a registered
    /// pool is being replaced while operations use it; `InvalidArgument` past 16,384 buffers.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring};
    /// let ring = Ring::new(8)?;
    /// let pool = BufferPool::new(4, 4096)?;
    /// ring.register_pool(&pool)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let mut buf = pool.try_get().unwrap();
    /// buf.as_mut_capacity()[..5].copy_from_slice(b"fixed");
    /// buf.set_len(5);
    /// let (n, buf) = ring.write_fixed_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 5);
    /// let (n, buf) = ring.read_fixed_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(&buf.as_slice()[..n?], b"fixed");
    /// # Ok(()) }
    /// ```
    pub fn register_pool(&self, pool: &BufferPool) -> Result<()> {
        let shared = pool.shared();
        if shared.count() > MAX_REGISTERED {
            return Err(SaferRingError::InvalidArgument(
                "the kernel registers at most 16384 buffers",
            ));
        }
        self.unregister_pool()?;
        let iovecs: Vec<libc::iovec> = (0..shared.count() as u32)
            .map(|i| libc::iovec {
                iov_base: shared.buffer_ptr(i).cast(),
                iov_len: shared.buf_size(),
            })
            .collect();
        let (count, size) = (shared.count(), shared.buf_size());
        let what = || format!("the buffer pool of {count} × {}", human_bytes(size as u64));
        let bytes = count as u64 * size as u64;
        // SAFETY: invariants 1 and 8 — the iovecs cover the pool's heap region, which the
        // `Arc` stored in the ring's resource set below keeps alive until the registration is
        // removed (`unregister_pool`, refused while operations use it) or the ring is gone.
        unsafe { self.registration(|kernel| kernel.register_buffers(&iovecs)) }
            .map_err(super::files::pin_err("register_pool", what, bytes))?;
        *Resources::of(self).buffers.borrow_mut() = Some(BufferTable {
            pool: Arc::clone(shared),
            users: Rc::new(Cell::new(0)),
        });
        Ok(())
    }

    /// Removes the registered pool (if any).
    ///
    /// # Errors
    /// [`InUse`](SaferRingError::InUse) while a fixed-buffer operation is in flight — refused,
    /// not deferred: the registration stays until a later call succeeds.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring, SaferRingError};
    /// let ring = Ring::new(8)?;
    /// let pool = BufferPool::new(2, 4096)?;
    /// ring.register_pool(&pool)?;
    /// let (pipe, _writer) = std::io::pipe()?;
    /// let pipe = File::from(std::os::fd::OwnedFd::from(pipe));
    /// let read = ring.read_fixed_at(&pipe, pool.try_get().unwrap(), 0).submit()?; // waits
    /// assert!(matches!(ring.unregister_pool(), Err(SaferRingError::InUse { .. })));
    /// let (res, buf) = read.cancel().wait();
    /// assert!(res.is_err()); // ECANCELED
    /// ring.unregister_pool()?;
    /// // The pool's buffers are no longer this ring's fixed buffers.
    /// let file = File::from(tempfile::tempfile()?);
    /// let err = ring.write_fixed_at(&file, buf, 0).submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }), "{err}");
    /// ring.unregister_pool()?; // nothing registered: nothing to do
    /// # Ok(()) }
    /// ```
    pub fn unregister_pool(&self) -> Result<()> {
        let resources = Resources::of(self);
        let mut buffers = resources.buffers.borrow_mut();
        let Some(table) = buffers.as_ref() else {
            return Ok(());
        };
        if table.users.get() > 0 {
            return Err(SaferRingError::InUse {
                what: "registered buffer pool",
            });
        }
        self.registration(|kernel| kernel.unregister_buffers())
            .map_err(|e| SaferRingError::os("unregister_pool", e))?;
        *buffers = None;
        Ok(())
    }

    /// Claims the registration for one operation on `buf`, if `buf`'s pool is the one
    /// registered with this ring.
    pub(crate) fn acquire_buffer(&self, buf: &PooledBuffer) -> Result<Claim> {
        match Resources::of(self).buffers.borrow().as_ref() {
            Some(table) if Arc::ptr_eq(&table.pool, buf.pool_shared()) => {
                Ok(Claim::new(&table.users, buf.index()))
            }
            _ => Err(SaferRingError::RingMismatch {
                what: "pooled buffer (its pool is not registered with this ring)",
            }),
        }
    }
}
