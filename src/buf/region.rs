//! Page-aligned heap memory shared by the pool and buffer rings.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::error::{Result, SaferRingError};

/// The page size buffers are aligned to.
pub(crate) const PAGE: usize = 4096;

/// `size` rounded up to whole pages, or `InvalidArgument` if that overflows.
pub(crate) fn whole_pages(size: usize) -> Result<usize> {
    size.checked_next_multiple_of(PAGE)
        .ok_or(SaferRingError::InvalidArgument(
            "buffer size too large to round up to whole pages",
        ))
}

/// One zeroed, page-aligned heap allocation (a pool's buffers, a buffer ring's entries and
/// buffers), freed when dropped.
pub(crate) struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

// SAFETY: invariant 1 — the region is plain heap memory; which thread may touch which part is
// decided by its owner (the pool's free list hands each buffer to one owner at a time), not
// by the thread that allocated it.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` gives only the base address; access goes through owners that
// partition it.
unsafe impl Sync for Region {}

impl Region {
    /// Start of the allocation.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// `size` zeroed bytes (at least a page), page-aligned.
    pub fn new(size: usize) -> Result<Self> {
        let layout = Layout::from_size_align(size.max(PAGE), PAGE)
            .map_err(|_| SaferRingError::InvalidArgument("buffer memory too large"))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(SaferRingError::InvalidArgument(
            "cannot allocate buffer memory",
        ))?;
        Ok(Self { base, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; dropped once, when the last owner
        // (pool handle, pooled buffer, buffer ring, ring registration) is gone (invariant 1).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}
