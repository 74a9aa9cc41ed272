//! [`BufferPool`]: pre-allocated, page-aligned buffers handed out and returned without
//! allocating, safe to share between threads.
//!
//! ```
//! use safer_ring::buf::BufferPool;
//! let pool = BufferPool::new(4, 4096).unwrap();
//! let mut a = pool.try_get().unwrap();
//! a.as_mut_capacity()[..3].copy_from_slice(b"abc");
//! a.set_len(3);
//! assert_eq!(pool.stats().in_use, 1);
//! drop(a); // back to the pool
//! assert_eq!(pool.stats().free, 4);
//! ```
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::numa::{self, Placement};
use super::region::{Region, whole_pages};
use super::{IoBuf, IoBufMut};
use crate::error::{Result, SaferRingError};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Counters of a pool's use.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let pool = safer_ring::BufferPool::new(4, 4096)?;
/// let a = pool.try_get().unwrap();
/// let stats = pool.stats();
/// assert_eq!((stats.capacity, stats.in_use, stats.free), (4, 1, 3));
/// drop(a);
/// assert_eq!(pool.stats().high_water, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Buffers in the pool.
    pub capacity: usize,
    /// Buffers handed out now.
    pub in_use: usize,
    /// Buffers free now.
    pub free: usize,
    /// Most buffers ever handed out at once.
    pub high_water: usize,
    /// Times an async `get` had to wait for a buffer.
    pub waits: u64,
}

struct FreeList {
    /// Indexes of free buffers (capacity for all: pushing never allocates).
    indexes: Vec<u32>,
    /// `get` futures waiting for a buffer, first come first served; one entry each.
    waiters: VecDeque<Waiter>,
    /// The id the next waiting `get` future is given.
    next_id: u64,
}

/// A waiting [`GetBuffer`]: its id and the waker to wake when a buffer comes back.
struct Waiter {
    id: u64,
    waker: Waker,
}

impl FreeList {
    fn position(&self, id: u64) -> Option<usize> {
        self.waiters.iter().position(|w| w.id == id)
    }

    /// Removes waiter `id` from the queue; its waker, if it was still queued.
    fn remove(&mut self, id: u64) -> Option<Waker> {
        let at = self.position(id)?;
        self.waiters.remove(at).map(|w| w.waker)
    }
}

/// Where a [`GetBuffer`] stands with the pool's queue.
#[derive(Clone, Copy)]
enum WaitState {
    /// Never had to wait.
    Idle,
    /// Registered under this id: still queued, or taken off the queue and woken by a
    /// returning buffer (then the entry is gone).
    Waiting(u64),
    /// Got its buffer.
    Done,
}

/// What one attempt of [`Shared::take_or_wait`] came to.
enum Attempt {
    /// A buffer, and the waker of this future's own queue entry (to drop outside the lock).
    Ready(PooledBuffer, Option<Waker>),
    /// Queued; the waker this future's entry held before (to drop outside the lock).
    Queued(Option<Waker>),
    /// Queueing needs a clone of the task's waker, which is made outside the lock.
    NeedsWaker,
}

pub(crate) struct Shared {
    region: Region,
    buf_size: usize,
    count: usize,
    /// Free buffers and the futures waiting for one, behind one short lock.
    free: Mutex<FreeList>,
    in_use: AtomicUsize,
    high_water: AtomicUsize,
    waits: AtomicU64,
    placement: Placement,
}

impl Shared {
    pub(crate) fn buffer_ptr(&self, index: u32) -> *mut u8 {
        self.region
            .base()
            .wrapping_add(index as usize * self.buf_size)
    }

    pub(crate) fn buf_size(&self) -> usize {
        self.buf_size
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn free_list(&self) -> crate::sync::MutexGuard<'_, FreeList> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(this: &Arc<Self>) -> Option<PooledBuffer> {
        let index = this.free_list().indexes.pop()?;
        Some(Self::wrap(this, index))
    }

