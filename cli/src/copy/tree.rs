//! `copy -r`: a tree, all or nothing, with many files in flight on the ring at once.
//!
//! The source is walked first (`readdir`; file types from the directory entries, no `stat`
//! per file); the directories and symlinks are made under a temporary directory next to the
//! destination; then [`JOBS`] workers copy the files, each `openat` → `statx` → `openat`
//! (create) → `read` → `write` → `close` on the ring, so [`JOBS`] files' operations are in
//! flight together. Directory modes (and with `--preserve` owners and times) are set last,
//! deepest first, and the temporary directory is renamed to the destination: the tree
//! appears whole or not at all.
//!
//! Symlinks are copied as symlinks (never followed); hard links become separate files;
//! FIFOs, sockets and devices are skipped with a warning.

use std::cell::Cell;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use safer_ring::{File, OpenOptions, Ring};

use super::data::{self, Ends};
use super::file::{finish, ring_failure};
use super::meta::Meta;
use super::tempfile::Temp;
use super::{CopyArgs, Totals};
use crate::{Failure, progress::Progress};

/// Files copied at once.
const JOBS: usize = 64;
/// Files up to this size are copied with one read and one write through a buffer.
const SMALL: u64 = 256 << 10;

/// What the walk found, by path relative to the source root.
#[derive(Default)]
struct Plan {
    /// Directories, parents before children (the root is not listed).
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    links: Vec<PathBuf>,
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
    let totals = ring.block_on(copy_files(
        ring,
        &plan.files,
        (src, &root, dst),
        args,
        &progress,
    ));
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
                plan.files.push(path);
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

/// Copies every file with [`JOBS`] workers; the first failure stops the others.
async fn copy_files(
    ring: &Ring,
    files: &[PathBuf],
    roots: (&Path, &Path, &Path),
    args: &CopyArgs,
    progress: &Progress,
) -> Result<Totals, Failure> {
    let next = Cell::new(0);
    let claim = || {
        let i = next.get();
        next.set(i + 1);
        files.get(i)
    };
    let workers = (0..JOBS).map(|_| async {
        let mut totals = Totals::default();
        while let Some(rel) = claim() {
            if crate::interrupt::interrupted() {
                next.set(files.len());
                return Err(Failure::Interrupted("interrupted".into()));
            }
            match copy_one(ring, rel, roots, args).await {
                Ok(bytes) => {
                    (totals.bytes, totals.files) = (totals.bytes + bytes, totals.files + 1)
                }
                Err(e) => {
                    next.set(files.len());
                    return Err(e);
                }
            }
            progress.add(1);
        }
        Ok(totals)
    });
    let mut totals = Totals::default();
    for result in futures::future::join_all(workers).await {
        let t = result?;
        (totals.bytes, totals.files) = (totals.bytes + t.bytes, totals.files + t.files);
    }
    Ok(totals)
}

/// Copies the file `rel` from the source root to the temporary root. Errors name the file
/// where it will be (under the destination), not the temporary.
async fn copy_one(
    ring: &Ring,
    rel: &Path,
    (src_root, temp_root, dst_root): (&Path, &Path, &Path),
    args: &CopyArgs,
) -> Result<u64, Failure> {
    let (src, dst, shown) = (src_root.join(rel), temp_root.join(rel), dst_root.join(rel));
    let from = ring
        .open(&src, OpenOptions::new())
        .await
        .map_err(|e| ring_failure("opening", &src, e))?;
    let stx = ring
        .statx_file(&from)
        .await
        .map_err(|e| ring_failure("reading the metadata of", &src, e))?;
    let meta = Meta::from_statx(stx.raw());
    let opts = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.mode());
    let to = ring
        .open(&dst, opts)
        .await
        .map_err(|e| ring_failure("creating", &shown, e))?;
    let ends = Ends {
        src: &src,
        dst: &shown,
    };
    let hidden = Progress::bytes(0, true);
    let bytes = match stx.len() {
        0 => data::stream(ring, (&from, &to), ends, &hidden).await?,
        len if len <= SMALL => small(ring, (&from, &to), len, ends).await?,
        len => data::regular(ring, (&from, &to), len, ends, &hidden).await?,
    };
    if args.preserve {
        let out = to
            .try_clone_std()
            .map_err(|e| Failure::io("copy: duplicating", &shown, e))?;
        meta.apply(&out, true)
            .map_err(|e| Failure::io("copy: setting the owner, mode or times of", &shown, e))?;
    }
    if let Ok(close) = ring.close(from) {
        let _ = close.await; // a read-only file's close has nothing to report
    }
    finish(ring, to, &shown, args.sync).await?;
    Ok(bytes)
}

/// A small file: reads of `len + 1` bytes (a short one is the end) each written at once.
async fn small(
    ring: &Ring,
    (src, dst): (&File, &File),
    len: u64,
    ends: Ends<'_>,
) -> Result<u64, Failure> {
    let room = len as usize + 1;
    let mut buf = Vec::with_capacity(room);
    let mut offset = 0;
    loop {
        let (read, back) = ring.read_at(src, buf, offset).await;
        let n = read.map_err(|e| ends.reading(offset, e))?;
        if n == 0 {
            return Ok(offset);
        }
        let (wrote, mut back) = ring.write_all_at(dst, back, offset).await;
        wrote.map_err(|e| ends.writing(offset, e))?;
        offset += n as u64;
        if n < room {
            return Ok(offset);
        }
        back.clear();
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
