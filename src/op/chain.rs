//! [`Chain`]: a tuple of operations submitted together as consecutive SQEs — linked
//! (`IOSQE_IO_LINK`, `IOSQE_IO_HARDLINK`) or not — each owning its buffers, with one typed
//! result per entry.
#![allow(unsafe_code)]

use std::future::IntoFuture;
use std::task::{Poll, Waker};

use io_uring::squeue::{Entry, Flags};

use super::group::{self, Group, GroupFuture, InFlightGroup};
use super::landing::{Breaks, Landing, Link};
use super::{Op, OpCode};
use crate::error::{Result, SaferRingError, SubmitError};
use crate::ring::Ring;
use crate::ring::slots::SlotKey;

mod sealed {
    pub trait Sealed {}
}

/// Operations a [`Chain`] can hold: tuples of 1 to 8 building operations of one ring.
/// Sealed: the SQEs of a chain are pushed by this crate only.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::op::{Chain, Entries};
/// let ring = safer_ring::Ring::new(16)?;
/// fn submit_and_wait<'r, E: Entries<'r>>(chain: Chain<'r, E>) -> safer_ring::Result<E::Output> {
///     Ok(chain.submit()?.wait())
/// }
/// let (one,) = submit_and_wait(ring.chain((ring.nop(),)))?; // a 1-tuple
/// one?;
/// let eight = submit_and_wait(ring.chain((
///     ring.nop(), ring.nop(), ring.nop(), ring.nop(),
///     ring.nop(), ring.nop(), ring.nop(), ring.nop(),
/// )))?;
/// assert!(eight.7.is_ok()); // one output per entry, in order
/// # Ok(()) }
/// ```
pub trait Entries<'ring>: sealed::Sealed + Sized {
    /// One output per entry, in order (for buffer operations, `(result, buffer)`).
    type Output;
    #[doc(hidden)]
    type InFlight: InFlight<Output = Self::Output>;
    #[doc(hidden)]
    type Sqes: AsMut<[Entry]>;
    #[doc(hidden)]
    type Keys: AsMut<[SlotKey]> + AsRef<[SlotKey]> + Default;
    #[doc(hidden)]
    fn on_ring(&self, ring: &Ring) -> bool;
    #[doc(hidden)]
    fn check(&mut self) -> Result<(), (usize, SaferRingError)>;
    #[doc(hidden)]
    fn before_submit(&mut self);
    #[doc(hidden)]
    fn sqes(&mut self, link: Flags) -> Self::Sqes;
    #[doc(hidden)]
    fn into_flight(self, keys: &Self::Keys) -> Self::InFlight;
    #[doc(hidden)]
    fn fail(self, at: usize, error: SaferRingError) -> Self::Output;
}

/// The entries of a submitted chain (tuples of [`Landing`]s). Sealed.
#[doc(hidden)]
pub trait InFlight: sealed::Sealed {
    type Output;
    const LEN: usize;
    fn land(&mut self, i: usize, waker: Option<&Waker>, breaks: &mut Breaks, link: Link) -> bool;
    fn key(&self, i: usize) -> Option<SlotKey>;
    fn outputs(&mut self) -> Self::Output;
}

macro_rules! tuple_chain {
    ($len:literal: $($T:ident . $i:tt),+) => {
        impl<'ring, $($T: OpCode),+> sealed::Sealed for ($(Op<'ring, $T>,)+) {}
        impl<'ring, $($T: OpCode),+> sealed::Sealed for ($(Landing<'ring, $T>,)+) {}

        impl<'ring, $($T: OpCode),+> Entries<'ring> for ($(Op<'ring, $T>,)+) {
            type Output = ($($T::Output,)+);
            type InFlight = ($(Landing<'ring, $T>,)+);
            type Sqes = [Entry; $len];
            type Keys = [SlotKey; $len];

            fn on_ring(&self, ring: &Ring) -> bool {
                true $(&& std::ptr::eq(self.$i.ring(), ring))+
            }

            fn check(&mut self) -> Result<(), (usize, SaferRingError)> {
                $(self.$i.check().map_err(|e| ($i, e))?;)+
                Ok(())
            }

            fn before_submit(&mut self) {
                $(self.$i.before_submit();)+
            }

            fn sqes(&mut self, link: Flags) -> [Entry; $len] {
                [$(self.$i.sqe(if $i + 1 < $len { link } else { Flags::empty() })),+]
            }

            fn into_flight(self, keys: &[SlotKey; $len]) -> Self::InFlight {
                ($(Landing::Flying(self.$i.into_submitted(keys[$i])),)+)
            }

            fn fail(self, at: usize, error: SaferRingError) -> Self::Output {
                let mut error = Some(error);
                ($({
                    let op = self.$i.name();
                    self.$i.fail(match error.take_if(|_| $i == at) {
                        Some(error) => error,
                        None => SaferRingError::CancelledByChain { op, failed_entry: at },
                    })
                },)+)
            }
        }

        impl<'ring, $($T: OpCode),+> InFlight for ($(Landing<'ring, $T>,)+) {
            type Output = ($($T::Output,)+);
            const LEN: usize = $len;

            fn land(&mut self, i: usize, waker: Option<&Waker>, breaks: &mut Breaks, link: Link)
                -> bool {
                match i {
                    $($i => self.$i.land(waker, |cqe, op| breaks.verdict(link, ($i, ($i as usize).saturating_sub(1)), op, cqe)),)+
                    _ => unreachable!("a chain of {} entries has no entry {i}", $len),
                }
            }

            fn key(&self, i: usize) -> Option<SlotKey> {
                match i {
                    $($i => self.$i.key(),)+
                    _ => None,
                }
            }

            fn outputs(&mut self) -> Self::Output {
                ($(self.$i.take(),)+)
            }
        }
    };
}

