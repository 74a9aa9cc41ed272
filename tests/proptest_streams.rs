//! Property test against the real kernel: random sequences of submit / poll / drop / turn /
//! ring drop over a pipe, a TCP connection or a Unix socket pair, with guard-page buffers, checked against a simple model: every byte
//! written is read exactly once, by some read (kept or abandoned) or left in the pipe; every
//! buffer is released exactly once; every slot is freed.
#![allow(unsafe_code)]

mod common;

use std::future::IntoFuture;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::task::Poll;

use common::guard::{Event, GuardBuf, Log};
use common::{pipe, poll_once};
use proptest::prelude::*;
use safer_ring::op::file::Read as ReadOp;
use safer_ring::{OpFuture, Operation, Ring, Submitted};
use std::io::Write;

#[derive(Clone, Debug)]
enum Action {
    Submit { words: usize, as_future: bool },
    Write { words: u32 },
    Drop(usize),
    Complete(usize),
    Turn,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (1usize..16, any::<bool>()).prop_map(|(words, as_future)| Action::Submit { words, as_future }),
        3 => (1u32..24).prop_map(|words| Action::Write { words }),
        1 => (0usize..8).prop_map(Action::Drop),
        2 => (0usize..8).prop_map(Action::Complete),
        1 => Just(Action::Turn),
    ]
}

enum Live<'r> {
    Op(Operation<'r, Submitted<ReadOp<GuardBuf>>>),
    Fut(OpFuture<'r, ReadOp<GuardBuf>>),
}

/// Polls or try-completes; `None` when done (its buffer's fill is in the log), otherwise
/// the operation still in flight.
fn complete(live: Live<'_>) -> Option<Live<'_>> {
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
enum Channel {
    Pipe,
    Tcp,
    Unix,
}

fn channel(kind: Channel) -> (safer_ring::File, Box<dyn std::io::Write>) {
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

fn run(kind: Channel, actions: Vec<Action>) {
    let log = Log::default();
    let (reader, mut writer) = channel(kind);
    let ring = Ring::new(8).unwrap();
    let mut live: Vec<Live<'_>> = Vec::new();
    let (mut next_word, mut buffers) = (0u32, 0usize);
    for action in actions {
        match action {
            Action::Submit { words, as_future } => {
                let buf = GuardBuf::new(words * 4, buffers, &log);
                buffers += 1;
                if as_future {
                    let mut fut = ring.read(&reader, buf).into_future();
                    if poll_once(&mut fut).is_pending() {
                        live.push(Live::Fut(fut));
                    }
                } else if let Ok(op) = ring.read(&reader, buf).submit() {
                    live.push(Live::Op(op));
                }
            }
            Action::Write { words } => {
                let bytes: Vec<u8> = (next_word..next_word + words)
                    .flat_map(u32::to_le_bytes)
                    .collect();
                next_word += words;
                writer.write_all(&bytes).unwrap();
            }
            Action::Drop(i) if i < live.len() => drop(live.swap_remove(i)),
            Action::Complete(i) if i < live.len() => {
                if let Some(op) = complete(live.swap_remove(i)) {
                    live.push(op);
                }
            }
            Action::Turn => {
                ring.turn(false).unwrap();
            }
            Action::Drop(_) | Action::Complete(_) => {}
        }
    }
    drop(live);
    let report = ring.shutdown();
    assert!(!report.timed_out);
    check(&log, buffers, next_word, leftover(reader.as_raw_fd()));
}

/// What is still in the pipe.
fn leftover(fd: i32) -> Vec<u8> {
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

fn check(log: &Log, buffers: usize, words: u32, rest: Vec<u8>) {
    let events = log.lock().unwrap().clone();
    let mut released = vec![0usize; buffers];
    let mut chunks = Vec::new();
    for event in events {
        match event {
            Event::Released { id } => released[id] += 1,
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_lose_no_byte_and_release_every_buffer_once(
        kind in prop_oneof![Just(Channel::Pipe), Just(Channel::Tcp), Just(Channel::Unix)],
        actions in prop::collection::vec(action(), 1..60)
    ) {
        run(kind, actions);
    }
}
