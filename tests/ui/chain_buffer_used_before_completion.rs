// A buffer moves into its chain or batch entry: it cannot be read, written or reused until
// the chain (or batch) completes and hands it back.
use safer_ring::{File, Ring};

fn main() {
    let ring = Ring::new(8).unwrap();
    let file = File::from(std::fs::File::open("/dev/null").unwrap());
    let mut buf = vec![0u8; 8];
    let chain = ring
        .chain((ring.read_at(&file, buf, 0), ring.nop()))
        .submit()
        .unwrap();
    buf[0] = 1; // error[E0382]: the buffer belongs to the chain's first entry
    drop(chain.wait());

    let mut batch = ring.batch();
    let other = vec![0u8; 8];
    batch.push(ring.read_at(&file, other, 0));
    println!("{}", other.len()); // error[E0382]: the buffer belongs to the batch
    drop(batch.submit().unwrap().wait());
}
