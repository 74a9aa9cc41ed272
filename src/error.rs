//! [`SaferRingError`]: every way an operation or the ring can fail, worded so a person can act.
//!
//! What a person reads is the same whichever way the error is printed: `Display`, and `Debug`
//! too (what `fn main() -> Result<..>` and `unwrap` print), which puts the variant's name in
//! front of the same text.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Result alias used throughout the crate.
///
/// # Examples
///
/// ```
/// fn first_byte(ring: &safer_ring::Ring, file: &safer_ring::File) -> safer_ring::Result<u8> {
///     let (n, buf) = ring.read_at(file, Vec::with_capacity(1), 0).submit()?.wait();
///     n?;
///     buf.first().copied().ok_or(safer_ring::SaferRingError::InvalidArgument("empty file"))
/// }
/// # fn main() -> safer_ring::Result<()> {
/// # let ring = safer_ring::Ring::new(4)?;
/// # let file = safer_ring::File::from(tempfile::tempfile()?);
/// # ring.write_at(&file, b"x".to_vec(), 0).submit()?.wait().0?;
/// # assert_eq!(first_byte(&ring, &file)?, b'x');
/// # Ok(()) }
/// ```
pub type Result<T, E = SaferRingError> = std::result::Result<T, E>;

/// Why io_uring itself cannot be used on this machine.
///
/// `Debug` prints the advice too (`NotPermitted: io_uring is not permitted (EPERM): ...`).
///
/// # Examples
///
/// ```
/// use safer_ring::{Ring, SaferRingError, Unavailable};
/// match Ring::builder().backend(safer_ring::BackendMode::IoUring).build() {
///     Ok(_ring) => {} // io_uring works here
///     Err(SaferRingError::Unavailable(why)) => eprintln!("no io_uring: {why}"),
///     Err(other) => panic!("{other}"),
/// }
/// let advice = Unavailable::NotPermitted.to_string();
/// assert!(advice.contains("kernel.io_uring_disabled"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// `ENOSYS`: the kernel has no io_uring (older than 5.1, or built without it).
    KernelLacksIoUring,
    /// `EPERM`: a seccomp profile (default container profiles) or
    /// `sysctl kernel.io_uring_disabled` forbids it.
    NotPermitted,
    /// `ENOMEM`: the rings could not be locked in memory (`RLIMIT_MEMLOCK`, kernels < 5.12).
    MemlockTooLow,
}

impl Unavailable {
    fn name(self) -> &'static str {
        match self {
            Self::KernelLacksIoUring => "KernelLacksIoUring",
            Self::NotPermitted => "NotPermitted",
            Self::MemlockTooLow => "MemlockTooLow",
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KernelLacksIoUring => {
                "the kernel does not support io_uring (ENOSYS): Linux 5.1 or newer with \
                 CONFIG_IO_URING is required"
            }
            Self::NotPermitted => {
                "io_uring is not permitted (EPERM): check `sysctl kernel.io_uring_disabled` \
                 (must be 0, or 1 with your group in kernel.io_uring_group) and the seccomp \
                 profile of your container (docker/podman default profiles block io_uring_setup)"
            }
            Self::MemlockTooLow => {
                "not enough locked memory for the rings (ENOMEM): raise RLIMIT_MEMLOCK, e.g. \
                 `ulimit -l unlimited` or `LimitMEMLOCK=infinity` in a systemd unit, or use \
                 fewer ring entries"
            }
        })
    }
}

impl fmt::Debug for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {self}", self.name())
    }
}

/// What an OS error concerns: the path or address the operation was given
/// ([`SaferRingError::subject`]).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{error::Subject, OpenOptions, Ring};
/// let ring = Ring::new(4)?;
/// let err = ring.open("/no/such/file", OpenOptions::new()).submit()?.wait().unwrap_err();
/// assert_eq!(err.subject(), Some(&Subject::Path("/no/such/file".into())));
/// assert!(err.to_string().starts_with(r#"open "/no/such/file" failed"#), "{err}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// A filesystem path (opened, stat'ed, bound or connected to).
    Path(PathBuf),
    /// A socket address (bound, connected or sent to).
    Addr(SocketAddr),
}

