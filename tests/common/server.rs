//! A server child process seen from outside: its fds and CPU time through `/proc/PID`, a
//! guard that kills it if a test fails before stopping it, and the fd limit a test with
//! thousands of sockets needs.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server if the test fails before stopping it.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (the echo_server example, perhaps with limits set) on a free loopback port
/// with `threads` threads, stderr to `stderr`; returns the guard and the address it announced.
pub fn start_echo(cmd: &mut Command, threads: u32, stderr: Stdio) -> (Server, String) {
    let child = cmd
        .args(["--addr", "127.0.0.1:0", "--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut guard = Server(child);
    let addr = super::listening_addr(&mut guard.0);
    (guard, addr)
}

/// Stops the server with SIGINT; asserts it exits successfully and returns the rest of its
/// stdout (its shutdown report).
pub fn interrupt(server: &mut Child) -> String {
    let status = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -INT failed");
    let mut rest = String::new();
    if let Some(mut out) = server.stdout.take() {
        out.read_to_string(&mut rest).unwrap();
    }
    assert!(server.wait().unwrap().success(), "server exit: {rest}");
    rest
}

/// The server's CPU ticks (100 a second) over 2 s of idling, after 200 ms to settle.
pub fn idle_ticks(server: &Child) -> (u64, Duration) {
    std::thread::sleep(Duration::from_millis(200));
    let (ticks0, t0) = (server_cpu_ticks(server), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    (server_cpu_ticks(server) - ticks0, t0.elapsed())
}

/// How many fds the server has open.
///
/// On the fallback backend a request that waits on a worker thread (in a chain, or a
/// connect) holds an eventfd for as long as it waits, for its cancel to interrupt the wait:
/// those come and go with the requests and are not counted (everything else is).
pub fn server_fds(server: &Child) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.id())).unwrap();
    if !super::on_fallback() {
        return fds.count();
    }
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.as_os_str() != "anon_inode:[eventfd]")
        .count()
}

/// What the server's fds point at (for a failure message).
pub fn fd_targets(server: &Child) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", server.id()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

/// What the server's fds point at, counted by kind (`socket`, `anon_inode:[io_uring]`, ...),
/// for a failure message that stays short with thousands of fds.
pub fn fd_kinds(server: &Child) -> Vec<(String, usize)> {
    let mut kinds = std::collections::BTreeMap::new();
    for t in fd_targets(server) {
        let kind = t.split(":[").next().unwrap_or(&t).to_owned();
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds.into_iter().collect()
}

/// User + system CPU ticks of the server so far (`/proc/PID/stat` fields 14 and 15).
pub fn server_cpu_ticks(server: &Child) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.id())).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Waits (up to `patience`) until the server holds at most `target` fds; returns its count.
pub fn wait_for_fds_at_most(server: &Child, target: usize, patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let now = server_fds(server);
        if now <= target || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every fd the server has open (eventfds included: what its fd limit counts).
pub fn server_fds_all(server: &Child) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.id()))
        .unwrap()
        .count()
}

/// Waits (up to `patience`) until the server holds at least `target` fds (all of them, as
/// [`server_fds_all`]); returns its count.
pub fn wait_for_fds_at_least(server: &Child, target: usize, patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let now = server_fds_all(server);
        if now >= target || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to `want` (at most the hard limit); returns
/// the soft limit it has now.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            // SAFETY: as above; the limit stayed as it was.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        }
    }
    lim.rlim_cur
}

/// Sets this process's soft `RLIMIT_NOFILE` to `limit` (every thread shares it); returns the
/// soft limit it had.
pub fn set_soft_fd_limit(limit: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let old = lim.rlim_cur;
    lim.rlim_cur = limit;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    old
}

/// Makes `cmd`'s process start with at most `limit` fds (soft and hard `RLIMIT_NOFILE`), so
/// it cannot raise the limit itself.
pub fn with_fd_limit(cmd: &mut std::process::Command, limit: u64) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    let set_limit = move || {
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit reads a live local rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe, and reads errno.
    unsafe { cmd.pre_exec(set_limit) }
}
