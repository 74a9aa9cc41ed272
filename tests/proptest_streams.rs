//! Property test against the real kernel: random sequences of submit / poll / drop / turn /
//! ring drop over a pipe, a TCP connection or a Unix socket pair, with guard-page buffers, checked against a simple model: every byte
//! written is read exactly once, by some read (kept or abandoned) or left in the pipe; every
//! buffer is released exactly once; every slot is freed.
#![allow(unsafe_code)]

mod common;

use std::future::IntoFuture;
use std::os::fd::AsRawFd;

use common::guard::{GuardBuf, Log};
use common::model::{Channel, Live, channel, check, complete, leftover, settle, write_words};
use common::poll_once;
use proptest::prelude::*;
use safer_ring::Ring;

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
            Action::Write { words } => write_words(&mut *writer, &mut next_word, words),
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
    settle(&ring);
    let report = ring.shutdown();
    assert!(!report.timed_out);
    check(&log, buffers, next_word, leftover(reader.as_raw_fd()));
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