impl From<SocketAddr> for Subject {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

impl From<&std::path::Path> for Subject {
    fn from(path: &std::path::Path) -> Self {
        Self::Path(path.to_owned())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Quoted (and escaped), so spaces and odd bytes in a name stay visible.
            Self::Path(path) => write!(f, "{path:?}"),
            Self::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

/// What to do about an errno whose usual cause is known, appended to the message.
fn advice(errno: Option<i32>) -> Option<&'static str> {
    match errno? {
        libc::EADDRINUSE => Some("address in use: another socket holds it"),
        libc::EADDRNOTAVAIL => Some("address not available on this machine"),
        libc::EMFILE | libc::ENFILE => Some("too many open files: raise ulimit -n"),
        _ => None,
    }
}

/// `bytes` in the largest binary unit that keeps it whole (`4 MiB`, `65 KiB`, `100 B`).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes;
    let mut unit = 0;
    while unit + 1 < UNITS.len() && value >= 1024 && value.is_multiple_of(1024) {
        value /= 1024;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

/// The limit part of [`SaferRingError::MemlockExceeded`]'s message.
fn memlock_text(limit: Option<u64>) -> String {
    match limit {
        Some(bytes) => format!("RLIMIT_MEMLOCK {}", human_bytes(bytes)),
        None => "RLIMIT_MEMLOCK".to_owned(),
    }
}

/// The subject part of [`SaferRingError::Os`]'s message: ` "path"`, ` 1.2.3.4:80` or nothing.
fn subject_text(subject: Option<&Subject>) -> String {
    subject.map(|s| format!(" {s}")).unwrap_or_default()
}

/// The advice part of [`SaferRingError::Os`]'s message, if the errno has one.
fn advice_text(source: &io::Error) -> String {
    advice(source.raw_os_error())
        .map(|a| format!(" ({a})"))
        .unwrap_or_default()
}

/// An error from the ring or from one of its operations.
///
/// Every variant says what failed and, where there is one, what to do about it; an OS error
/// names the operation as the method you called (`read_at`, `connect`) and the path or
/// address it concerns. `Debug` shows the same text after the variant's name, so
/// `fn main() -> Result<(), SaferRingError>` and `unwrap` print something a person can act
/// on. It converts to and from [`io::Error`], so `?` works in functions returning either; an
/// OS error converts back to the original `io::Error` with its errno (and kind).
///
/// ```
/// use safer_ring::SaferRingError;
/// let err = SaferRingError::os("read_at", std::io::Error::from_raw_os_error(libc::EBADF));
/// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
/// assert!(err.to_string().starts_with("read_at failed"));
/// assert!(format!("{err:?}").starts_with("Os: read_at failed: Bad file descriptor"));
/// let io: std::io::Error = err.into();
/// assert_eq!(io.raw_os_error(), Some(libc::EBADF));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SaferRingError {
    /// The kernel (or a system call made for the operation) failed with an errno.
    #[error(
        "{op}{} failed: {source}{}",
        subject_text(.subject.as_deref()),
        advice_text(.source)
    )]
    Os {
        /// The operation that failed, as the method called (`"read_at"`, `"open"`,
        /// `"connect"`, `"io_uring_enter"`, ...).
        op: &'static str,
        /// The errno.
        #[source]
        source: io::Error,
        /// The path or address the operation concerns, if it was given one.
        subject: Option<Box<Subject>>,
    },
    /// io_uring cannot be used here at all.
    #[error("io_uring is unavailable: {0}")]
    Unavailable(Unavailable),
    /// Registering memory with the kernel (a buffer pool, a provided-buffer ring) failed:
    /// it would pass the locked-memory limit, which pinned pages count against.
    #[error(
        "{what} ({}) does not fit in the locked-memory limit ({}, shared with all memory \
         this user has locked): raise it, e.g. `ulimit -l unlimited`, \
         `LimitMEMLOCK=infinity` in a systemd unit or `--ulimit memlock=-1` for docker, or \
         register less",
        human_bytes(*.bytes),
        memlock_text(*.limit)
    )]
    MemlockExceeded {
        /// What was being registered, with its shape (`"the buffer pool of 64 × 64 KiB"`).
        what: String,
        /// How much memory the registration pins.
        bytes: u64,
        /// The soft `RLIMIT_MEMLOCK` when it failed, in bytes (`None`: unlimited or unknown).
        limit: Option<u64>,
    },
    /// The submission queue stayed full even after flushing it to the kernel.
    #[error(
        "the submission queue is full and the kernel did not accept more entries; \
         reap completions (wait on or drop operations) and retry"
    )]
    SubmissionQueueFull,
    /// The ring's in-flight limit ([`RingBuilder::max_in_flight`](crate::RingBuilder::max_in_flight))
    /// is reached: as many operations as it allows are already in the kernel.
    #[error(
        "{in_flight} operations are already in flight (limit {limit}, the ring's in-flight \
         limit): complete some first, or raise it with RingBuilder::max_in_flight"
    )]
    SlotTableFull {
        /// Operations the kernel currently holds.
        in_flight: usize,
        /// The ring's limit.
        limit: usize,
    },
    /// A buffer, file or registered resource is still used by an in-flight operation.
    #[error("{what} is still in use by an in-flight operation; retry after it completes")]
    InUse {
        /// What is busy.
        what: &'static str,
    },
    /// An argument the kernel would reject, caught before submission.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Two settings of a ring, or a setting and an operation, that cannot go together.
    #[error("{first} cannot be combined with {second}: {why}")]
    Conflict {
        /// The first setting (`"sqpoll"`, `"iopoll"`).
        first: &'static str,
        /// The second setting, or the operation refused (`"defer_taskrun"`, `"accept"`).
        second: &'static str,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A size larger than the kernel allows, refused rather than silently cut down.
    #[error("{option} = {requested} is more than the kernel allows (at most {max})")]
    TooLarge {
        /// The setting (`"entries"`, `"cq_entries"`).
        option: &'static str,
        /// What was asked for.
        requested: u64,
        /// The kernel's maximum.
        max: u64,
    },
    /// A resource registered with one ring was used with another.
    #[error("{what} belongs to a different ring than the one it was used with")]
    RingMismatch {
        /// What was mismatched.
        what: &'static str,
    },
    /// A handle to a registered resource that was unregistered or replaced since.
    #[error("{what} handle is stale: the registration it names was removed or replaced")]
    Stale {
        /// What was stale.
        what: &'static str,
    },
    /// The kernel does not support this operation (probe says no).
    #[error("{op} is not supported by this kernel")]
    Unsupported {
        /// The unsupported operation.
        op: &'static str,
    },
    /// An entry of a linked chain (or a batch entry that ran after another) did not run
    /// because an entry before it failed or came up short: `failed_entry` is that entry's
    /// index, whose own result says what happened.
    #[error(
        "{op} did not run: entry {failed_entry} of its chain failed or came up short \
         (see that entry's result)"
    )]
    CancelledByChain {
        /// The operation that did not run.
        op: &'static str,
        /// Index of the entry that broke the chain.
        failed_entry: usize,
    },
    /// The operation's timeout fired first; the kernel cancelled it (nothing was transferred)
    /// and handed back its buffers.
    #[error("{op} timed out")]
    TimedOut {
        /// The operation that timed out.
        op: &'static str,
    },
}

