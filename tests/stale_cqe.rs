//! Invariant 7: a CQE whose generation does not match its slot is ignored and counted.

mod common;

use common::{feed, pipe};
use safer_ring::Ring;

#[test]
fn stale_generation_cqe_is_ignored_and_counted() {
    let ring = Ring::new(8).unwrap();
    // Slot 0, generation 0: used and completed, so slot 0 moves to generation 1.
    ring.nop().submit().unwrap().wait().unwrap();
    let (reader, mut writer) = pipe();
    let op = ring.read(&reader, Vec::with_capacity(16)).submit().unwrap();
    ring.submit().unwrap();

    // A completion for (index 0, generation 0), the slot's previous owner.
    let stale_user_data = 0u64;
    ring.inject_raw_nop(stale_user_data).unwrap();
    // And one for a slot that was never handed out.
    ring.inject_raw_nop((7u64 << 32) | 5).unwrap();
    ring.turn(true).unwrap();
    while ring.stats().stale_cqes < 2 {
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.stats().stale_cqes, 2);

    let op = op
        .try_complete()
        .expect_err("stale CQE must not complete the read");
    feed(&mut writer, b"the real data");
    let (n, buf) = op.wait();
    assert_eq!(&buf[..n.unwrap()], b"the real data");
    assert_eq!(
        ring.stats().completed,
        2,
        "only the real completions were delivered"
    );
}
