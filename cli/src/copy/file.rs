//! Copying one file: into a temporary next to the destination, renamed into place when
//! complete.

use std::path::Path;

use safer_ring::{File, OpenOptions, Ring, SaferRingError};

use super::data::{self, Ends};
use super::meta::Meta;
use super::tempfile::Temp;
use super::{CopyArgs, Totals, same_file};
use crate::{Failure, progress::Progress};

/// "copy: `what` `path`: error" from a ring error.
pub fn ring_failure(what: &str, path: &Path, err: SaferRingError) -> Failure {
    Failure::io(&format!("copy: {what}"), path, std::io::Error::from(err))
}

/// Copies the file `src` to `dst` (resolved: not a directory, not a symlink).
pub fn copy(ring: &Ring, src: &Path, dst: &Path, args: &CopyArgs) -> Result<Totals, Failure> {
    ring.block_on(async {
        let from = ring
            .open(src, OpenOptions::new())
            .await
            .map_err(|e| ring_failure("opening", src, e))?;
        let stx = ring
            .statx_file(&from)
            .await
            .map_err(|e| ring_failure("reading the metadata of", src, e))?;
        if stx.is_dir() {
            return Err(Failure::Failed(format!(
                "copy: {} is a directory",
                src.display()
            )));
        }
        // Again on the opened file: the path may have been replaced since the first check.
        let raw = stx.raw();
        let dev = libc::makedev(raw.stx_dev_major, raw.stx_dev_minor);
        same_file((dev, raw.stx_ino), src, dst)?;
        let (temp, to) = Temp::file(ring, dst).await?;
        let ends = Ends { src, dst };
        let meta = Meta::from_statx(stx.raw());
        let bytes = fill(ring, (&from, &to), &stx, ends, args).await?;
        let out = to
            .try_clone_std()
            .map_err(|e| Failure::io("copy: duplicating", dst, e))?;
        meta.apply(&out, args.preserve)
            .map_err(|e| Failure::io("copy: setting the mode, owner or times of", dst, e))?;
        drop(out);
        finish(ring, to, dst, args.sync).await?;
        temp.commit()?;
        Ok(Totals { bytes, files: 1 })
    })
}

/// Copies the bytes: by extents for a regular file with a size, else read to the end.
async fn fill(
    ring: &Ring,
    files: (&File, &File),
    stx: &safer_ring::Metadata,
    ends: Ends<'_>,
    args: &CopyArgs,
) -> Result<u64, Failure> {
    let regular = stx.is_file() && !stx.is_empty();
    let progress = match regular {
        true => Progress::bytes(stx.len(), args.quiet),
        false => Progress::bytes(0, args.quiet),
    };
    let copied = match regular {
        true => data::regular(ring, files, stx.len(), ends, &progress).await,
        false => data::stream(ring, files, ends, &progress).await,
    };
    progress.finish();
    copied
}

/// Optionally `fdatasync`s, then closes the written file through the ring, reporting a
/// close error (some filesystems report write errors only then).
pub async fn finish(ring: &Ring, file: File, dst: &Path, sync: bool) -> Result<(), Failure> {
    if sync {
        ring.fdatasync(&file)
            .await
            .map_err(|e| ring_failure("syncing", dst, e))?;
    }
    match ring.close(file) {
        Ok(close) => close.await.map_err(|e| ring_failure("closing", dst, e)),
        Err(busy) => Err(ring_failure("closing", dst, busy.into_parts().0)),
    }
}