/// The variant's name, then the same text as `Display`: what `unwrap` and
/// `fn main() -> Result` print must say what to do.
impl fmt::Debug for SaferRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "Unavailable({}): {self}", why.name()),
            _ => write!(f, "{}: {self}", self.variant()),
        }
    }
}

impl SaferRingError {
    /// An OS error reported for `op`.
    ///
    /// ```
    /// use safer_ring::SaferRingError;
    /// let err = SaferRingError::os("open", std::io::Error::from_raw_os_error(libc::ENOENT));
    /// assert!(matches!(err, SaferRingError::Os { op: "open", .. }));
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// assert!(err.to_string().starts_with("open failed: No such file or directory"), "{err}");
    /// assert!(err.subject().is_none());
    /// ```
    pub fn os(op: &'static str, source: io::Error) -> Self {
        Self::Os {
            op,
            source,
            subject: None,
        }
    }

    /// The same error, saying which path or address it concerns (OS errors only; any other
    /// error comes back unchanged).
    ///
    /// ```
    /// use safer_ring::{error::Subject, SaferRingError};
    /// let err = SaferRingError::os("bind", std::io::Error::from_raw_os_error(libc::EADDRINUSE))
    ///     .concerning(Subject::Addr("127.0.0.1:80".parse().unwrap()));
    /// assert!(err.to_string().starts_with("bind 127.0.0.1:80 failed: Address already in use"));
    /// assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    /// ```
    pub fn concerning(self, what: Subject) -> Self {
        match self {
            Self::Os { op, source, .. } => Self::Os {
                op,
                source,
                subject: Some(Box::new(what)),
            },
            other => other,
        }
    }

