//! Provided-buffer rings registered with a ring (`IORING_REGISTER_PBUF_RING`).
#![allow(unsafe_code)]

use super::resources::Resources;
use crate::buf::BufRing;
use crate::error::Result;
use crate::ring::Ring;

impl Ring {
    /// Registers a ring of `count` buffers (a power of two, at most 32,768) of `size` bytes
    /// as a provided-buffer group of this ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19).
    /// The ring keeps the memory alive while registered (until the ring is dropped).
    ///
    /// # Errors
    /// `InvalidArgument` for a count that is not a power of two;
    /// [`MemlockExceeded`](crate::SaferRingError::MemlockExceeded) when the ring's entries (16 bytes
    /// a buffer, pinned for the kernel) do not fit in `RLIMIT_MEMLOCK`; the kernel's error
    /// (named) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use std::io::Write;
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let bufs = ring.register_buf_ring(8, 1024)?;
    /// assert_eq!((bufs.count(), bufs.buffer_size(), bufs.available()), (8, 1024, 8));
    /// assert!(ring.register_buf_ring(6, 1024).is_err()); // not a power of two
    /// // The kernel picks a buffer for each message received.
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// client.write_all(b"picked")?;
    /// let chunk = ring.block_on(ring.recv_multi(&conn, &bufs).next()).unwrap()?;
    /// assert_eq!(&chunk[..], b"picked");
    /// assert_eq!(bufs.available(), 7); // one held by the chunk
    /// # Ok(()) }
    /// ```
    pub fn register_buf_ring(&self, count: u16, size: usize) -> Result<BufRing> {
        let resources = Resources::of(self);
        let bgid = resources.next_bgid.get();
        let bufs = BufRing::allocate(self.id(), bgid, count, size)?;
        let inner = bufs.inner();
        // SAFETY: invariants 1 and 8 — the entries and buffers live in `inner`'s region, which
        // the ring's resource set keeps (the `Rc` pushed below) until the ring is dropped,
        // after its drain, or leaks if the drain timed out.
        unsafe {
            self.registration(|kernel| {
                kernel.register_buf_ring_with_flags(inner.entries_addr(), inner.count(), bgid, 0)
            })
        }
        .map_err(super::files::pin_err(
            "register_buf_ring",
            || format!("the entries of a ring of {count} provided buffers"),
            inner.entries_bytes() as u64,
        ))?;
        resources.next_bgid.set(bgid.wrapping_add(1));
        resources.buf_rings.borrow_mut().push(inner.clone());
        Ok(bufs)
    }
}
