// Hole 8: a bare fd number is not a file the caller owns; registering it must not compile
// (raw fds enter only through `unsafe` constructors, invariant 6).
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    ring.register_files(1).unwrap();
    let _ = ring.register_file(&4);
}
