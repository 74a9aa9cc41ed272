//! `wake`: the cost of waking a thread that sleeps in `io_uring_enter` from another ring's
//! thread — what a ring pool pays to hand a task to a worker. Two threads ping-pong N times;
//! each wake-up is one half of a round trip:
//! - **eventfd + poll**: each ring keeps a multishot poll on its own eventfd (as the built-in
//!   executor does); the waker `write`s the eventfd, the sleeper's poll CQE wakes it, it
//!   drains the eventfd with a `read`;
//! - **MSG_RING**: the waker queues `IORING_OP_MSG_RING` (with `IOSQE_CQE_SKIP_SUCCESS`:
//!   no CQE for the sender) aimed at the sleeper's ring, which gets a CQE. Each message rides
//!   on the `io_uring_enter` its sender then sleeps in (what a pool worker does).
//!
//! And the same through safer-ring's [`RingPool`]: worker 0 hands tasks one at a time to
//! worker 1 and awaits each (a hand-off and a reply per round trip), with the pool's
//! MSG_RING wake-ups on and off.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;

use io_uring::{IoUring, opcode, squeue, types};

use safer_ring::RingPool;

use crate::report::{Report, Row};
use crate::stats::{Samples, measure};

/// One side of the ping-pong: its ring and, for the eventfd path, its eventfd.
struct Side {
    ring: IoUring,
    efd: OwnedFd,
}

impl Side {
    fn new() -> std::io::Result<Self> {
        let ring = IoUring::new(8)?;
        // SAFETY: eventfd(2) with valid flags; a non-negative result is a new fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh fd nobody else owns.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut side = Self { ring, efd };
        side.arm_poll()?;
        Ok(side)
    }

    fn arm_poll(&mut self) -> std::io::Result<()> {
        let poll = opcode::PollAdd::new(types::Fd(self.efd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(1);
        // SAFETY: the poll names this side's eventfd, which outlives the ring's use of it
        // (the ring is dropped first: field order).
        unsafe { self.ring.submission().push(&poll) }.map_err(std::io::Error::other)?;
        self.ring.submit()?;
        Ok(())
    }

    /// Sleeps in `io_uring_enter` until a CQE arrives, and takes it.
    fn sleep_for_cqe(&mut self) -> std::io::Result<()> {
        loop {
            if self.ring.completion().next().is_some() {
                return Ok(());
            }
            self.ring.submit_and_wait(1)?;
        }
    }

    /// The eventfd path: wait for the poll CQE, drain the eventfd.
    fn wait_eventfd(&mut self) -> std::io::Result<()> {
        self.sleep_for_cqe()?;
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v`, a live u64.
        unsafe { libc::read(self.efd.as_raw_fd(), (&raw mut v).cast(), 8) };
        Ok(())
    }

    /// The MSG_RING path: queue a CQE for the ring behind `target`; it goes out with this
    /// side's next `io_uring_enter` (the one it sleeps in), so waking costs no syscall.
    fn msg(&mut self, target: RawFd) -> std::io::Result<()> {
        // `SKIP_SUCCESS` spares the sender its own CQE (MSG_RING's `CQE_SKIP` flag would
        // instead suppress the target's, which is the wake-up itself).
        let msg = opcode::MsgRingData::new(types::Fd(target), 0, 2, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(3);
        // SAFETY: a MSG_RING names only the target ring's fd, kept open by the other side
        // until both threads are joined.
        unsafe { self.ring.submission().push(&msg) }.map_err(std::io::Error::other)
    }
}

fn signal(efd: RawFd) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from `one`, a live u64, to an eventfd.
    unsafe { libc::write(efd, (&raw const one).cast(), 8) };
}

/// `rounds` round trips between this thread and a helper, by eventfd or MSG_RING.
fn ping_pong(n: u64, by_msg_ring: bool) -> std::io::Result<()> {
    let mut me = Side::new()?;
    let (tx, rx) = mpsc::channel();
    let (my_efd, my_ring) = (me.efd.as_raw_fd(), me.ring.as_raw_fd());
    let peer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut peer = Side::new()?;
        tx.send((peer.efd.as_raw_fd(), peer.ring.as_raw_fd()))
            .map_err(std::io::Error::other)?;
        for _ in 0..n {
            if by_msg_ring {
                peer.sleep_for_cqe()?;
                peer.msg(my_ring)?;
            } else {
                peer.wait_eventfd()?;
                signal(my_efd);
            }
        }
        // The last reply has not ridden on a sleep yet.
        peer.ring.submit()?;
        Ok(())
    });
    let (peer_efd, peer_ring) = rx.recv().map_err(std::io::Error::other)?;
    for _ in 0..n {
        if by_msg_ring {
            me.msg(peer_ring)?;
            me.sleep_for_cqe()?;
        } else {
            signal(peer_efd);
            me.wait_eventfd()?;
        }
    }
    peer.join()
        .map_err(|_| std::io::Error::other("peer panicked"))?
}

/// `n` round trips between two workers of a pool: worker 0 spawns a task on worker 1 and
/// awaits it.
fn pool_ping_pong(n: u64, msg_ring: bool) -> safer_ring::Result<()> {
    let pool = std::sync::Arc::new(RingPool::builder().workers(2).msg_ring(msg_ring).build()?);
    let driver = pool.clone();
    let done = pool.spawn_on(0, move |_ring| async move {
        for i in 0..n {
            let reply = driver.spawn_on(1, move |_ring| async move { i });
            assert_eq!(reply.await.expect("worker 1 runs it"), i);
        }
    });
    done.join()
        .map_err(|e| safer_ring::SaferRingError::os("ring pool", std::io::Error::other(e)))
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let n: u64 = if quick { 5_000 } else { 20_000 };
    let mut samples: [Samples; 4] = Default::default();
    let mut failure: Option<safer_ring::SaferRingError> = None;
    let mut keep = |r: safer_ring::Result<()>| {
        if let Err(e) = r {
            failure.get_or_insert(e);
        }
    };
    for _ in 0..rounds {
        // Two wake-ups per round trip.
        let [efd, msg, pool_efd, pool_msg] = &mut samples;
        measure(efd, 2 * n, || keep(ping_pong(n, false).map_err(Into::into)));
        measure(msg, 2 * n, || keep(ping_pong(n, true).map_err(Into::into)));
        measure(pool_efd, 2 * n, || keep(pool_ping_pong(n, false)));
        measure(pool_msg, 2 * n, || keep(pool_ping_pong(n, true)));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let [efd, msg, pool_efd, pool_msg] = samples;
    for (case, contender, samples) in [
        ("cross-thread wake-up", "eventfd + poll", efd),
        ("cross-thread wake-up", "MSG_RING", msg),
        ("RingPool hand-off + reply", "eventfd", pool_efd),
        ("RingPool hand-off + reply", "MSG_RING", pool_msg),
    ] {
        report.rows.push(Row {
            suite: "wake",
            case: case.to_owned(),
            contender,
            samples,
        });
    }
    for (goal, case, msg, efd) in [
        (
            "wake MSG_RING/eventfd wake-ups per second",
            "cross-thread wake-up",
            "MSG_RING",
            "eventfd + poll",
        ),
        (
            "wake RingPool MSG_RING/eventfd hand-offs per second",
            "RingPool hand-off + reply",
            "MSG_RING",
            "eventfd",
        ),
    ] {
        report.goal(goal, (case, msg), (case, efd), 1.0);
    }
    Ok(())
}
