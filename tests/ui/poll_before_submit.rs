// A building operation is not a future: it cannot be polled before it is submitted.
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let op = pin!(ring.nop());
    let _ = op.poll(&mut Context::from_waker(Waker::noop())); // error[E0599]: no method `poll`
}
