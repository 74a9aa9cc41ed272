//! Guard-page buffers: memory of their own pages that, when "freed", turns `PROT_NONE`
//! instead of going back to the allocator. If any path released a buffer before the kernel
//! was done with it, the kernel's later write would fault (`EFAULT`) and lose or garble data,
//! which the model checks of the tests that use these buffers detect.

use std::sync::{Arc, Mutex};

use safer_ring::{IoBuf, IoBufMut};

/// What happened to guard buffers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The kernel filled buffer `id` with these bytes (logged when the result was processed).
    Filled { id: usize, bytes: Vec<u8> },
    /// Buffer `id` was released (its pages are now inaccessible).
    Released { id: usize },
}

/// The shared event log.
pub type Log = Arc<Mutex<Vec<Event>>>;

pub struct GuardBuf {
    ptr: *mut u8,
    cap: usize,
    init: usize,
    id: usize,
    log: Log,
}

impl GuardBuf {
    pub fn new(cap: usize, id: usize, log: &Log) -> Self {
        let len = cap.div_ceil(4096) * 4096;
        // SAFETY: an anonymous private mapping; no pointers passed in.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap");
        Self {
            ptr: ptr.cast(),
            cap,
            init: 0,
            id,
            log: log.clone(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable while `self` lives; `init` bytes were written.
        unsafe { std::slice::from_raw_parts(self.ptr, self.init) }
    }
}

impl Drop for GuardBuf {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(Event::Released { id: self.id });
        let len = self.cap.div_ceil(4096) * 4096;
        // SAFETY: our own mapping; it stays mapped (never reused), only inaccessible.
        let rc = unsafe { libc::mprotect(self.ptr.cast(), len, libc::PROT_NONE) };
        assert_eq!(rc, 0, "mprotect");
    }
}

// SAFETY: the mapping never moves and stays valid until drop (and mapped after it).
unsafe impl IoBuf for GuardBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as `IoBuf`; the mapping is writable until drop.
unsafe impl IoBufMut for GuardBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, len: usize) {
        self.init = len;
        let bytes = self.bytes().to_vec();
        self.log
            .lock()
            .unwrap()
            .push(Event::Filled { id: self.id, bytes });
    }
}
