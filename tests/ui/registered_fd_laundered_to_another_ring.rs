// Hole 6: an operation built on ring A with A's registered file cannot be moved to ring B
// (which would act on whatever file B has in that slot).
use safer_ring::{File, Ring};

fn main() {
    let (a, b) = (Ring::new(4).unwrap(), Ring::new(4).unwrap());
    a.register_files(1).unwrap();
    b.register_files(1).unwrap();
    let file = File::from(std::fs::File::open("/dev/null").unwrap());
    let fixed = a.register_file(&file).unwrap();
    let op = a.read_at(&fixed, Vec::<u8>::with_capacity(8), 0).into_op();
    let _ = b.custom(op).submit();
}
