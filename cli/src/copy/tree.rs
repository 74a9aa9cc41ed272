//! `copy -r`: a tree, all or nothing, with many files in flight on the ring at once.
//!
//! The source is walked first (`readdir`; file types from the directory entries, no `stat`
//! per file); the directories and symlinks are made under a temporary directory next to the
//! destination; then [`JOBS`] workers per ring copy the files, each `openat` → `openat`
//! (create) → a linked pair of splices through the worker's pipe (source → pipe →
//! destination: one copy in the kernel, as `cp`'s `copy_file_range`, where a read and a
//! write would copy twice through user memory) → `close` on the ring, so [`JOBS`] files'
//! operations are in flight together. Directory modes (and with `--preserve` owners and times) are set last,
//! deepest first, and the temporary directory is renamed to the destination: the tree
//! appears whole or not at all.
//!
//! Symlinks are copied as symlinks (never followed); hard links become separate files;
//! FIFOs, sockets and devices are skipped with a warning.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use safer_ring::{File, OpenOptions, Ring};

use super::data::{self, Ends, Pipe};
use super::file::{finish, ring_failure};
use super::meta::Meta;
use super::tempfile::Temp;
use super::{CopyArgs, Totals};
use crate::{Failure, progress::Progress};

/// Files copied at once on each ring.
const JOBS: usize = 64;
/// The most threads (one ring each).
const THREADS: usize = 4;
/// Files up to this size are copied with one read and one write through a buffer.
const SMALL: u64 = 256 << 10;

/// What the walk found, by path relative to the source root.
#[derive(Default)]
struct Plan {
    /// Directories, parents before children (the root is not listed).
    dirs: Vec<PathBuf>,
    files: Vec<Entry>,
    links: Vec<PathBuf>,
}

/// A file to copy: its path under the root, its size and metadata when walked.
struct Entry {
    rel: PathBuf,
    len: u64,
    /// Fewer blocks than its length needs: it has holes, which the sparse-aware path keeps.
    sparse: bool,
    meta: Meta,
}

/// Copies the tree `src` to `dst`, which must not exist.
pub fn copy(ring: &Ring, src: &Path, dst: &Path, args: &CopyArgs) -> Result<Totals, Failure> {
    refuse(src, dst)?;
    let plan = walk(src)?;
    set_umask_zero();
    let temp = Temp::dir(dst)?;
    let root = temp.path().to_owned();
    make_dirs_and_links(&plan, src, &root)?;
    let progress = Progress::files(plan.files.len() as u64, args.quiet);
    let totals = copy_files(ring, &plan.files, (src, &root, dst), args, &progress);
    progress.finish();
    let totals = totals?;
    finish_dirs(&plan.dirs, src, &root, args.preserve)?;
    temp.commit()?;
    Ok(totals)
}

/// Refuses an existing destination (no merging) and a destination inside the source.
fn refuse(src: &Path, dst: &Path) -> Result<(), Failure> {
    if std::fs::symlink_metadata(dst).is_ok() {
        return Err(Failure::Failed(format!(
            "copy: {} already exists; -r copies a tree only to a new name (it does not merge)",
            dst.display()
        )));
    }
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (Ok(src_abs), Ok(parent_abs)) = (std::fs::canonicalize(src), std::fs::canonicalize(parent))
    else {
        return Ok(()); // a missing parent fails with its own message when the copy starts
    };
    if parent_abs.starts_with(&src_abs) {
        return Err(Failure::Failed(format!(
            "copy: {} is inside {}: a tree cannot be copied into itself",
            dst.display(),
            src.display()
        )));
    }
    Ok(())
}

/// Walks `src`, classifying each entry by the type its directory entry names.
fn walk(src: &Path) -> Result<Plan, Failure> {
    let mut plan = Plan::default();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = src.join(&rel);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Failure::io("copy: reading the directory", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Failure::io("copy: reading the directory", &dir, e))?;
            let path = rel.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| Failure::io("copy: reading the type of", &src.join(&path), e))?;
            if kind.is_dir() {
                plan.dirs.push(path.clone());
                pending.push(path);
            } else if kind.is_file() {
                let meta = entry.metadata().map_err(|e| {
                    Failure::io("copy: reading the metadata of", &src.join(&path), e)
                })?;
                plan.files.push(Entry {
                    rel: path,
                    len: meta.len(),
                    sparse: std::os::unix::fs::MetadataExt::blocks(&meta) * 512 < meta.len(),
                    meta: Meta::from_std(&meta),
                });
            } else if kind.is_symlink() {
                plan.links.push(path);
            } else {
                eprintln!(
                    "safer-ring: copy: skipping {} (not a file, directory or symlink)",
                    src.join(&path).display()
                );
            }
        }
    }
    Ok(plan)
}

