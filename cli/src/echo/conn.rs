//! One connection: echoed chunk by chunk until the peer closes it, its bytes tallied.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use safer_ring::net::TcpStream;
use safer_ring::{AsTarget, BufRing, RegisteredFd, Ring, SaferRingError};

use super::Served;

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
pub trait Conn: AsTarget + 'static {
    /// Closes the connection (a socket closes when dropped; a registered file is
    /// unregistered).
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

/// Echoes one connection until the peer closes it or fails: multishot receives into the
/// buffer ring, each chunk sent back as it is (no copy).
pub async fn echo(ring: Rc<Ring>, bufs: BufRing, conn: impl Conn, served: Arc<Served>) {
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
