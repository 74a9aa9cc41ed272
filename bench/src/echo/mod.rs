//! `echo`: TCP echo over loopback. safer-ring's `echo_server` example against the same server
//! written on the raw `io-uring` crate (`SINGLE_ISSUER|DEFER_TASKRUN`), tokio (epoll,
//! current-thread), monoio, tokio-uring and compio. Every server is its own process pinned to
//! CPU 0; one load client (`client.rs`) drives them all from CPU 1. Cases: 64 connections ×
//! 64 B and 512 × 4 KiB for throughput, 1 × 64 B for latency. A throughput round where the
//! server got less than 95 % of its core measured the client, not the server: it is dropped
//! and counted as dropped.

mod buf_ring;
mod churn;
pub mod client;
pub mod scale;
pub mod servers;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::report::{Goal, Report, Row};
use crate::stats::Samples;
use client::Progress;

/// A contender: its name in the table and the server it runs (`None`: safer-ring's example).
pub(crate) const CONTENDERS: &[(&str, Option<&str>)] = &[
    ("safer-ring", None),
    ("raw+DEFER", Some("raw")),
    ("tokio", Some("tokio")),
    ("monoio", Some("monoio")),
    ("tokio-uring", Some("tokio-uring")),
    ("compio", Some("compio")),
];

struct Case {
    name: &'static str,
    connections: usize,
    size: usize,
    latency: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "64×64 B",
        connections: 64,
        size: 64,
        latency: false,
    },
    Case {
        name: "512×4 KiB",
        connections: 512,
        size: 4096,
        latency: false,
    },
    Case {
        name: "1×64 B latency",
        connections: 1,
        size: 64,
        latency: true,
    },
];

/// A throughput round counts only if the server was busy at least this share of the window.
const MIN_BUSY: f64 = 0.95;

const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

/// A server process, pinned to CPU 0 unless started otherwise; killed (SIGINT, then SIGKILL)
/// when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    stdout: BufReader<ChildStdout>,
    pub(crate) addr: SocketAddr,
    stopped: bool,
}

impl Server {
    fn start(mut cmd: Command, cpu: Option<usize>) -> Result<Server, String> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls (sigaction through signal, sched_setaffinity).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                // SIGINT stops every server, even if this harness was started with it ignored
                // (as a shell does for background jobs).
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                cpu.map_or(Ok(()), client::pin_to)
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        // Guard the child before anything else can fail.
        let mut server = Server {
            child,
            stdout: BufReader::new(stdout),
            addr: "0.0.0.0:0".parse().expect("literal address"),
            stopped: false,
        };
        let mut line = String::new();
        server
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading {cmd:?}: {e}"))?;
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{cmd:?} printed {line:?}, not `listening on ADDR`"))?;
        Ok(server)
    }

    /// CPU time the server's threads have had so far, in nanoseconds.
    pub(crate) fn cpu_ns(&self) -> u64 {
        let pid = self.child.id();
        let mut total = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                total += schedstat_ns(&task.path().join("schedstat"));
            }
        }
        total
    }
}

