// A borrowed slice is not an I/O buffer: the kernel could outlive the borrow.
fn main() {
    let ring = safer_ring::Ring::new(4).unwrap();
    let file = safer_ring::File::from(std::fs::File::open("/dev/null").unwrap());
    let mut data = vec![0u8; 16];
    let _ = ring.read_at(&file, &mut data[..], 0); // error[E0277]: `&mut [u8]: IoBufMut`
}
