//! Provided buffer rings (`IORING_REGISTER_PBUF_RING`): the kernel picks a buffer for each
//! receive, so a server needs buffers only for data that actually arrived.
//!
//! ```
//! # fn main() -> safer_ring::Result<()> {
//! use futures::StreamExt;
//! use safer_ring::net::{ListenOptions, TcpListener};
//! use std::io::Write;
//! let ring = safer_ring::Ring::new(16)?;
//! let bufs = ring.register_buf_ring(8, 4096)?;
//! let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
//! let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
//! let (conn, _) = ring.accept(&listener).submit()?.wait()?;
//! client.write_all(b"hello")?;
//! let chunk = ring.block_on(ring.recv_multi(&conn, &bufs).next()).unwrap()?;
//! assert_eq!(&chunk[..], b"hello");
//! assert_eq!(bufs.available(), 7); // the chunk holds one buffer...
//! drop(chunk);
//! assert_eq!(bufs.available(), 8); // ...and gives it back when dropped
//! # Ok(()) }
//! ```
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Waker;

use io_uring::types::BufRingEntry;

use super::region::{Region, whole_pages};
use crate::error::{Result, SaferRingError};
use crate::ring::RingId;

/// The ring's memory and bookkeeping, shared by the handle, chunks and operations.
pub(crate) struct Inner {
    ring: RingId,
    bgid: u16,
    count: u16,
    buf_size: usize,
    entries_len: usize,
    mem: Region,
    tail: Cell<u16>,
    /// Buffers handed to the kernel and not yet seen taken (a buffer the kernel filled for
    /// a CQE nobody processed yet still counts).
    available: Cell<usize>,
    /// Buffers provided (back) to the kernel since the ring was registered; only grows.
    provided: Cell<u64>,
    /// Operations waiting for a buffer to be provided, each under its [`ArmGate`]'s id.
    waiters: RefCell<Vec<(u64, Waker)>>,
    /// The id of the next [`ArmGate`].
    next_gate: Cell<u64>,
}

impl Inner {
    fn entries(&self) -> *mut BufRingEntry {
        self.mem.base().cast()
    }

    fn buffer(&self, bid: u16) -> *mut u8 {
        self.mem
            .base()
            .wrapping_add(self.entries_len + usize::from(bid) * self.buf_size)
    }

    /// Hands buffer `bid` (back) to the kernel.
    fn provide(&self, bid: u16) {
        let tail = self.tail.get();
        let slot = usize::from(tail & (self.count - 1));
        let entry = self.entries().wrapping_add(slot);
        // SAFETY: invariant 1 — `slot < count` lies inside the entry array; the entry at
        // `tail` is not visible to the kernel until the tail moves past it below, and this
        // buffer is owned by nobody (its chunk is gone).
        let entry = unsafe { &mut *entry };
        entry.set_addr(self.buffer(bid) as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: `tail` only computes the address of the tail field inside entry 0.
        let tail_ptr = unsafe { BufRingEntry::tail(self.entries()) }.cast::<AtomicU16>();
        // SAFETY: the tail is a naturally aligned u16 that the kernel reads atomically; the
        // release store publishes the entry written above.
        let shared_tail = unsafe { &*tail_ptr };
        shared_tail.store(tail, Ordering::Release);
        self.available.set(self.available.get() + 1);
        self.provided.set(self.provided.get() + 1);
        self.wake_waiters();
    }

    /// Wakes every operation waiting for a buffer, taken out of the list first (a waker is
    /// user code: it may arm again, or drop a chunk and so provide).
    fn wake_waiters(&self) {
        if self.waiters.borrow().is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        // A panicking waker must not cost the others their wake-up: wake them all, then
        // resume the first panic.
        let mut first = None;
        for (_, waker) in waiters {
            let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
            if let Err(panic) = woken {
                first.get_or_insert(panic);
            }
        }
        if let Some(panic) = first {
            std::panic::resume_unwind(panic);
        }
    }

    /// Queues `waker` under `id` until the next provide, replacing the one queued under `id`
    /// unless that would wake the same task; cloned and dropped outside the borrow.
    fn wait(&self, id: u64, waker: &Waker) {
        let queued = self.waiters.borrow().iter().position(|(w, _)| *w == id);
        let old = match queued {
            Some(at) if self.waiters.borrow()[at].1.will_wake(waker) => return,
            Some(at) => {
                let new = waker.clone();
                Some(std::mem::replace(&mut self.waiters.borrow_mut()[at].1, new))
            }
            None => {
                let new = waker.clone();
                self.waiters.borrow_mut().push((id, new));
                None
            }
        };
        drop(old);
    }

    /// Takes `id` off the waiting list (its waker is dropped outside the borrow).
    fn stop_waiting(&self, id: u64) {
        let mut waiters = self.waiters.borrow_mut();
        let own = waiters
            .iter()
            .position(|(w, _)| *w == id)
            .map(|at| waiters.swap_remove(at));
        drop(waiters);
        drop(own);
    }

    /// Records the kernel taking buffer `bid` (a CQE with `IORING_CQE_F_BUFFER`).
    pub(crate) fn take(self: &Rc<Self>, bid: u16, len: usize) -> BufChunk {
        self.available.set(self.available.get() - 1);
        BufChunk {
            inner: self.clone(),
            bid,
            len: len.min(self.buf_size),
        }
    }

    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    pub(crate) fn ring_id(&self) -> RingId {
        self.ring
    }
}

/// Decides when an operation receiving into a buffer ring may arm (see
/// [`can_arm`](Self::can_arm)); one per operation, several on one ring.
pub(crate) struct ArmGate {
    bufs: Rc<Inner>,
    /// This gate's entry in the ring's waiting list.
    id: u64,
    /// The ring's `provided` count when the operation last armed.
    armed_at: Cell<u64>,
    /// The operation's last arming ended with `ENOBUFS`.
    starved: Cell<bool>,
}

impl ArmGate {
    pub(crate) fn new(bufs: &Rc<Inner>) -> Self {
        let id = bufs.next_gate.get();
        bufs.next_gate.set(id + 1);
        Self {
            bufs: bufs.clone(),
            id,
            armed_at: Cell::new(0),
            starved: Cell::new(false),
        }
    }

