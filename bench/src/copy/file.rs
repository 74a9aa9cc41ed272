//! The file case of `copy`: a page-cached file (1 GiB, 256 MiB with `--quick`) copied by
//! `safer-ring copy --sync` (the CLI: linked splice pairs on the ring), the `copy` example
//! (reads and writes through the ring, 8 × 1 MiB in flight, then `fdatasync`),
//! `std::io::copy` (which on Linux hands file-to-file copies to `copy_file_range`, an
//! in-kernel copy) and `cp`. Every contender ends with `fdatasync` of the destination, so all
//! pay for the same write-back.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use super::{cli_binary, release_binary, run_child, timed};
use crate::report::{Report, Row};
use crate::stats::Samples;

const MIB: u64 = 1 << 20;

pub(super) fn xorshift_fill(state: &mut u64, buf: &mut [u8]) {
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

fn fdatasync(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_data()
}

const CONTENDERS: [&str; 4] = ["safer-ring copy", "copy example", "std::io::copy", "cp"];

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let mib: u64 = if quick { 256 } else { 1024 };
    let len = mib * MIB;
    let (cli, cli_note) = cli_binary()?;
    let (example, example_note) =
        release_binary("examples/copy", &["--example", "copy", "-p", "safer-ring"])?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("source.bin");
    let dst = dir.path().join("copy.bin");
    eprintln!("copy: writing and caching a {mib} MiB source file...");
    make_source(&src, len)?;
    let mut samples: [Samples; 4] = Default::default();
    for round in 0..rounds {
        // Each round starts with a different contender: none always follows the same one.
        for i in (0..CONTENDERS.len()).map(|j| (round + j) % CONTENDERS.len()) {
            let s = &mut samples[i];
            if dst.exists() {
                std::fs::remove_file(&dst)?;
            }
            timed(s, mib, || match i {
                // Both open the files through the ring, copy, and fdatasync the destination.
                0 => run_child(
                    Command::new(&cli)
                        .args(["copy", "-q", "--sync"])
                        .arg(&src)
                        .arg(&dst),
                ),
                1 => run_child(Command::new(&example).arg(&src).arg(&dst)),
                2 => {
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
        "safer-ring copy/cp",
        (&case, "safer-ring copy"),
        (&case, "cp"),
        0.9,
    );
    report.goal(
        "copy example/cp",
        (&case, "copy example"),
        (&case, "cp"),
        0.9,
    );
    report.notes.push(format!(
        "copy: a {mib} MiB{} page-cached file of random-looking bytes on the same filesystem, \
         contenders interleaved with the starting one rotating each round, output removed \
         between runs and checked (size and four 64 KiB samples); op = 1 MiB, so op/s is \
         MiB/s and CPU is µs per MiB (this process plus waited-for children). All end with \
         fdatasync of the destination: `safer-ring copy` is {cli_note} `copy -q --sync` (the \
         CLI: linked splice pairs file → pipe → file on the ring, into a temporary renamed \
         into place, mode kept); `copy example` is {example_note} with its \
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
