//! Many concurrent 4 KiB random reads of a file through a registered buffer pool
//! (`READ_FIXED` on a registered file), against the same reads with plain buffers and a
//! plain fd, interleaved in one run. Prints throughput, the ratio and the pool's statistics.
//!
//! ```text
//! cargo run --release --example buffer_pool [-- --file-mib 256 --reads 200000 --depth 32]
//! ```
//!
//! If the locked-memory limit is too low to register the pool, it says so and runs the
//! pool unregistered.

use std::time::Instant;

use futures::StreamExt;
use safer_ring::{AsTarget, BufferPool, File, PooledBuffer, Ring};

const BLOCK: u64 = 4096;

struct Args {
    file_mib: u64,
    reads: u64,
    depth: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        file_mib: 256,
        reads: 200_000,
        depth: 32,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--file-mib" => args.file_mib = value,
            "--reads" => args.reads = value,
            "--depth" => args.depth = value as usize,
            "--rounds" => args.rounds = value as usize,
            other => panic!("unknown flag {other} (--file-mib, --reads, --depth, --rounds)"),
        }
    }
    args
}

/// The offsets to read: a fixed pseudo-random walk over the file's blocks.
fn offsets(blocks: u64, n: u64) -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % blocks) * BLOCK
        })
        .collect()
}

/// Reads every offset, `depth` at a time; `fixed` uses READ_FIXED, else plain READ.
fn run(
    ring: &Ring,
    file: &impl AsTarget,
    pool: &BufferPool,
    offs: &[u64],
    depth: usize,
    fixed: bool,
) -> f64 {
    let start = Instant::now();
    let read = |offset: u64| async move {
        let buf: PooledBuffer = pool.get().await;
        let (n, buf) = if fixed {
            ring.read_fixed_at(file, buf, offset).await
        } else {
            ring.read_at(file, buf, offset).await
        };
        assert_eq!(n.expect("read"), BLOCK as usize);
        assert_eq!(
            buf.as_slice()[..8],
            offset.to_le_bytes(),
            "wrong block at {offset}"
        );
    };
    ring.block_on(
        futures::stream::iter(offs.iter().copied())
            .map(read)
            .buffer_unordered(depth)
            .collect::<()>(),
    );
    offs.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let blocks = args.file_mib * (1 << 20) / BLOCK;
    let mut data = vec![0u8; (blocks * BLOCK) as usize];
    for (i, block) in data.chunks_mut(BLOCK as usize).enumerate() {
        block[..8].copy_from_slice(&(i as u64 * BLOCK).to_le_bytes());
    }
    let tmp = tempfile::NamedTempFile::new()?;
    std::fs::write(tmp.path(), &data)?;
    drop(data);
    let ring = Ring::builder()
        .entries(args.depth.next_power_of_two() as u32 * 2)
        .build()?;
    let file = File::from(std::fs::File::open(tmp.path())?);
    let pool = BufferPool::new(args.depth, BLOCK as usize)?;
    println!(
        "{} random 4 KiB reads of a {} MiB page-cached file, {} in flight; pool placement: {:?}",
        args.reads,
        args.file_mib,
        args.depth,
        pool.placement()
    );
    let registered = match ring.register_pool(&pool) {
        Ok(()) => true,
        Err(e) => {
            println!("pool not registered, running it unregistered: {e}");
            false
        }
    };
    ring.register_files(1)?;
    let fixed_file = ring.register_file(&file)?;
    let offs = offsets(blocks, args.reads);
    run(
        &ring,
        &file,
        &pool,
        &offs[..offs.len() / 10],
        args.depth,
        false,
    ); // warm up
    let (mut plain, mut fixed) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let p = run(&ring, &file, &pool, &offs, args.depth, false);
        let f = run(&ring, &fixed_file, &pool, &offs, args.depth, registered);
        println!(
            "round {round}: plain {:7.0} k reads/s   fixed {:7.0} k reads/s   ratio {:.3}",
            p / 1e3,
            f / 1e3,
            f / p
        );
        plain.push(p);
        fixed.push(f);
    }
    plain.sort_by(f64::total_cmp);
    fixed.sort_by(f64::total_cmp);
    let (p, f) = (plain[plain.len() / 2], fixed[fixed.len() / 2]);
    println!(
        "fixed buffers + registered file / plain: {:.3} (medians)",
        f / p
    );
    let stats = pool.stats();
    println!(
        "pool: {} buffers of {} KiB, {} in use, {} free, high water {}, {} waits for a buffer",
        stats.capacity,
        pool.buffer_size() >> 10,
        stats.in_use,
        stats.free,
        stats.high_water,
        stats.waits
    );
    Ok(())
}
