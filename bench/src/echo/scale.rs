//! `scale`: `echo_server` on a `RingPool` of 1 and of 2 workers (`--threads`), 64
//! connections × 64 B, nothing pinned, interleaved round by round: requests/s and the server's
//! CPU per request. This machine has 2 cores and the load client needs one too, so 2 workers
//! cannot double the rate here; the CPU per request is what carries over to a bigger machine,
//! and the suite prints the estimate for 16 cores it implies, with the arithmetic.
//!
//! Then connection churn at 2 workers (`churn.rs`: connect, echo 64 B, reset, in a loop from
//! 8 client threads), `--accept reuseport` (a listener per worker, the kernel picks) against
//! `--accept handoff` (worker 0 accepts everything and hands every other connection to
//! worker 1 by `IORING_OP_MSG_RING`): which way of spreading connections wins.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{CASES, Server, churn, example_binary, round};
use crate::report::{Report, Row};
use crate::stats::Samples;

const WORKERS: [(&str, usize); 2] = [("1 worker", 1), ("2 workers", 2)];
const CASE: &str = "echo 64×64 B, unpinned";

const ACCEPTS: [(&str, &str); 2] = [
    ("reuseport, 2 workers", "reuseport"),
    ("handoff, 2 workers", "handoff"),
];
const CHURN: &str = "churn: connect+64 B+reset";

fn start(example: &std::path::Path, workers: usize, accept: &str) -> Result<Server, String> {
    let mut cmd = Command::new(example);
    let workers = workers.to_string();
    cmd.args([
        "--addr",
        "127.0.0.1:0",
        "--threads",
        &workers,
        "--accept",
        accept,
    ])
    .stderr(Stdio::inherit());
    Server::start(cmd, None)
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> Result<(), String> {
    let (warmup, window) = if quick {
        (Duration::from_millis(200), Duration::from_secs(1))
    } else {
        (Duration::from_millis(500), Duration::from_secs(3))
    };
    let example = example_binary()?;
    let servers = WORKERS
        .iter()
        .map(|&(_, n)| start(&example, n, "reuseport"))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<_> = WORKERS.iter().map(|w| w.0).collect();
    let samples = interleaved(&servers, &names, rounds, |server, s| {
        let m = round(server, &CASES[0], warmup, window, None)?;
        s.rates.push(m.rate);
        s.cpu_us.push(m.cpu_us);
        s.push_extra("server cores", m.busy);
        s.push_extra("client cores", m.client_busy);
        Ok(())
    })
    .map_err(|e| format!("{CASE}, {e}"))?;
    drop(servers);
    let cpu: Vec<f64> = samples.iter().map(Samples::cpu_median).collect();
    push_rows(report, CASE, &names, samples);
    report.notes.push(estimate(cpu[0], cpu[1]));
    churn_rows(report, &example, rounds, (warmup, window))
}

/// The churn rows: reuseport against hand-off, interleaved round by round, and a note
/// saying which won.
fn churn_rows(
    report: &mut Report,
    example: &std::path::Path,
    rounds: usize,
    (warmup, window): (Duration, Duration),
) -> Result<(), String> {
    let servers = ACCEPTS
        .iter()
        .map(|&(_, mode)| start(example, 2, mode))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<_> = ACCEPTS.iter().map(|a| a.0).collect();
    let samples = interleaved(&servers, &names, rounds, |server, s| {
        let m = churn::round(server, warmup, window)?;
        s.rates.push(m.rate);
        s.cpu_us.push(m.cpu_us);
        Ok(())
    })
    .map_err(|e| format!("{CHURN}, {e}"))?;
    drop(servers);
    let rates: Vec<f64> = samples.iter().map(Samples::median).collect();
    let cpu: Vec<f64> = samples.iter().map(Samples::cpu_median).collect();
    push_rows(report, CHURN, &names, samples);
    report.notes.push(churn_note(&rates, &cpu));
    Ok(())
}

/// Measures each server `rounds` times, interleaved: round `r` starts with server `r`, so
/// drift over the run falls on every server alike. An error names the server.
fn interleaved(
    servers: &[Server],
    names: &[&str],
    rounds: usize,
    mut measure: impl FnMut(&Server, &mut Samples) -> Result<(), String>,
) -> Result<Vec<Samples>, String> {
    let mut samples = vec![Samples::default(); servers.len()];
    for r in 0..rounds {
        for k in 0..servers.len() {
            let i = (k + r) % servers.len();
            measure(&servers[i], &mut samples[i]).map_err(|e| format!("{}: {e}", names[i]))?;
        }
    }
    Ok(samples)
}

/// One `scale` row per contender, in order.
fn push_rows(report: &mut Report, case: &str, contenders: &[&'static str], samples: Vec<Samples>) {
    for (&contender, samples) in contenders.iter().zip(samples) {
        report.rows.push(Row {
            suite: "scale",
            case: case.to_owned(),
            contender,
            samples,
        });
    }
}

/// Which way of spreading connections won the churn rounds, by rate and by server CPU.
fn churn_note(rates: &[f64], cpu: &[f64]) -> String {
    let (winner, loser) = if rates[0] >= rates[1] { (0, 1) } else { (1, 0) };
    format!(
        "scale churn: {} wins, {:.0} vs {:.0} connections/s ({:.2}×), server CPU per \
         connection {:.1} µs vs {:.1} µs. Hand-off costs the acceptor a file registration and \
         its removal per connection (two io_uring_register calls) on one core, and every \
         handed connection a message; SO_REUSEPORT accepts on every worker at once with no \
         cross-ring traffic, but spreads connections by hash (unevenly for few clients).",
        ACCEPTS[winner].1,
        rates[winner],
        rates[loser],
        rates[winner] / rates[loser],
        cpu[winner],
        cpu[loser],
    )
}

/// The 16-core estimate from the measured server CPU per request at 1 and 2 workers.
fn estimate(cpu1_us: f64, cpu2_us: f64) -> String {
    let per_core = 1e6 / cpu2_us;
    format!(
        "scale: server CPU per request {cpu1_us:.2} µs at 1 worker, {cpu2_us:.2} µs at 2 \
         ({:+.0} %: the load client is one thread, so at 1 worker it and the server each keep \
         a core busy, while at 2 workers three threads share the 2 cores and each worker, less \
         loaded, batches less per io_uring_enter; the rates here are the client's limit, not \
         the server's). Each worker has its own ring, \
         listener (SO_REUSEPORT) and buffer ring, and no request crosses workers (no cross-core \
         wake-up on the request path), so with the load coming from elsewhere a worker per core \
         serves 1e6 / {cpu2_us:.2} = {per_core:.0} req/s; 16 cores: 16 × {per_core:.0} = \
         {:.2} M req/s. Not measured here: this counts only the server side of loopback TCP \
         (the sender's context does part of the receiver's kernel work), and ignores NIC, \
         memory-bandwidth and lock contention in the kernel's TCP stack past 2 cores.",
        (cpu2_us / cpu1_us - 1.0) * 100.0,
        16.0 * per_core / 1e6,
    )
}
