//! Stress: mixed operations with random cancellation on two threads, each with its own
//! ring. Completions must equal submissions, every buffer must come back, and memory must
//! stay flat. The CI runs a short form; the full 10 million operations run with
//! `SAFER_RING_STRESS_OPS=10000000 cargo test --release --test stress -- --nocapture`.

mod common;

use common::{feed, pipe};
use safer_ring::{File, Ring};

fn ops_per_thread() -> u64 {
    std::env::var("SAFER_RING_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(200_000)
        / 2
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One thread's workload; returns the number of operations submitted.
fn worker(seed: u64, target: u64) -> u64 {
    let ring = Ring::new(32).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    let (reader, mut writer) = pipe();
    let mut rng = Rng(seed);
    let mut wbuf = Vec::with_capacity(8);
    let mut rbuf = Vec::with_capacity(8);
    while ring.stats().submitted < target {
        match rng.next() % 4 {
            0 => ring.nop().submit().unwrap().wait().unwrap(),
            1 => {
                let off = (rng.next() % 1024) * 64;
                let word = rng.next().to_le_bytes();
                wbuf.clear();
                wbuf.extend_from_slice(&word);
                let (n, back) = ring.write_at(&file, wbuf, off).submit().unwrap().wait();
                assert_eq!(n.unwrap(), 8);
                wbuf = back;
                let (n, back) = ring.read_at(&file, rbuf, off).submit().unwrap().wait();
                assert_eq!(n.unwrap(), 8);
                assert_eq!(back, word, "read back what was written");
                rbuf = back;
            }
            2 => {
                let read = ring.read(&reader, Vec::with_capacity(16)).submit().unwrap();
                if rng.next().is_multiple_of(2) {
                    drop(read); // cancelled mid-flight
                    while ring.live_slots() > 0 {
                        ring.turn(true).unwrap();
                    }
                } else {
                    feed(&mut writer, b"stress!!");
                    let (n, got) = read.wait();
                    assert_eq!(&got[..n.unwrap()], b"stress!!");
                }
            }
            _ => {
                let nops: Vec<_> = (0..8).map(|_| ring.nop().submit().unwrap()).collect();
                let keep = (rng.next() % 8) as usize;
                for (i, op) in nops.into_iter().enumerate() {
                    if i < keep {
                        op.wait().unwrap();
                    } // the rest are dropped, possibly mid-flight
                }
            }
        }
    }
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    let stats = ring.stats();
    assert_eq!(
        stats.completed, stats.submitted,
        "completions == submissions"
    );
    assert_eq!(stats.stale_cqes, 0);
    stats.submitted
}

#[test]
fn two_threads_mixed_operations_with_random_cancellation() {
    let per_thread = ops_per_thread();
    worker(1, 2_000); // warm up allocator and page cache
    let rss_start = rss_kib();
    let threads: Vec<_> = (0..2u64)
        .map(|t| std::thread::spawn(move || worker(0x9E37_79B9 + t, per_thread)))
        .collect();
    let mut peak = rss_start;
    let mut total = 0;
    for t in threads {
        while !t.is_finished() {
            peak = peak.max(rss_kib());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        total += t.join().unwrap();
    }
    let growth = peak.saturating_sub(rss_start);
    println!("{total} operations on 2 threads; RSS {rss_start} KiB -> peak {peak} KiB");
    assert!(total >= 2 * per_thread);
    assert!(
        growth < 32 * 1024,
        "RSS grew by {growth} KiB: memory is not flat"
    );
}
