// A ring is not Sync: two threads cannot share it.
fn main() {
    let ring = std::sync::Arc::new(safer_ring::Ring::new(4).unwrap());
    let other = ring.clone();
    std::thread::spawn(move || other.nop()); // error[E0277]: cannot be shared between threads
}
