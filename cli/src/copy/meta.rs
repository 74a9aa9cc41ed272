//! Metadata of the copy: the permission bits always; owner and times with `--preserve`.

use std::fs::{FileTimes, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// What to give a copy, from its source's `statx`.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    accessed: SystemTime,
    modified: SystemTime,
}

impl Meta {
    /// From a `statx` record.
    pub fn from_statx(stx: &libc::statx) -> Self {
        Self {
            mode: u32::from(stx.stx_mode) & 0o7777,
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            accessed: time(stx.stx_atime),
            modified: time(stx.stx_mtime),
        }
    }

    /// From `std` metadata (directories of a tree).
    pub fn from_std(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            accessed: meta.accessed().unwrap_or(SystemTime::UNIX_EPOCH),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }

    /// The permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Gives `file` the mode and, with `preserve`, the owner (where permitted, as `cp -p`)
    /// and times. The owner goes first: changing it clears set-user-ID bits.
    pub fn apply(&self, file: &std::fs::File, preserve: bool) -> std::io::Result<()> {
        if preserve {
            match std::os::unix::fs::fchown(file, Some(self.uid), Some(self.gid)) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                other => other?,
            }
        }
        file.set_permissions(Permissions::from_mode(self.mode))?;
        if preserve {
            let times = FileTimes::new()
                .set_accessed(self.accessed)
                .set_modified(self.modified);
            file.set_times(times)?;
        }
        Ok(())
    }
}

/// A `statx` timestamp as a `SystemTime` (times before 1970 are kept too).
fn time(t: libc::statx_timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.tv_nsec));
    match u64::try_from(t.tv_sec) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + nanos,
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(t.tv_sec.unsigned_abs()) + nanos,
    }
}
