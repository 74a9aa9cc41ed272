//! [`FileMailbox`]: registered files sent from one ring to another with
//! `IORING_OP_MSG_RING` (`IORING_MSG_SEND_FD`) — an acceptor hands a connection to another
//! thread's ring with no syscall of its own beyond the `io_uring_enter` it makes anyway.
//!
//! The receiving ring keeps the last slots of its file table for the mailbox: the kernel
//! installs each incoming file in a free one of them (`IORING_FILE_INDEX_ALLOC` within the
//! range set by `IORING_REGISTER_FILE_ALLOC_RANGE`), and the ring never hands those slots out
//! itself, so an incoming file never replaces a registration anyone holds (invariant 8). A
//! slot returns to the mailbox when its receiver unregisters the file.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::resources::Resources;
use crate::error::{Result, SaferRingError};
use crate::fd::RegisteredFd;
use crate::op::{Op, Operation, SendFile};
use crate::ring::{MsgTarget, Ring, RingId};

/// Where other rings send registered files to one ring: cheap to clone, `Send` and `Sync`.
/// Made by [`Ring::open_file_mailbox`]; used by [`Ring::send_file`] on another ring.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// use safer_ring::{File, Ring};
/// let receiver = Ring::new(8)?;
/// receiver.register_files(4)?;
/// let mailbox = receiver.open_file_mailbox(2)?;
/// let senders: Vec<_> = (0..2u8)
///     .map(|i| {
///         let mailbox = mailbox.clone(); // `Clone + Send`: one for each thread
///         std::thread::spawn(move || -> safer_ring::Result<()> {
///             let ring = Ring::new(4)?;
///             ring.register_files(1)?;
///             let file = File::from(tempfile::tempfile()?);
///             ring.write_at(&file, vec![b'0' + i], 0).submit()?.wait().0?;
///             let fixed = ring.register_file(&file)?;
///             ring.send_file(&fixed, &mailbox).submit()?.wait()
///         })
///     })
///     .collect();
/// let mut got = Vec::new();
/// for _ in 0..2 {
///     let arrival = receiver.timeout(Duration::from_secs(5), receiver.receive_file());
///     let file = receiver.block_on(arrival)?;
///     let (n, buf) = receiver.read_at(&file, Vec::with_capacity(1), 0).submit()?.wait();
///     got.extend_from_slice(&buf[..n?]);
/// }
/// for sender in senders {
///     sender.join().unwrap()?;
/// }
/// got.sort();
/// assert_eq!(got, b"01");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileMailbox {
    pub(crate) target: MsgTarget,
    pub(crate) ring: RingId,
}

impl std::fmt::Debug for FileMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMailbox")
            .field("ring", &self.ring)
            .finish()
    }
}

impl Ring {
    /// Opens this ring's mailbox for registered files other rings send
    /// ([`send_file`](Ring::send_file)): the last `slots` slots of the file table (from
    /// [`register_files`](Ring::register_files)) are kept for them. Receive with
    /// [`receive_file`](Ring::receive_file); a file's slot returns to the mailbox when it is
    /// unregistered. The table cannot be replaced while the mailbox is open.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::Ring;
    /// let (acceptor, worker) = (Ring::new(8)?, Ring::new(8)?);
    /// worker.register_files(16)?;
    /// let mailbox = worker.open_file_mailbox(8)?; // `Send`: give it to the other thread
    ///
    /// acceptor.register_files(4)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let file = acceptor.register_file(&reader)?;
    /// acceptor.send_file(&file, &mailbox).submit()?.wait()?;
    /// acceptor.unregister_file(&file)?; // the worker has its own reference now
    ///
    /// std::io::Write::write_all(&mut writer, b"hello")?;
    /// let received = worker.block_on(worker.receive_file());
    /// let (n, buf) = worker.read(&received, Vec::with_capacity(8)).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"hello");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`InvalidArgument`](SaferRingError::InvalidArgument) without a file table, with
    /// `slots` 0 or more than the table has, or if the mailbox is already open;
    /// [`InUse`](SaferRingError::InUse) if one of those slots holds a registration; the
    /// kernel's error otherwise (`IORING_REGISTER_FILE_ALLOC_RANGE` needs Linux 6.0).
    pub fn open_file_mailbox(&self, slots: u32) -> Result<FileMailbox> {
        let resources = Resources::of(self);
        let files = resources.files.borrow();
        let table = files
            .as_ref()
            .ok_or(SaferRingError::InvalidArgument("register_files first"))?;
        let target = self.msg_target()?;
        table.reserve_inbound(slots, |range| {
            self.registration(|kernel| kernel.register_file_alloc_range(range.start, slots))
                .map_err(|e| SaferRingError::os("open_file_mailbox", e))
        })?;
        Ok(FileMailbox {
            target,
            ring: self.id(),
        })
    }

