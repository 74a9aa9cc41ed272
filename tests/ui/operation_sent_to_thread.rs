// An operation borrows its (non-Sync) ring, so it cannot move to another thread.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let op = ring.nop().submit().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || op.wait()); // error[E0277]: cannot be shared between threads
    });
}