    /// Takes a buffer, or queues the future in `state` (atomically: no buffer can return in
    /// between). A future already queued keeps its place and swaps in `waker` only if its
    /// queued waker would not wake the same task; one that was woken but found no buffer
    /// goes back to the head of the queue. A new waker comes only from `fresh` (cloned by
    /// the caller outside the lock), so no user code runs under it.
    fn take_or_wait(
        this: &Arc<Self>,
        state: &mut WaitState,
        waker: &Waker,
        fresh: &mut Option<Waker>,
    ) -> Attempt {
        let mut free = this.free_list();
        let queued = match *state {
            WaitState::Waiting(id) => free.position(id),
            WaitState::Idle | WaitState::Done => None,
        };
        if let Some(index) = free.indexes.pop() {
            let own = match *state {
                WaitState::Waiting(id) => free.remove(id),
                WaitState::Idle | WaitState::Done => None,
            };
            drop(free);
            *state = WaitState::Done;
            return Attempt::Ready(Self::wrap(this, index), own);
        }
        match queued {
            Some(at) if free.waiters[at].waker.will_wake(waker) => Attempt::Queued(None),
            Some(at) => match fresh.take() {
                Some(new) => {
                    Attempt::Queued(Some(std::mem::replace(&mut free.waiters[at].waker, new)))
                }
                None => Attempt::NeedsWaker,
            },
            None => {
                let Some(new) = fresh.take() else {
                    return Attempt::NeedsWaker;
                };
                Self::enqueue(&mut free, state, new);
                Attempt::Queued(None)
            }
        }
    }

    /// Queues a future that is not in the queue: at the back the first time, at the head
    /// after being woken for a buffer someone else took first.
    fn enqueue(free: &mut FreeList, state: &mut WaitState, waker: Waker) {
        match *state {
            WaitState::Waiting(id) => free.waiters.push_front(Waiter { id, waker }),
            WaitState::Idle | WaitState::Done => {
                let id = free.next_id;
                free.next_id += 1;
                free.waiters.push_back(Waiter { id, waker });
                *state = WaitState::Waiting(id);
            }
        }
    }

    /// A waiting future gave up: it leaves the queue, or, if a returning buffer already
    /// took it off the queue and woke it, the wake-up passes to the next waiter while a
    /// buffer is free (the woken one will never take it).
    fn cancel_wait(&self, id: u64) {
        let (own, next) = {
            let mut free = self.free_list();
            match free.remove(id) {
                Some(own) => (Some(own), None),
                None if !free.indexes.is_empty() => {
                    (None, free.waiters.pop_front().map(|w| w.waker))
                }
                None => (None, None),
            }
        };
        // Outside the lock: dropping or waking a waker runs user code.
        drop(own);
        if let Some(next) = next {
            next.wake();
        }
    }

    fn wrap(this: &Arc<Self>, index: u32) -> PooledBuffer {
        let in_use = this.in_use.fetch_add(1, Ordering::AcqRel) + 1;
        this.high_water.fetch_max(in_use, Ordering::AcqRel);
        PooledBuffer {
            pool: Arc::clone(this),
            index,
            len: 0,
        }
    }

    /// Returns buffer `index` and wakes the first waiter (taking it off the queue; see
    /// [`cancel_wait`](Self::cancel_wait) for one that then gives up).
    fn put(&self, index: u32) {
        self.in_use.fetch_sub(1, Ordering::AcqRel);
        let waiter = {
            let mut free = self.free_list();
            free.indexes.push(index);
            free.waiters.pop_front()
        };
        // Outside the lock: waking runs user code.
        if let Some(waiter) = waiter {
            waiter.waker.wake();
        }
    }
}

/// A thread-safe pool of equal-sized, page-aligned buffers. Cloning shares the pool.
///
/// Buffers return to the pool when dropped — also when dropped inside a ring's slot after a
/// cancelled operation, and also after every pool handle is gone (the memory lives until the
/// last buffer is back). Getting and returning a buffer takes one short lock and allocates
/// nothing.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{BufferPool, File, Ring};
/// let pool = BufferPool::new(2, 4096)?; // two page-aligned buffers of 4 KiB
/// let ring = Ring::new(8)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"pooled bytes".to_vec(), 0).submit()?.wait().0?;
/// // A pool buffer works with every operation, registered or not.
/// let buf = pool.try_get().expect("a free buffer");
/// let (n, buf) = ring.read_at(&file, buf, 0).submit()?.wait();
/// assert_eq!(&buf.as_slice()[..n?], b"pooled bytes");
/// // Clones share the pool, across threads too.
/// let other = pool.clone();
/// std::thread::spawn(move || drop(other.try_get())).join().unwrap();
/// drop(buf); // back to the pool
/// assert_eq!(pool.stats().in_use, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BufferPool {
    shared: Arc<Shared>,
}

