//! [`OpenOptions`]: how [`Ring::open`](crate::Ring::open) opens a file.
#![forbid(unsafe_code)]

/// Flags for opening a file, as `std::fs::OpenOptions` (which does not expose its flags).
///
/// ```
/// use safer_ring::OpenOptions;
/// let opts = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    custom_flags: i32,
    mode: libc::mode_t,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Read-only, mode `0o666` (before umask) for created files.
    pub fn new() -> Self {
        Self {
            read: true,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            custom_flags: 0,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(mut self, on: bool) -> Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(mut self, on: bool) -> Self {
        self.write = on;
        self
    }

    /// Append to the end (`O_APPEND`); implies write.
    pub fn append(mut self, on: bool) -> Self {
        self.append = on;
        self
    }

    /// Truncate to zero length (`O_TRUNC`).
    pub fn truncate(mut self, on: bool) -> Self {
        self.truncate = on;
        self
    }

    /// Create if missing (`O_CREAT`).
    pub fn create(mut self, on: bool) -> Self {
        self.create = on;
        self
    }

    /// Create, failing if it exists (`O_CREAT | O_EXCL`).
    pub fn create_new(mut self, on: bool) -> Self {
        self.create_new = on;
        self
    }

    /// Extra `O_*` flags (e.g. `libc::O_DIRECT`).
    pub fn custom_flags(mut self, flags: i32) -> Self {
        self.custom_flags = flags;
        self
    }

    /// Permission bits for a created file.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode as libc::mode_t;
        self
    }

    pub(crate) fn flags(&self) -> i32 {
        let access = match (self.read, self.write || self.append) {
            (_, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
        };
        let mut flags = access | self.custom_flags;
        if self.append {
            flags |= libc::O_APPEND;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        flags
    }

    pub(crate) fn mode_bits(&self) -> libc::mode_t {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_posix() {
        assert_eq!(OpenOptions::new().flags(), libc::O_RDONLY);
        let w = OpenOptions::new()
            .read(false)
            .write(true)
            .create(true)
            .truncate(true);
        assert_eq!(w.flags(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
        let rw = OpenOptions::new().append(true).create_new(true);
        assert_eq!(
            rw.flags(),
            libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL
        );
    }
}