tuple_chain!(1: A.0);
tuple_chain!(2: A.0, B.1);
tuple_chain!(3: A.0, B.1, C.2);
tuple_chain!(4: A.0, B.1, C.2, D.3);
tuple_chain!(5: A.0, B.1, C.2, D.3, E.4);
tuple_chain!(6: A.0, B.1, C.2, D.3, E.4, F.5);
tuple_chain!(7: A.0, B.1, C.2, D.3, E.4, F.5, G.6);
tuple_chain!(8: A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);

/// Operations submitted together: consecutive SQEs reaching the kernel in one
/// `io_uring_enter`, linked ([`Link::Soft`], the default, or [`Link::Hard`]) or not
/// ([`Link::None`]). Each entry owns its buffers; the output is a tuple with each entry's own
/// typed output. Built by [`Ring::chain`].
///
/// In a soft chain an entry that fails (or transfers fewer bytes than asked) cancels the rest:
/// they report [`CancelledByChain`](SaferRingError::CancelledByChain) naming the entry that
/// broke the chain, with their buffers back. Dropping a submitted chain mid-flight cancels it
/// and parks every buffer until its own final CQE (invariant 3).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// // Write, then read back what was written: the read starts only after the write is done.
/// let chain = ring.chain((
///     ring.write_at(&file, b"linked".to_vec(), 0),
///     ring.read_at(&file, Vec::with_capacity(6), 0),
/// ));
/// let ((wrote, _), (read, buf)) = chain.submit()?.wait();
/// assert_eq!((wrote?, read?), (6, 6));
/// assert_eq!(buf, b"linked");
/// # Ok(()) }
/// ```
#[must_use = "a chain does nothing until submitted or awaited"]
pub struct Chain<'ring, E> {
    ring: &'ring Ring,
    entries: E,
    link: Link,
    /// The entry that was refused, for [`SubmitError::into_output`].
    refused: usize,
}

impl<E> std::fmt::Debug for Chain<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("entries", &std::any::type_name::<E>())
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// A soft-linked chain of up to 8 operations of this ring (see [`Chain`]); change the
    /// links with [`Chain::link`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// // Write, sync, then read back: each starts when the one before it succeeded.
    /// let ((w, _), sync, (r, buf)) = ring
    ///     .chain((
    ///         ring.write_at(&file, b"chained".to_vec(), 0),
    ///         ring.fsync(&file),
    ///         ring.read_at(&file, Vec::with_capacity(7), 0),
    ///     ))
    ///     .submit()?
    ///     .wait();
    /// assert_eq!((w?, sync?, &buf[..r?]), (7, (), &b"chained"[..]));
    /// # Ok(()) }
    /// ```
    pub fn chain<'ring, E: Entries<'ring>>(&'ring self, entries: E) -> Chain<'ring, E> {
        Chain {
            ring: self,
            entries,
            link: Link::Soft,
            refused: 0,
        }
    }
}

