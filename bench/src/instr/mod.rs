//! `instr`: user-space instructions per NOP and per 4 KiB read, safe vs raw io-uring, counted
//! by `valgrind --tool=callgrind` (deterministic; these VMs have no hardware counters).
//!
//! The harness runs itself under callgrind with a hidden subcommand
//! (`__instr-worker KIND N [FILE]`) that does N operations in batches of 32 on one path, at two
//! values of N; (Ir(2N) - Ir(N)) / N is the cost of one operation with every setup cost
//! (process start, ring setup, registration) cancelled out. The read also runs on the peers
//! (`peers.rs`: monoio, tokio-uring, compio), in their cheapest idiomatic form.
//!
//! The tracing rows run the same safe NOP and read in the harness built with `--features
//! tracing` (`safer-ring-bench-tracing`, beside this binary): compiled in with no subscriber,
//! and with a `tracing-subscriber` formatter at TRACE writing every event to a sink (a
//! worker kind ending in `+sink`).

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use io_uring::IoUring;
use safer_ring::{File, Ring};

use crate::peers;
use crate::report::Report;
use crate::work::{self, BLOCK};

const BATCH: usize = 32;
const FILE_BLOCKS: u64 = 64;
const WORKER: &str = "__instr-worker";

/// (worker kind, case, contender).
const PATHS: &[(&str, &str, &str)] = &[
    ("nop-safe", "NOP batch 32", "safe"),
    ("nop-await", "NOP batch 32", "safe .await"),
    ("nop-raw", "NOP batch 32", "raw io-uring"),
    ("read-safe", "read 4 KiB batch 32", "safe"),
    ("read-await", "read 4 KiB batch 32", "safe .await"),
    ("read-raw", "read 4 KiB batch 32", "raw io-uring"),
    ("read-monoio", "read 4 KiB batch 32", "monoio"),
    ("read-tokio-uring", "read 4 KiB batch 32", "tokio-uring"),
    ("read-compio", "read 4 KiB batch 32", "compio"),
];

/// The peers on the read: contender name, and the label of the ratio to it.
const PEERS: &[(&str, &str)] = &[
    ("monoio", "safe .await / monoio"),
    ("tokio-uring", "safe .await / tokio-uring"),
    ("compio", "safe .await / compio"),
];

/// If this process was started as a callgrind worker, does the work and exits.
pub fn worker_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(WORKER) {
        return;
    }
    let kind = args.get(1).map_or("", String::as_str);
    let kind = match kind.strip_suffix(SINK) {
        Some(kind) => {
            tracing_sink();
            kind
        }
        None => kind,
    };
    let n: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    let file = args
        .get(3)
        .map(|p| std::fs::File::open(p).expect("open the read file"));
    let batches = n / BATCH as u64;
    match (kind, file) {
        ("nop-safe", _) => {
            let ring = Ring::builder().entries(64).build().expect("ring");
            let mut held = Vec::with_capacity(BATCH);
            for _ in 0..batches {
                work::safe_nops(&ring, &mut held, BATCH);
            }
        }
        ("nop-await", _) => {
            let ring = Ring::builder().entries(64).build().expect("ring");
            ring.block_on(async {
                let mut held = Vec::with_capacity(BATCH);
                for _ in 0..batches {
                    work::safe_nops_await(&ring, &mut held, BATCH).await;
                }
            });
        }
        ("nop-raw", _) => {
            let mut ring = raw_ring();
            for _ in 0..batches {
                work::raw_nops(&mut ring, BATCH);
            }
        }
        ("read-safe", Some(f)) => {
            let ring = Ring::builder().entries(64).build().expect("ring");
            let file = File::from(f);
            let mut spare = spare_bufs();
            let mut held = Vec::with_capacity(BATCH);
            for b in 0..batches {
                work::safe_reads(&ring, &file, &mut spare, &mut held, |k| offset(b, k));
            }
        }
        ("read-await", Some(f)) => {
            let ring = Ring::builder().entries(64).build().expect("ring");
            let file = File::from(f);
            ring.block_on(async {
                let mut spare = spare_bufs();
                let mut held = Vec::with_capacity(BATCH);
                for b in 0..batches {
                    work::safe_reads_await(&ring, &file, &mut spare, &mut held, |k| offset(b, k))
                        .await;
                }
            });
        }
        ("read-raw", Some(f)) => {
            let mut ring = raw_ring();
            let fd = f.as_raw_fd();
            let mut bufs = vec![vec![0u8; BLOCK]; BATCH];
            for b in 0..batches {
                work::raw_reads(&mut ring, fd, &mut bufs, |k| offset(b, k));
            }
        }
        ("read-monoio", Some(_)) => peers::monoio_reads(Path::new(&args[3]), &offsets(n), BATCH),
        ("read-tokio-uring", Some(_)) => {
            peers::tokio_uring_reads(Path::new(&args[3]), &offsets(n), BATCH);
        }
        ("read-compio", Some(_)) => peers::compio_reads(Path::new(&args[3]), &offsets(n), BATCH),
        _ => {
            eprintln!(
                "usage: {WORKER} nop-safe|nop-await|nop-raw|read-safe|read-await|read-raw|\
                 read-monoio|read-tokio-uring|read-compio N [FILE]"
            );
            std::process::exit(2);
        }
    }
    std::process::exit(0);
}

