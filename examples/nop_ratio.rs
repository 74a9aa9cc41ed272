//! NOP throughput through the safe API vs the raw `io-uring` crate, interleaved in one run.
//!
//! ```text
//! cargo run --release --example nop_ratio [-- --ops 10000000 --batch 32 --rounds 5]
//! ```
//!
//! Both sides use the same ring setup (`SINGLE_ISSUER | DEFER_TASKRUN`), submit `batch` NOPs,
//! enter the kernel once and reap them. Rounds alternate safe/raw so machine drift hits both;
//! the ratio compares medians.

#![allow(unsafe_code)] // the raw baseline is written directly on the io-uring crate

use std::time::Instant;

use io_uring::{IoUring, opcode};
use safer_ring::Ring;

struct Args {
    ops: u64,
    batch: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        ops: 10_000_000,
        batch: 32,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let parse = |v: &str| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("bad {flag}: {v}"))
        };
        match flag.as_str() {
            "--ops" => args.ops = parse(&value),
            "--batch" => args.batch = parse(&value) as usize,
            "--rounds" => args.rounds = parse(&value) as usize,
            other => panic!("unknown flag {other} (use --ops, --batch, --rounds)"),
        }
    }
    args
}

/// NOPs per second through the safe API, `batch` at a time.
fn safe_round(ring: &Ring, ops: u64, batch: usize) -> f64 {
    let mut inflight = Vec::with_capacity(batch);
    let start = Instant::now();
    let mut done = 0;
    while done < ops {
        for _ in 0..batch {
            inflight.push(ring.nop().submit().expect("submit"));
        }
        for op in inflight.drain(..) {
            op.wait().expect("nop");
        }
        done += batch as u64;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

/// NOPs per second written directly on the `io-uring` crate, `batch` at a time.
fn raw_round(ring: &mut IoUring, ops: u64, batch: usize) -> f64 {
    let start = Instant::now();
    let mut done = 0;
    while done < ops {
        {
            let mut sq = ring.submission();
            for i in 0..batch {
                let nop = opcode::Nop::new().build().user_data(i as u64);
                // SAFETY: a NOP names no memory.
                unsafe { sq.push(&nop).expect("sq has room for a batch") };
            }
        }
        ring.submit_and_wait(batch).expect("submit_and_wait");
        let mut seen = 0;
        for cqe in ring.completion() {
            assert!(cqe.result() >= 0);
            seen += 1;
        }
        assert_eq!(seen, batch);
        done += batch as u64;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> safer_ring::Result<()> {
    let args = parse_args();
    let entries = (args.batch as u32).next_power_of_two().max(8);
    let safe = Ring::builder().entries(entries).build()?;
    let mut raw = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 2)
        .build(entries)?;
    let per_round = args.ops / args.rounds as u64;
    println!(
        "{} NOPs in batches of {}, {} interleaved rounds (safe flags: {:?})",
        args.ops,
        args.batch,
        args.rounds,
        safe.setup_flags()
    );
    safe_round(&safe, per_round / 10, args.batch); // warm up both
    raw_round(&mut raw, per_round / 10, args.batch);
    let (mut safe_rates, mut raw_rates) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let s = safe_round(&safe, per_round, args.batch);
        let r = raw_round(&mut raw, per_round, args.batch);
        println!(
            "round {round}: safe {:6.2} M/s   raw {:6.2} M/s   ratio {:.3}",
            s / 1e6,
            r / 1e6,
            s / r
        );
        safe_rates.push(s);
        raw_rates.push(r);
    }
    let (s, r) = (median(safe_rates), median(raw_rates));
    println!(
        "median: safe {:.2} M NOP/s, raw {:.2} M NOP/s",
        s / 1e6,
        r / 1e6
    );
    println!("nop safe/raw ratio: {:.3}", s / r);
    Ok(())
}
