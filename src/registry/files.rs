//! The ring's registered-file table with per-slot generations and use counts.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

use super::resources::Resources;
use crate::error::{Result, SaferRingError};
use crate::fd::{Claim, RegisteredFd};
use crate::ring::{Ring, RingId};

#[derive(Default)]
struct Slot {
    /// Bumped when the slot is emptied, so old handles become stale.
    generation: u64,
    registered: bool,
    /// In-flight operations using this slot (their [`Claim`]s).
    users: Rc<Cell<u32>>,
}

struct Table {
    epoch: u64,
    slots: Vec<Slot>,
    /// The slots kept for files other rings send here (a [`FileMailbox`](super::FileMailbox)):
    /// only the kernel fills them; `register_file` never picks one.
    inbound: Option<Range<u32>>,
}

/// The table.
pub(crate) struct FileTable(RefCell<Table>);

impl FileTable {
    fn new(capacity: u32, epoch: u64) -> Self {
        let slots = (0..capacity).map(|_| Slot::default()).collect();
        Self(RefCell::new(Table {
            epoch,
            slots,
            inbound: None,
        }))
    }

    fn check(&self, ring: RingId, fd: &RegisteredFd) -> Result<()> {
        if fd.ring != ring {
            return Err(SaferRingError::RingMismatch {
                what: "registered file",
            });
        }
        let table = self.0.borrow();
        match table.slots.get(fd.index as usize) {
            Some(slot)
                if table.epoch == fd.epoch
                    && slot.registered
                    && slot.generation == fd.generation =>
            {
                Ok(())
            }
            _ => Err(SaferRingError::Stale {
                what: "registered file",
            }),
        }
    }

    /// Claims the slot for one operation.
    pub fn acquire(&self, ring: RingId, fd: &RegisteredFd) -> Result<Claim> {
        self.check(ring, fd)?;
        let table = self.0.borrow();
        Ok(Claim::new(&table.slots[fd.index as usize].users, fd.index))
    }

    fn busy(&self) -> bool {
        self.0.borrow().slots.iter().any(|s| s.users.get() > 0)
    }

    /// Keeps the last `len` slots for incoming files (they must be empty and unused) if
    /// `apply` (which tells the kernel) succeeds.
    pub(super) fn reserve_inbound(
        &self,
        len: u32,
        apply: impl FnOnce(&Range<u32>) -> Result<()>,
    ) -> Result<()> {
        let mut table = self.0.borrow_mut();
        if table.inbound.is_some() {
            return Err(SaferRingError::InvalidArgument(
                "this ring's file mailbox is already open",
            ));
        }
        let end = table.slots.len() as u32;
        let start =
            end.checked_sub(len)
                .filter(|_| len > 0)
                .ok_or(SaferRingError::InvalidArgument(
                    "a mailbox needs 1 to capacity slots of the table",
                ))?;
        let taken = table.slots[start as usize..]
            .iter()
            .any(|s| s.registered || s.users.get() > 0);
        if taken {
            return Err(SaferRingError::InUse {
                what: "the table's last slots (wanted for the file mailbox)",
            });
        }
        apply(&(start..end))?;
        table.inbound = Some(start..end);
        Ok(())
    }

    /// Records that the kernel installed a file from another ring in `index`.
    pub(super) fn arrived(&self, ring: RingId, index: u32) -> Option<RegisteredFd> {
        let mut table = self.0.borrow_mut();
        let epoch = table.epoch;
        let slot = table.slots.get_mut(index as usize)?;
        slot.registered = true;
        Some(RegisteredFd {
            ring,
            epoch,
            index,
            generation: slot.generation,
        })
    }
}

/// The error of registering `bytes` of memory, pinned for the kernel (`what` names it): past
/// the locked-memory limit (`ENOMEM`), [`MemlockExceeded`](SaferRingError::MemlockExceeded)
/// with the sizes; otherwise the errno of `op`.
pub(crate) fn pin_err(
    op: &'static str,
    what: impl FnOnce() -> String,
    bytes: u64,
) -> impl FnOnce(std::io::Error) -> SaferRingError {
    move |e| match e.raw_os_error() {
        Some(libc::ENOMEM) => SaferRingError::MemlockExceeded {
            what: what(),
            bytes,
            limit: crate::sys::memlock_limit(),
        },
        _ => SaferRingError::os(op, e),
    }
}