/// A worker kind's suffix: run with a TRACE subscriber writing to a sink.
const SINK: &str = "+sink";

/// Installs a formatting subscriber at TRACE that writes every event to a sink.
#[cfg(feature = "tracing")]
fn tracing_sink() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::sink)
        .init();
}

#[cfg(not(feature = "tracing"))]
fn tracing_sink() {
    eprintln!("{WORKER}: a {SINK} kind needs the harness built with --features tracing");
    std::process::exit(2);
}

fn raw_ring() -> IoUring {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)
        .expect("raw ring")
}

fn spare_bufs() -> Vec<Vec<u8>> {
    (0..BATCH).map(|_| Vec::with_capacity(BLOCK)).collect()
}

/// The offsets of `n` reads in batch order (the k-th of a batch at `offset(batch, k)`), for
/// the peers' tasks to share.
fn offsets(n: u64) -> std::rc::Rc<[u64]> {
    (0..n)
        .map(|i| offset(i / BATCH as u64, (i % BATCH as u64) as usize))
        .collect()
}

fn offset(batch: u64, k: usize) -> u64 {
    ((batch * BATCH as u64 + k as u64) % FILE_BLOCKS) * BLOCK as u64
}

/// Instructions per operation of worker `kind` of the harness `exe`: (Ir(2N) - Ir(N)) / N.
fn ir_per_op(exe: &Path, dir: &Path, kind: &str, n: u64, file: &Path) -> Result<f64, String> {
    let a = callgrind_ir(exe, dir, kind, n, file)?;
    let b = callgrind_ir(exe, dir, kind, 2 * n, file)?;
    Ok(b.saturating_sub(a) as f64 / (n / BATCH as u64 * BATCH as u64) as f64)
}

/// Total instructions (`Ir`) of one worker run under callgrind.
fn callgrind_ir(exe: &Path, dir: &Path, kind: &str, n: u64, file: &Path) -> Result<u64, String> {
    let out = dir.join(format!("callgrind.{kind}.{n}"));
    let run = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--quiet")
        .arg(exe)
        .args([WORKER, kind, &n.to_string()])
        .arg(file)
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "valgrind {kind} {n} failed ({}): {}",
            run.status,
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    total_ir(&text).ok_or_else(|| format!("no totals:/summary: line in {}", out.display()))
}

/// The first event count (`Ir`) of a callgrind output file's `totals:` line, or else of its
/// `summary:` line.
fn total_ir(text: &str) -> Option<u64> {
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    line("totals:").or_else(|| line("summary:"))
}

