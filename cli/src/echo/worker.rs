//! The workers of the pool: each sets up its ring (buffer ring, file table in hand-off
//! mode) and serves in its role — listening on its own `SO_REUSEPORT` listener, accepting
//! for everyone, or receiving the connections handed to it.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::{BufRing, FileMailbox, PoolHandle, Ring, RingPool, SaferRingError, spawn};
use tokio::sync::{oneshot, watch};

use super::accept::{accept, hand_off};
use super::conn::{Conn, echo};
use super::limits::max_backlog;
use super::{AcceptMode, EchoArgs, Served};

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
#[derive(Clone)]
pub struct Worker {
    pub ring: Rc<Ring>,
    index: usize,
    bufs: BufRing,
    pub served: Arc<Served>,
}

impl Worker {
    /// Serves `conn` on this worker, as a task of its ring's executor.
    pub fn take(&self, conn: impl Conn) {
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
    drop(ready); // so a worker that fails later cannot keep `start` waiting
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

/// Each worker's role and the address served: a listener per worker (`SO_REUSEPORT`), or
/// one on worker 0; plus where to send worker 0 the mailboxes (hand-off mode).
type Roles = (
    Vec<Role>,
    SocketAddr,
    Option<oneshot::Sender<Vec<FileMailbox>>>,
);

fn roles(args: &EchoArgs, pool: &RingPool) -> safer_ring::Result<Roles> {
    let options = ListenOptions {
        backlog: max_backlog(),
        ..ListenOptions::default()
    };
    if args.accept == AcceptMode::Reuseport {
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
    roles.extend((1..args.threads()).map(|_| Role::Receive));
    Ok((roles, addr, Some(tx)))
}

/// A started server: the pool, each worker's task, and the address it listens on.
pub type Started = (RingPool, Vec<PoolHandle<()>>, SocketAddr);

/// Starts the pool's workers and waits until every one serves; or returns the error that
/// stopped one first (io_uring unavailable, bind failed, memlock too low for the buffer
/// rings or the file tables).
pub fn start(
    args: &EchoArgs,
    served: &Arc<Served>,
    stop: &watch::Receiver<bool>,
) -> safer_ring::Result<Started> {
    let ring = Ring::builder().entries(256).cq_entries(4096);
    let pool = RingPool::builder()
        .workers(args.threads())
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
    let mut mailboxes = vec![None; args.threads()];
    for _ in 0..args.threads {
        match ready_rx.recv() {
            Ok((i, Ok(mailbox))) => mailboxes[i] = mailbox,
            Ok((_, Err(e))) => return Err(e),
            Err(_) => {
                let died = std::io::Error::other("a worker stopped before it was ready");
                return Err(SaferRingError::os("echo", died));
            }
        }
    }
    if let Some(to_acceptor) = to_acceptor {
        let _ = to_acceptor.send(mailboxes.into_iter().flatten().collect());
    }
    Ok((pool, workers, addr))
}
