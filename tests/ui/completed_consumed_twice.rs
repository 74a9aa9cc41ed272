// A completed operation's output can be taken only once.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let done = ring.nop().submit().unwrap().wait_completed();
    let _first = done.into_output();
    let _second = done.into_output(); // error[E0382]: use of moved value: `done`
}