fn valgrind_version() -> Option<String> {
    let out = Command::new("valgrind").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn run(report: &mut Report, _rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let goals = [
        ("instr NOP batch 32 safe/raw Ir per op", "NOP batch 32"),
        (
            "instr read 4 KiB batch 32 safe/raw Ir per op",
            "read 4 KiB batch 32",
        ),
    ];
    let Some(version) = valgrind_version() else {
        for (goal, _) in goals {
            report.not_run(
                goal,
                2.0,
                "valgrind not installed (apt-get install valgrind)",
            );
        }
        return Ok(());
    };
    let n: u64 = if quick { 8_000 } else { 20_000 };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("read.bin");
    std::fs::write(&file, vec![3u8; FILE_BLOCKS as usize * BLOCK])?;
    let mut failure = None;
    let exe = std::env::current_exe()?;
    for (kind, case, contender) in PATHS {
        match ir_per_op(&exe, dir.path(), kind, n, &file) {
            Ok(per_op) => report.metric("instr", case, contender, "Ir/op", per_op),
            Err(e) => {
                eprintln!("instr: {e}");
                failure = Some(e);
            }
        }
    }
    for (goal, case) in goals {
        let safe = report.metric_value(case, "safe", "Ir/op");
        let awaited = report.metric_value(case, "safe .await", "Ir/op");
        let raw = report.metric_value(case, "raw io-uring", "Ir/op");
        match (safe, raw) {
            (Some(s), Some(r)) => {
                report.metric("instr", case, "safe / raw", "Ir ratio", s / r);
                report.ceiling(goal, s / r, 2.0);
                if let Some(a) = awaited {
                    report.metric("instr", case, "safe .await / raw", "Ir ratio", a / r);
                    report.ceiling(&format!("{goal} (.await)"), a / r, 2.0);
                }
            }
            _ => report.not_run(goal, 2.0, failure.as_deref().unwrap_or("no measurement")),
        }
    }
    peer_goal(report, failure.as_deref());
    tracing_rows(report, &exe, (dir.path(), &file), n);
    report.notes.push(format!(
        "instr: user-space instructions (callgrind `Ir`, {version}) per operation, batches of \
         {BATCH}: each path runs as a separate process under callgrind at N = {n} and {}, and \
         (Ir(2N) - Ir(N)) / N cancels process start and ring setup. Kernel work is not counted. \
         Deterministic: one run per N, no rounds.",
        2 * n
    ));
    Ok(())
}

/// The tracing rows: (worker kind in the tracing build, case, contender).
const TRACED: &[(&str, &str, &str)] = &[
    ("nop-safe", "NOP batch 32", "safe, tracing in"),
    ("nop-safe+sink", "NOP batch 32", "safe, tracing + sink"),
    ("read-safe", "read 4 KiB batch 32", "safe, tracing in"),
    (
        "read-safe+sink",
        "read 4 KiB batch 32",
        "safe, tracing + sink",
    ),
];

/// The most the `tracing` feature may cost compiled in without a subscriber.
const TRACING_AT_MOST: f64 = 1.05;

/// The `tracing` feature's cost: the safe NOP and read compiled in (no subscriber, and a
/// TRACE subscriber writing to a sink) over the same work compiled out (the `safe` rows).
fn tracing_rows(report: &mut Report, exe: &Path, (dir, file): (&Path, &Path), n: u64) {
    let cases = ["NOP batch 32", "read 4 KiB batch 32"];
    let goal = |case| format!("instr {case} tracing compiled in, no subscriber / out Ir per op");
    let traced = exe.with_file_name("safer-ring-bench-tracing");
    if !traced.exists() {
        let why = format!(
            "no {} (cargo build --release -p safer-ring-bench --features tracing, copied there)",
            traced.display()
        );
        for case in cases {
            report.not_run(&goal(case), TRACING_AT_MOST, &why);
        }
        return;
    }
    let mut failure = None;
    for (kind, case, contender) in TRACED {
        match ir_per_op(&traced, dir, kind, n, file) {
            Ok(per_op) => report.metric("instr", case, contender, "Ir/op", per_op),
            Err(e) => {
                eprintln!("instr: {e}");
                failure = Some(e);
            }
        }
    }
    for case in cases {
        let ratio = |contender| {
            let ir = |contender| report.metric_value(case, contender, "Ir/op");
            Some(ir(contender)? / ir("safe")?)
        };
        let (compiled_in, sink) = (ratio("safe, tracing in"), ratio("safe, tracing + sink"));
        if let Some(sink) = sink {
            report.metric("instr", case, "tracing + sink / out", "Ir ratio", sink);
        }
        match compiled_in {
            Some(r) => {
                report.metric("instr", case, "tracing in / out", "Ir ratio", r);
                report.ceiling(&goal(case), r, TRACING_AT_MOST);
            }
            None => report.not_run(
                &goal(case),
                TRACING_AT_MOST,
                failure.as_deref().unwrap_or("no measurement"),
            ),
        }
    }
}

/// The lead over the peers: the safe `.await` read below half the cheapest peer's Ir/op.
fn peer_goal(report: &mut Report, failure: Option<&str>) {
    let case = "read 4 KiB batch 32";
    let goal = "instr read 4 KiB safe .await / cheapest peer Ir per op";
    let cheapest = PEERS
        .iter()
        .filter_map(|&(peer, label)| Some((report.metric_value(case, peer, "Ir/op")?, label)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match (report.metric_value(case, "safe .await", "Ir/op"), cheapest) {
        (Some(safe), Some((ir, label))) => {
            report.metric("instr", case, label, "Ir ratio", safe / ir);
            report.ceiling(goal, safe / ir, 0.5);
        }
        _ => report.not_run(goal, 0.5, failure.unwrap_or("no measurement")),
    }
}

#[cfg(test)]
mod tests {
    use super::total_ir;

    #[test]
    fn reads_totals_then_summary() {
        let out = "version: 1\nevents: Ir\nfn=main\n1 5\nsummary: 1234\n\ntotals: 1200 7\n";
        assert_eq!(total_ir(out), Some(1200));
        assert_eq!(total_ir("events: Ir\nsummary: 99\n"), Some(99));
        assert_eq!(total_ir("events: Ir\n"), None);
    }
}
