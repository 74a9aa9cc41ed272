//! Helpers shared by the integration tests: pipes, fd counts, sentinel buffers.
#![allow(dead_code, unsafe_code)]

use std::future::Future;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use safer_ring::{File, IoBuf, IoBufMut};

pub mod backend;
pub mod bomb;
pub mod guard;
pub mod model;
pub mod on_tokio;
pub mod server;

#[allow(unused_imports)] // each test binary uses what it needs
pub use backend::{kernel_only, on_fallback};

/// A pipe as (read end for the ring, write end for std).
pub fn pipe() -> (File, std::fs::File) {
    let (r, w) = std::io::pipe().expect("pipe");
    (
        File::from(OwnedFd::from(r)),
        std::fs::File::from(OwnedFd::from(w)),
    )
}

/// Writes all of `data` into a std pipe end.
pub fn feed(w: &mut std::fs::File, data: &[u8]) {
    w.write_all(data).expect("write to pipe");
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_with(fut, Waker::noop())
}

/// Polls a future once with `waker`.
pub fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// A buffer whose liveness and drops are observable: `token`'s strong count is 2 while the
/// buffer lives (the test keeps one), and `drops` counts how often a sentinel was dropped.
pub struct Sentinel {
    pub bytes: Vec<u8>,
    pub token: Arc<()>,
    pub drops: Arc<AtomicUsize>,
    /// Runs when the sentinel is dropped (user code the ring calls as it releases it).
    pub on_drop: Option<Box<dyn FnMut()>>,
}

impl Sentinel {
    pub fn new(capacity: usize, drops: &Arc<AtomicUsize>) -> (Self, Arc<()>) {
        let token = Arc::new(());
        let s = Self {
            bytes: Vec::with_capacity(capacity),
            token: token.clone(),
            drops: drops.clone(),
            on_drop: None,
        };
        (s, token)
    }

    /// The same sentinel, running `f` when dropped.
    pub fn on_drop(mut self, f: impl FnMut() + 'static) -> Self {
        self.on_drop = Some(Box::new(f));
        self
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(f) = &mut self.on_drop {
            f();
        }
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: delegates to the inner Vec, whose heap bytes are stable across moves.
unsafe impl IoBuf for Sentinel {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

// SAFETY: delegates to the inner Vec.
unsafe impl IoBufMut for Sentinel {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.bytes.set_init(len) }
    }
}

/// Process CPU time (user + system) so far.
pub fn process_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a live local timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Serialises the tests of one binary that count fds (tests otherwise run in parallel
/// threads of one process and would see each other's fds).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `target/<profile>/examples/<name>`, built by `cargo test` alongside the tests.
pub fn example(name: &str) -> Command {
    let mut dir = std::env::current_exe().expect("test exe path");
    dir.pop(); // deps
    dir.pop(); // <profile>
    let path: PathBuf = dir.join("examples").join(name);
    assert!(path.exists(), "example not built: {}", path.display());
    Command::new(path)
}

/// Reads the server's `listening on ADDR` line.
pub fn listening_addr(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

/// Runs `cmd` to completion and returns its stdout; panics with all its output if it failed.
pub fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the command");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs the `#[ignore]`d helper test `name` of this test binary in a child process (for
/// process-wide changes such as resource limits) and returns its stdout.
pub fn run_child_test(name: &str) -> String {
    succeed(
        Command::new(std::env::current_exe().expect("test binary path")).args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
        ]),
    )
}

/// `len` bytes of untouched anonymous memory (`MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`):
/// reads see zeros and use no RAM, so a buffer of more than 4 GiB costs nothing.
pub struct ZeroMapping {
    ptr: *mut u8,
    len: usize,
}

impl ZeroMapping {
    pub fn new(len: usize) -> Self {
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap of {len} bytes");
        Self {
            ptr: ptr.cast(),
            len,
        }
    }
}

impl Drop for ZeroMapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, once, when nothing uses it (an
        // operation holding the buffer owns this value until its final CQE).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: the mapping is owned by this value, stays at its address until drop, and every
// byte reads as zero (initialised).
unsafe impl IoBuf for ZeroMapping {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

/// A ring of `entries` SQ entries that takes at most `limit` operations in flight: a small
/// limit makes the back-pressure paths easy to reach.
pub fn ring_with_limit(entries: u32, limit: usize) -> safer_ring::Ring {
    safer_ring::Ring::builder()
        .entries(entries)
        .max_in_flight(limit)
        .build()
        .expect("ring")
}
