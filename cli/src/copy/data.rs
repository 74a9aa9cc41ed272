//! Moving a file's bytes through the ring.
//!
//! Regular files: their data extents (holes are skipped) in chunks of one pipe's size, each
//! chunk a linked pair of splices — source → pipe, pipe → destination — so the bytes never
//! pass through user memory (one copy in the kernel, like `cp`'s `copy_file_range`), with
//! [`PIPES`] pairs in flight. Without the splice opcode, or where a filesystem refuses to
//! splice, a read/write loop through a buffer. Other sources (FIFOs, `/proc`, devices):
//! read to their end, whatever their size says.

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use safer_ring::{File, Ring, SaferRingError};

use super::sparse::{self, Extent};
use crate::{Failure, progress::Progress};

/// Splice pipelines in flight (measured: 4 is as fast as 8 on a 1 GiB copy, 2 is slower).
const PIPES: usize = 4;
/// The pipe size asked for (the chunk of one splice pair); the default limit for non-root.
const PIPE_SIZE: usize = 1 << 20;
/// The buffer of the read/write paths.
const BUF_SIZE: usize = 1 << 20;

/// The two ends of a copy, for error messages.
#[derive(Clone, Copy)]
pub struct Ends<'a> {
    /// The source, as the user named it.
    pub src: &'a Path,
    /// The destination, as the user will find it.
    pub dst: &'a Path,
}

impl Ends<'_> {
    /// "copy: reading SRC at offset N: error".
    pub fn reading(&self, offset: u64, err: SaferRingError) -> Failure {
        let err = std::io::Error::from(err);
        Failure::Failed(format!(
            "copy: reading {} at offset {offset}: {err}",
            self.src.display()
        ))
    }

    /// "copy: writing DST at offset N: error".
    pub fn writing(&self, offset: u64, err: SaferRingError) -> Failure {
        let err = std::io::Error::from(err);
        Failure::Failed(format!(
            "copy: writing {} at offset {offset}: {err}",
            self.dst.display()
        ))
    }
}

/// Copies `len` bytes of the regular file `src` into the empty `dst`, keeping holes; sets
/// `dst`'s length to `len`. Returns the bytes of data copied.
pub async fn regular(
    ring: &Ring,
    (src, dst): (&File, &File),
    len: u64,
    ends: Ends<'_>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let std_src = src
        .try_clone_std()
        .map_err(|e| Failure::io("copy: duplicating", ends.src, e))?;
    let extents = sparse::data_extents(&std_src, len);
    let copied = match can_splice(ring) {
        true => match spliced(ring, (src, dst), &extents, ends, progress).await {
            Err(Spliced::Refused) => buffered(ring, (src, dst), &extents, ends, progress).await,
            Err(Spliced::Failed(f)) => Err(f),
            Ok(n) => Ok(n),
        },
        false => buffered(ring, (src, dst), &extents, ends, progress).await,
    }?;
    let std_dst = dst
        .try_clone_std()
        .map_err(|e| Failure::io("copy: duplicating", ends.dst, e))?;
    std_dst
        .set_len(len)
        .map_err(|e| Failure::io("copy: setting the length of", ends.dst, e))?;
    Ok(copied)
}

/// Hands out `(offset, length)` chunks of at most `size` bytes over the extents.
struct Chunks<'a> {
    extents: &'a [Extent],
    next: Cell<(usize, u64)>,
    size: u64,
}

impl<'a> Chunks<'a> {
    fn new(extents: &'a [Extent], size: u64) -> Self {
        Self {
            extents,
            next: Cell::new((0, 0)),
            size,
        }
    }

    fn claim(&self) -> Option<(u64, u64)> {
        let (i, done) = self.next.get();
        let &(start, len) = self.extents.get(i)?;
        let n = (len - done).min(self.size);
        let next = if done + n == len {
            (i + 1, 0)
        } else {
            (i, done + n)
        };
        self.next.set(next);
        Some((start + done, n))
    }

    /// Hands out nothing more (after an error).
    fn stop(&self) {
        self.next.set((self.extents.len(), 0));
    }
}

/// Why the splice path ended early.
enum Spliced {
    /// The kernel refused to splice these files (`EINVAL`): nothing is lost, use buffers.
    Refused,
    /// A real failure.
    Failed(Failure),
}

/// A pipe for splicing, as ring files.
pub struct Pipe {
    rx: File,
    tx: File,
    size: u64,
}

impl Pipe {
    /// A pipe of [`PIPE_SIZE`] (`large`) or of the default 64 KiB. Many large pipes would
    /// pass the per-user soft limit of pipe pages, after which the kernel makes new pipes
    /// tiny: the tree copy's many workers take default ones.
    pub fn new(large: bool) -> std::io::Result<Self> {
        let (rx, tx) = std::io::pipe()?;
        let asked = if large {
            // SAFETY: fcntl(F_SETPIPE_SZ) takes an int and touches no memory of ours; the fd
            // is open (owned by `tx`). It returns the new size; a refusal (-1) keeps the
            // default.
            unsafe { libc::fcntl(tx.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as i32) }
        } else {
            -1
        };
        // The default pipe size is 64 KiB (16 pages).
        let size = if asked > 0 { asked } else { 1 << 16 };
        Ok(Self {
            rx: File::from(OwnedFd::from(rx)),
            tx: File::from(OwnedFd::from(tx)),
            size: u64::try_from(size).unwrap_or(4096).max(4096),
        })
    }
}

