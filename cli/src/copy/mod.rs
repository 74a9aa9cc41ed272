//! `safer-ring copy SRC DST`: a copy through the ring that never loses data.
//!
//! The destination is resolved first (into a directory, through a symlink), the same file is
//! refused, then [`file`] or [`tree`] copy into temporaries that are renamed into place only
//! when complete (see [`tempfile`]); Ctrl-C removes them ([`crate::interrupt`]).

mod data;
mod file;
mod meta;
mod sparse;
mod tempfile;
mod tree;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use safer_ring::Ring;

pub use crate::CopyArgs;
use crate::{Failure, interrupt};

/// What a copy did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Bytes of data copied (holes not counted).
    pub bytes: u64,
    /// Files copied.
    pub files: u64,
}

impl std::ops::Add for Totals {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            bytes: self.bytes + other.bytes,
            files: self.files + other.files,
        }
    }
}

impl std::iter::Sum for Totals {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// Runs `copy`: resolves the destination, copies, prints the summary.
pub fn run(args: &CopyArgs) -> Result<(), Failure> {
    interrupt::install()?;
    let start = Instant::now();
    let src_meta =
        std::fs::metadata(&args.src).map_err(|e| Failure::io("copy: cannot read", &args.src, e))?;
    if src_meta.is_dir() && !args.recursive {
        return Err(Failure::Failed(format!(
            "copy: {} is a directory: use -r to copy a tree; nothing was created",
            args.src.display()
        )));
    }
    let dst = destination(&args.src, &args.dst, src_meta.is_dir())?;
    let existed = std::fs::symlink_metadata(&dst).is_ok();
    let ring = Ring::builder()
        .entries(256)
        .build()
        .map_err(Failure::ring)?;
    if ring.backend() == safer_ring::Backend::Fallback && !args.quiet {
        eprintln!(
            "safer-ring: io_uring is not in use here (`safer-ring probe` says why): copying \
             on the fallback backend (worker threads, plain system calls)"
        );
    }
    let copied = if src_meta.is_dir() {
        tree::copy(&ring, &args.src, &dst, args)
    } else {
        same_file((src_meta.dev(), src_meta.ino()), &args.src, &dst)?;
        file::copy(&ring, &args.src, &dst, args)
    };
    let totals = copied.map_err(|f| match f {
        Failure::Interrupted(_) => interrupt::failure(&dst, existed),
        other => other.with_note(&left_as_it_was(&dst, existed)),
    })?;
    if !args.quiet {
        println!("{}", summary(totals, start.elapsed().as_secs_f64()));
    }
    Ok(())
}

fn left_as_it_was(dst: &Path, existed: bool) -> String {
    match existed {
        true => format!("{} was left as it was", dst.display()),
        false => format!("{} was not created", dst.display()),
    }
}

/// "copied N bytes (X MiB), F files in T s (R MiB/s)".
fn summary(totals: Totals, secs: f64) -> String {
    let mib = totals.bytes as f64 / f64::from(1 << 20);
    format!(
        "copied {} bytes ({mib:.1} MiB), {} file{} in {secs:.3} s ({:.0} MiB/s)",
        totals.bytes,
        totals.files,
        if totals.files == 1 { "" } else { "s" },
        mib / secs.max(1e-9)
    )
}

/// Where the copy goes: into `dst` if it is a directory (as `SRC`'s name); for a file, through
/// a symlink to the file it names (a dangling one is refused, as `cp` does).
fn destination(src: &Path, dst: &Path, tree: bool) -> Result<PathBuf, Failure> {
    let mut dst = dst.to_owned();
    if dst.is_dir() {
        let name = src.file_name().ok_or_else(|| {
            Failure::Failed(format!(
                "copy: {} has no file name to copy into a directory",
                src.display()
            ))
        })?;
        dst.push(name);
    }
    if !tree && std::fs::symlink_metadata(&dst).is_ok_and(|m| m.is_symlink()) {
        dst = std::fs::canonicalize(&dst)
            .map_err(|e| Failure::io("copy: not writing through the dangling symlink", &dst, e))?;
    }
    Ok(dst)
}

/// Refuses a destination that is the source itself (same device and inode: the same path, a
/// symlink to it, a hard link), before anything is opened for writing.
fn same_file((dev, ino): (u64, u64), src: &Path, dst: &Path) -> Result<(), Failure> {
    match std::fs::metadata(dst) {
        Ok(d) if (d.dev(), d.ino()) == (dev, ino) => Err(Failure::Failed(format!(
            "copy: refusing to copy {} onto itself: {} is the same file (device {dev}, inode \
             {ino}); nothing was changed",
            src.display(),
            dst.display()
        ))),
        Ok(d) if d.is_dir() => Err(Failure::Failed(format!(
            "copy: {} is a directory; nothing was changed",
            dst.display()
        ))),
        _ => Ok(()),
    }
}
