//! Copies a file through the ring: `depth` chunks in flight, each read then written with
//! owned buffers that are reused for the whole copy.
//!
//! ```text
//! cargo run --release --example copy                         # self-test on a 256 MiB temp file
//! cargo run --release --example copy -- SRC DST [--chunk KiB] [--depth N]
//! ```
//!
//! Without arguments it makes a 256 MiB file of random-looking bytes, copies it, checks the
//! copy byte for byte, and says what it did.

use std::time::{Duration, Instant};

use safer_ring::{File, OpenOptions, Ring};

const USAGE: &str = "usage: copy [SRC DST] [--chunk KiB] [--depth N]";

mod common;
use common::{CopyArgs, Parsed, Progress, make_source, parse_copy_args, refuse_same_file};

/// What one copy did.
struct Report {
    bytes: u64,
    reads: u64,
    writes: u64,
    elapsed: Duration,
}

/// Copies `len` bytes: `depth` workers each own one buffer and take every `depth`-th chunk.
fn copy(
    ring: &Ring,
    src: &File,
    dst: &File,
    len: u64,
    args: &CopyArgs,
) -> safer_ring::Result<Report> {
    let start = Instant::now();
    let chunks = len.div_ceil(args.chunk as u64);
    let progress = Progress::new("copy", len);
    let workers: Vec<_> = (0..args.depth as u64)
        .map(|first| copy_worker(ring, src, dst, len, args, first, &progress))
        .collect();
    let results = ring.block_on(futures::future::join_all(workers));
    progress.finish();
    for result in results {
        result?;
    }
    ring.fdatasync(dst).submit()?.wait()?;
    Ok(Report {
        bytes: len,
        reads: chunks,
        writes: chunks,
        elapsed: start.elapsed(),
    })
}

/// One worker: chunks `first`, `first + depth`, ... through one reused buffer.
async fn copy_worker(
    ring: &Ring,
    src: &File,
    dst: &File,
    len: u64,
    args: &CopyArgs,
    first: u64,
    progress: &Progress,
) -> safer_ring::Result<()> {
    let mut buf = Vec::with_capacity(args.chunk);
    let mut offset = first * args.chunk as u64;
    while offset < len {
        let want = (len - offset).min(args.chunk as u64) as usize;
        if buf.capacity() != want {
            buf = Vec::with_capacity(want); // the last, shorter chunk
        }
        let (res, full) = ring.read_exact_at(src, buf, offset).await;
        res?;
        let (res, back) = ring.write_all_at(dst, full, offset).await;
        res?;
        buf = back;
        progress.add(want as u64);
        offset += (args.depth * args.chunk) as u64;
    }
    Ok(())
}

fn run(args: CopyArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ring = Ring::builder().entries(64).build()?;
    let scratch;
    let (src_path, dst_path, self_test) = match (args.src.clone(), args.dst.clone()) {
        (Some(s), Some(d)) => (s, d, false),
        _ => {
            scratch = tempfile::tempdir()?;
            let src = scratch.path().join("source.bin");
            println!(
                "self-test: writing a 256 MiB source file at {}",
                src.display()
            );
            make_source(&src, 256 << 20)?;
            (src, scratch.path().join("copy.bin"), true)
        }
    };
    let src = ring
        .open(&src_path, OpenOptions::new())
        .submit()?
        .wait()
        .map_err(|e| format!("cannot open {}: {e}", src_path.display()))?;
    let len = ring.statx_file(&src).submit()?.wait()?.len();
    refuse_same_file(&src_path, &dst_path)?;
    let opts = OpenOptions::new().write(true).create(true).truncate(true);
    let dst = ring
        .open(&dst_path, opts)
        .submit()?
        .wait()
        .map_err(|e| format!("cannot create {}: {e}", dst_path.display()))?;
    let report = copy(&ring, &src, &dst, len, &args)?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "copied {} bytes ({:.1} MiB) from {} to {} in {:.3} s: {:.0} MiB/s, {} reads + {} writes \
         of {} KiB, {} in flight",
        report.bytes,
        report.bytes as f64 / (1u64 << 20) as f64,
        src_path.display(),
        dst_path.display(),
        secs,
        report.bytes as f64 / (1u64 << 20) as f64 / secs,
        report.reads,
        report.writes,
        args.chunk >> 10,
        args.depth,
    );
    if self_test {
        if !common::same_contents(&src_path, &dst_path)? {
            return Err("self-test FAILED: the copy differs from the source".into());
        }
        println!("verified: the copy is identical to the source");
    }
    Ok(())
}

fn main() {
    let args = match parse_copy_args(1 << 20, 8) {
        Parsed::Run(args) => args,
        Parsed::Help => {
            println!("{USAGE}");
            return;
        }
        Parsed::Bad(msg) => {
            eprintln!("error: {msg}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
