//! A TCP echo server: one ring per thread (`SO_REUSEPORT`), multishot accept, multishot recv
//! into a provided-buffer ring, and each received chunk sent back as it is (no copy).
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 [--threads N]
//! ```
//!
//! Every connection is its own task on the ring's built-in executor ([`safer_ring::spawn`]),
//! so a slow or hostile client (one that sends and never reads, or resets mid-message) holds
//! up only itself. Ctrl-C (SIGINT) stops accepting, lets the rings shut down, and prints
//! connections and bytes served. It prints `listening on ADDR` once ready (the address tells the port when 0 was
//! asked for).
//!
//! Every connection costs the server one fd, so it raises its soft `RLIMIT_NOFILE` to the
//! hard limit at start (10,000 connections need more than the usual soft limit of 1,024),
//! and listens with the kernel's largest backlog (`net.core.somaxconn`), so that thousands of
//! clients connecting at once are queued, not dropped into SYN retries.

use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener, TcpStream};
use safer_ring::{BufRing, Ring, spawn};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

/// Totals across threads.
#[derive(Default)]
struct Served {
    connections: AtomicU64,
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

/// One thread: its own ring, listener (same port, `SO_REUSEPORT`) and buffer ring; a task
/// per connection on the ring's built-in executor (one `io_uring_enter` submits and waits).
fn serve(
    addr: SocketAddr,
    served: Arc<Served>,
    mut stop: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<SocketAddr>,
) -> safer_ring::Result<()> {
    let ring = Rc::new(Ring::builder().entries(256).cq_entries(4096).build()?);
    let bufs = ring.register_buf_ring(1024, 4096)?;
    let options = ListenOptions {
        reuse_port: true,
        backlog: max_backlog(),
        ..ListenOptions::default()
    };
    let listener = TcpListener::bind(addr, options)?;
    let local_addr = listener.local_addr()?;
    ring.block_on(async {
        // Announced from inside `block_on`, so every fd the server keeps (the executor's
        // wake-up eventfd included) exists by then.
        let _ = ready.send(local_addr);
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
                            let (ring, bufs, served) =
                                (ring.clone(), bufs.clone(), served.clone());
                            drop(spawn(echo(ring, bufs, conn, served)));
                        }
                        Some(Err(e)) => {
                            let failed = accept_failed(&e);
                            if let AcceptFailed::WaitForClose = failed {
                                waits += 1;
                                if waits.is_power_of_two() {
                                    eprintln!(
                                        "accept: {e}: waiting for a connection to close \
                                         ({waits} times so far)"
                                    );
                                }
                            } else {
                                failures += 1;
                                if failures.is_power_of_two() {
                                    eprintln!("accept: {e} ({failures} in a row)");
                                }
                            }
                            break failed;
                        }
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
    });
    // Returning from `block_on` dropped the connection tasks: their streams were cancelled
    // and parked in the ring, which finishes them when it drops.
    Ok(())
}

type ServeThread = std::thread::JoinHandle<safer_ring::Result<()>>;

/// Starts a serving thread on `addr` and waits until it listens, returning it and the address
/// it got; or the error that stopped it first (bind failed, io_uring unavailable, memlock too
/// low). Each thread has its own ready channel, so a thread that fails before announcing
/// itself closes it and this returns, instead of waiting forever.
fn start(
    addr: SocketAddr,
    served: &Arc<Served>,
    stop: &watch::Receiver<bool>,
) -> Result<(ServeThread, SocketAddr), safer_ring::SaferRingError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (served, stop) = (served.clone(), stop.clone());
    let thread = std::thread::spawn(move || serve(addr, served, stop, ready_tx));
    match ready_rx.recv() {
        Ok(addr) => Ok((thread, addr)),
        Err(_) => Err(thread
            .join()
            .expect("server thread panicked")
            .expect_err("a thread that never announced itself failed")),
    }
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
    let served = Arc::new(Served::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    // The first thread binds the asked-for address; the others bind the port it got.
    let (first, addr) = start(args.addr, &served, &stop_rx).unwrap_or_else(|e| fail(&e));
    let mut threads = vec![first];
    for _ in 1..args.threads {
        match start(addr, &served, &stop_rx) {
            Ok((thread, _)) => threads.push(thread),
            Err(e) => {
                let _ = stop_tx.send(true);
                fail(&e)
            }
        }
    }
    // Register for SIGINT before saying we are ready, so everything the server holds open
    // exists by then (tests compare its fds before and after a load).
    let signal_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut sigint = signal_rt
        .block_on(async { signal(SignalKind::interrupt()) })
        .expect("SIGINT handler");
    println!("listening on {addr} with {} thread(s)", args.threads);
    signal_rt.block_on(sigint.recv());
    let _ = stop_tx.send(true);
    for t in threads {
        if let Err(e) = t.join().expect("server thread panicked") {
            eprintln!("server thread: {e}");
        }
    }
    println!(
        "shut down cleanly: served {} connections, {} bytes echoed",
        served.connections.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed)
    );
}
