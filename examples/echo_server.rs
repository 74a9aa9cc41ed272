//! A TCP echo server on a [`RingPool`]: one worker thread per `--threads`, each with its ring
//! and its own listener on the same port (`RingPool::bind_tcp`, `SO_REUSEPORT`: the kernel
//! spreads connections over the workers), multishot accept, multishot recv into a
//! provided-buffer ring, and each received chunk sent back as it is (no copy).
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 [--threads N]
//! ```
//!
//! Every connection is its own task on the ring's built-in executor ([`safer_ring::spawn`]),
//! so a slow or hostile client (one that sends and never reads, or resets mid-message) holds
//! up only itself. Ctrl-C (SIGINT) stops accepting, shuts the pool down, and prints
//! connections and bytes served, and how many each worker took. It prints `listening on ADDR`
//! once ready (the address tells the port when 0 was asked for).
//!
//! Every connection costs the server one fd, so it raises its soft `RLIMIT_NOFILE` to the
//! hard limit at start (10,000 connections need more than the usual soft limit of 1,024),
//! and listens with the kernel's largest backlog (`net.core.somaxconn`), so that thousands of
//! clients connecting at once are queued, not dropped into SYN retries.

use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener, TcpStream};
use safer_ring::{BufRing, PoolHandle, Ring, RingPool, spawn};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

/// Totals across threads.
#[derive(Default)]
struct Served {
    connections: AtomicU64,
    /// Connections accepted by each worker.
    per_worker: Vec<AtomicU64>,
    bytes: AtomicU64,
    /// Notified when a connection has closed (its fd is free again).
    closed: Notify,
}

struct Args {
    addr: SocketAddr,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7878".parse().unwrap(),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--threads" => {
                args.threads = value
                    .parse()
                    .map_err(|e| format!("--threads {value}: {e}"))?
            }
            other => return Err(format!("unknown flag {other} (--addr, --threads)")),
        }
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(args)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; warns on stderr if it cannot.
#[allow(unsafe_code)] // getrlimit/setrlimit through libc
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!("warning: getrlimit(RLIMIT_NOFILE): {e}; connections limited by ulimit -n");
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let soft = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads a live local rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!(
            "warning: cannot raise the open-file limit from {soft} to {}: {e}; \
             at most about {soft} connections",
            lim.rlim_max
        );
    }
}

/// The kernel's largest `listen(2)` backlog (`net.core.somaxconn`; it clamps any larger
/// value to it), or `SOMAXCONN` if that cannot be read.
fn max_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &i32| n > 0)
        .unwrap_or(libc::SOMAXCONN)
}

/// Bytes echoed on one connection, added to the totals when it ends (or its task is dropped
/// at shutdown): one shared atomic add per connection, not per request. Its drop also tells
/// listeners waiting for a free fd that one was closed.
struct Tally {
    bytes: u64,
    served: Arc<Served>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.served.bytes.fetch_add(self.bytes, Ordering::Relaxed);
        self.served.closed.notify_waiters();
    }
}

/// Echoes one connection until the peer closes it or fails.
async fn echo(ring: Rc<Ring>, bufs: BufRing, conn: TcpStream, served: Arc<Served>) {
    let mut tally = Tally { bytes: 0, served };
    {
        let mut chunks = ring.recv_multi(&conn, &bufs);
        while let Some(chunk) = chunks.next().await {
            let Ok(chunk) = chunk else { break }; // reset or error: drop the connection
            let n = chunk.len() as u64;
            let (res, _chunk) = ring.send_all(&conn, chunk).await;
            if res.is_err() {
                break;
            }
            tally.bytes += n;
        }
    }
    drop(conn); // its fd is closed before `tally` says so
}

/// What a failed accept means for the listener. The accept stream skips connections that
/// failed on their own and yields other errors; the listener is armed again at once after
/// most, but out of fds (or memory) only once a connection has closed — arming again at once
/// would only fail again, in a busy loop.
enum AcceptFailed {
    Retry,
    WaitForClose,
}

/// Failed accepts in a row (each armed again at once) after which the listener gives up.
const GIVE_UP_AFTER: u32 = 1024;

fn accept_failed(e: &safer_ring::SaferRingError) -> AcceptFailed {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            AcceptFailed::WaitForClose
        }
        _ => AcceptFailed::Retry,
    }
}

