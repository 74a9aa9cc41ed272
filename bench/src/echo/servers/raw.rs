//! The floor: an echo server written directly on the `io-uring` crate, the way an expert
//! writes one. One ring with `SINGLE_ISSUER|DEFER_TASKRUN`, a multishot accept, a multishot
//! recv per connection into a provided buffer ring, each received buffer sent back as it is
//! (one send in flight per connection, so the bytes go back in order) and returned to the
//! buffer ring once sent; all new SQEs of a loop go in with one `submit_and_wait`.

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::squeue::Entry;
use io_uring::types::Fd;
use io_uring::{IoUring, SubmissionQueue, Submitter, cqueue, opcode};

use crate::echo::buf_ring::BufRing;

const BGID: u16 = 0;
const NBUFS: u16 = 2048;
const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 8192;

const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const CLOSE: u64 = 4;

fn user_data(kind: u64, fd: RawFd) -> u64 {
    kind << 32 | fd as u32 as u64
}

#[derive(Default)]
struct Conn {
    /// Received buffers not yet fully sent back: (buffer id, offset, length).
    queue: VecDeque<(u16, usize, usize)>,
    sending: bool,
    receiving: bool,
}

/// Pushes an SQE, submitting what is queued first if the submission queue is full.
fn push(submitter: &Submitter<'_>, sq: &mut SubmissionQueue<'_>, sqe: &Entry) -> io::Result<()> {
    loop {
        // SAFETY: every SQE built in this file names either no memory or a buffer of
        // `BufRing::bufs`, which is never freed while the ring lives and is not handed back
        // to the kernel until the SQE's CQE has arrived.
        if unsafe { sq.push(sqe) }.is_ok() {
            return Ok(());
        }
        sq.sync();
        submitter.submit()?;
        sq.sync();
    }
}

fn send_front(
    submitter: &Submitter<'_>,
    sq: &mut SubmissionQueue<'_>,
    bufs: &BufRing,
    fd: RawFd,
    conn: &mut Conn,
) -> io::Result<()> {
    if let Some(&(bid, off, len)) = conn.queue.front() {
        let ptr = bufs.buf(bid, off + len)[off..].as_ptr();
        let sqe = opcode::Send::new(Fd(fd), ptr, len as u32)
            .build()
            .user_data(user_data(SEND, fd));
        push(submitter, sq, &sqe)?;
        conn.sending = true;
    }
    Ok(())
}

fn recv(submitter: &Submitter<'_>, sq: &mut SubmissionQueue<'_>, fd: RawFd) -> io::Result<()> {
    let sqe = opcode::RecvMulti::new(Fd(fd), BGID)
        .build()
        .user_data(user_data(RECV, fd));
    push(submitter, sq, &sqe)
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)?;
    // The kernel may use the buffer ring as long as the ring is open: leak it (the server
    // runs until it is killed).
    let bufs = std::mem::ManuallyDrop::new(BufRing::new(&ring.submitter(), BGID, NBUFS)?);
    let lfd = listener.as_raw_fd();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let (submitter, mut sq, mut cq) = ring.split();
    let accept = opcode::AcceptMulti::new(Fd(lfd))
        .build()
        .user_data(user_data(ACCEPT, lfd));
    push(&submitter, &mut sq, &accept)?;
    let mut bufs = bufs;
    loop {
        sq.sync();
        match submitter.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        sq.sync(); // learn how far the kernel consumed
        cq.sync();
        for cqe in &mut cq {
            let (kind, fd) = (cqe.user_data() >> 32, cqe.user_data() as u32 as RawFd);
            let res = cqe.result();
            match kind {
                ACCEPT => {
                    if res >= 0 {
                        let one: libc::c_int = 1;
                        // SAFETY: `res` is a socket the kernel just gave us; the option
                        // value is a live c_int of the size passed.
                        unsafe {
                            libc::setsockopt(
                                res,
                                libc::IPPROTO_TCP,
                                libc::TCP_NODELAY,
                                (&one as *const libc::c_int).cast(),
                                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                            )
                        };
                        let i = res as usize;
                        if conns.len() <= i {
                            conns.resize_with(i + 1, || None);
                        }
                        conns[i] = Some(Conn {
                            receiving: true,
                            ..Conn::default()
                        });
                        recv(&submitter, &mut sq, res)?;
                    }
                    if !cqueue::more(cqe.flags()) {
                        push(&submitter, &mut sq, &accept)?;
                    }
                }
                RECV => {
                    let Some(conn) = conns.get_mut(fd as usize).and_then(Option::as_mut) else {
                        continue;
                    };
                    let more = cqueue::more(cqe.flags());
                    if res > 0 {
                        let bid = cqueue::buffer_select(cqe.flags()).expect("a selected buffer");
                        conn.queue.push_back((bid, 0, res as usize));
                        if !conn.sending {
                            send_front(&submitter, &mut sq, &bufs, fd, conn)?;
                        }
                        if !more {
                            recv(&submitter, &mut sq, fd)?;
                        }
                    } else if res == -libc::ENOBUFS {
                        // Out of buffers for a moment: they come back as sends complete.
                        if !more {
                            recv(&submitter, &mut sq, fd)?;
                        }
                    } else if !more {
                        // End of stream or an error: finish sending, then close.
                        conn.receiving = false;
                    }
                }
                SEND => {
                    let Some(conn) = conns.get_mut(fd as usize).and_then(Option::as_mut) else {
                        continue;
                    };
                    conn.sending = false;
                    if res > 0 {
                        let front = conn.queue.front_mut().expect("a send in flight");
                        front.1 += res as usize;
                        front.2 -= res as usize;
                        if front.2 == 0 {
                            let (bid, _, _) = conn.queue.pop_front().expect("front");
                            bufs.give(bid);
                        }
                        send_front(&submitter, &mut sq, &bufs, fd, conn)?;
                    } else {
                        // The peer is gone: drop what is queued and stop the recv.
                        for (bid, _, _) in conn.queue.drain(..) {
                            bufs.give(bid);
                        }
                        if conn.receiving {
                            // SAFETY: `fd` is a socket this server owns (not yet closed).
                            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                        }
                    }
                }
                _ => {} // CLOSE: nothing to do
            }
            if kind == RECV || kind == SEND {
                let idle = conns[fd as usize]
                    .as_ref()
                    .is_some_and(|c| !c.receiving && !c.sending);
                if idle {
                    let conn = conns[fd as usize].take().expect("checked");
                    for (bid, _, _) in conn.queue {
                        bufs.give(bid);
                    }
                    let close = opcode::Close::new(Fd(fd))
                        .build()
                        .user_data(user_data(CLOSE, fd));
                    push(&submitter, &mut sq, &close)?;
                }
            }
        }
        bufs.publish();
    }
}
