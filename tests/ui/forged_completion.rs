// Hole 5: completing an operation with a result of one's own making (a read "of 4096 bytes"
// into a 1-byte buffer, an open "returning" another file's fd) must not compile: an
// operation's value is never handed out (see also forged_cqe_result.rs).
use safer_ring::{CqeResult, OpCode, Ring};

fn main() {
    let ring = Ring::new(4).unwrap();
    let file = safer_ring::File::from(std::fs::File::open("/dev/null").unwrap());
    let op = ring.read_at(&file, Vec::<u8>::with_capacity(1), 0).into_op();
    let (_n, buf) = op.complete(CqeResult { res: 4096, flags: 0 });
    drop(buf);
}