    /// Sends the registered file `file` to the ring behind `to` (another ring, on any
    /// thread): the kernel installs it in a free slot of that ring's mailbox, where
    /// [`receive_file`](Ring::receive_file) picks it up. This ring's registration stays:
    /// unregister it when done with it (the receiver holds its own reference).
    ///
    /// The operation fails with the kernel's `ENFILE` when every mailbox slot holds a file
    /// its receiver has not unregistered yet, and with `InvalidArgument` when `to` is this
    /// ring's own mailbox.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring};
    /// let (sender, receiver) = (Ring::new(8)?, Ring::new(8)?);
    /// receiver.register_files(2)?;
    /// let mailbox = receiver.open_file_mailbox(1)?; // room for one
    /// sender.register_files(2)?;
    /// let (a, b) = (File::from(tempfile::tempfile()?), File::from(tempfile::tempfile()?));
    /// let (a, b) = (sender.register_file(&a)?, sender.register_file(&b)?);
    /// sender.send_file(&a, &mailbox).submit()?.wait()?;
    /// sender.unregister_file(&a)?; // the receiver has its own reference
    /// // The mailbox is full until the receiver unregisters what it got.
    /// let full = sender.send_file(&b, &mailbox).submit()?.wait().unwrap_err();
    /// assert_eq!(full.raw_os_error(), Some(libc::ENFILE));
    /// let got = receiver.block_on(receiver.receive_file());
    /// receiver.unregister_file(&got)?;
    /// sender.send_file(&b, &mailbox).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn send_file(&self, file: &RegisteredFd, to: &FileMailbox) -> Op<'_, SendFile> {
        Operation::build(self, SendFile::new(file, to.target.clone(), to.ring))
    }

    /// The next file another ring sent to this ring's mailbox, if one arrived.
    ///
    /// What arrived is seen once the ring has reaped the message ([`Ring::turn`], a wait, an
    /// executor turn).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring};
    /// let (sender, receiver) = (Ring::new(8)?, Ring::new(8)?);
    /// receiver.register_files(4)?;
    /// let mailbox = receiver.open_file_mailbox(2)?; // slots 2 and 3
    /// assert!(receiver.try_receive_file().is_none());
    /// sender.register_files(1)?;
    /// let fixed = sender.register_file(&File::from(tempfile::tempfile()?))?;
    /// sender.send_file(&fixed, &mailbox).submit()?.wait()?;
    /// receiver.turn(false)?; // reap the message
    /// let received = receiver.try_receive_file().expect("it was sent");
    /// assert!(received.index() >= 2, "a mailbox slot");
    /// receiver.fsync(&received).submit()?.wait()?;
    /// assert!(receiver.try_receive_file().is_none()); // one file, received once
    /// # Ok(()) }
    /// ```
    pub fn try_receive_file(&self) -> Option<RegisteredFd> {
        let index = self.poll_file_in(None)?;
        self.arrived(index)
    }

    /// Waits for the next file another ring sends to this ring's mailbox
    /// ([`open_file_mailbox`](Ring::open_file_mailbox) has an example). Bound it with
    /// [`Ring::timeout`] where the sender may never come.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{File, Ring};
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let worker = std::thread::spawn(move || -> safer_ring::Result<Vec<u8>> {
    ///     let ring = Ring::new(8)?;
    ///     ring.register_files(4)?;
    ///     tx.send(ring.open_file_mailbox(4)?).unwrap();
    ///     let file = ring.block_on(ring.timeout(Duration::from_secs(5), ring.receive_file()))?;
    ///     let (n, mut buf) = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?.wait();
    ///     buf.truncate(n?);
    ///     Ok(buf)
    /// });
    /// let mailbox = rx.recv().unwrap();
    /// let ring = Ring::new(8)?;
    /// ring.register_files(1)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"handed over".to_vec(), 0).submit()?.wait().0?;
    /// let fixed = ring.register_file(&file)?;
    /// ring.send_file(&fixed, &mailbox).submit()?.wait()?;
    /// assert_eq!(worker.join().unwrap()?, b"handed over");
    /// # Ok(()) }
    /// ```
    pub fn receive_file(&self) -> ReceiveFile<'_> {
        ReceiveFile { ring: self }
    }

    /// The handle to the file the kernel installed in slot `index` of the mailbox.
    fn arrived(&self, index: u32) -> Option<RegisteredFd> {
        let resources = Resources::of(self);
        let files = resources.files.borrow();
        files.as_ref()?.arrived(self.id(), index)
    }
}

/// The future of [`Ring::receive_file`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring};
/// let (sender, receiver) = (Ring::new(8)?, Ring::new(8)?);
/// receiver.register_files(2)?;
/// let mailbox = receiver.open_file_mailbox(1)?;
/// let arrival = receiver.receive_file(); // a future: nothing happens until it is polled
/// sender.register_files(1)?;
/// let fixed = sender.register_file(&File::from(tempfile::tempfile()?))?;
/// sender.send_file(&fixed, &mailbox).submit()?.wait()?;
/// let received = receiver.block_on(arrival);
/// assert_eq!(received.index(), 1); // the table's last slot: the mailbox's
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ReceiveFile<'ring> {
    ring: &'ring Ring,
}

impl Future for ReceiveFile<'_> {
    type Output = RegisteredFd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RegisteredFd> {
        loop {
            let Some(index) = self.ring.poll_file_in(Some(cx.waker())) else {
                return Poll::Pending;
            };
            if let Some(fd) = self.ring.arrived(index) {
                return Poll::Ready(fd);
            }
        }
    }
}