    /// The path or address this error concerns, if it names one (see [`concerning`]).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{error::Subject, Ring};
    /// let ring = Ring::new(4)?;
    /// let addr = "127.0.0.1:1".parse().unwrap(); // nobody listens on port 1
    /// let err = ring.connect(addr).submit()?.wait().unwrap_err();
    /// assert_eq!(err.subject(), Some(&Subject::Addr(addr)));
    /// # Ok(()) }
    /// ```
    ///
    /// [`concerning`]: Self::concerning
    pub fn subject(&self) -> Option<&Subject> {
        match self {
            Self::Os { subject, .. } => subject.as_deref(),
            _ => None,
        }
    }

    /// Maps a negative CQE result (`-errno`) for `op`.
    pub(crate) fn from_cqe(op: &'static str, res: i32) -> Self {
        Self::os(op, io::Error::from_raw_os_error(-res))
    }

    /// Classifies a failed `io_uring_setup`.
    pub(crate) fn from_setup(err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOSYS) => Self::Unavailable(Unavailable::KernelLacksIoUring),
            Some(libc::EPERM) => Self::Unavailable(Unavailable::NotPermitted),
            Some(libc::ENOMEM) => Self::Unavailable(Unavailable::MemlockTooLow),
            _ => Self::os("io_uring_setup", err),
        }
    }

    /// The errno behind this error, if it came from the OS.
    ///
    /// Errors caught before the kernel saw anything map to the errno the kernel would have given.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use safer_ring::{File, Ring};
    /// let ring = Ring::new(4)?;
    /// let tmp = tempfile::NamedTempFile::new()?;
    /// let write_only = File::from(std::fs::OpenOptions::new().write(true).open(tmp.path())?);
    /// let (res, _buf) = ring.read_at(&write_only, Vec::with_capacity(8), 0).submit()?.wait();
    /// assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF)); // from the kernel
    /// let too_large = Ring::new(u32::MAX).unwrap_err(); // refused before io_uring_setup
    /// assert_eq!(too_large.raw_os_error(), Some(libc::EINVAL));
    /// # Ok(()) }
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Os { source, .. } => source.raw_os_error(),
            Self::Unavailable(Unavailable::KernelLacksIoUring) => Some(libc::ENOSYS),
            Self::Unavailable(Unavailable::NotPermitted) => Some(libc::EPERM),
            Self::Unavailable(Unavailable::MemlockTooLow) | Self::MemlockExceeded { .. } => {
                Some(libc::ENOMEM)
            }
            Self::SubmissionQueueFull | Self::SlotTableFull { .. } => Some(libc::EBUSY),
            Self::InUse { .. } => Some(libc::EBUSY),
            Self::InvalidArgument(_)
            | Self::RingMismatch { .. }
            | Self::Conflict { .. }
            | Self::TooLarge { .. } => Some(libc::EINVAL),
            Self::Stale { .. } => Some(libc::EBADF),
            Self::Unsupported { .. } => Some(libc::EOPNOTSUPP),
            Self::CancelledByChain { .. } => Some(libc::ECANCELED),
            Self::TimedOut { .. } => Some(libc::ETIMEDOUT),
        }
    }

    /// The variant's name, for `Debug`.
    fn variant(&self) -> &'static str {
        match self {
            Self::Os { .. } => "Os",
            Self::Unavailable(_) => "Unavailable",
            Self::MemlockExceeded { .. } => "MemlockExceeded",
            Self::SubmissionQueueFull => "SubmissionQueueFull",
            Self::SlotTableFull { .. } => "SlotTableFull",
            Self::InUse { .. } => "InUse",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::Conflict { .. } => "Conflict",
            Self::TooLarge { .. } => "TooLarge",
            Self::RingMismatch { .. } => "RingMismatch",
            Self::Stale { .. } => "Stale",
            Self::Unsupported { .. } => "Unsupported",
            Self::CancelledByChain { .. } => "CancelledByChain",
            Self::TimedOut { .. } => "TimedOut",
        }
    }

    fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::Os { source, .. } => source.kind(),
            Self::Unavailable(Unavailable::NotPermitted) => io::ErrorKind::PermissionDenied,
            Self::Unavailable(Unavailable::MemlockTooLow) | Self::MemlockExceeded { .. } => {
                io::ErrorKind::OutOfMemory
            }
            Self::Unavailable(_) | Self::Unsupported { .. } => io::ErrorKind::Unsupported,
            Self::SubmissionQueueFull | Self::SlotTableFull { .. } => io::ErrorKind::WouldBlock,
            Self::InUse { .. } => io::ErrorKind::ResourceBusy,
            Self::InvalidArgument(_)
            | Self::RingMismatch { .. }
            | Self::Conflict { .. }
            | Self::TooLarge { .. } => io::ErrorKind::InvalidInput,
            Self::Stale { .. } => io::ErrorKind::NotFound,
            // Not `Interrupted`: std's loops retry that, and this entry must not be retried blindly.
            Self::CancelledByChain { .. } => io::ErrorKind::Other,
            Self::TimedOut { .. } => io::ErrorKind::TimedOut,
        }
    }
}

