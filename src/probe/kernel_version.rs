//! [`KernelVersion`]: the running Linux release, from `uname(2)`.
#![forbid(unsafe_code)]

use std::fmt;

/// A Linux release: `6.1.0-47-amd64` is 6.1.0.
///
/// # Examples
///
/// ```
/// use safer_ring::probe::KernelVersion;
/// let v = KernelVersion::parse("6.1.0-47-amd64").unwrap();
/// assert_eq!(v, KernelVersion::new(6, 1, 0));
/// assert!(v < KernelVersion::new(6, 18, 0));
/// println!("running {}", KernelVersion::running());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// The major version.
    pub major: u16,
    /// The minor version.
    pub minor: u16,
    /// The patch level.
    pub patch: u16,
}

impl KernelVersion {
    /// A version from its parts.
    ///
    /// ```
    /// use safer_ring::probe::KernelVersion;
    /// const LTS: KernelVersion = KernelVersion::new(6, 1, 0); // `const`
    /// assert_eq!((LTS.major, LTS.minor, LTS.patch), (6, 1, 0));
    /// assert!(KernelVersion::new(6, 1, 99) < KernelVersion::new(6, 4, 0)); // ordered by part
    /// assert_eq!(KernelVersion::new(5, 19, 2).to_string(), "5.19.2");
    /// ```
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The running kernel's version (0.0.0 if its release string cannot be read). Read once
    /// per process: rings built after the first make no syscall for it.
    ///
    /// ```
    /// use safer_ring::probe::KernelVersion;
    /// let running = KernelVersion::running();
    /// let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    /// assert_eq!(Some(running), KernelVersion::parse(&release));
    /// assert_eq!(KernelVersion::running(), running); // the same every time
    /// ```
    pub fn running() -> Self {
        static RUNNING: std::sync::OnceLock<KernelVersion> = std::sync::OnceLock::new();
        *RUNNING.get_or_init(|| {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
            let parsed = release.as_deref().and_then(Self::parse);
            parsed.unwrap_or(Self::new(0, 0, 0))
        })
    }

    /// Parses a release string such as `6.18.44-fc-v1045` or `6.1.0-47-amd64`.
    ///
    /// ```
    /// use safer_ring::probe::KernelVersion;
    /// assert_eq!(KernelVersion::parse("6.18.44-fc-v1045"), Some(KernelVersion::new(6, 18, 44)));
    /// assert_eq!(KernelVersion::parse("6.8.0+\n"), Some(KernelVersion::new(6, 8, 0)));
    /// assert_eq!(KernelVersion::parse("5.4"), Some(KernelVersion::new(5, 4, 0))); // no patch: 0
    /// assert_eq!(KernelVersion::parse("linux"), None);
    /// ```
    pub fn parse(release: &str) -> Option<Self> {
        let mut parts = release.trim().split(['.', '-', '+']).map(|p| {
            let digits = p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
            digits.parse::<u16>().ok()
        });
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Self::new(major, minor, patch))
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_parse_to_their_version() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v1045"),
            Some(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(
            KernelVersion::parse("6.1.0-47-amd64\n"),
            Some(KernelVersion::new(6, 1, 0))
        );
        assert_eq!(
            KernelVersion::parse("5.4"),
            Some(KernelVersion::new(5, 4, 0))
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::new(6, 1, 0) < KernelVersion::new(6, 4, 0));
        assert!(KernelVersion::running() >= KernelVersion::new(5, 1, 0));
    }
}