impl<'ring, E: Entries<'ring>> Chain<'ring, E> {
    /// Sets how the entries are linked (builder option): [`Link::Soft`] by default.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, SaferRingError, op::Link};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let tmp = tempfile::NamedTempFile::new()?;
    /// let read_only = File::from(std::fs::File::open(tmp.path())?);
    /// // Soft (the default): the failed write cancels the nop after it.
    /// let ((w, _), nop) = ring
    ///     .chain((ring.write_at(&read_only, b"x".to_vec(), 0), ring.nop()))
    ///     .submit()?
    ///     .wait();
    /// assert_eq!(w.unwrap_err().raw_os_error(), Some(libc::EBADF));
    /// assert!(matches!(nop, Err(SaferRingError::CancelledByChain { failed_entry: 0, .. })));
    /// // Hard: the nop runs whatever the write did.
    /// let ((w, _), nop) = ring
    ///     .chain((ring.write_at(&read_only, b"x".to_vec(), 0), ring.nop()))
    ///     .link(Link::Hard)
    ///     .submit()?
    ///     .wait();
    /// assert!(w.is_err() && nop.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }

    /// Queues every entry, in order, as consecutive SQEs (flushing first if the submission
    /// queue could not take them all, never between two of them).
    ///
    /// # Errors
    /// The chain comes back whole inside [`SubmitError`] if an entry was refused (its index
    /// is in [`SubmitError::into_output`]: that entry gets the error, the others
    /// `CancelledByChain`), an entry belongs to another ring, or the ring has no room for all
    /// of them now ([`SlotTableFull`](SaferRingError::SlotTableFull)).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::builder().max_in_flight(2).build()?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let waiting = ring.read(&reader, vec![0u8; 8]).submit()?; // takes one of the two
    /// let chain = ring.chain((
    ///     ring.write_at(&file, b"x".to_vec(), 0),
    ///     ring.read_at(&file, Vec::with_capacity(1), 0),
    /// ));
    /// let err = chain.submit().unwrap_err(); // all or nothing: no room for both
    /// assert!(matches!(err.error(), SaferRingError::SlotTableFull { .. }));
    /// let chain = err.into_inner(); // the chain comes back whole
    /// let (res, _) = waiting.cancel().wait();
    /// assert!(res.is_err());
    /// let ((w, _), (r, buf)) = chain.submit()?.wait(); // room now
    /// assert_eq!((w?, r?, buf), (1, 1, b"x".to_vec()));
    /// # Ok(()) }
    /// ```
    pub fn submit(mut self) -> Result<ChainInFlight<'ring, E>, SubmitError<Self>> {
        let ring = self.ring;
        if !self.entries.on_ring(ring) {
            let error = SaferRingError::RingMismatch {
                what: "an entry of the chain",
            };
            return Err(SubmitError::new(error, self));
        }
        if let Err((at, error)) = self.entries.check() {
            self.refused = at;
            return Err(SubmitError::new(error, self));
        }
        // User code (buffer hooks) runs before any SQE of the chain is queued (invariant 11).
        self.entries.before_submit();
        let mut sqes = self.entries.sqes(self.link.flag());
        let mut keys = E::Keys::default();
        // Every SQE was built by its entry's `OpCode::sqe`: it names only memory and fds that
        // entry owns (the `OpCode` contract). `push_group` runs no user code and queues all of
        // them or none; on success each entry moves at once into a `Submitted` state, which
        // keeps it until its final CQE (dropped: parked in its slot; forgotten: leaked).
        // SAFETY: invariants 1, 2, 6 (memory and fds owned by the entries), 3, 4, 11.
        match unsafe { ring.push_group(sqes.as_mut(), keys.as_mut()) } {
            Ok(()) => {
                let flight = ChainInFlight {
                    ring,
                    flight: self.entries.into_flight(&keys),
                    next: 0,
                    breaks: Breaks::default(),
                    link: self.link,
                };
                ring.sqes_queued(); // user code: every entry is owned by now
                Ok(flight)
            }
            Err(error) => Err(SubmitError::new(error, self)),
        }
    }
}

impl<'ring, E: Entries<'ring>> SubmitError<Chain<'ring, E>> {
    /// Every entry's output as if the chain had run and the refused entry had failed with
    /// this error: that entry gets the error, the others `CancelledByChain`; every buffer
    /// comes back.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let no_buffers: Vec<Vec<u8>> = Vec::new(); // refused: vectored I/O needs one
    /// let chain = ring.chain((
    ///     ring.write_at(&file, b"kept".to_vec(), 0),
    ///     ring.readv_at(&file, no_buffers, 0),
    /// ));
    /// let ((w, buf), (r, _)) = chain.submit().unwrap_err().into_output();
    /// assert!(matches!(r, Err(SaferRingError::InvalidArgument(_))));
    /// assert!(matches!(w, Err(SaferRingError::CancelledByChain { failed_entry: 1, .. })));
    /// assert_eq!(buf, b"kept"); // never written, handed back
    /// # Ok(()) }
    /// ```
    pub fn into_output(self) -> E::Output {
        let (error, chain) = self.into_parts();
        chain.entries.fail(chain.refused, error)
    }
}

/// A submitted [`Chain`]: [`wait`](Self::wait) for it or `.await` it. Dropping it mid-flight
/// cancels every entry still in the kernel; their buffers stay parked in their slots until
/// each one's final CQE.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let (reader, _writer) = std::io::pipe()?; // stays empty
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let chain = ring.chain((ring.read(&reader, vec![0u8; 8]), ring.nop())).submit()?;
/// // Cancel the chain; every entry completes, the read hands its buffer back.
/// let ((read, buf), nop) = chain.cancel().wait();
/// assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
/// assert_eq!(buf.len(), 8);
/// assert!(nop.is_err()); // never ran: the soft link broke
/// # Ok(()) }
/// ```
#[must_use = "dropping a submitted chain cancels it"]
pub struct ChainInFlight<'ring, E: Entries<'ring>> {
    ring: &'ring Ring,
    flight: E::InFlight,
    /// Entries before this one have landed (CQEs are taken in order: what broke a chain
    /// is known by the time the entries it cancelled are taken).
    next: usize,
    breaks: Breaks,
    link: Link,
}

