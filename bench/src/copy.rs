//! `copy`: copying a page-cached file (1 GiB, 256 MiB with `--quick`) — the `copy` example
//! (reads and writes through the ring, 8 × 1 MiB in flight, then `fdatasync`) vs
//! `std::io::copy` (which on Linux hands file-to-file copies to `copy_file_range`, an in-kernel
//! copy) vs `cp`. Every contender ends with `fdatasync` of the destination, so all three pay
//! for the same write-back.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::{Report, Row};
use crate::stats::{Samples, cpu_time};

const MIB: u64 = 1 << 20;

/// CPU time (user + system) of the waited-for children of this process.
fn children_cpu() -> Duration {
    // SAFETY: `rusage` is plain data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: writes into a live local.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs one copy of `mib` MiB and records MiB/s and CPU µs per MiB (this process and its
/// children).
fn timed(
    samples: &mut Samples,
    mib: u64,
    work: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (cpu0, child0, t0) = (cpu_time(), children_cpu(), Instant::now());
    work()?;
    let wall = t0.elapsed();
    let cpu = (cpu_time() - cpu0) + (children_cpu() - child0);
    samples.rates.push(mib as f64 / wall.as_secs_f64());
    samples.cpu_us.push(cpu.as_secs_f64() * 1e6 / mib as f64);
    Ok(())
}

fn xorshift_fill(state: &mut u64, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

/// Writes `len` random-looking bytes, flushes them to disk (so no write-back of the source
/// runs during the copies) and reads them once more (so they are in the page cache).
fn make_source(path: &Path, len: u64) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut buf = vec![0u8; (8 * MIB) as usize];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        xorshift_fill(&mut state, &mut buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    let mut file = std::fs::File::open(path)?;
    while file.read(&mut buf)? > 0 {}
    Ok(())
}

/// Checks the copy's size and a few 64 KiB samples of it against the source.
fn verify(src: &Path, dst: &Path, len: u64, who: &str) -> std::io::Result<()> {
    let (s, d) = (std::fs::File::open(src)?, std::fs::File::open(dst)?);
    let got = d.metadata()?.len();
    let fail = |what: String| std::io::Error::other(format!("copy by {who}: {what}"));
    if got != len {
        return Err(fail(format!("{got} bytes, expected {len}")));
    }
    let (mut a, mut b) = (vec![0u8; 65536], vec![0u8; 65536]);
    for off in [0, len / 3, len / 2 + 4093, len - a.len() as u64] {
        s.read_exact_at(&mut a, off)?;
        d.read_exact_at(&mut b, off)?;
        if a != b {
            return Err(fail(format!("differs from the source near offset {off}")));
        }
    }
    Ok(())
}

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

fn fdatasync(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_data()
}

/// The built `copy` example beside this binary (`target/release/examples/copy`), built with
/// `cargo build --release --example copy` if it is missing. Returns it and what was done.
fn copy_example() -> std::io::Result<(PathBuf, String)> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().expect("an executable has a directory");
    let example = dir.join("examples").join("copy");
    if example.exists() {
        let shown = example.display().to_string();
        return Ok((example, shown));
    }
    eprintln!(
        "copy: {} is missing; building it with `cargo build --release --example copy`",
        example.display()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "--release", "--example", "copy"]);
    let status = cmd.status()?;
    if !status.success() || !example.exists() {
        return Err(std::io::Error::other(format!(
            "could not build the copy example ({status}); expected {}",
            example.display()
        )));
    }
    Ok((
        example.clone(),
        format!("{} (built by this run)", example.display()),
    ))
}

const CONTENDERS: [&str; 3] = ["copy example", "std::io::copy", "cp"];

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let mib: u64 = if quick { 256 } else { 1024 };
    let len = mib * MIB;
    let (example, example_note) = copy_example()?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("source.bin");
    let dst = dir.path().join("copy.bin");
    eprintln!("copy: writing and caching a {mib} MiB source file...");
    make_source(&src, len)?;
    let mut samples = [Samples::default(), Samples::default(), Samples::default()];
    for round in 0..rounds {
        // Each round starts with a different contender: none always follows the same one.
        for i in (0..CONTENDERS.len()).map(|j| (round + j) % CONTENDERS.len()) {
            let s = &mut samples[i];
            if dst.exists() {
                std::fs::remove_file(&dst)?;
            }
            timed(s, mib, || match i {
                // Opens both files through the ring, copies, fdatasyncs the destination.
                0 => run_child(Command::new(&example).arg(&src).arg(&dst)),
                1 => {
                    let mut from = std::fs::File::open(&src)?;
                    let mut to = std::fs::File::create(&dst)?;
                    std::io::copy(&mut from, &mut to)?;
                    to.sync_data()
                }
                _ => {
                    run_child(Command::new("cp").arg(&src).arg(&dst))?;
                    fdatasync(&dst)
                }
            })?;
            verify(&src, &dst, len, CONTENDERS[i])?;
            std::fs::remove_file(&dst)?;
        }
    }
    let case = format!("{mib} MiB, op = 1 MiB");
    for (contender, s) in CONTENDERS.into_iter().zip(samples) {
        let bytes_per_s = s.median() * MIB as f64;
        report.rows.push(Row {
            suite: "copy",
            case: case.clone(),
            contender,
            samples: s,
        });
        report.metric("copy", &case, contender, "bytes/s", bytes_per_s);
    }
    report.goal(
        "copy example/cp",
        (&case, "copy example"),
        (&case, "cp"),
        0.9,
    );
    report.notes.push(format!(
        "copy: a {mib} MiB{} page-cached file of random-looking bytes on the same filesystem, \
         contenders interleaved with the starting one rotating each round, output removed between runs and checked (size and four 64 KiB samples); op = 1 MiB, so \
         op/s is MiB/s and CPU is µs per MiB (this process plus waited-for children). All three \
         end with fdatasync of the destination: `copy example` is {example_note} with its \
         defaults (1 MiB chunks, 8 in flight, reads and writes through the ring into user \
         buffers, its own fdatasync, process start included); `std::io::copy` runs \
         in-process, and std hands a file-to-file copy to copy_file_range (an in-kernel copy, \
         no user buffers), then sync_data; `cp` is coreutils cp as a process (which \
         uses copy_file_range here too), then fdatasync of the copy.",
        if quick {
            " (--quick; 1 GiB in a full run)"
        } else {
            ""
        }
    ));
    Ok(())
}
