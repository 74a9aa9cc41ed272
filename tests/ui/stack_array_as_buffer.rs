// A stack array is not an I/O buffer: its address moves with it.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let file = safer_ring::File::from(std::fs::File::open("/dev/null").unwrap());
    let _ = ring.read_at(&file, [0u8; 16], 0); // error[E0277]: `[u8; 16]: IoBufMut`
}