    /// Records that the operation's multishot ended with `ENOBUFS`: the ring had no buffer
    /// for it when the kernel tried.
    pub(crate) fn starved(&self) {
        self.starved.set(true);
    }

    /// Whether arming now can get a buffer: some buffer is available and, if the last arming
    /// ran dry, a buffer was provided since it armed. (`available` still counts buffers the
    /// kernel filled for CQEs not processed yet — another stream's unpolled chunks — so it
    /// alone would re-arm into `ENOBUFS` again and again.) If not, `waker` is woken at the
    /// next provide. Arming is recorded when this returns `true`.
    pub(crate) fn can_arm(&self, waker: &Waker) -> bool {
        let inner = &self.bufs;
        let provided = inner.provided.get();
        let refilled = !self.starved.get() || provided != self.armed_at.get();
        if inner.available.get() == 0 || !refilled {
            inner.wait(self.id, waker);
            return false;
        }
        inner.stop_waiting(self.id);
        self.armed_at.set(provided);
        self.starved.set(false);
        true
    }
}

impl Drop for ArmGate {
    fn drop(&mut self) {
        self.bufs.stop_waiting(self.id);
    }
}

/// A ring of `count` buffers of one size, registered with one [`Ring`](crate::Ring) as a
/// provided-buffer group. Cheap to clone. Receives on it
/// ([`Ring::recv_multi`](crate::Ring::recv_multi)) yield [`BufChunk`]s.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let bufs = ring.register_buf_ring(16, 2048)?; // 16 buffers of 2 KiB the kernel picks from
/// assert_eq!((bufs.count(), bufs.buffer_size(), bufs.available()), (16, 2048, 16));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BufRing {
    inner: Rc<Inner>,
}

impl BufRing {
    /// Buffers not held by a [`BufChunk`]: in the ring, ready for the kernel — or already
    /// filled by the kernel for a completion that its stream has not taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let bufs = ring.register_buf_ring(4, 4096)?;
    /// assert_eq!(bufs.available(), 4); // every buffer provided at first
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// client.write_all(b"one")?;
    /// let mut stream = ring.recv_multi(&conn, &bufs);
    /// let chunk = ring.block_on(stream.next()).unwrap()?;
    /// assert_eq!(bufs.available(), 3); // one held by `chunk`
    /// drop(chunk);
    /// assert_eq!(bufs.available(), 4);
    /// # Ok(()) }
    /// ```
    pub fn available(&self) -> usize {
        self.inner.available.get()
    }

    /// Buffers in all.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let bufs = ring.register_buf_ring(8, 1024)?;
    /// assert_eq!(bufs.count(), 8);
    /// assert_eq!(bufs.clone().count(), 8); // a clone is the same ring
    /// assert!(ring.register_buf_ring(6, 1024).is_err()); // a power of two only
    /// # Ok(()) }
    /// ```
    pub fn count(&self) -> usize {
        usize::from(self.inner.count)
    }