impl From<io::Error> for SaferRingError {
    /// An `io::Error` made from a `SaferRingError` (see below) gives it back whole; any other
    /// is an OS error of the operation `"io"`.
    fn from(source: io::Error) -> Self {
        if !source.get_ref().is_some_and(|e| e.is::<Self>()) {
            return Self::os("io", source);
        }
        let inner = source.into_inner().expect("checked: a custom error");
        *inner.downcast::<Self>().expect("checked: a SaferRingError")
    }
}

impl From<SaferRingError> for io::Error {
    /// An OS error becomes its errno again (callers match on it: `raw_os_error`, `kind`);
    /// the operation's name and subject are the price. Any other error is wrapped whole,
    /// with the [`io::ErrorKind`] that fits it, and comes back whole through `From`.
    fn from(err: SaferRingError) -> Self {
        match err {
            SaferRingError::Os { source, .. } => source,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}

/// An operation that could not be submitted, handed back whole with the reason.
///
/// Nothing is lost: [`into_inner`](Self::into_inner) returns the operation with its buffer,
/// ready to retry. Converts into [`SaferRingError`], `io::Error` and `Box<dyn Error>`
/// (dropping the operation), so `?` works in functions returning any of them.
///
/// ```
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let ring = safer_ring::Ring::new(4)?;
///     ring.nop().submit()?.wait()?;
///     Ok(())
/// }
/// ```
pub struct SubmitError<T> {
    error: SaferRingError,
    op: T,
}

impl<T> SubmitError<T> {
    pub(crate) fn new(error: SaferRingError, op: T) -> Self {
        Self { error, op }
    }

    /// Why submission failed.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::builder().max_in_flight(1).build()?;
    /// let _timer = ring.sleep(Duration::from_secs(10)).submit()?; // takes the only slot
    /// let refused = ring.nop().submit().unwrap_err();
    /// assert!(
    ///     matches!(refused.error(), SaferRingError::SlotTableFull { in_flight: 1, limit: 1 }),
    ///     "{refused}"
    /// );
    /// # Ok(()) }
    /// ```
    pub fn error(&self) -> &SaferRingError {
        &self.error
    }

    /// The operation, unchanged, to retry or to take its buffer back.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{File, Ring};
    /// let ring = Ring::builder().max_in_flight(1).build()?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let timer = ring.sleep(Duration::from_secs(10)).submit()?; // takes the only slot
    /// let refused = ring.write_at(&file, b"kept".to_vec(), 0).submit().unwrap_err();
    /// // Make room, then retry the very same operation, buffer and all.
    /// assert!(timer.cancel().wait().is_err()); // ECANCELED
    /// let (n, buf) = refused.into_inner().submit()?.wait();
    /// assert_eq!(n?, 4);
    /// assert_eq!(buf, b"kept");
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> T {
        self.op
    }

    /// Both parts.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{File, Ring, SaferRingError};
    /// let ring = Ring::builder().max_in_flight(1).build()?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let timer = ring.sleep(Duration::from_secs(10)).submit()?; // takes the only slot
    /// let refused = ring.write_at(&file, b"data".to_vec(), 0).submit().unwrap_err();
    /// let (error, op) = refused.into_parts();
    /// assert!(matches!(error, SaferRingError::SlotTableFull { .. }), "{error}");
    /// // Back-pressure, not a failure: `io::ErrorKind::WouldBlock` says "retry".
    /// assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::WouldBlock);
    /// assert!(timer.cancel().wait().is_err()); // make room
    /// let (n, _buf) = op.submit()?.wait();
    /// assert_eq!(n?, 4);
    /// # Ok(()) }
    /// ```
    pub fn into_parts(self) -> (SaferRingError, T) {
        (self.error, self.op)
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "submission failed: {}", self.error)
    }
}

// `SubmitError` deliberately does not implement `Error`: the operation inside borrows its
// ring, so `?` into `Box<dyn Error>` would demand `'static`. These conversions keep the
// reason and drop the operation, so `?` works in `main() -> Result<(), Box<dyn Error>>`.
impl<'a, T> From<SubmitError<T>> for Box<dyn std::error::Error + 'a> {
    fn from(err: SubmitError<T>) -> Self {
        Box::new(err.error)
    }
}

impl<'a, T> From<SubmitError<T>> for Box<dyn std::error::Error + Send + Sync + 'a> {
    fn from(err: SubmitError<T>) -> Self {
        Box::new(err.error)
    }
}

impl<T> From<SubmitError<T>> for SaferRingError {
    fn from(err: SubmitError<T>) -> Self {
        err.error
    }
}

impl<T> From<SubmitError<T>> for io::Error {
    fn from(err: SubmitError<T>) -> Self {
        err.error.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_errors_are_classified_with_advice() {
        let enosys = SaferRingError::from_setup(io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(matches!(
            enosys,
            SaferRingError::Unavailable(Unavailable::KernelLacksIoUring)
        ));
        assert!(enosys.to_string().contains("5.1"));
        let eperm = SaferRingError::from_setup(io::Error::from_raw_os_error(libc::EPERM));
        assert!(eperm.to_string().contains("io_uring_disabled"));
        assert!(eperm.to_string().contains("seccomp"));
        let enomem = SaferRingError::from_setup(io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(enomem.to_string().contains("ulimit -l"));
        let other = SaferRingError::from_setup(io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(other.raw_os_error(), Some(libc::EINVAL));
        assert!(other.to_string().starts_with("io_uring_setup failed"));
    }

    #[test]
    fn io_error_round_trip_keeps_errno_and_kind() {
        let err: SaferRingError = io::Error::from_raw_os_error(libc::ENOENT).into();
        let back: io::Error = err.into();
        assert_eq!(back.raw_os_error(), Some(libc::ENOENT));
        let busy: io::Error = SaferRingError::InUse { what: "file" }.into();
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        let full: io::Error = SaferRingError::SlotTableFull {
            in_flight: 8,
            limit: 8,
        }
        .into();
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
        assert!(full.to_string().contains("limit 8"));
    }

    #[test]
    fn debug_is_the_variant_then_the_display_text() {
        let err = SaferRingError::os("bind", io::Error::from_raw_os_error(libc::EADDRINUSE))
            .concerning(Subject::Addr(([127, 0, 0, 1], 80).into()));
        assert_eq!(
            format!("{err:?}"),
            "Os: bind 127.0.0.1:80 failed: Address already in use (os error 98) \
             (address in use: another socket holds it)"
        );
        let err = SaferRingError::Unavailable(Unavailable::NotPermitted);
        assert_eq!(
            format!("{err:?}"),
            format!("Unavailable(NotPermitted): {err}")
        );
        // A subject sticks to OS errors only.
        let other = SaferRingError::InUse { what: "file" }.concerning(Subject::Path("/x".into()));
        assert_eq!(other.subject(), None);
    }

    #[test]
    fn sizes_read_in_the_largest_whole_unit() {
        assert_eq!(human_bytes(4 << 20), "4 MiB");
        assert_eq!(human_bytes(65_536), "64 KiB");
        assert_eq!(human_bytes(1_500), "1500 B");
        assert_eq!(human_bytes(3 << 40), "3072 GiB");
    }

    #[test]
    fn submit_error_hands_the_operation_back() {
        let err = SubmitError::new(SaferRingError::SubmissionQueueFull, vec![1u8, 2, 3]);
        assert!(err.to_string().contains("submission queue is full"));
        let (error, buf) = err.into_parts();
        assert_eq!(buf, vec![1, 2, 3]);
        assert!(matches!(error, SaferRingError::SubmissionQueueFull));
    }
}