impl<'ring, E: Entries<'ring>> ChainInFlight<'ring, E> {
    /// Blocks the thread until every entry completed; returns their outputs.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let in_flight = ring
    ///     .chain((ring.read(&reader, Vec::with_capacity(4)), ring.nop()))
    ///     .submit()?;
    /// writer.write_all(b"ping")?; // the read completes, then the nop runs
    /// let ((n, buf), nop) = in_flight.wait();
    /// assert_eq!((n?, &buf[..], nop?), (4, &b"ping"[..], ()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// If `io_uring_enter` fails for a reason other than an interruption (a broken ring).
    pub fn wait(self) -> E::Output {
        group::wait(self, "a chain")
    }

    /// The entries, still in flight, to be landed by another group type (a timed operation).
    pub(super) fn into_landings(self) -> E::InFlight {
        self.flight
    }

    /// Cancels every entry still in the kernel (in a soft chain the rest follow by link);
    /// [`wait`](Self::wait) or `.await` then hands back what each entry did.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let (reader, _writer) = std::io::pipe()?; // stays empty: the read would wait forever
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let chain = ring.chain((
    ///     ring.read(&reader, Vec::with_capacity(8)),
    ///     ring.write_at(&file, b"after".to_vec(), 0),
    /// ));
    /// let ((read, _), (write, buf)) = chain.submit()?.cancel().wait();
    /// assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    /// assert!(matches!(write, Err(SaferRingError::CancelledByChain { failed_entry: 0, .. })));
    /// assert_eq!(buf, b"after");
    /// assert!(ring.statx_file(&file).submit()?.wait()?.is_empty()); // the write never ran
    /// # Ok(()) }
    /// ```
    pub fn cancel(self) -> Self {
        for i in self.next..E::InFlight::LEN {
            if let Some(key) = self.flight.key(i) {
                self.ring.cancel_op(key);
            }
        }
        self
    }
}

impl<'ring, E: Entries<'ring>> std::fmt::Debug for ChainInFlight<'ring, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainInFlight")
            .field("landed", &self.next)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The future of a [`Chain`] (or of a submitted one): `.await` it, or run it with
/// [`Ring::block_on`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::future::IntoFuture;
/// use safer_ring::op::{ChainFuture, Nop};
/// use safer_ring::op::Op;
/// let ring = safer_ring::Ring::new(8)?;
/// let future: ChainFuture<'_, (Op<'_, Nop>, Op<'_, Nop>)> =
///     ring.chain((ring.nop(), ring.nop())).into_future(); // submits when first polled
/// let (a, b) = ring.block_on(future);
/// assert!(a.is_ok() && b.is_ok());
/// # Ok(()) }
/// ```
pub type ChainFuture<'ring, E> = GroupFuture<'ring, Chain<'ring, E>>;

impl<'ring, E: Entries<'ring>> Group<'ring> for Chain<'ring, E> {
    type InFlight = ChainInFlight<'ring, E>;
    type Output = E::Output;

    fn ring(&self) -> &'ring Ring {
        self.ring
    }

    fn submit_group(self) -> Result<Self::InFlight, SubmitError<Self>> {
        self.submit()
    }

    fn refused(err: SubmitError<Self>) -> E::Output {
        err.into_output()
    }
}

impl<'ring, E: Entries<'ring>> InFlightGroup<'ring> for ChainInFlight<'ring, E> {
    type Output = E::Output;

    fn ring(&self) -> &'ring Ring {
        self.ring
    }

    /// Takes every entry's CQE that arrived, in order; ready once all have.
    fn poll_land(&mut self, waker: Option<&Waker>) -> Poll<E::Output> {
        while self.next < E::InFlight::LEN {
            if !self
                .flight
                .land(self.next, waker, &mut self.breaks, self.link)
            {
                return Poll::Pending;
            }
            self.next += 1;
        }
        Poll::Ready(self.flight.outputs())
    }
}

impl<'ring, E: Entries<'ring>> IntoFuture for Chain<'ring, E> {
    type Output = E::Output;
    type IntoFuture = ChainFuture<'ring, E>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::building(self)
    }
}

impl<'ring, E: Entries<'ring>> IntoFuture for ChainInFlight<'ring, E> {
    type Output = E::Output;
    type IntoFuture = ChainFuture<'ring, E>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::in_flight(self)
    }
}