impl BufferPool {
    /// A pool of `count` buffers of `size` bytes each (rounded up to whole pages), placed on
    /// the NUMA node of the calling thread's CPU when the machine has several nodes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::BufferPool;
    /// let pool = BufferPool::new(3, 100)?;
    /// assert_eq!(pool.stats().capacity, 3);
    /// // 100 bytes rounded up to a whole page.
    /// assert!(pool.buffer_size() >= 100);
    /// assert_eq!(pool.buffer_size() % 4096, 0);
    /// // No buffers, or buffers of no bytes, are refused.
    /// assert!(BufferPool::new(0, 4096).is_err());
    /// assert!(BufferPool::new(4, 0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn new(count: usize, size: usize) -> Result<Self> {
        Self::with_placement(count, size, None)
    }

    /// As [`new`](Self::new), on NUMA node `node` (ignored on single-node machines).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::BufferPool;
    /// use safer_ring::buf::numa::{Placement, online_nodes};
    /// let pool = BufferPool::on_node(2, 4096, 0)?;
    /// match pool.placement() {
    ///     Placement::SingleNode => assert_eq!(online_nodes(), 1), // node ignored
    ///     Placement::Node(node) => assert_eq!(node, 0),
    ///     Placement::Default => {} // several nodes, but `mbind` refused
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(pool.stats().capacity, 2);
    /// # Ok(()) }
    /// ```
    pub fn on_node(count: usize, size: usize, node: u32) -> Result<Self> {
        Self::with_placement(count, size, Some(node))
    }

    fn with_placement(count: usize, size: usize, node: Option<u32>) -> Result<Self> {
        if count == 0 || size == 0 || count > u32::MAX as usize {
            return Err(SaferRingError::InvalidArgument(
                "a pool needs at least one buffer of at least one byte",
            ));
        }
        let buf_size = whole_pages(size)?;
        let total = buf_size
            .checked_mul(count)
            .ok_or(SaferRingError::InvalidArgument("buffer pool too large"))?;
        let region = Region::new(total)?;
        let placement = numa::place(region.base(), total, node);
        let indexes = (0..count as u32).rev().collect();
        Ok(Self {
            shared: Arc::new(Shared {
                region,
                buf_size,
                count,
                free: Mutex::new(FreeList {
                    indexes,
                    waiters: VecDeque::with_capacity(count),
                    next_id: 0,
                }),
                in_use: AtomicUsize::new(0),
                high_water: AtomicUsize::new(0),
                waits: AtomicU64::new(0),
                placement,
            }),
        })
    }

    /// A free buffer, or `None` if all are in use.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::BufferPool::new(1, 4096)?;
    /// let buf = pool.try_get().expect("one buffer is free");
    /// assert!(pool.try_get().is_none()); // all in use: no waiting, no allocating
    /// drop(buf); // back to the pool
    /// assert!(pool.try_get().is_some());
    /// # Ok(()) }
    /// ```
    pub fn try_get(&self) -> Option<PooledBuffer> {
        Shared::take(&self.shared)
    }

    /// A free buffer, waiting (without allocating a new one) until one is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let pool = safer_ring::BufferPool::new(1, 4096)?;
    /// let held = pool.try_get().unwrap();
    /// let buf = ring.block_on(async {
    ///     // `get` waits for `held`, returned by the other branch.
    ///     let (buf, ()) = futures::join!(pool.get(), async move { drop(held) });
    ///     buf
    /// });
    /// assert_eq!(buf.index(), 0);
    /// assert_eq!(pool.stats().waits, 1); // it had to wait once
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> GetBuffer<'_> {
        GetBuffer {
            pool: self,
            state: WaitState::Idle,
        }
    }

    /// Bytes per buffer (a multiple of the page size).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::BufferPool::new(2, 5000)?;
    /// assert!(pool.buffer_size() >= 5000);
    /// assert_eq!(pool.buffer_size() % 4096, 0); // whole pages
    /// let mut buf = pool.try_get().unwrap();
    /// assert_eq!(buf.as_mut_capacity().len(), pool.buffer_size());
    /// # Ok(()) }
    /// ```
    pub fn buffer_size(&self) -> usize {
        self.shared.buf_size
    }

    /// Where the pool's memory was placed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::buf::numa::{Placement, online_nodes};
    /// let pool = safer_ring::BufferPool::new(1, 4096)?;
    /// let placed = pool.placement();
    /// if online_nodes() == 1 {
    ///     assert_eq!(placed, Placement::SingleNode);
    /// } else {
    ///     assert!(matches!(placed, Placement::Node(_) | Placement::Default));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn placement(&self) -> Placement {
        self.shared.placement
    }

    /// Current counters.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::BufferPool::new(2, 4096)?;
    /// let (a, b) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    /// let stats = pool.stats();
    /// assert_eq!((stats.in_use, stats.free, stats.high_water), (2, 0, 2));
    /// drop((a, b));
    /// let stats = pool.stats();
    /// assert_eq!((stats.in_use, stats.free, stats.high_water), (0, 2, 2)); // the peak stays
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> PoolStats {
        let in_use = self.shared.in_use.load(Ordering::Acquire);
        PoolStats {
            capacity: self.shared.count,
            in_use,
            free: self.shared.count - in_use,
            high_water: self.shared.high_water.load(Ordering::Acquire),
            waits: self.shared.waits.load(Ordering::Acquire),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("buffer_size", &self.shared.buf_size)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The future of [`BufferPool::get`].
///
/// While it waits it holds one place in the pool's queue of waiters, however often it is
/// polled; dropping it gives the place up (and passes on a wake-up it was given but did not
/// use), so the waiters behind it are still woken.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let pool = safer_ring::BufferPool::new(1, 4096)?;
/// let held = pool.try_get().unwrap();
/// assert!(pool.try_get().is_none()); // empty: `get` would wait
/// drop(held);
/// let buf = ring.block_on(pool.get()); // a buffer is back: ready at once
/// assert_eq!(buf.len(), 0);
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetBuffer<'pool> {
    pool: &'pool BufferPool,
    state: WaitState,
}

impl Future for GetBuffer<'_> {
    type Output = PooledBuffer;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PooledBuffer> {
        let this = &mut *self;
        let first_wait = matches!(this.state, WaitState::Idle);
        let mut fresh = None;
        loop {
            match Shared::take_or_wait(&this.pool.shared, &mut this.state, cx.waker(), &mut fresh) {
                Attempt::Ready(buf, own) => {
                    drop(own);
                    return Poll::Ready(buf);
                }
                Attempt::Queued(replaced) => {
                    drop(replaced);
                    break;
                }
                Attempt::NeedsWaker => fresh = Some(cx.waker().clone()),
            }
        }
        if first_wait {
            this.pool.shared.waits.fetch_add(1, Ordering::AcqRel);
        }
        Poll::Pending
    }
}

