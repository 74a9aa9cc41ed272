//! The registry's state in a ring: everything registered with it, one set per ring, kept by
//! the ring as one of its layers (dropped after its shutdown drain, leaked if the drain timed
//! out, so registered memory outlives the kernel's use of it: invariants 5 and 8).
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::buffers::BufferTable;
use super::files::FileTable;
use crate::buf::BufRingInner;
use crate::ring::Ring;

/// See the module docs.
#[derive(Default)]
pub(crate) struct Resources {
    /// The registered-file table, if any.
    pub files: RefCell<Option<FileTable>>,
    /// How many file tables were registered before (every table starts a new epoch).
    pub files_epoch: Cell<u64>,
    /// The registered buffer pool, if any.
    pub buffers: RefCell<Option<BufferTable>>,
    /// Provided-buffer rings registered with the ring (kept alive while it lives).
    pub buf_rings: RefCell<Vec<Rc<BufRingInner>>>,
    /// The group id of the next buffer ring.
    pub next_bgid: Cell<u16>,
}

impl Resources {
    /// `ring`'s resource set (empty until something is registered).
    #[inline]
    pub fn of(ring: &Ring) -> Rc<Self> {
        ring.layer_or_init(Self::default)
    }
}
