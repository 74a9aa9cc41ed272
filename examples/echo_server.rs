//! A TCP echo server on a [`RingPool`]: one worker thread per `--threads`, each with its ring
//! and its own listener on the same port (`RingPool::bind_tcp`, `SO_REUSEPORT`: the kernel
//! spreads connections over the workers), multishot accept, multishot recv into a
//! provided-buffer ring, and each received chunk sent back as it is (no copy).
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 [--threads N]
//!     [--accept reuseport|handoff]
//! ```
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
use safer_ring::{
    AsTarget, BufRing, FileMailbox, PoolHandle, RegisteredFd, Ring, RingPool, SaferRingError, spawn,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, oneshot, watch};

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

/// How connections reach the workers.
#[derive(Clone, Copy, PartialEq)]
enum Accept {
    /// A listener per worker on the same port: the kernel picks the worker.
    ReusePort,
    /// One listener on worker 0, which hands connections round-robin to every worker.
    Handoff,
}

struct Args {
    addr: SocketAddr,
    threads: usize,
    accept: Accept,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7878".parse().unwrap(),
        threads: 1,
        accept: Accept::ReusePort,
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
            "--accept" => {
                args.accept = match value.as_str() {
                    "reuseport" => Accept::ReusePort,
                    "handoff" => Accept::Handoff,
                    _ => return Err(format!("--accept {value}: reuseport or handoff")),
                }
            }
            other => {
                return Err(format!(
                    "unknown flag {other} (--addr, --threads, --accept)"
                ));
            }
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

/// A connection a worker serves: a socket it accepted, or one another worker handed it
/// (a registered file, closed by unregistering it).
trait Conn: AsTarget + 'static {
    async fn close(self, ring: &Ring);
}

impl Conn for TcpStream {
    async fn close(self, _ring: &Ring) {}
}

impl Conn for RegisteredFd {
    async fn close(self, ring: &Ring) {
        // A receive stream dropped while armed (the send failed first) is parked until its
        // cancel completes, and holds the slot until then: the ring refuses to unregister it
        // (`InUse`) before that, so try again after each turn of the ring.
        for _ in 0..1_000 {
            match ring.unregister_file(&self) {
                Err(SaferRingError::InUse { .. }) => drop(ring.nop().await),
                Err(e) => return eprintln!("closing a handed-over connection: {e}"),
                Ok(()) => return,
            }
        }
        eprintln!("a handed-over connection stayed in use for 1,000 turns: its slot is kept");
    }
}