impl Drop for GetBuffer<'_> {
    fn drop(&mut self) {
        if let WaitState::Waiting(id) = self.state {
            self.pool.shared.cancel_wait(id);
        }
    }
}

impl std::fmt::Debug for GetBuffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetBuffer")
            .field("waiting", &matches!(self.state, WaitState::Waiting(_)))
            .finish()
    }
}

/// A buffer borrowed from a [`BufferPool`]; returns itself to the pool when dropped.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let pool = safer_ring::BufferPool::new(1, 4096)?;
/// let mut buf = pool.try_get().unwrap();
/// assert_eq!(buf.as_mut_capacity().len(), 4096);
/// buf.as_mut_capacity()[..3].copy_from_slice(b"abc");
/// buf.set_len(3); // what a write will send
/// assert_eq!(buf.as_slice(), b"abc");
/// assert_eq!(buf.index(), 0);
/// # Ok(()) }
/// ```
pub struct PooledBuffer {
    pool: Arc<Shared>,
    index: u32,
    len: usize,
}

impl PooledBuffer {
    /// Which buffer of its pool this is (also its registered buffer index).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::BufferPool::new(2, 4096)?;
    /// let (a, b) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    /// assert_ne!(a.index(), b.index());
    /// assert!(a.index() < 2 && b.index() < 2);
    /// # Ok(()) }
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Bytes holding data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring};
    /// let pool = BufferPool::new(1, 4096)?;
    /// assert_eq!(pool.try_get().unwrap().len(), 0); // handed out holding no data
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"seven b".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, pool.try_get().unwrap(), 0).submit()?.wait();
    /// assert_eq!(buf.len(), n?); // what the kernel filled
    /// assert_eq!(buf.len(), 7);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes hold data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::BufferPool::new(1, 4096)?;
    /// let mut buf = pool.try_get().unwrap();
    /// assert!(buf.is_empty());
    /// buf.set_len(1);
    /// assert!(!buf.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets how many bytes hold data.
    ///
    /// # Panics
    /// If `len` exceeds the buffer size.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring};
    /// let pool = BufferPool::new(1, 4096)?;
    /// let mut buf = pool.try_get().unwrap();
    /// buf.as_mut_capacity()[..4].copy_from_slice(b"pool");
    /// buf.set_len(4);
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let (n, _buf) = ring.write_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 4); // the write sent exactly `len` bytes
    /// let (n, back) = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
    /// assert_eq!(&back[..n?], b"pool");
    /// # Ok(()) }
    /// ```
    ///
    /// Beyond the buffer size it panics:
    ///
    /// ```should_panic
    /// let pool = safer_ring::BufferPool::new(1, 4096).unwrap();
    /// let mut buf = pool.try_get().unwrap();
    /// buf.set_len(pool.buffer_size() + 1);
    /// ```
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.pool.buf_size, "len {len} beyond buffer size");
        self.len = len;
    }

    /// The bytes holding data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring};
    /// let pool = BufferPool::new(1, 4096)?;
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"from disk".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, pool.try_get().unwrap(), 0).submit()?.wait();
    /// n?;
    /// assert_eq!(buf.as_slice(), b"from disk"); // only the bytes read, not the whole page
    /// # Ok(()) }
    /// ```
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: invariant 1 — this buffer's bytes are owned exclusively by `self` (the free
        // list hands each index to one owner) and live as long as the pool's `Arc`.
        unsafe { std::slice::from_raw_parts(self.pool.buffer_ptr(self.index), self.len) }
    }

    /// The whole buffer, to fill before a write.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring};
    /// let pool = BufferPool::new(1, 4096)?;
    /// let mut buf = pool.try_get().unwrap();
    /// assert_eq!(buf.as_mut_capacity().len(), pool.buffer_size()); // the whole buffer
    /// buf.as_mut_capacity()[..5].copy_from_slice(b"fresh");
    /// buf.set_len(5);
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let (n, buf) = ring.write_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 5);
    /// assert_eq!(buf.as_slice(), b"fresh");
    /// # Ok(()) }
    /// ```
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, with `&mut self` making the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(self.pool.buffer_ptr(self.index), self.pool.buf_size)
        }
    }

    pub(crate) fn pool_shared(&self) -> &Arc<Shared> {
        &self.pool
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        self.pool.put(self.index);
    }
}