/// Files are created with their source's exact mode: no umask in the way.
fn set_umask_zero() {
    // SAFETY: umask only sets the process's file-creation mask; no memory is involved.
    unsafe { libc::umask(0) };
}

/// Makes the directories (0700 while they fill) and the symlinks under `root`.
fn make_dirs_and_links(plan: &Plan, src: &Path, root: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    for rel in &plan.dirs {
        let dir = root.join(rel);
        builder
            .create(&dir)
            .map_err(|e| Failure::io("copy: creating the directory", &dir, e))?;
    }
    for rel in &plan.links {
        let from = src.join(rel);
        let target = std::fs::read_link(&from)
            .map_err(|e| Failure::io("copy: reading the symlink", &from, e))?;
        let link = root.join(rel);
        std::os::unix::fs::symlink(&target, &link)
            .map_err(|e| Failure::io("copy: creating the symlink", &link, e))?;
    }
    Ok(())
}

/// The files, shared by every worker of every thread, cut into one contiguous segment per
/// thread: files of one directory sit together in the walk's order, so threads working on
/// their own segments create files in different directories and do not contend for a
/// directory's lock. A thread done with its segment helps with the others.
struct Queue<'a> {
    files: &'a [Entry],
    /// Per segment: the next index to hand out, and the segment's end.
    segments: Vec<(AtomicUsize, usize)>,
}

impl<'a> Queue<'a> {
    fn new(files: &'a [Entry], segments: usize) -> Self {
        let size = files.len().div_ceil(segments.max(1));
        let segments = (0..segments)
            .map(|i| {
                (
                    AtomicUsize::new(i * size),
                    ((i + 1) * size).min(files.len()),
                )
            })
            .collect();
        Self { files, segments }
    }

    /// The next file nobody took yet, from segment `home` first.
    fn claim(&self, home: usize) -> Option<&'a Entry> {
        let n = self.segments.len();
        (0..n).find_map(|k| {
            let (next, end) = &self.segments[(home + k) % n];
            let i = next.fetch_add(1, Ordering::Relaxed);
            (i < *end).then(|| &self.files[i])
        })
    }

    /// Hands out nothing more (after a failure or SIGINT).
    fn stop(&self) {
        for (next, end) in &self.segments {
            next.store(*end, Ordering::Relaxed);
        }
    }
}

/// Copies every file: one thread per core (up to [`THREADS`]), each with its own ring and
/// [`JOBS`] workers on it. The first failure stops them all.
fn copy_files(
    ring: &Ring,
    files: &[Entry],
    roots: (&Path, &Path, &Path),
    args: &CopyArgs,
    progress: &Progress,
) -> Result<Totals, Failure> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(THREADS));
    let queue = Queue::new(files, threads);
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|home| {
                let queue = &queue;
                scope.spawn(move || {
                    let ring = Ring::builder()
                        .entries(256)
                        .build()
                        .map_err(Failure::ring)?;
                    ring.block_on(copy_on_ring(&ring, (queue, home), roots, args, progress))
                })
            })
            .collect();
        let mine = ring.block_on(copy_on_ring(ring, (&queue, 0), roots, args, progress));
        let theirs = others
            .into_iter()
            .map(|t| t.join().expect("a copy thread panicked"));
        [mine].into_iter().chain(theirs).sum()
    })
}