/// Echoes one connection until the peer closes it or fails.
async fn echo(ring: Rc<Ring>, bufs: BufRing, conn: impl Conn, served: Arc<Served>) {
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
    conn.close(&ring).await; // its fd is closed before `tally` says so
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

/// What a worker does with connections.
enum Role {
    /// Accepts on its own listener (`SO_REUSEPORT`) and serves what it accepts.
    Listen(TcpListener),
    /// Accepts on the one listener and hands connections round-robin to every worker (itself
    /// included), once it has the other workers' mailboxes.
    Acceptor(TcpListener, oneshot::Receiver<Vec<FileMailbox>>),
    /// Serves the connections the acceptor hands it.
    Receive,
}

/// What a worker says when it is ready: its index and, if it receives connections, its
/// mailbox.
type Ready = mpsc::Sender<(usize, safer_ring::Result<Option<FileMailbox>>)>;

/// One worker's share of the server.
struct Worker {
    ring: Rc<Ring>,
    index: usize,
    bufs: BufRing,
    served: Arc<Served>,
}

impl Worker {
    /// Serves `conn` on this worker, as a task of its ring's executor.
    fn take(&self, conn: impl Conn) {
        self.served.connections.fetch_add(1, Ordering::Relaxed);
        self.served.per_worker[self.index].fetch_add(1, Ordering::Relaxed);
        let (ring, bufs, served) = (self.ring.clone(), self.bufs.clone(), self.served.clone());
        drop(spawn(echo(ring, bufs, conn, served)));
    }
}

/// Slots of a receiving worker's file table, all of them its mailbox: connections handed
/// to it and still open.
const MAILBOX_SLOTS: u32 = 4096;
/// Slots of the acceptor's table: hand-offs in flight at once (more are served locally).
const ACCEPTOR_SLOTS: u32 = 64;

/// Sets up a worker's ring: its buffer ring and, in hand-off mode, its file table (and
/// mailbox, if it receives).
fn set_up(ring: &Ring, role: &Role) -> safer_ring::Result<(BufRing, Option<FileMailbox>)> {
    let bufs = ring.register_buf_ring(1024, 4096)?;
    let mailbox = match role {
        Role::Listen(_) => None,
        Role::Acceptor(..) => {
            ring.register_files(ACCEPTOR_SLOTS)?;
            None
        }
        Role::Receive => {
            ring.register_files(MAILBOX_SLOTS)?;
            Some(ring.open_file_mailbox(MAILBOX_SLOTS)?)
        }
    };
    Ok((bufs, mailbox))
}

/// One worker of the pool: sets up, says so on `ready`, and serves in its role until
/// `stop`; a task per connection on the ring's built-in executor (one `io_uring_enter`
/// submits and waits).
async fn serve(
    ring: Rc<Ring>,
    index: usize,
    role: Role,
    served: Arc<Served>,
    mut stop: watch::Receiver<bool>,
    ready: Ready,
) {
    let bufs = match set_up(&ring, &role) {
        Ok((bufs, mailbox)) => {
            let _ = ready.send((index, Ok(mailbox)));
            bufs
        }
        Err(e) => return drop(ready.send((index, Err(e)))),
    };
    drop(ready); // so a worker that fails later cannot keep `main` waiting
    let worker = Worker {
        ring,
        index,
        bufs,
        served,
    };
    match role {
        Role::Listen(listener) => accept(&worker, &listener, &mut stop, |c| worker.take(c)).await,
        Role::Acceptor(listener, mailboxes) => {
            let Ok(mailboxes) = mailboxes.await else {
                return;
            };
            let mut next = 0;
            let hand = |conn| hand_off(&worker, &mailboxes, &mut next, conn);
            accept(&worker, &listener, &mut stop, hand).await;
        }
        Role::Receive => loop {
            tokio::select! {
                _ = stop.changed() => break,
                conn = worker.ring.receive_file() => worker.take(conn),
            }
        },
    }
    // Returning drops the connection tasks' handles; the worker drops the tasks when the
    // pool shuts down: their streams are cancelled and parked in the ring, which finishes
    // them when it drops.
}

/// Hands `conn` to the next worker in turn: served here if that is this worker, or if the
/// hand-off fails (nothing is lost; the failure is printed).
fn hand_off(worker: &Worker, mailboxes: &[FileMailbox], next: &mut usize, conn: TcpStream) {
    let to = *next % (mailboxes.len() + 1);
    *next += 1;
    let Some(mailbox) = to.checked_sub(1).map(|i| mailboxes[i].clone()) else {
        return worker.take(conn);
    };
    let ring = worker.ring.clone();
    let fixed = match ring.register_file(&conn) {
        Ok(fixed) => fixed,
        Err(_) => return worker.take(conn), // every acceptor slot in flight: serve it here
    };
    let (bufs, served) = (worker.bufs.clone(), worker.served.clone());
    let here = Worker {
        ring,
        index: worker.index,
        bufs,
        served,
    };
    drop(spawn(async move {
        let sent = here.ring.send_file(&fixed, &mailbox).await;
        let _ = here.ring.unregister_file(&fixed);
        if let Err(e) = sent {
            eprintln!("handing a connection to worker {to}: {e}; serving it on worker 0");
            here.take(conn);
        }
    }));
}

/// Accepts on `listener` until `stop`, giving each connection to `on_conn`; failed accepts
/// are retried, or wait for a connection to close when out of fds.
async fn accept(
    worker: &Worker,
    listener: &TcpListener,
    stop: &mut watch::Receiver<bool>,
    mut on_conn: impl FnMut(TcpStream),
) {
    let served = &worker.served;
    // Failed accepts in a row (armed again at once), and waits for a free fd so far.
    let (mut failures, mut waits) = (0u32, 0u64);
    'serve: loop {
        // Listening for closed connections from before this arming, so one that closes
        // between the failed accept and the wait below is not missed.
        let mut closed = pin!(served.closed.notified());
        closed.as_mut().enable();
        let mut accepts = worker.ring.accept_multi(listener);
        let failed = loop {
            tokio::select! {
                _ = stop.changed() => break 'serve,
                conn = accepts.next() => match conn {
                    Some(Ok(conn)) => {
                        failures = 0;
                        let _ = conn.set_nodelay(true);
                        on_conn(conn);
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

/// Each worker's role and the address served: a listener per worker (`SO_REUSEPORT`), or
/// one on worker 0; plus where to send worker 0 the mailboxes (hand-off mode).
type Roles = (
    Vec<Role>,
    SocketAddr,
    Option<oneshot::Sender<Vec<FileMailbox>>>,
);

fn roles(args: &Args, pool: &RingPool) -> safer_ring::Result<Roles> {
    let options = ListenOptions {
        backlog: max_backlog(),
        ..ListenOptions::default()
    };
    if args.accept == Accept::ReusePort {
        let listeners = pool.bind_tcp(args.addr, options)?;
        let addr = listeners[0].local_addr()?;
        return Ok((
            listeners.into_iter().map(Role::Listen).collect(),
            addr,
            None,
        ));
    }
    let listener = TcpListener::bind(args.addr, options)?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    let mut roles = vec![Role::Acceptor(listener, rx)];
    roles.extend((1..args.threads).map(|_| Role::Receive));
    Ok((roles, addr, Some(tx)))
}

/// Starts the pool's workers and waits until every one serves; or returns the error that
/// stopped one first (io_uring unavailable, bind failed, memlock too low for the buffer
/// rings or the file tables).
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
    let (roles, addr, to_acceptor) = roles(args, &pool)?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let workers = roles
        .into_iter()
        .enumerate()
        .map(|(i, role)| {
            let (served, stop, ready) = (served.clone(), stop.clone(), ready_tx.clone());
            pool.spawn_on(i, move |ring| serve(ring, i, role, served, stop, ready))
        })
        .collect();
    drop(ready_tx); // the workers hold the only senders: `recv` fails if one dies unready
    let mut mailboxes = vec![None; args.threads];
    for _ in 0..args.threads {
        match ready_rx.recv() {
            Ok((i, Ok(mailbox))) => mailboxes[i] = mailbox,
            Ok((_, Err(e))) => return Err(e),
            Err(_) => {
                let died = std::io::Error::other("a worker stopped before it was ready");
                return Err(safer_ring::SaferRingError::os("echo_server", died));
            }
        }
    }
    if let Some(to_acceptor) = to_acceptor {
        let _ = to_acceptor.send(mailboxes.into_iter().flatten().collect());
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
            eprintln!(
                "error: {msg}\nusage: echo_server [--addr IP:PORT] [--threads N] \
                 [--accept reuseport|handoff]"
            );
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
