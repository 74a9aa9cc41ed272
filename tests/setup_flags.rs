//! Kernel settings the ring asks for: on this machine's kernel (6.18) every one must be
//! granted (a missing one fails here rather than being skipped), and the registered ring fd
//! must be released when the ring drops.

use safer_ring::Ring;

#[test]
fn this_kernel_grants_every_setup_flag_the_ring_asks_for() {
    let ring = Ring::new(8).unwrap();
    let flags = ring.setup_flags();
    assert!(flags.single_issuer, "{flags:?}");
    assert!(flags.defer_taskrun, "{flags:?}");
    assert!(flags.no_sqarray, "{flags:?}: needs Linux 6.6");
    assert!(flags.registered_fd, "{flags:?}: needs Linux 5.18");
    ring.nop().submit().unwrap().wait().unwrap();
}

#[test]
fn dropping_a_ring_releases_its_registered_fd_slot() {
    // A thread's registered-ring table holds 16 rings. If drop did not unregister, the
    // 17th ring built in a row would get no slot.
    std::thread::spawn(|| {
        for i in 0..40 {
            let ring = Ring::new(4).unwrap();
            assert!(ring.setup_flags().registered_fd, "ring {i} got no slot");
            ring.nop().submit().unwrap().wait().unwrap();
        }
    })
    .join()
    .unwrap();
}

#[test]
fn rings_beyond_the_registered_table_still_work_through_their_fd() {
    std::thread::spawn(|| {
        let rings: Vec<_> = (0..20).map(|_| Ring::new(4).unwrap()).collect();
        let registered = rings
            .iter()
            .filter(|r| r.setup_flags().registered_fd)
            .count();
        assert_eq!(registered, 16, "the kernel's per-thread table holds 16");
        for ring in &rings {
            ring.nop().submit().unwrap().wait().unwrap();
            let done = ring.block_on(ring.nop());
            done.unwrap();
        }
    })
    .join()
    .unwrap();
}