/// [`JOBS`] workers on `ring` copying files from `queue` (segment `home` first) until it is
/// empty.
async fn copy_on_ring(
    ring: &Ring,
    (queue, home): (&Queue<'_>, usize),
    roots: (&Path, &Path, &Path),
    args: &CopyArgs,
    progress: &Progress,
) -> Result<Totals, Failure> {
    let workers = (0..JOBS).map(|_| async {
        let mut totals = Totals::default();
        let mut buf = Vec::with_capacity(SMALL as usize + 1);
        // Without one (out of fds, or no splice opcode), small files go through `buf`.
        let pipe = data::can_splice(ring)
            .then(|| Pipe::new(false).ok())
            .flatten();
        while let Some(entry) = queue.claim(home) {
            if crate::interrupt::interrupted() {
                queue.stop();
                return Err(Failure::Interrupted("interrupted".into()));
            }
            let copied;
            (copied, buf) = copy_one(ring, entry, roots, (buf, pipe.as_ref()), args).await;
            match copied {
                Ok(bytes) => totals = totals + Totals { bytes, files: 1 },
                Err(e) => {
                    queue.stop();
                    return Err(e);
                }
            }
            progress.add(1);
        }
        Ok(totals)
    });
    futures::future::join_all(workers).await.into_iter().sum()
}

/// Copies one file from the source root to the temporary root, small ones through `pipe`,
/// or through `buf` (handed back) where the kernel cannot splice them. Errors name the file where it will be (under the destination), not the
/// temporary. The walk's metadata is used: a `statx` on the ring costs a worker-thread hop.
async fn copy_one(
    ring: &Ring,
    entry: &Entry,
    (src_root, temp_root, dst_root): (&Path, &Path, &Path),
    (buf, pipe): (Vec<u8>, Option<&Pipe>),
    args: &CopyArgs,
) -> (Result<u64, Failure>, Vec<u8>) {
    let (src, dst, shown) = (
        src_root.join(&entry.rel),
        temp_root.join(&entry.rel),
        dst_root.join(&entry.rel),
    );
    let from = match ring.open(&src, OpenOptions::new()).await {
        Ok(from) => from,
        Err(e) => return (Err(ring_failure("opening", &src, e)), buf),
    };
    let opts = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(entry.meta.mode());
    // An `O_CREAT` open never completes inline (the kernel's non-blocking attempt fails and
    // punts it to io-wq): `IOSQE_ASYNC` skips that attempt (measured: ~1.5× the files/s).
    let to = match ring.open(&dst, opts).async_hint().await {
        Ok(to) => to,
        Err(e) => return (Err(ring_failure("creating", &shown, e)), buf),
    };
    let ends = Ends {
        src: &src,
        dst: &shown,
    };
    let spliced = match (pipe, entry.len) {
        (Some(pipe), len @ 1..=SMALL) if !entry.sparse => {
            data::splice_whole(ring, pipe, (&from, &to), len, ends).await
        }
        _ => None,
    };
    let (bytes, buf) = match (spliced, entry.len) {
        (Some(copied), _) => (copied, buf),
        (None, len) if len <= SMALL => small(ring, (&from, &to), buf, len == 0, ends).await,
        (None, len) => (
            data::regular(ring, (&from, &to), len, ends, &Progress::bytes(0, true)).await,
            buf,
        ),
    };
    let done = async {
        let bytes = bytes?;
        if args.preserve {
            let out = to
                .try_clone_std()
                .map_err(|e| Failure::io("copy: duplicating", &shown, e))?;
            entry
                .meta
                .apply(&out, true)
                .map_err(|e| Failure::io("copy: setting the owner, mode or times of", &shown, e))?;
        }
        if let Ok(close) = ring.close(from) {
            let _ = close.await; // a read-only file's close has nothing to report
        }
        finish(ring, to, &shown, args.sync).await?;
        Ok(bytes)
    };
    (done.await, buf)
}

/// A small file: reads into `buf`, each written at once, until one comes up short (the end of
/// a regular file), or with `until_zero` (a file that says its size is 0, as in `/proc`,
/// where short reads are normal) until one reads nothing.
async fn small(
    ring: &Ring,
    (src, dst): (&File, &File),
    mut buf: Vec<u8>,
    until_zero: bool,
    ends: Ends<'_>,
) -> (Result<u64, Failure>, Vec<u8>) {
    let mut offset = 0;
    loop {
        buf.clear();
        let room = buf.capacity();
        let (read, back) = ring.read_at(src, buf, offset).await;
        let n = match read {
            Ok(0) => return (Ok(offset), back),
            Ok(n) => n,
            Err(e) => return (Err(ends.reading(offset, e)), back),
        };
        let (wrote, back) = ring.write_all_at(dst, back, offset).await;
        if let Err(e) = wrote {
            return (Err(ends.writing(offset, e)), back);
        }
        offset += n as u64;
        if n < room && !until_zero {
            return (Ok(offset), back);
        }
        buf = back;
    }
}

/// Gives the directories their modes (and with `preserve` owners and times), deepest first,
/// the root last: their files are all in, so nothing changes their times after this.
fn finish_dirs(dirs: &[PathBuf], src: &Path, root: &Path, preserve: bool) -> Result<(), Failure> {
    let root_rel = PathBuf::new();
    for rel in dirs.iter().rev().chain([&root_rel]) {
        let from = src.join(rel);
        let meta = std::fs::metadata(&from)
            .map_err(|e| Failure::io("copy: reading the metadata of", &from, e))?;
        let to = root.join(rel);
        let dir = std::fs::File::open(&to)
            .map_err(|e| Failure::io("copy: opening the directory", &to, e))?;
        Meta::from_std(&meta)
            .apply(&dir, preserve)
            .map_err(|e| Failure::io("copy: setting the mode of the directory", &to, e))?;
    }
    Ok(())
}
