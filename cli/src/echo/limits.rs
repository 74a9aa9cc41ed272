//! The process limits a server of many connections needs: every connection costs one fd, and
//! thousands connecting at once need a deep listen backlog.
#![allow(unsafe_code)] // getrlimit/setrlimit through libc

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; warns on stderr if it cannot (10,000
/// connections need more than the usual soft limit of 1,024).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!("warning: getrlimit(RLIMIT_NOFILE): {e}; connections limited by ulimit -n");
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let soft = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads a live local rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!(
            "warning: cannot raise the open-file limit from {soft} to {}: {e}; \
             at most about {soft} connections",
            lim.rlim_max
        );
    }
}

/// The kernel's largest `listen(2)` backlog (`net.core.somaxconn`; it clamps any larger
/// value to it), or `SOMAXCONN` if that cannot be read.
pub fn max_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &i32| n > 0)
        .unwrap_or(libc::SOMAXCONN)
}
