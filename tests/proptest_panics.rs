//! Property test for invariant 11 against the real kernel: random sequences of submit / poll /
//! drop / turn / ring drop over a pipe, a TCP connection or a Unix socket pair, in which user
//! code the library calls panics at random points — wakers that panic when woken, buffers
//! whose `on_taken` or `set_init` hook panics. Every panic is caught where it surfaces and
//! the sequence goes on. With guard-page buffers, the model of `proptest_streams.rs` must
//! still hold: every written word read exactly once (by a kept or abandoned read, or left in
//! the stream), every buffer released exactly once and never filled after, every slot freed.
#![allow(unsafe_code)]

mod common;

use std::future::IntoFuture;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::bomb::{arm, bomb, quiet_bombs};
use common::guard::{GuardBuf, Hook, Log};
use common::model::{Channel, Live, channel, check, complete, leftover, settle, write_words};
use proptest::prelude::*;
use safer_ring::Ring;

/// Who panics in a submitted read.
#[derive(Clone, Copy, Debug)]
enum Fuse {
    None,
    /// The future's waker, when woken (during a turn, a submit that reaps, a drop).
    Waker,
    /// The buffer's `on_taken` hook, while the read is submitted.
    Taken,
    /// The buffer's `set_init`, when the owner takes the result.
    Filled,
}

#[derive(Clone, Debug)]
enum Action {
    Submit {
        words: usize,
        as_future: bool,
        fuse: Fuse,
    },
    Write {
        words: u32,
    },
    Drop(usize),
    Complete(usize),
    Turn,
}

fn fuse() -> impl Strategy<Value = Fuse> {
    prop_oneof![
        3 => Just(Fuse::None),
        2 => Just(Fuse::Waker),
        1 => Just(Fuse::Taken),
        1 => Just(Fuse::Filled),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (1usize..16, any::<bool>(), fuse())
            .prop_map(|(words, as_future, fuse)| Action::Submit { words, as_future, fuse }),
        3 => (1u32..24).prop_map(|words| Action::Write { words }),
        1 => (0usize..8).prop_map(Action::Drop),
        2 => (0usize..8).prop_map(Action::Complete),
        1 => Just(Action::Turn),
    ]
}

/// Runs `f`, catching a deliberate panic; `None` if it panicked.
fn caught<R>(f: impl FnOnce() -> R) -> Option<R> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

/// Submits one read (as an operation, or as a future polled once with `fuse`'s waker).
fn submit<'r>(
    ring: &'r Ring,
    reader: &safer_ring::File,
    buf: GuardBuf,
    as_future: bool,
    fuse: Fuse,
) -> Option<Live<'r>> {
    let buf = match fuse {
        Fuse::Taken => buf.with_bomb(Hook::Taken),
        Fuse::Filled => buf.with_bomb(Hook::Filled),
        Fuse::None | Fuse::Waker => buf,
    };
    if !as_future {
        return caught(|| ring.read(reader, buf).submit().ok())
            .flatten()
            .map(Live::Op);
    }
    let mut fut = ring.read(reader, buf).into_future();
    let (armed, waker) = bomb();
    arm(&armed, matches!(fuse, Fuse::Waker));
    let polled = caught(|| common::poll_with(&mut fut, &waker));
    // A panic in the first poll (the hook, or another future's waker run by the submit)
    // leaves the future spent: its operation was dropped by the unwind, so never polled again.
    polled.and_then(|p| p.is_pending().then_some(Live::Fut(fut)))
}

fn run(kind: Channel, actions: Vec<Action>) {
    quiet_bombs();
    let log = Log::default();
    let (reader, mut writer) = channel(kind);
    let ring = Ring::new(8).unwrap();
    let mut live: Vec<Live<'_>> = Vec::new();
    let (mut next_word, mut buffers) = (0u32, 0usize);
    for action in actions {
        match action {
            Action::Submit {
                words,
                as_future,
                fuse,
            } => {
                let buf = GuardBuf::new(words * 4, buffers, &log);
                buffers += 1;
                live.extend(submit(&ring, &reader, buf, as_future, fuse));
            }
            Action::Write { words } => write_words(&mut *writer, &mut next_word, words),
            Action::Drop(i) if i < live.len() => {
                let op = live.swap_remove(i);
                caught(|| drop(op));
            }
            Action::Complete(i) if i < live.len() => {
                let op = live.swap_remove(i);
                live.extend(caught(|| complete(op)).flatten());
            }
            Action::Turn => {
                caught(|| ring.turn(false).unwrap());
            }
            Action::Drop(_) | Action::Complete(_) => {}
        }
    }
    caught(|| drop(live));
    settle(&ring);
    // A wake-up left by an unwind (never run during one) may still fire, and panic, here:
    // `shutdown` finishes first, then resumes it.
    if let Some(report) = caught(|| ring.shutdown()) {
        assert!(!report.timed_out);
    }
    check(&log, buffers, next_word, leftover(reader.as_raw_fd()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn panics_anywhere_lose_no_byte_and_free_nothing_the_kernel_holds(
        kind in prop_oneof![Just(Channel::Pipe), Just(Channel::Tcp), Just(Channel::Unix)],
        actions in prop::collection::vec(action(), 1..60)
    ) {
        run(kind, actions);
    }
}
