//! Copies a file with linked read→write chains: each chunk is one chain — a read into a
//! buffer the two entries share, then (`IOSQE_IO_LINK`) a write of it — so the kernel starts
//! the write the moment the read finished, without a trip back to user space. `--depth`
//! chains are in flight at once. The last, short chunk breaks its chain (the read came up
//! short, the write reports cancelled-by-chain) and is written on its own.
//!
//! ```text
//! cargo run --release --example chain_copy                      # self-test on a 64 MiB temp file
//! cargo run --release --example chain_copy -- SRC DST [--chunk KiB] [--depth N]
//! ```
//!
//! It verifies the copy byte for byte and prints `chain_copy: N bytes in T s`; on a terminal
//! it shows progress while it runs.

use std::path::Path;
use std::time::Instant;

use safer_ring::buf::SharedBuf;
use safer_ring::{File, OpenOptions, Ring, SaferRingError};

mod common;
use common::{CopyArgs, Parsed, Progress, make_source, parse_copy_args, refuse_same_file};

const USAGE: &str = "usage: chain_copy [SRC DST] [--chunk KiB] [--depth N]";

/// Hands out chunk offsets to the workers.
struct Chunks {
    next: std::cell::Cell<u64>,
    len: u64,
    size: u64,
}

impl Chunks {
    fn claim(&self) -> Option<u64> {
        let offset = self.next.get();
        (offset < self.len).then(|| {
            self.next.set(offset + self.size);
            offset
        })
    }
}

/// One of `depth` workers: claims chunks and copies each with one linked chain.
async fn worker(
    ring: &Ring,
    (src, dst): (&File, &File),
    chunks: &Chunks,
    progress: &Progress,
) -> Result<(), String> {
    let chunk = chunks.size as usize;
    let mut buf = vec![0u8; chunk];
    while let Some(offset) = chunks.claim() {
        buf.resize(chunk, 0); // the write's length is the buffer's length at submission
        let shared = SharedBuf::new(buf);
        let chain = ring.chain((
            ring.read_at(src, shared.clone(), offset),
            ring.write_at(dst, shared.clone(), offset),
        ));
        let ((read, r), (wrote, w)) = chain.await;
        drop((r, w));
        buf = shared
            .try_unwrap()
            .expect("both entries are done with the buffer");
        let n = read.map_err(|e| format!("reading at {offset}: {e}"))?;
        match wrote {
            Ok(written) if written == n => progress.add(n as u64),
            Ok(written) => {
                // A short write: finish the chunk on its own.
                let (res, back) = ring
                    .write_all_at(dst, buf.split_off(written), offset + written as u64)
                    .await;
                res.map_err(|e| format!("writing at {offset}: {e}"))?;
                buf.extend_from_slice(&back);
                progress.add(n as u64);
            }
            // The read came up short (the file's last chunk): write what it read.
            Err(SaferRingError::CancelledByChain { .. }) => {
                buf.truncate(n);
                let (res, back) = ring.write_all_at(dst, buf, offset).await;
                res.map_err(|e| format!("writing at {offset}: {e}"))?;
                buf = back;
                progress.add(n as u64);
            }
            Err(e) => return Err(format!("writing at {offset}: {e}")),
        }
    }
    Ok(())
}

fn copy(src_path: &Path, dst_path: &Path, args: &CopyArgs) -> Result<u64, String> {
    let ring = Ring::new((args.depth * 2).next_power_of_two() as u32)
        .map_err(|e| format!("cannot set up io_uring: {e}"))?;
    let src = ring
        .open(src_path, OpenOptions::new())
        .submit()
        .map_err(|e| e.to_string())?
        .wait()
        .map_err(|e| format!("cannot open {}: {e}", src_path.display()))?;
    let len = std::fs::metadata(src_path)
        .map_err(|e| format!("cannot stat {}: {e}", src_path.display()))?
        .len();
    refuse_same_file(src_path, dst_path)?;
    let opts = OpenOptions::new().write(true).create(true).truncate(true);
    let dst = ring
        .open(dst_path, opts)
        .submit()
        .map_err(|e| e.to_string())?
        .wait()
        .map_err(|e| format!("cannot create {}: {e}", dst_path.display()))?;
    let chunks = Chunks {
        next: std::cell::Cell::new(0),
        len,
        size: args.chunk as u64,
    };
    let progress = Progress::new("chain_copy", len);
    let workers = (0..args.depth).map(|_| worker(&ring, (&src, &dst), &chunks, &progress));
    let results = ring.block_on(futures::future::join_all(workers));
    progress.finish();
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    ring.block_on(ring.fdatasync(&dst))
        .map_err(|e| format!("cannot sync {}: {e}", dst_path.display()))?;
    Ok(progress.done())
}

fn main() -> std::process::ExitCode {
    let args = match parse_copy_args(256 << 10, 16) {
        Parsed::Run(args) => args,
        Parsed::Help => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Parsed::Bad(msg) => {
            eprintln!("chain_copy: {msg}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("chain_copy: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &CopyArgs) -> Result<(), String> {
    let tmp;
    let (src, dst) = match (&args.src, &args.dst) {
        (Some(src), Some(dst)) => (src.clone(), dst.clone()),
        _ => {
            tmp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            let src = tmp.path().join("source");
            make_source(&src, (64 << 20) + 12_345)
                .map_err(|e| format!("{}: {e}", src.display()))?;
            (src, tmp.path().join("copy"))
        }
    };
    let start = Instant::now();
    let bytes = copy(&src, &dst, args)?;
    let secs = start.elapsed().as_secs_f64();
    match common::same_contents(&src, &dst) {
        Ok(true) => {}
        Ok(false) => return Err("the copy differs from the source".into()),
        Err(e) => return Err(format!("cannot verify the copy: {e}")),
    }
    println!("chain_copy: {bytes} bytes in {secs:.3} s");
    Ok(())
}
