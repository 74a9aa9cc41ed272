// A ring belongs to its thread (SINGLE_ISSUER): it is not Send.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    std::thread::spawn(move || drop(ring)); // error[E0277]: cannot be sent between threads
}
