// An operation cannot outlive the ring it runs on.
fn start() -> safer_ring::Operation<'static, safer_ring::Submitted<safer_ring::op::Nop>> {
    let ring = safer_ring::Ring::new(4).unwrap();
    ring.nop().submit().unwrap() // error[E0515]: returns a value referencing a local
}

fn main() {
    let _ = start();
}
