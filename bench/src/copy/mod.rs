//! `copy`: file copies against `cp`. Two cases, each interleaved round by round:
//!
//! - [`file`]: a page-cached 1 GiB file (256 MiB with `--quick`) — `safer-ring copy` (the
//!   CLI), the `copy` example, `std::io::copy` (`copy_file_range`) and `cp`, all ending in
//!   `fdatasync` of the destination;
//! - [`tree`]: a tree of 20 directories × 1,000 files of 4 KiB — `safer-ring copy -r` vs
//!   `cp -r`, neither syncing.

mod file;
mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::Report;
use crate::stats::{Samples, cpu_time};

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    file::run(report, rounds, quick)?;
    tree::run(report, rounds)
}

/// CPU time (user + system) of the waited-for children of this process.
fn children_cpu() -> Duration {
    // SAFETY: `rusage` is plain data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: writes into a live local.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `work`, `ops` operations, and records ops/s and CPU µs per op (this process and its
/// children).
fn timed(
    samples: &mut Samples,
    ops: u64,
    work: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (cpu0, child0, t0) = (cpu_time(), children_cpu(), Instant::now());
    work()?;
    let wall = t0.elapsed();
    let cpu = (cpu_time() - cpu0) + (children_cpu() - child0);
    samples.rates.push(ops as f64 / wall.as_secs_f64());
    samples.cpu_us.push(cpu.as_secs_f64() * 1e6 / ops as f64);
    Ok(())
}

/// Runs `cmd` to completion; its failure (with its stderr) is an error.
fn run_child(cmd: &mut Command) -> std::io::Result<()> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A release binary of the workspace beside this one (`rel` under `target/release`, e.g.
/// `examples/copy` or `safer-ring`), built with `cargo build --release BUILD_ARGS` if it is
/// missing. Returns it and how it was found, for the notes.
fn release_binary(rel: &str, build_args: &[&str]) -> std::io::Result<(PathBuf, String)> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .expect("an executable has a directory")
        .join(rel);
    if bin.exists() {
        let shown = bin.display().to_string();
        return Ok((bin, shown));
    }
    eprintln!(
        "copy: {} is missing; building it with `cargo build --release {}`",
        bin.display(),
        build_args.join(" ")
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "--release"])
        .args(build_args);
    let status = cmd.status()?;
    if !status.success() || !bin.exists() {
        return Err(std::io::Error::other(format!(
            "could not build {rel} ({status}); expected {}",
            bin.display()
        )));
    }
    Ok((
        bin.clone(),
        format!("{} (built by this run)", bin.display()),
    ))
}

/// The `safer-ring` CLI binary beside this one.
fn cli_binary() -> std::io::Result<(PathBuf, String)> {
    release_binary("safer-ring", &["-p", "safer-ring-cli"])
}