impl std::fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBuffer")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: invariants 1, 2 — the bytes are this index's part of the pool's heap region, which
// does not move and lives as long as the `Arc` this buffer holds; the index has one owner.
unsafe impl IoBuf for PooledBuffer {
    fn stable_ptr(&self) -> *const u8 {
        self.pool.buffer_ptr(self.index)
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.pool.buf_size
    }
}

// SAFETY: invariants 1, 2 — as `IoBuf`; the region is zero-initialised at allocation, so every
// byte is initialised.
unsafe impl IoBufMut for PooledBuffer {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.pool.buffer_ptr(self.index)
    }
    unsafe fn set_init(&mut self, len: usize) {
        self.set_len(len);
    }
}

#[cfg(all(test, not(safer_ring_loom)))]
mod tests {
    use super::super::region::PAGE;
    use super::*;

    #[test]
    fn buffers_are_page_aligned_and_distinct() {
        let pool = BufferPool::new(3, 100).unwrap();
        assert_eq!(pool.buffer_size(), PAGE);
        let bufs: Vec<_> = (0..3).map(|_| pool.try_get().unwrap()).collect();
        for b in &bufs {
            assert_eq!(b.stable_ptr() as usize % PAGE, 0);
        }
        assert!(pool.try_get().is_none());
        let mut ids: Vec<_> = bufs.iter().map(PooledBuffer::index).collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(pool.stats().high_water, 3);
    }

    #[test]
    fn buffers_outlive_the_pool_handle() {
        let pool = BufferPool::new(2, 64).unwrap();
        let mut buf = pool.try_get().unwrap();
        drop(pool);
        buf.as_mut_capacity()[0] = 42;
        buf.set_len(1);
        assert_eq!(buf.as_slice(), [42]);
    }

    #[test]
    fn invalid_sizes_are_refused() {
        assert!(BufferPool::new(0, 10).is_err());
        assert!(BufferPool::new(10, 0).is_err());
        assert!(BufferPool::new(usize::MAX / 2, 1 << 20).is_err());
    }
}