impl Ring {
    /// Creates an empty (sparse) table of `capacity` registered-file slots.
    ///
    /// # Errors
    /// [`InUse`](SaferRingError::InUse) if a table exists and an operation uses it, or it
    /// has a [file mailbox](Ring::open_file_mailbox); the kernel's error otherwise. Replacing a table makes every old handle stale — also when
    /// the new registration then fails (the old table is gone either way).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring, SaferRingError};
    /// let ring = Ring::new(8)?;
    /// ring.register_files(2)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let old = ring.register_file(&file)?;
    /// ring.register_files(4)?; // a new, empty table
    /// let err = ring.fsync(&old).submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::Stale { .. }), "{err}");
    /// let new = ring.register_file(&file)?;
    /// ring.fsync(&new).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn register_files(&self, capacity: u32) -> Result<()> {
        let resources = Resources::of(self);
        let mut files = resources.files.borrow_mut();
        if files.as_ref().is_some_and(FileTable::busy) {
            return Err(SaferRingError::InUse {
                what: "registered file table",
            });
        }
        if files
            .as_ref()
            .is_some_and(|t| t.0.borrow().inbound.is_some())
        {
            // Other rings may be installing files in it right now.
            return Err(SaferRingError::InUse {
                what: "registered file table (it has a file mailbox)",
            });
        }
        // A new epoch before anything can fail: no handle of an earlier table can ever match
        // a later one (invariant 8).
        let epoch = resources.files_epoch.get() + 1;
        resources.files_epoch.set(epoch);
        if let Some(old) = files.take() {
            let unregistered = self.registration(|kernel| kernel.unregister_files());
            if let Err(e) = unregistered {
                *files = Some(old); // still registered: its handles stay valid
                return Err(SaferRingError::os("register_files", e));
            }
        }
        self.registration(|kernel| kernel.register_files_sparse(capacity))
            .map_err(|e| SaferRingError::os("register_files", e))?;
        *files = Some(FileTable::new(capacity, epoch));
        Ok(())
    }

    /// Registers `file` (a [`File`](crate::File), a socket, anything that owns an fd: `AsFd`,
    /// never a bare fd number, invariant 6) in a free slot of the table. The kernel takes its
    /// own reference to the open file: closing `file` later, even reusing its fd number for
    /// another file, does not change what the registration names.
    ///
    /// # Errors
    /// [`InvalidArgument`](SaferRingError::InvalidArgument) without a table or with a full
    /// one; the kernel's error otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::new(8)?;
    /// let file = tempfile::tempfile()?; // a `std::fs::File`: anything `AsFd`
    /// assert!(matches!(ring.register_file(&file), Err(SaferRingError::InvalidArgument(_))));
    /// ring.register_files(1)?;
    /// let fixed = ring.register_file(&file)?;
    /// // The table is full now.
    /// assert!(matches!(ring.register_file(&file), Err(SaferRingError::InvalidArgument(_))));
    /// drop(file); // the registration holds its own reference
    /// ring.write_at(&fixed, b"still open".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&fixed, Vec::with_capacity(16), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"still open");
    /// # Ok(()) }
    /// ```
    pub fn register_file(&self, file: &impl AsFd) -> Result<RegisteredFd> {
        let resources = Resources::of(self);
        let files = resources.files.borrow();
        let table = files
            .as_ref()
            .ok_or(SaferRingError::InvalidArgument("register_files first"))?;
        let mut inner = table.0.borrow_mut();
        let ours = inner
            .inbound
            .as_ref()
            .map_or(inner.slots.len(), |r| r.start as usize);
        let index = inner.slots[..ours]
            .iter()
            .position(|s| !s.registered && s.users.get() == 0)
            .ok_or(SaferRingError::InvalidArgument(
                "the registered file table is full",
            ))?;
        self.registration(|kernel| {
            kernel.register_files_update(index as u32, &[file.as_fd().as_raw_fd()])
        })
        .map_err(|e| SaferRingError::os("register_file", e))?;
        let epoch = inner.epoch;
        let slot = &mut inner.slots[index];
        slot.registered = true;
        Ok(RegisteredFd {
            ring: self.id(),
            epoch,
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Removes a file from the table. Every clone of `fd` becomes stale.
    ///
    /// # Errors
    /// [`InUse`](SaferRingError::InUse) while an operation uses the slot (refused, not
    /// deferred: retry after it completes); [`RingMismatch`](SaferRingError::RingMismatch)
    /// or [`Stale`](SaferRingError::Stale) for a handle this ring did not issue or already
    /// unregistered.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::new(8)?;
    /// ring.register_files(1)?;
    /// let (pipe, _writer) = std::io::pipe()?;
    /// let fixed = ring.register_file(&pipe)?;
    /// let read = ring.read(&fixed, vec![0; 8]).submit()?; // waits: nothing written
    /// assert!(matches!(ring.unregister_file(&fixed), Err(SaferRingError::InUse { .. })));
    /// assert!(read.cancel().wait().0.is_err()); // ECANCELED
    /// let clone = fixed.clone();
    /// ring.unregister_file(&fixed)?;
    /// let err = ring.read(&clone, vec![0; 8]).submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::Stale { .. }), "{err}");
    /// assert!(ring.unregister_file(&fixed).is_err()); // already gone
    /// ring.register_file(&pipe)?; // its slot is free again
    /// # Ok(()) }
    /// ```
    pub fn unregister_file(&self, fd: &RegisteredFd) -> Result<()> {
        self.update_idle_slot("unregister_file", fd, -1, |slot| slot.registered = false)
            .map(drop)
    }

    /// Replaces the file in `fd`'s slot with `file` (`register_files_update`). The old handle
    /// and its clones become stale; the returned one names the new registration.
    ///
    /// # Errors
    /// As [`unregister_file`](Ring::unregister_file): refused with
    /// [`InUse`](SaferRingError::InUse) while an operation uses the slot, so an in-flight
    /// operation never ends up acting on the replacement.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring};
    /// let ring = Ring::new(8)?;
    /// ring.register_files(1)?;
    /// let (a, b) = (File::from(tempfile::tempfile()?), File::from(tempfile::tempfile()?));
    /// ring.write_at(&b, b"b".to_vec(), 0).submit()?.wait().0?;
    /// let fixed_a = ring.register_file(&a)?;
    /// let fixed_b = ring.replace_file(&fixed_a, &b)?;
    /// assert_eq!(fixed_b.index(), fixed_a.index()); // the same slot
    /// let (n, buf) = ring.read_at(&fixed_b, Vec::with_capacity(4), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"b");
    /// // The old handle is stale: refused, never pointed at `b`.
    /// assert!(ring.read_at(&fixed_a, Vec::with_capacity(4), 0).submit().is_err());
    /// # Ok(()) }
    /// ```
    pub fn replace_file(&self, fd: &RegisteredFd, file: &impl AsFd) -> Result<RegisteredFd> {
        let generation =
            self.update_idle_slot("replace_file", fd, file.as_fd().as_raw_fd(), |_| ())?;
        Ok(RegisteredFd {
            ring: self.id(),
            epoch: fd.epoch,
            index: fd.index,
            generation,
        })
    }

    /// Points `fd`'s slot at `raw` (`-1` empties it) if no operation uses it, applies `edit`,
    /// and advances the slot's generation so every old handle goes stale. Returns the new
    /// generation. `op` (the method called) names its errors.
    fn update_idle_slot(
        &self,
        op: &'static str,
        fd: &RegisteredFd,
        raw: i32,
        edit: impl FnOnce(&mut Slot),
    ) -> Result<u64> {
        let resources = Resources::of(self);
        let files = resources.files.borrow();
        let table = files.as_ref().ok_or(SaferRingError::RingMismatch {
            what: "registered file",
        })?;
        table.check(self.id(), fd)?;
        let mut inner = table.0.borrow_mut();
        let slot = &mut inner.slots[fd.index as usize];
        if slot.users.get() > 0 {
            return Err(SaferRingError::InUse {
                what: "registered file",
            });
        }
        self.registration(|kernel| kernel.register_files_update(fd.index, &[raw]))
            .map_err(|e| SaferRingError::os(op, e))?;
        edit(slot);
        slot.generation += 1;
        Ok(slot.generation)
    }

    /// Claims a registered file for one operation (the use count lives until the guard drops).
    pub(crate) fn acquire_file(&self, fd: &RegisteredFd) -> Result<Claim> {
        match Resources::of(self).files.borrow().as_ref() {
            Some(table) => table.acquire(self.id(), fd),
            None => Err(SaferRingError::RingMismatch {
                what: "registered file",
            }),
        }
    }
}