/// The CPU time in a `/proc/.../schedstat` file, in nanoseconds (0 if unreadable).
fn schedstat_ns(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Server {
    /// Stops the server: SIGINT, then SIGKILL if it is still running after 3 s. Returns how
    /// it exited and what it printed on the way out (safer-ring's example reports what it
    /// served). Once stopped, does nothing.
    pub(crate) fn stop(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        self.stopped = true;
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signals our own child, which has not been reaped (so the pid is still ours).
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut status = None;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if status.is_none() {
            eprintln!("echo: server {pid} ignored SIGINT for 3 s; killing it");
            let _ = self.child.kill();
            status = self.child.wait().ok();
        }
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        match status {
            Some(s) => format!("{s}; {}", rest.trim()),
            None => rest,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `echo_server` example next to this binary, built first if it is missing or older
/// than the library or example sources (the server is the CLI's `echo`).
pub(crate) fn example_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().ok_or("current_exe has no directory")?;
    let bin = dir.join("examples").join("echo_server");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let sources = newest(&root.join("src"))
        .max(newest(&root.join("examples").join("echo_server.rs")))
        .max(newest(&root.join("cli").join("src").join("echo")))
        .max(newest(&root.join("Cargo.toml")));
    if built.is_none_or(|b| b < sources) {
        eprintln!(
            "echo: {} is {}; running `cargo build --release --example echo_server`",
            bin.display(),
            if built.is_none() {
                "missing"
            } else {
                "older than its sources"
            }
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--example",
                "echo_server",
                "-p",
                "safer-ring",
            ])
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !status.success() || !bin.exists() {
            return Err(format!("could not build {}", bin.display()));
        }
    }
    Ok(bin)
}

/// The newest modification time under `path` (a file or a directory tree).
fn newest(path: &Path) -> SystemTime {
    let Ok(meta) = std::fs::metadata(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    let mut t = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            t = t.max(newest(&entry.path()));
        }
    }
    t
}

pub(crate) fn start(contender: Option<&str>, example: &Path) -> Result<Server, String> {
    start_at(contender, example, "127.0.0.1:0")
}

/// Starts a contender's server on `addr` (port 0: any free port; it says which).
pub(crate) fn start_at(
    contender: Option<&str>,
    example: &Path,
    addr: &str,
) -> Result<Server, String> {
    let mut cmd = match contender {
        None => {
            let mut cmd = Command::new(example);
            cmd.args(["--addr", addr, "--threads", "1"]);
            cmd
        }
        Some(name) => {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let mut cmd = Command::new(exe);
            cmd.args(["serve", name, "--addr", addr]);
            cmd
        }
    };
    cmd.stderr(Stdio::inherit());
    Server::start(cmd, Some(SERVER_CPU))
}

/// One round against one server.
struct Round {
    rate: f64,
    cpu_us: f64,
    busy: f64,
    client_busy: f64,
    p50_us: f64,
    p99_us: f64,
}

fn round(
    server: &Server,
    case: &Case,
    warmup: Duration,
    window: Duration,
    client_cpu: Option<usize>,
) -> Result<Round, String> {
    let streams = client::connect(server.addr, case.connections)
        .map_err(|e| format!("connect to {}: {e}", server.addr))?;
    let progress = Arc::new(Progress::default());
    let size = case.size;
    let client = std::thread::spawn({
        let progress = progress.clone();
        move || {
            client_cpu.map_or(Ok(()), client::pin_to)?;
            client::run(streams, size, &progress)
        }
    });
    let stop = |progress: &Progress| progress.stop.store(true, Ordering::Relaxed);
    std::thread::sleep(warmup);
    progress.record.store(case.latency, Ordering::Relaxed);
    let client_stat = PathBuf::from(format!(
        "/proc/self/task/{}/schedstat",
        progress.tid.load(Ordering::Relaxed)
    ));
    let (client0, cpu0, done0, t0) = (
        schedstat_ns(&client_stat),
        server.cpu_ns(),
        progress.done.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(window);
    let (client1, cpu1, done1, wall) = (
        schedstat_ns(&client_stat),
        server.cpu_ns(),
        progress.done.load(Ordering::Relaxed),
        t0.elapsed(),
    );
    progress.record.store(false, Ordering::Relaxed);
    stop(&progress);
    let mut latencies = client
        .join()
        .map_err(|_| "load client panicked".to_string())?
        .map_err(|e| format!("load client: {e}"))?;
    let requests = done1 - done0;
    if requests == 0 {
        return Err(format!("no request completed in {wall:?}"));
    }
    latencies.sort_unstable();
    let pct = |p: f64| match latencies.len() {
        0 => f64::NAN,
        n => latencies[((n as f64 * p) as usize).min(n - 1)] as f64 / 1e3,
    };
    let cpu = (cpu1 - cpu0) as f64;
    Ok(Round {
        rate: requests as f64 / wall.as_secs_f64(),
        cpu_us: cpu / 1e3 / requests as f64,
        busy: cpu / wall.as_nanos() as f64,
        client_busy: client1.saturating_sub(client0) as f64 / wall.as_nanos() as f64,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    })
}

/// A median metric of a row, NaN if the row is missing or has no rounds.
fn metric(report: &Report, case: &str, contender: &str, f: impl Fn(&Samples) -> f64) -> f64 {
    report
        .rows
        .iter()
        .find(|r| r.suite == "echo" && r.case == case && r.contender == contender)
        .map_or(f64::NAN, |r| f(&r.samples))
}

fn p99(s: &Samples) -> f64 {
    s.extra_median("p99 us")
}

/// Adds `name: a / b >= at_least`; a missing figure makes the ratio NaN, which MISSes.
fn goal(report: &mut Report, name: String, a: f64, b: f64, at_least: f64) {
    report.goals.push(Goal {
        name,
        ratio: a / b,
        at_least,
    });
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> Result<(), String> {
    let (warmup, window, latency_window) = if quick {
        (
            Duration::from_millis(200),
            Duration::from_secs(1),
            Duration::from_millis(500),
        )
    } else {
        (
            Duration::from_millis(500),
            Duration::from_secs(3),
            Duration::from_secs(2),
        )
    };
    let example = example_binary()?;
    // The controlling thread stays off the servers' core too.
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            client::pin_to(CLIENT_CPU).map_err(|e| format!("pin to CPU {CLIENT_CPU}: {e}"))?;
            let servers = CONTENDERS
                .iter()
                .map(|&(_, which)| start(which, &example))
                .collect::<Result<Vec<_>, _>>()?;
            let mut results = Vec::new();
            for case in CASES {
                let mut samples = vec![Samples::default(); CONTENDERS.len()];
                let window = if case.latency { latency_window } else { window };
                for r in 0..rounds {
                    // Rotate who goes first, so no contender always follows the same one.
                    for k in 0..CONTENDERS.len() {
                        let i = (k + r) % CONTENDERS.len();
                        let m = round(&servers[i], case, warmup, window, Some(CLIENT_CPU))
                            .map_err(|e| format!("{} {}: {e}", case.name, CONTENDERS[i].0))?;
                        let s = &mut samples[i];
                        if !case.latency && m.busy < MIN_BUSY {
                            s.dropped += 1;
                            eprintln!(
                                "echo {} {}: round {} dropped, server busy {:.0} % of a core \
                                 ({:.0} req/s, client busy {:.0} %)",
                                case.name,
                                CONTENDERS[i].0,
                                r + 1,
                                m.busy * 100.0,
                                m.rate,
                                m.client_busy * 100.0
                            );
                            continue;
                        }
                        s.rates.push(m.rate);
                        s.cpu_us.push(m.cpu_us);
                        s.push_extra("busy %", m.busy * 100.0);
                        s.push_extra("client busy %", m.client_busy * 100.0);
                        if case.latency {
                            s.push_extra("p50 us", m.p50_us);
                            s.push_extra("p99 us", m.p99_us);
                        }
                    }
                }
                results.push((case, samples));
            }
            drop(servers);
            Ok::<_, String>(results)
        })
        .join()
        .map_err(|_| "echo suite panicked".to_string())?
    })?;
    for (case, samples) in result {
        for (&(contender, _), samples) in CONTENDERS.iter().zip(samples) {
            if samples.rates.is_empty() {
                report.notes.push(format!(
                    "echo {} {contender}: all {} rounds dropped (the server never got {:.0} % \
                     of a core: the load client could not saturate it)",
                    case.name,
                    samples.dropped,
                    MIN_BUSY * 100.0
                ));
            }
            report.rows.push(Row {
                suite: "echo",
                case: case.name.to_owned(),
                contender,
                samples,
            });
        }
    }
    report.notes.push(
        "echo: op/s is requests/s; cpu us/op is the server process's CPU time per request \
         (all its threads, from /proc/PID/task/*/schedstat), server pinned to CPU 0, load \
         client to CPU 1; throughput rounds where the server was busy < 95 % of a core are \
         dropped."
            .to_owned(),
    );
    let (tp, lat) = (CASES[0].name, CASES[2].name);
    let rate = |r: &Report, c: &str| metric(r, tp, c, Samples::median);
    let cpu = |r: &Report, c: &str| metric(r, tp, c, Samples::cpu_median);
    let (safe_rate, safe_cpu) = (rate(report, "safer-ring"), cpu(report, "safer-ring"));
    let (tokio_rate, raw_rate, raw_cpu) = (
        rate(report, "tokio"),
        rate(report, "raw+DEFER"),
        cpu(report, "raw+DEFER"),
    );
    goal(
        report,
        format!("echo {tp} req/s safer-ring/tokio"),
        safe_rate,
        tokio_rate,
        1.15,
    );
    goal(
        report,
        format!("echo {tp} req/s safer-ring/raw+DEFER"),
        safe_rate,
        raw_rate,
        0.95,
    );
    goal(
        report,
        format!("echo {tp} CPU/req raw+DEFER/safer-ring (CPU/req <= 1.05x raw)"),
        raw_cpu,
        safe_cpu,
        1.0 / 1.05,
    );
    for other in ["monoio", "tokio-uring", "compio"] {
        let (r, c) = (rate(report, other), cpu(report, other));
        goal(
            report,
            format!("echo {tp} req/s safer-ring/{other}"),
            safe_rate,
            r,
            1.0,
        );
        goal(
            report,
            format!("echo {tp} CPU/req {other}/safer-ring"),
            c,
            safe_cpu,
            1.0,
        );
    }
    let (safe_p99, tokio_p99) = (
        metric(report, lat, "safer-ring", p99),
        metric(report, lat, "tokio", p99),
    );
    goal(
        report,
        format!("echo {lat} p99 tokio/safer-ring (p99 <= 1.05x tokio)"),
        tokio_p99,
        safe_p99,
        1.0 / 1.05,
    );
    Ok(())
}
