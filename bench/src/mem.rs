//! `mem`: memory per idle connection (seed item 17, "memory usage profiling"). Each echo
//! suite server runs as a fresh process (safer-ring's `echo_server --threads 1` and the
//! bench's raw io-uring, tokio, monoio, tokio-uring and compio servers); after a warm-up of
//! a few connections (so code and first allocations are paged in), its `VmRSS` is read, then
//! 10,000 connections are opened one after another, each echoing 16 bytes once (checked) so
//! every per-connection structure is set up, and left idle; once the server holds an fd for
//! every one, `VmRSS` again: (growth) / 10,000 is the figure. The connections then close and
//! what the server kept (RSS after close) is reported too. Goal: safer-ring no more than tokio.

use std::net::TcpStream;
use std::time::Duration;

use crate::conns::{fd_count, open_idle, raise_fd_limit, rss_kib, wait_for_fds};
use crate::echo::{self, CONTENDERS, client};
use crate::report::Report;

/// Connections per measurement (the figure).
const IDLE: usize = 10_000;

/// Warm-up connections, echoed and closed before the first reading.
const WARM: usize = 16;

const CASE: &str = "10,000 idle conns";

const GOAL: &str = "mem RSS per idle connection safer-ring/tokio at 10,000 (memory per idle \
                    connection safe <= tokio)";

/// One server's figures: bytes per connection while idle and after all closed, base RSS.
struct Reading {
    idle: f64,
    after_close: f64,
    base_kib: f64,
}

fn measure(contender: Option<&str>, example: &std::path::Path) -> Result<Reading, String> {
    let mut server = echo::start(contender, example)?;
    let (pid, addr) = (server.child.id(), server.addr);
    drop(open_idle(addr, WARM)?);
    let fds0 = fd_count(pid).ok_or("cannot read the server's fds")?;
    wait_for_fds(pid, Duration::from_secs(5), |n| n <= fds0);
    std::thread::sleep(Duration::from_millis(100));
    let fds0 = fd_count(pid).ok_or("cannot read the server's fds")?;
    let rss0 = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let conns: Vec<TcpStream> = open_idle(addr, IDLE)?;
    let held = wait_for_fds(pid, Duration::from_secs(10), |n| n >= fds0 + IDLE);
    if held < fds0 + IDLE {
        return Err(format!(
            "the server holds {} connections, not {IDLE}",
            held.saturating_sub(fds0)
        ));
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss1 = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    drop(conns);
    wait_for_fds(pid, Duration::from_secs(10), |n| n <= fds0);
    std::thread::sleep(Duration::from_millis(300));
    let rss2 = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    server.stop();
    let per_conn = |kib: u64| (kib as f64 - rss0 as f64) * 1024.0 / IDLE as f64;
    Ok(Reading {
        idle: per_conn(rss1),
        after_close: per_conn(rss2),
        base_kib: rss0 as f64,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n => v[n / 2],
    }
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> Result<(), String> {
    // Memory is nearly deterministic: a median of 3 fresh servers, 1 with --quick.
    let rounds = if quick { 1 } else { rounds.min(3) };
    let limit = raise_fd_limit();
    if limit < (IDLE + 256) as u64 {
        report.not_run(
            GOAL,
            1.0,
            &format!("RLIMIT_NOFILE allows {limit} fds; {} needed", IDLE + 256),
        );
        return Ok(());
    }
    let example = echo::example_binary()?;
    let readings = std::thread::scope(|s| {
        s.spawn(|| {
            // The client side stays off the servers' core, as in the echo suite.
            client::pin_to(1).map_err(|e| format!("pin to CPU 1: {e}"))?;
            let mut readings: Vec<Vec<Reading>> = CONTENDERS.iter().map(|_| Vec::new()).collect();
            for r in 0..rounds {
                for k in 0..CONTENDERS.len() {
                    let i = (k + r) % CONTENDERS.len();
                    let (name, which) = CONTENDERS[i];
                    match measure(which, &example) {
                        Ok(m) => readings[i].push(m),
                        Err(e) => eprintln!("mem {name}: {e}"),
                    }
                }
            }
            Ok::<_, String>(readings)
        })
        .join()
        .map_err(|_| "mem suite panicked".to_string())?
    })?;
    for (&(contender, _), rs) in CONTENDERS.iter().zip(readings) {
        if rs.is_empty() {
            continue;
        }
        let pick = |f: fn(&Reading) -> f64| median(&mut rs.iter().map(f).collect::<Vec<_>>());
        let (i, a, b) = (
            pick(|m| m.idle),
            pick(|m| m.after_close),
            pick(|m| m.base_kib),
        );
        report.metric("mem", CASE, contender, "B/conn idle", i);
        report.metric("mem", CASE, contender, "B/conn closed", a);
        report.metric("mem", CASE, contender, "base RSS KiB", b);
    }
    let idle = |c: &str| {
        report
            .metric_value(CASE, c, "B/conn idle")
            .unwrap_or(f64::NAN)
    };
    let (safe, tokio) = (idle("safer-ring"), idle("tokio"));
    if safe.is_finite() && tokio.is_finite() && tokio > 0.0 {
        report.metric("mem", CASE, "safer-ring / tokio", "ratio", safe / tokio);
        report.ceiling(GOAL, safe / tokio, 1.0);
    } else {
        report.not_run(GOAL, 1.0, "a server could not be measured (see stderr)");
    }
    report.notes.push(format!(
        "mem: each server a fresh process (median of {rounds}); VmRSS (/proc/PID/status) \
         after {WARM} warm-up connections, then with {IDLE} idle connections open, each \
         having echoed 16 bytes once (checked): `B/conn idle` is the growth / {IDLE}; \
         `B/conn closed` what stayed once they all closed. safer-ring's example shares one \
         provided-buffer ring of 1,024 × 4 KiB (4 MiB, ~420 B per connection at {IDLE}, paged \
         in as the kernel fills each buffer once); the other servers keep a {} B buffer per \
         connection (tokio, monoio, tokio-uring, compio); raw shares a ring of 2,048 × {} B.",
        echo::servers::BUF,
        echo::servers::BUF
    ));
    Ok(())
}
