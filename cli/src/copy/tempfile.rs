//! Temporaries next to the destination, renamed into place only when complete.
//!
//! A temporary is named `.NAME.safer-ring-PID-N` in the destination's directory (so the
//! final `rename` stays on one filesystem and is atomic), created exclusively (`O_EXCL`, mode
//! 0600 for files, 0700 for trees while they fill), and registered with
//! [`interrupt`](crate::interrupt) before it exists, so Ctrl-C removes it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use safer_ring::{File, OpenOptions, Ring};

use crate::Failure;
use crate::interrupt::{self, Ticket};

/// A temporary that becomes `dst` on [`Temp::commit`], or is removed.
pub struct Temp {
    path: PathBuf,
    dst: PathBuf,
    ticket: Option<Ticket>,
}

/// A name for a temporary next to `dst`.
fn temp_path(dst: &Path) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(".");
    name.push(dst.file_name().unwrap_or_default());
    name.push(format!(".safer-ring-{}-{n}", std::process::id()));
    dst.with_file_name(name)
}

impl Temp {
    /// Creates an empty temporary file (mode 0600) for `dst` and opens it for writing.
    pub async fn file(ring: &Ring, dst: &Path) -> Result<(Self, File), Failure> {
        loop {
            let temp = Self::register(dst, false);
            let opts = OpenOptions::new().write(true).create_new(true).mode(0o600);
            match ring.open(&temp.path, opts).await {
                Ok(file) => return Ok((temp, file)),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => temp.forget(),
                Err(e) => {
                    let msg = format!("creating a temporary file {}", temp.path.display());
                    temp.forget();
                    return Err(Failure::io(
                        "copy:",
                        dst,
                        format!("{msg}: {}", std::io::Error::from(e)),
                    ));
                }
            }
        }
    }

    /// Creates an empty temporary directory (mode 0700) for the tree `dst`.
    pub fn dir(dst: &Path) -> Result<Self, Failure> {
        loop {
            let temp = Self::register(dst, true);
            match std::fs::create_dir(&temp.path) {
                Ok(()) => return Ok(temp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => temp.forget(),
                Err(e) => {
                    let msg = format!("creating a temporary directory {}", temp.path.display());
                    temp.forget();
                    return Err(Failure::io("copy:", dst, format!("{msg}: {e}")));
                }
            }
        }
    }

    fn register(dst: &Path, tree: bool) -> Self {
        let path = temp_path(dst);
        let ticket = Some(interrupt::register(&path, dst, tree));
        Self {
            path: path.clone(),
            dst: dst.to_owned(),
            ticket,
        }
    }

    /// Drops the registration of a temporary that was never created (nothing to remove).
    fn forget(mut self) {
        if let Some(ticket) = self.ticket.take() {
            interrupt::forget(ticket);
        }
    }

    /// The temporary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary to its destination (replacing what was there, atomically).
    pub fn commit(mut self) -> Result<(), Failure> {
        let ticket = self.ticket.take().expect("a temporary is committed once");
        interrupt::commit(ticket, || std::fs::rename(&self.path, &self.dst))?.map_err(|e| {
            Failure::io(
                "copy: renaming the finished copy into place at",
                &self.dst,
                e,
            )
        })
    }
}

impl Drop for Temp {
    /// A temporary not committed is removed.
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            interrupt::discard(ticket);
        }
    }
}