/// The splice path: [`PIPES`] workers, each with its own pipe.
async fn spliced(
    ring: &Ring,
    files: (&File, &File),
    extents: &[Extent],
    ends: Ends<'_>,
    progress: &Progress,
) -> Result<u64, Spliced> {
    let pipes: Vec<Pipe> = (0..PIPES)
        .map(|_| Pipe::new(true))
        .collect::<Result<_, _>>()
        .map_err(|e| Spliced::Failed(Failure::Failed(format!("copy: creating a pipe: {e}"))))?;
    let chunks = Chunks::new(extents, pipes[0].size);
    let workers = pipes.iter().map(|pipe| async {
        let mut copied = 0;
        while let Some((offset, len)) = chunks.claim() {
            match splice_chunk(ring, pipe, files, (offset, len), ends).await {
                Ok(n) => {
                    copied += n;
                    progress.add(n);
                }
                Err(e) => {
                    chunks.stop();
                    return Err(e);
                }
            }
        }
        Ok(copied)
    });
    let results = futures::future::join_all(workers).await;
    results.into_iter().sum()
}

/// Copies the first `len` bytes of the regular file `src` into the empty `dst` through
/// `pipe` (one linked splice pair when they fit in it): one copy in the kernel, none through
/// user memory. `None` when the kernel refuses to splice these files (nothing was written:
/// use buffers).
pub async fn splice_whole(
    ring: &Ring,
    pipe: &Pipe,
    files: (&File, &File),
    len: u64,
    ends: Ends<'_>,
) -> Option<Result<u64, Failure>> {
    match splice_chunk(ring, pipe, files, (0, len), ends).await {
        Ok(n) => Some(Ok(n)),
        Err(Spliced::Refused) => None,
        Err(Spliced::Failed(f)) => Some(Err(f)),
    }
}

/// Whether `ring`'s kernel has the splice opcode.
pub fn can_splice(ring: &Ring) -> bool {
    ring.opcodes()
        .contains(safer_ring::io_uring::opcode::Splice::CODE)
}

/// Splices one chunk through `pipe`; returns its bytes (fewer if the source ended early).
async fn splice_chunk(
    ring: &Ring,
    pipe: &Pipe,
    (src, dst): (&File, &File),
    (mut offset, mut len): (u64, u64),
    ends: Ends<'_>,
) -> Result<u64, Spliced> {
    let mut copied = 0;
    while len > 0 {
        let want = u32::try_from(len).unwrap_or(u32::MAX);
        let (read, wrote) = ring
            .chain((
                ring.splice(src, Some(offset), &pipe.tx, None, want),
                ring.splice(&pipe.rx, None, dst, Some(offset), want),
            ))
            .await;
        let n = match read {
            Ok(0) => break, // the source is shorter than it was
            Ok(n) => n as u64,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && copied == 0 => {
                return Err(Spliced::Refused);
            }
            Err(e) => return Err(Spliced::Failed(ends.reading(offset, e))),
        };
        let written = match wrote {
            Ok(m) => m as u64,
            Err(SaferRingError::CancelledByChain { .. }) => 0, // the read came up short
            Err(e) => return Err(Spliced::Failed(ends.writing(offset, e))),
        };
        drain(ring, pipe, dst, (offset + written, n - written), ends).await?;
        (offset, len, copied) = (offset + n, len - n, copied + n);
    }
    Ok(copied)
}

/// Splices the `len` bytes left in the pipe to `dst` at `offset`.
async fn drain(
    ring: &Ring,
    pipe: &Pipe,
    dst: &File,
    (mut offset, mut len): (u64, u64),
    ends: Ends<'_>,
) -> Result<(), Spliced> {
    while len > 0 {
        let want = u32::try_from(len).unwrap_or(u32::MAX);
        let n = ring
            .splice(&pipe.rx, None, dst, Some(offset), want)
            .await
            .map_err(|e| Spliced::Failed(ends.writing(offset, e)))? as u64;
        (offset, len) = (offset + n, len - n);
    }
    Ok(())
}

/// The buffered path for regular files: one buffer, extent by extent.
async fn buffered(
    ring: &Ring,
    (src, dst): (&File, &File),
    extents: &[Extent],
    ends: Ends<'_>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let chunks = Chunks::new(extents, BUF_SIZE as u64);
    let mut copied = 0;
    while let Some((mut offset, mut len)) = chunks.claim() {
        while len > 0 {
            // Exactly `len` bytes of room: a read past the extent would fill a hole.
            let buf = Vec::with_capacity(len as usize);
            let (read, buf) = ring.read_at(src, buf, offset).await;
            let n = read.map_err(|e| ends.reading(offset, e))? as u64;
            if n == 0 {
                return Ok(copied); // the source is shorter than it was
            }
            let (wrote, _) = ring.write_all_at(dst, buf, offset).await;
            wrote.map_err(|e| ends.writing(offset, e))?;
            (offset, len, copied) = (offset + n, len - n, copied + n);
            progress.add(n);
        }
    }
    Ok(copied)
}

/// Reads `src` (a FIFO, a `/proc` file, a device) to its end, appending to `dst`.
pub async fn stream(
    ring: &Ring,
    (src, dst): (&File, &File),
    ends: Ends<'_>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let mut buf = Vec::with_capacity(BUF_SIZE);
    let mut offset = 0;
    // No check for SIGINT here: the handler removes the temporary and exits even while this
    // waits in a read (a FIFO that sends nothing).
    loop {
        buf.clear();
        let (read, back) = ring.read(src, buf).await;
        let n = read.map_err(|e| ends.reading(offset, e))? as u64;
        if n == 0 {
            return Ok(offset);
        }
        let (wrote, back) = ring.write_all_at(dst, back, offset).await;
        wrote.map_err(|e| ends.writing(offset, e))?;
        buf = back;
        offset += n;
        progress.add(n);
    }
}
