//! The load client, the same for every server: closed loop, each connection sends `size`
//! bytes, reads the whole echo back, checks every byte, and goes again. It is written
//! directly on the `io-uring` crate (`SINGLE_ISSUER|DEFER_TASKRUN`), every connection's send
//! and recv in flight at once and all of a loop's new SQEs in one `io_uring_enter`, so that
//! one core of it outruns any one-core server. It runs on its own thread pinned to CPU 1.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{Fixed, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode};

use super::buf_ring::{BUF, BufRing};

/// What the controlling thread sees while the client runs.
#[derive(Default)]
pub struct Progress {
    /// Requests completed and verified so far.
    pub done: AtomicU64,
    /// While set, round-trip latencies are recorded.
    pub record: AtomicBool,
    /// Set to make the client return.
    pub stop: AtomicBool,
    /// The client thread's id, once it runs (for its CPU time in /proc).
    pub tid: AtomicU64,
}

struct Conn {
    stream: TcpStream,
    payload: Vec<u8>,
    got: usize,
    sent: usize,
    round: u64,
    started: Instant,
}

impl Conn {
    /// Sets the payload for the next request: its first 8 bytes are the request number, the
    /// rest a per-connection pattern (set once), so a byte echoed to the wrong connection or
    /// from an old request shows.
    fn next_payload(&mut self, id: usize) {
        if self.round == 0 {
            for (i, b) in self.payload.iter_mut().enumerate() {
                *b = (i ^ id ^ (i >> 8)) as u8;
            }
        }
        self.round += 1;
        let tag = self.round.to_le_bytes();
        let n = tag.len().min(self.payload.len());
        self.payload[..n].copy_from_slice(&tag[..n]);
        self.got = 0;
        self.sent = 0;
    }
}

const SEND: u64 = 1;
const RECV: u64 = 2;

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    let res = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if res == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Connects `connections` streams to `addr`.
pub fn connect(addr: SocketAddr, connections: usize) -> io::Result<Vec<TcpStream>> {
    (0..connections)
        .map(|_| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            Ok(s)
        })
        .collect()
}

/// Buffer group of the client's provided buffer ring.
const BGID: u16 = 0;

/// The ring and the buffers it receives into; the ring is declared first, so it closes
/// before the buffer memory it may use is freed.
struct Uring {
    ring: IoUring,
    bufs: BufRing,
}

