//! The model the property tests check the kernel against: a byte stream of numbered
//! little-endian words (a pipe, a TCP connection or a Unix socket pair) read into guard
//! buffers. Every written word must be read exactly once — by some read, kept or abandoned,
//! or left in the stream — and every buffer released exactly once, never filled after.

use std::io::Read;
use std::task::Poll;

use safer_ring::fs::opcodes::Read as ReadOp;
use safer_ring::{OpFuture, Operation, Submitted};

use super::guard::{Event, GuardBuf, Log, written_after_release};
use super::{pipe, poll_once};

/// A read in flight, as a submitted operation or as a future.
pub enum Live<'r> {
    Op(Operation<'r, Submitted<ReadOp<GuardBuf>>>),
    Fut(OpFuture<'r, ReadOp<GuardBuf>>),
}

/// Polls or try-completes; `None` when done (its buffer's fill is in the log), otherwise
/// the operation still in flight.
pub fn complete(live: Live<'_>) -> Option<Live<'_>> {
    match live {
        Live::Op(op) => match op.try_complete() {
            Ok(done) => {
                done.into_output().0.expect("read");
                None
            }
            Err(op) => Some(Live::Op(op)),
        },
        Live::Fut(mut fut) => match poll_once(&mut fut) {
            Poll::Ready((res, _)) => {
                res.expect("read");
                None
            }
            Poll::Pending => Some(Live::Fut(fut)),
        },
    }
}

/// The byte stream under test: its ring-side reader and std-side writer.
#[derive(Clone, Copy, Debug)]
pub enum Channel {
    Pipe,
    Tcp,
    Unix,
}

pub fn channel(kind: Channel) -> (safer_ring::File, Box<dyn std::io::Write>) {
    use std::os::fd::OwnedFd;
    match kind {
        Channel::Pipe => {
            let (r, w) = pipe();
            (r, Box::new(w))
        }
        Channel::Tcp => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let w = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (r, _) = l.accept().unwrap();
            (safer_ring::File::from(OwnedFd::from(r)), Box::new(w))
        }
        Channel::Unix => {
            let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
            (safer_ring::File::from(OwnedFd::from(r)), Box::new(w))
        }
    }
}

/// What is still in the pipe.
pub fn leftover(fd: i32) -> Vec<u8> {
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut rest = Vec::new();
    let mut file = std::mem::ManuallyDrop::new(unsafe_file(fd));
    let _ = file.read_to_end(&mut rest);
    rest
}

fn unsafe_file(fd: i32) -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: borrowed for one read; wrapped in ManuallyDrop so it is not closed.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

pub fn check(log: &Log, buffers: usize, words: u32, rest: Vec<u8>) {
    let events = log.lock().unwrap().clone();
    assert_eq!(
        written_after_release(&events),
        None,
        "the kernel wrote into a buffer after it was released"
    );
    let mut released = vec![0usize; buffers];
    let mut chunks = Vec::new();
    for event in events {
        match event {
            Event::Released { id, .. } => released[id] += 1,
            Event::Filled { id, bytes } => {
                assert_eq!(released[id], 0, "buffer {id} filled after it was released");
                chunks.push(bytes);
            }
        }
    }
    assert!(
        released.iter().all(|&n| n == 1),
        "released counts: {released:?}"
    );
    chunks.push(rest);
    let mut ranges: Vec<(u32, u32)> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            assert_eq!(c.len() % 4, 0, "partial word");
            let first = u32::from_le_bytes(c[..4].try_into().unwrap());
            for (k, w) in c.chunks(4).enumerate() {
                assert_eq!(
                    u32::from_le_bytes(w.try_into().unwrap()),
                    first + k as u32,
                    "garbled chunk"
                );
            }
            (first, first + (c.len() / 4) as u32)
        })
        .collect();
    ranges.sort_unstable();
    let mut expect = 0;
    for (start, end) in ranges {
        assert_eq!(start, expect, "bytes lost or read twice");
        expect = end;
    }
    assert_eq!(expect, words, "every written word accounted for");
}

/// Writes the next `words` numbered words to the stream.
pub fn write_words(writer: &mut dyn std::io::Write, next_word: &mut u32, words: u32) {
    let bytes: Vec<u8> = (*next_word..*next_word + words)
        .flat_map(u32::to_le_bytes)
        .collect();
    *next_word += words;
    writer.write_all(&bytes).unwrap();
}

/// Turns `ring` until no slot is live (for at most a second, never blocking; a panic from
/// a deferred waker is caught and the turns go on): a slot left live with no owner means an
/// operation was lost.
pub fn settle(ring: &safer_ring::Ring) {
    for _ in 0..1000 {
        if ring.live_slots() == 0 {
            return;
        }
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.turn(false)));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!(
        "{} slots still live with every owner gone",
        ring.live_slots()
    );
}
