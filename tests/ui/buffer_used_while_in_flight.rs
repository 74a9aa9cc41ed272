// A buffer given to an operation cannot be touched until the operation hands it back.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let file = safer_ring::File::from(std::fs::File::open("/dev/null").unwrap());
    let mut buf = vec![0u8; 16];
    let op = ring.read_at(&file, buf, 0).submit().unwrap();
    buf[0] = 1; // error[E0382]: borrow of moved value: `buf`
    drop(op);
}