/// Runs the closed loop over `streams` until `progress.stop`; returns the latencies (ns)
/// recorded while `progress.record` was set. Each connection has a send and a multishot
/// recv (into the provided buffer ring, on its registered file) in flight; echoed bytes are
/// checked right in the ring's buffer.
pub fn run(streams: Vec<TcpStream>, size: usize, progress: &Arc<Progress>) -> io::Result<Vec<u32>> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    progress.tid.store(tid as u64, Ordering::Relaxed);
    let n = streams.len();
    let entries = (2 * n as u32).next_power_of_two().max(8);
    let ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 4)
        .build(entries)?;
    let fds: Vec<RawFd> = streams.iter().map(|s| s.as_raw_fd()).collect();
    ring.submitter().register_files(&fds)?;
    let nbufs = (2 * n * size.div_ceil(BUF))
        .next_power_of_two()
        .clamp(64, 1 << 15) as u16;
    let bufs = BufRing::new(&ring.submitter(), BGID, nbufs)?;
    let mut uring = Uring { ring, bufs };
    let now = Instant::now();
    let mut conns: Vec<Conn> = streams
        .into_iter()
        .map(|stream| Conn {
            stream,
            payload: vec![0; size],
            got: 0,
            sent: 0,
            round: 0,
            started: now,
        })
        .collect();
    let mut latencies = Vec::new();
    let bufs = &mut uring.bufs;
    let (submitter, mut sq, mut cq) = uring.ring.split();
    let send = |c: &Conn, i: usize| {
        opcode::Send::new(
            Fixed(i as u32),
            c.payload[c.sent..].as_ptr(),
            (size - c.sent) as u32,
        )
        .build()
        .user_data(SEND << 32 | i as u64)
    };
    let recv = |i: usize| {
        opcode::RecvMulti::new(Fixed(i as u32), BGID)
            .build()
            .user_data(RECV << 32 | i as u64)
    };
    for (i, c) in conns.iter_mut().enumerate() {
        c.next_payload(i);
        c.started = Instant::now();
        let (s, r) = (send(c, i), recv(i));
        // SAFETY: the payloads live in `conns`, which is neither dropped nor resized until
        // this function returns, and it returns only after every SQE's final CQE has been
        // reaped (the loop runs until nothing is in flight); received bytes go to the
        // provided buffer ring, which outlives the ring (`Uring`). The SQ holds 2 entries per
        // connection: one send and one recv each at most.
        unsafe {
            sq.push(&s).expect("room: 2 entries per connection");
            sq.push(&r).expect("room: 2 entries per connection");
        }
    }
    let timeout = Timespec::new().nsec(50_000_000);
    let args = SubmitArgs::new().timespec(&timeout);
    let mut in_flight = 2 * n;
    let mut stopping = false;
    let mut error = None;
    let mut fail = |e: String, stopping: &mut bool| {
        error.get_or_insert(io::Error::other(e));
        *stopping = true;
        progress.stop.store(true, Ordering::Relaxed);
    };
    while in_flight > 0 {
        sq.sync();
        match submitter.submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        sq.sync(); // learn how far the kernel consumed
        if !stopping && progress.stop.load(Ordering::Relaxed) {
            stopping = true;
            // Unblock the recvs still waiting: their final CQEs arrive with 0 or an error.
            for c in &conns {
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        cq.sync();
        let record = progress.record.load(Ordering::Relaxed);
        let mut done = 0;
        for cqe in &mut cq {
            let (kind, i) = (cqe.user_data() >> 32, cqe.user_data() as u32 as usize);
            let (res, flags) = (cqe.result(), cqe.flags());
            let more = kind == RECV && cqueue::more(flags);
            if !more {
                in_flight -= 1;
            }
            let bid = cqueue::buffer_select(flags);
            let c = &mut conns[i];
            if let (Some(bid), true) = (bid, res > 0) {
                let got = res as usize;
                let expected = c.payload.get(c.got..c.got + got);
                let same = expected.is_some_and(|e| e == bufs.buf(bid, got));
                bufs.give(bid);
                if !stopping && !same {
                    fail(
                        format!("connection {i}: echoed bytes differ in request {}", c.round),
                        &mut stopping,
                    );
                }
            }
            if stopping {
                continue;
            }
            if kind == RECV && res == -libc::ENOBUFS {
                if !more {
                    // SAFETY: as above.
                    unsafe { sq.push(&recv(i)).expect("room: 2 entries per connection") };
                    in_flight += 1;
                }
                continue;
            }
            if res <= 0 {
                let op = if kind == SEND { "send" } else { "recv" };
                fail(
                    format!("connection {i}: {op} returned {res}"),
                    &mut stopping,
                );
                continue;
            }
            if kind == SEND {
                c.sent += res as usize;
                if c.sent < size {
                    // SAFETY: as above; this replaces the send whose CQE just arrived.
                    unsafe {
                        sq.push(&send(c, i))
                            .expect("room: 2 entries per connection")
                    };
                    in_flight += 1;
                    continue;
                }
            } else {
                c.got += res as usize;
                if !more {
                    // SAFETY: as above; this replaces the recv that just ended.
                    unsafe { sq.push(&recv(i)).expect("room: 2 entries per connection") };
                    in_flight += 1;
                }
            }
            if c.sent == size && c.got == size {
                if record {
                    latencies.push(c.started.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                }
                done += 1;
                c.next_payload(i);
                c.started = Instant::now();
                // SAFETY: as above; this connection's send has completed.
                unsafe {
                    sq.push(&send(c, i))
                        .expect("room: 2 entries per connection")
                };
                in_flight += 1;
            }
        }
        bufs.publish();
        progress.done.fetch_add(done, Ordering::Relaxed);
    }
    match error {
        Some(e) => Err(e),
        None => Ok(latencies),
    }
}
