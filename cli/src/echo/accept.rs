//! Accepting: a multishot accept per listener, armed again after failures (or, out of fds,
//! once a connection has closed), and the hand-off of accepted connections to other workers
//! by `IORING_OP_MSG_RING`.

use std::pin::pin;

use futures::StreamExt;
use safer_ring::net::{TcpListener, TcpStream};
use safer_ring::{FileMailbox, SaferRingError, spawn};
use tokio::sync::watch;

use super::worker::Worker;

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

fn accept_failed(e: &SaferRingError) -> AcceptFailed {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            AcceptFailed::WaitForClose
        }
        _ => AcceptFailed::Retry,
    }
}

/// Accepts on `listener` until `stop`, giving each connection to `on_conn`; failed accepts
/// are retried, or wait for a connection to close when out of fds.
pub async fn accept(
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
fn note_failed_accept(e: &SaferRingError, failures: &mut u32, waits: &mut u64) -> AcceptFailed {
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

/// Hands `conn` to the next worker in turn: served here if that is this worker, or if the
/// hand-off fails (nothing is lost; the failure is printed).
pub fn hand_off(worker: &Worker, mailboxes: &[FileMailbox], next: &mut usize, conn: TcpStream) {
    let to = *next % (mailboxes.len() + 1);
    *next += 1;
    let Some(mailbox) = to.checked_sub(1).map(|i| mailboxes[i].clone()) else {
        return worker.take(conn);
    };
    let fixed = match worker.ring.register_file(&conn) {
        Ok(fixed) => fixed,
        Err(_) => return worker.take(conn), // every acceptor slot in flight: serve it here
    };
    let here = worker.clone();
    drop(spawn(async move {
        let sent = here.ring.send_file(&fixed, &mailbox).await;
        let _ = here.ring.unregister_file(&fixed);
        if let Err(e) = sent {
            eprintln!("handing a connection to worker {to}: {e}; serving it on worker 0");
            here.take(conn);
        }
    }));
}
