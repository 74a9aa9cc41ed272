// The ring cannot be dropped (or moved) while an operation borrows it.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let op = ring.nop().submit().unwrap();
    drop(ring); // error[E0505]: cannot move out of `ring` because it is borrowed
    op.wait().unwrap();
}