    /// Bytes per buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let bufs = ring.register_buf_ring(4, 4)?; // buffers of 4 bytes
    /// assert_eq!(bufs.buffer_size(), 4);
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// client.write_all(b"0123456789")?;
    /// let mut stream = ring.recv_multi(&conn, &bufs);
    /// let (mut got, mut chunks) = (Vec::new(), 0);
    /// while got.len() < 10 {
    ///     let chunk = ring.block_on(stream.next()).unwrap()?;
    ///     assert!(chunk.len() <= bufs.buffer_size()); // a chunk never exceeds its buffer
    ///     got.extend_from_slice(&chunk);
    ///     chunks += 1;
    /// }
    /// assert_eq!(got, b"0123456789");
    /// assert!(chunks >= 3);
    /// # Ok(()) }
    /// ```
    pub fn buffer_size(&self) -> usize {
        self.inner.buf_size
    }

    pub(crate) fn inner(&self) -> &Rc<Inner> {
        &self.inner
    }
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("bgid", &self.inner.bgid)
            .field("count", &self.inner.count)
            .field("buffer_size", &self.inner.buf_size)
            .field("available", &self.available())
            .finish()
    }
}

/// Data the kernel received into a provided buffer. Dereferences to the bytes; dropping it
/// returns the buffer to its ring.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use std::io::Write;
/// use safer_ring::net::{ListenOptions, TcpListener};
/// let ring = safer_ring::Ring::new(8)?;
/// let bufs = ring.register_buf_ring(4, 4096)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
/// client.write_all(b"chunk")?;
/// let chunk = ring.block_on(ring.recv_multi(&conn, &bufs).next()).unwrap()?;
/// assert_eq!(&chunk[..], b"chunk"); // derefs to the bytes received
/// // A chunk is a buffer too: send it back without a copy.
/// let (n, chunk) = ring.send(&conn, chunk).submit()?.wait();
/// assert_eq!(n?, 5);
/// drop(chunk); // its buffer goes back to the ring
/// assert_eq!(bufs.available(), 4);
/// # Ok(()) }
/// ```
pub struct BufChunk {
    inner: Rc<Inner>,
    bid: u16,
    len: usize,
}

impl std::ops::Deref for BufChunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: invariant 1 — the kernel handed buffer `bid` to this chunk in a CQE and
        // will not touch it again until the chunk's drop provides it back; `len` bytes were
        // written; the memory lives as long as the `Rc` this chunk holds.
        unsafe { std::slice::from_raw_parts(self.inner.buffer(self.bid), self.len) }
    }
}

impl Drop for BufChunk {
    fn drop(&mut self) {
        self.inner.provide(self.bid);
    }
}

// A chunk can be sent as it is (an echo server sends what it received without copying).
// SAFETY: invariants 1, 2 — the chunk's bytes are its buffer in the ring's heap region, which
// does not move and lives as long as the chunk's `Rc`; the kernel leaves it alone until drop.
unsafe impl super::IoBuf for BufChunk {
    fn stable_ptr(&self) -> *const u8 {
        self.inner.buffer(self.bid)
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

impl std::fmt::Debug for BufChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufChunk")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl BufRing {
    /// A ring of `count` buffers (a power of two, at most 32,768) of `size` bytes for
    /// buffer group `bgid` of ring `ring`, every buffer provided, not yet registered (the
    /// registry registers it and keeps it alive).
    pub(crate) fn allocate(ring: RingId, bgid: u16, count: u16, size: usize) -> Result<Self> {
        if !count.is_power_of_two() || count > 1 << 15 || size == 0 || size > u32::MAX as usize {
            return Err(SaferRingError::InvalidArgument(
                "a buffer ring needs a power-of-two count up to 32768 and a size up to 4 GiB",
            ));
        }
        let entries_len = whole_pages(usize::from(count) * size_of::<BufRingEntry>())?;
        let total = usize::from(count)
            .checked_mul(size)
            .and_then(|b| b.checked_add(entries_len))
            .ok_or(SaferRingError::InvalidArgument("buffer ring too large"))?;
        let inner = Rc::new(Inner {
            ring,
            bgid,
            count,
            buf_size: size,
            entries_len,
            mem: Region::new(total)?,
            tail: Cell::new(0),
            available: Cell::new(0),
            provided: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            next_gate: Cell::new(0),
        });
        (0..count).for_each(|bid| inner.provide(bid));
        Ok(BufRing { inner })
    }
}

impl Inner {
    /// The address of the entry array, for `IORING_REGISTER_PBUF_RING`: it lives in this
    /// value's region, as long as the value does.
    pub(crate) fn entries_addr(&self) -> u64 {
        self.entries() as u64
    }

    /// Bytes of the entry array (whole pages): what registering the ring pins.
    pub(crate) fn entries_bytes(&self) -> usize {
        self.entries_len
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }
}