/// One worker of the pool: its ring, its listener (same port, `SO_REUSEPORT`) and its buffer
/// ring; a task per connection on the ring's built-in executor (one `io_uring_enter` submits
/// and waits). Says on `ready` whether it could start.
async fn serve(
    ring: Rc<Ring>,
    worker: usize,
    listener: TcpListener,
    served: Arc<Served>,
    mut stop: watch::Receiver<bool>,
    ready: mpsc::Sender<safer_ring::Result<()>>,
) {
    let bufs = match ring.register_buf_ring(1024, 4096) {
        Ok(bufs) => bufs,
        Err(e) => return drop(ready.send(Err(e))),
    };
    let _ = ready.send(Ok(()));
    drop(ready); // so a worker that fails later cannot keep `main` waiting
    // Failed accepts in a row (armed again at once), and waits for a free fd so far.
    let (mut failures, mut waits) = (0u32, 0u64);
    'serve: loop {
        // Listening for closed connections from before this arming, so one that closes
        // between the failed accept and the wait below is not missed.
        let mut closed = pin!(served.closed.notified());
        closed.as_mut().enable();
        let mut accepts = ring.accept_multi(&listener);
        let failed = loop {
            tokio::select! {
                _ = stop.changed() => break 'serve,
                conn = accepts.next() => match conn {
                    Some(Ok(conn)) => {
                        failures = 0;
                        let _ = conn.set_nodelay(true);
                        served.connections.fetch_add(1, Ordering::Relaxed);
                        served.per_worker[worker].fetch_add(1, Ordering::Relaxed);
                        let (ring, bufs, served) = (ring.clone(), bufs.clone(), served.clone());
                        drop(spawn(echo(ring, bufs, conn, served)));
                    }
                    Some(Err(e)) => break note_failed_accept(&e, &mut failures, &mut waits),
                    None => {
                        failures += 1;
                        break AcceptFailed::Retry;
                    }
                },
            }
        };
        drop(accepts);
        match failed {
            AcceptFailed::WaitForClose => tokio::select! {
                _ = stop.changed() => break 'serve,
                _ = closed => {}
            },
            AcceptFailed::Retry if failures >= GIVE_UP_AFTER => {
                eprintln!("accept failed {failures} times in a row: no longer accepting");
                let _ = stop.changed().await;
                break 'serve;
            }
            AcceptFailed::Retry => {}
        }
    }
    // Returning drops the connection tasks' handles; the worker drops the tasks when the
    // pool shuts down: their streams are cancelled and parked in the ring, which finishes
    // them when it drops.
}

/// Counts a failed accept (printing every power of two) and says what to do next.
fn note_failed_accept(
    e: &safer_ring::SaferRingError,
    failures: &mut u32,
    waits: &mut u64,
) -> AcceptFailed {
    let failed = accept_failed(e);
    if let AcceptFailed::WaitForClose = failed {
        *waits += 1;
        if waits.is_power_of_two() {
            eprintln!("accept: {e}: waiting for a connection to close ({waits} times so far)");
        }
    } else {
        *failures += 1;
        if failures.is_power_of_two() {
            eprintln!("accept: {e} ({failures} in a row)");
        }
    }
    failed
}

/// Starts the pool's workers, one listener each, and waits until every one serves; or
/// returns the error that stopped one first (io_uring unavailable, bind failed, memlock too
/// low for the buffer rings).
fn start(
    args: &Args,
    served: &Arc<Served>,
    stop: &watch::Receiver<bool>,
) -> safer_ring::Result<(RingPool, Vec<PoolHandle<()>>, SocketAddr)> {
    let ring = Ring::builder().entries(256).cq_entries(4096);
    let pool = RingPool::builder()
        .workers(args.threads)
        .ring(ring)
        .build()?;
    let options = ListenOptions {
        backlog: max_backlog(),
        ..ListenOptions::default()
    };
    let listeners = pool.bind_tcp(args.addr, options)?;
    let addr = listeners[0].local_addr()?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let workers = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (served, stop, ready) = (served.clone(), stop.clone(), ready_tx.clone());
            pool.spawn_on(i, move |ring| serve(ring, i, listener, served, stop, ready))
        })
        .collect();
    drop(ready_tx); // the workers hold the only senders: `recv` fails if one dies unready
    for _ in 0..args.threads {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let died = std::io::Error::other("a worker stopped before it was ready");
                return Err(safer_ring::SaferRingError::os("echo_server", died));
            }
        }
    }
    Ok((pool, workers, addr))
}

/// Prints the error (with its advice) and exits with status 1.
fn fail(err: &safer_ring::SaferRingError) -> ! {
    eprintln!("error: {err}");
    std::process::exit(1)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("error: {msg}\nusage: echo_server [--addr IP:PORT] [--threads N]");
            std::process::exit(2);
        }
    };
    raise_fd_limit();
    let served = Arc::new(Served {
        per_worker: (0..args.threads).map(|_| AtomicU64::new(0)).collect(),
        ..Served::default()
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pool, workers, addr) = start(&args, &served, &stop_rx).unwrap_or_else(|e| fail(&e));
    // Register for SIGINT before saying we are ready, so everything the server holds open
    // exists by then (tests compare its fds before and after a load).
    let signal_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut sigint = signal_rt
        .block_on(async { signal(SignalKind::interrupt()) })
        .expect("SIGINT handler");
    println!("listening on {addr} with {} worker(s)", args.threads);
    signal_rt.block_on(sigint.recv());
    let _ = stop_tx.send(true);
    for worker in workers {
        if let Err(e) = worker.join() {
            eprintln!("server worker: {e}");
        }
    }
    pool.shutdown(); // every connection task dropped, every ring drained
    println!(
        "shut down cleanly: served {} connections, {} bytes echoed; connections per worker: {:?}",
        served.connections.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed),
        per_worker(&served)
    );
}

/// `[a, b, ...]`: connections each worker accepted.
fn per_worker(served: &Served) -> Vec<u64> {
    let counts = served.per_worker.iter();
    counts.map(|c| c.load(Ordering::Relaxed)).collect()
}
