// Hole 5, second half: a `CqeResult` is made only by the ring, so no safe code can hand an
// operation a result the kernel never produced.
use safer_ring::CqeResult;

fn main() {
    let forged = CqeResult { res: 4096, flags: 0 };
    let _ = forged.res();
}
