//! Kernel settings the ring asks for: each one the running kernel has must be granted (a
//! missing one fails here rather than being skipped; on this machine's 6.18 that is all of
//! them), each one it lacks must degrade to a working ring (the qemu run on Linux 6.1 has
//! no `NO_SQARRAY`), and the registered ring fd must be released when the ring drops.
mod common;

use safer_ring::Ring;
use safer_ring::probe::{Capability, KernelVersion};

#[test]
fn this_kernel_grants_every_setup_flag_it_has_and_the_ring_works_without_the_rest() {
    if !common::kernel_only("the kernel's setup flags and registered ring fds") {
        return;
    }
    let ring = Ring::new(8).unwrap();
    let (flags, kernel) = (ring.setup_flags(), KernelVersion::running());
    let granted = [
        (flags.single_issuer, Capability::SingleIssuer),
        (flags.defer_taskrun, Capability::DeferTaskrun),
        (flags.no_sqarray, Capability::NoSqArray),
        (flags.registered_fd, Capability::RegisteredRingFd),
    ];
    for (on, capability) in granted {
        let expected = kernel >= capability.since();
        assert_eq!(on, expected, "{capability:?}: {flags:?} on {kernel}");
    }
    ring.nop().submit().unwrap().wait().unwrap();
}

#[test]
fn dropping_a_ring_releases_its_registered_fd_slot() {
    if !common::kernel_only("the kernel's setup flags and registered ring fds") {
        return;
    }
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
    if !common::kernel_only("the kernel's setup flags and registered ring fds") {
        return;
    }
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
