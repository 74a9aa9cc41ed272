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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use safer_ring::{File, OpenOptions, Ring};

struct Args {
    src: Option<PathBuf>,
    dst: Option<PathBuf>,
    chunk: usize,
    depth: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        src: None,
        dst: None,
        chunk: 1 << 20,
        depth: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--chunk" => args.chunk = number("--chunk")? << 10,
            "--depth" => args.depth = number("--depth")?,
            "-h" | "--help" => return Err(String::new()),
            _ if args.src.is_none() => args.src = Some(arg.into()),
            _ if args.dst.is_none() => args.dst = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    if args.chunk == 0 || args.depth == 0 {
        return Err("--chunk and --depth must be positive".into());
    }
    if args.src.is_some() != args.dst.is_some() {
        return Err("give both SRC and DST, or neither for the self-test".into());
    }
    Ok(args)
}

/// What one copy did.
struct Report {
    bytes: u64,
    reads: u64,
    writes: u64,
    elapsed: Duration,
}

/// Copies `len` bytes: `depth` workers each own one buffer and take every `depth`-th chunk.
fn copy(ring: &Ring, src: &File, dst: &File, len: u64, args: &Args) -> safer_ring::Result<Report> {
    let start = Instant::now();
    let chunks = len.div_ceil(args.chunk as u64);
    let progress = Progress::new(len);
    let workers: Vec<_> = (0..args.depth as u64)
        .map(|first| copy_worker(ring, src, dst, len, args, first, &progress))
        .collect();
    for result in ring.block_on(futures::future::join_all(workers)) {
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
    args: &Args,
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

/// Prints progress to stderr about once a second on long copies.
struct Progress {
    total: u64,
    state: std::cell::Cell<(u64, Instant)>,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            total,
            state: std::cell::Cell::new((0, Instant::now())),
        }
    }

    fn add(&self, bytes: u64) {
        let (done, last) = self.state.get();
        let done = done + bytes;
        if last.elapsed() >= Duration::from_secs(1) && done < self.total {
            eprintln!("  ... {} / {} MiB", done >> 20, self.total >> 20);
            self.state.set((done, Instant::now()));
        } else {
            self.state.set((done, last));
        }
    }
}

fn make_source(path: &Path, len: usize) -> std::io::Result<()> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, data)
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
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
        let same = std::fs::read(&src_path)? == std::fs::read(&dst_path)?;
        if !same {
            return Err("self-test FAILED: the copy differs from the source".into());
        }
        println!("verified: the copy is identical to the source");
    }
    Ok(())
}

/// Refuses a destination that is the source itself — the same path, a symlink to it or a
/// hard link (same device and inode) — before anything truncates it: opening it for writing
/// would destroy the data about to be read.
fn refuse_same_file(src: &Path, dst: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let src_meta =
        std::fs::metadata(src).map_err(|e| format!("cannot stat {}: {e}", src.display()))?;
    match std::fs::metadata(dst) {
        Ok(dst_meta) if (dst_meta.dev(), dst_meta.ino()) == (src_meta.dev(), src_meta.ino()) => {
            Err(format!(
                "refusing to copy {} onto itself: {} is the same file; nothing was changed",
                src.display(),
                dst.display()
            ))
        }
        _ => Ok(()),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            eprintln!("usage: copy [SRC DST] [--chunk KiB] [--depth N]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
