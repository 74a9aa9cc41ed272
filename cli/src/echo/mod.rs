//! `safer-ring echo` (and the `echo_server` example): a TCP echo server on a [`RingPool`] —
//! one worker thread per `--threads`, each with its ring and its own listener on the same
//! port (`RingPool::bind_tcp`, `SO_REUSEPORT`: the kernel spreads connections over the
//! workers), multishot accept, multishot recv into a provided-buffer ring, and each received
//! chunk sent back as it is (no copy).
//!
//! `--accept handoff` has one listener instead: worker 0 accepts every connection and hands
//! each in turn to a worker — its own, or another's by `IORING_OP_MSG_RING`
//! (`Ring::send_file` into that worker's `FileMailbox`: the kernel installs the socket in the
//! worker's file table, and the worker serves it as a registered file). The `scale` suite of
//! the benchmark harness measures both under connection churn.
//!
//! Every connection is its own task on the ring's built-in executor ([`safer_ring::spawn`]),
//! so a slow or hostile client (one that sends and never reads, or resets mid-message) holds
//! up only itself. Ctrl-C (SIGINT) stops accepting, shuts the pool down, and prints
//! connections and bytes served, and how many each worker took. It prints `listening on ADDR`
//! once ready (the address tells the port when 0 was asked for).
//!
//! Every connection costs the server one fd, so it raises its soft `RLIMIT_NOFILE` to the
//! hard limit at start, and listens with the kernel's largest backlog (`net.core.somaxconn`),
//! so that thousands of clients connecting at once are queued, not dropped into SYN retries.

mod accept;
mod conn;
mod limits;
mod worker;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use clap::{Args, Parser, ValueEnum};
use safer_ring::{RingPool, SaferRingError};
use tokio::sync::{Notify, watch};

use crate::Failure;

/// The exit codes of `echo`, shown in its long help.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    stopped by SIGINT (Ctrl-C) after serving
  1    could not start: the address is in use or cannot be bound, or memlock is too low for
       the buffer rings
  2    bad usage (unknown flag, missing argument, --threads 0)
  3    io_uring is unavailable here (run `safer-ring probe` for why and the fix)";

/// How connections reach the workers.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptMode {
    /// A listener per worker on the same port (`SO_REUSEPORT`): the kernel picks the worker.
    Reuseport,
    /// One listener on worker 0, which hands connections round-robin to every worker by
    /// `IORING_OP_MSG_RING`.
    Handoff,
}

/// The arguments of `echo`.
#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: SocketAddr,
    /// Worker threads, each with its own ring.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// How connections reach the workers.
    #[arg(long, value_enum, default_value_t = AcceptMode::Reuseport)]
    pub accept: AcceptMode,
}

impl EchoArgs {
    /// The number of worker threads (at least 1).
    pub fn threads(&self) -> usize {
        usize::from(self.threads)
    }
}

/// Totals across the workers.
#[derive(Default)]
pub struct Served {
    connections: AtomicU64,
    /// Connections accepted by each worker.
    per_worker: Vec<AtomicU64>,
    bytes: AtomicU64,
    /// Notified when a connection has closed (its fd is free again).
    closed: Notify,
}

/// Serves until SIGINT: prints `listening on ADDR with N worker(s)` once every worker
/// serves, and what it served when stopped.
pub fn main(args: &EchoArgs) -> Result<(), Failure> {
    // Installed before saying we are ready, so everything the server holds open exists by
    // then (tests compare its fds before and after a load).
    let (interrupt, interrupted) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = interrupt.send(());
    })
    .map_err(|e| Failure::Failed(format!("cannot install the SIGINT handler: {e}")))?;
    limits::raise_fd_limit();
    let served = Arc::new(Served {
        per_worker: (0..args.threads()).map(|_| AtomicU64::new(0)).collect(),
        ..Served::default()
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pool, workers, addr) =
        worker::start(args, &served, &stop_rx).map_err(|e| cannot_start(args, e))?;
    if on_fallback() {
        eprintln!(
            "safer-ring: io_uring is not in use here (`safer-ring probe` says why): serving \
             on the fallback backend (an epoll reactor and worker threads, plain system calls)"
        );
    }
    println!("listening on {addr} with {} worker(s)", args.threads());
    let _ = interrupted.recv();
    let _ = stop_tx.send(true);
    for worker in workers {
        if let Err(e) = worker.join() {
            eprintln!("server worker: {e}");
        }
    }
    stop(pool, &served);
    Ok(())
}

/// Whether the workers' rings run on the fallback backend (a small ring built as theirs
/// are says: the same environment decides).
fn on_fallback() -> bool {
    let probe = safer_ring::Ring::builder().entries(2).build();
    probe.is_ok_and(|ring| ring.backend() == safer_ring::Backend::Fallback)
}

/// Shuts the pool down (every connection task dropped, every ring drained) and prints what
/// was served.
fn stop(pool: RingPool, served: &Served) {
    pool.shutdown();
    let per_worker: Vec<u64> = (served.per_worker.iter())
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    println!(
        "shut down cleanly: served {} connections, {} bytes echoed; connections per worker: {:?}",
        served.connections.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed),
        per_worker
    );
}

/// Why the server could not start, with its exit code (3 when io_uring is unavailable).
fn cannot_start(args: &EchoArgs, err: SaferRingError) -> Failure {
    match err {
        SaferRingError::Unavailable(_) => Failure::ring(err),
        other => Failure::Failed(format!("cannot serve on {}: {other}", args.addr)),
    }
}

/// The `echo_server` example's command line: the flags of `safer-ring echo`.
#[derive(Parser, Debug)]
#[command(
    name = "echo_server",
    about = "A TCP echo server on a pool of io_uring workers",
    after_long_help = EXIT_CODES
)]
struct Standalone {
    #[command(flatten)]
    args: EchoArgs,
}

/// The `echo_server` example: parses `echo`'s flags, serves until SIGINT, and exits with
/// `echo`'s codes.
pub fn run_standalone() -> ExitCode {
    let Standalone { args } = Standalone::parse();
    crate::failure::exit_with("echo_server", main(&args))
}
