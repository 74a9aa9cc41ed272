//! Guard buffers: memory of their own pages that, when "freed", is filled with a poison
//! pattern and kept mapped instead of going back to the allocator. If any path released a
//! buffer before the kernel was done with it, the kernel's later write lands in the poisoned
//! pages: [`written_after_release`] finds it, and the bytes it took are missing from the
//! model checks of the tests that use these buffers.

use std::sync::{Arc, Mutex};

use safer_ring::{IoBuf, IoBufMut};

/// What happened to guard buffers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The kernel filled buffer `id` with these bytes (logged when the result was processed).
    Filled { id: usize, bytes: Vec<u8> },
    /// Buffer `id` was released: its `len` bytes at `at` hold [`POISON`] and stay mapped.
    Released { id: usize, at: usize, len: usize },
}

/// What a released buffer's bytes hold until the process exits.
pub const POISON: u8 = 0xA5;

/// The shared event log.
pub type Log = Arc<Mutex<Vec<Event>>>;

pub struct GuardBuf {
    ptr: *mut u8,
    cap: usize,
    init: usize,
    id: usize,
    log: Log,
    bomb: Option<Hook>,
}

/// A hook of the buffer traits that panics ("… bomb"), the contract otherwise met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `on_taken`, run when an operation takes the buffer, before its SQE is queued.
    Taken,
    /// `set_init`, run after the final CQE (the fill is logged first).
    Filled,
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
            bomb: None,
        }
    }

    /// The same buffer, with `hook` panicking.
    pub fn with_bomb(mut self, hook: Hook) -> Self {
        self.bomb = Some(hook);
        self
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable while `self` lives; `init` bytes were written.
        unsafe { std::slice::from_raw_parts(self.ptr, self.init) }
    }
}

impl Drop for GuardBuf {
    fn drop(&mut self) {
        // SAFETY: our own mapping, writable, `cap` bytes long; it stays mapped (never reused).
        unsafe { std::ptr::write_bytes(self.ptr, POISON, self.cap) };
        self.log.lock().unwrap().push(Event::Released {
            id: self.id,
            at: self.ptr as usize,
            len: self.cap,
        });
    }
}

/// The first released buffer whose bytes are no longer all [`POISON`]: something (the
/// kernel) wrote into it after it was released.
pub fn written_after_release(events: &[Event]) -> Option<usize> {
    events.iter().find_map(|event| match *event {
        Event::Released { id, at, len } => {
            // SAFETY: released guard buffers stay mapped and readable for the process's life.
            let bytes = unsafe { std::slice::from_raw_parts(at as *const u8, len) };
            bytes.iter().any(|&b| b != POISON).then_some(id)
        }
        Event::Filled { .. } => None,
    })
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
        if self.bomb == Some(Hook::Filled) {
            panic!("fill hook bomb");
        }
    }
    fn on_taken(&mut self) {
        if self.bomb == Some(Hook::Taken) {
            panic!("taken hook bomb");
        }
    }
}
