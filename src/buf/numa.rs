//! NUMA placement for pool memory.
//!
//! On a machine with several NUMA nodes the pool binds its pages to one node (the calling
//! thread's, or the one asked for) with `mbind(MPOL_PREFERRED, MPOL_MF_MOVE)` — the pages
//! the allocator had touched already are moved there — on a single-node machine it says so
//! and does nothing. `tests/pool.rs` checks every page's node with `move_pages` in a
//! two-node guest (`.ci/qemu/numa.sh`).
#![allow(unsafe_code)]

/// Where a pool's memory was placed.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::BufferPool;
/// use safer_ring::buf::numa::{Placement, online_nodes};
/// let pool = BufferPool::new(2, 4096)?;
/// match pool.placement() {
///     Placement::SingleNode => assert_eq!(online_nodes(), 1),
///     Placement::Node(node) => assert!(node < online_nodes()),
///     Placement::Default => assert!(online_nodes() > 1), // `mbind` refused
///     other => panic!("a new kind of placement: {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// The machine has one NUMA node: no placement needed.
    SingleNode,
    /// Bound (preferred) to this node.
    Node(u32),
    /// The machine has several nodes but `mbind` failed; the kernel's default policy applies.
    Default,
}

/// NUMA nodes online, from `/sys/devices/system/node/online` (e.g. `0` or `0-3`); 1 when
/// the file cannot be read.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::buf::numa::{Placement, online_nodes};
/// let nodes = online_nodes();
/// assert!(nodes >= 1);
/// // A pool is placed on a node only where there is more than one.
/// let pool = safer_ring::BufferPool::new(1, 4096)?;
/// assert_eq!(pool.placement() == Placement::SingleNode, nodes == 1);
/// # Ok(()) }
/// ```
pub fn online_nodes() -> u32 {
    std::fs::read_to_string("/sys/devices/system/node/online")
        .ok()
        .and_then(|s| {
            let last = s.trim().rsplit([',', '-']).next()?.to_owned();
            last.parse::<u32>().ok()
        })
        .map_or(1, |max| max + 1)
}

fn current_node() -> u32 {
    let (mut cpu, mut node) = (0u32, 0u32);
    // SAFETY: getcpu writes two u32s into live locals.
    let rc = unsafe { libc::syscall(libc::SYS_getcpu, &raw mut cpu, &raw mut node, 0usize) };
    if rc == 0 { node } else { 0 }
}

/// Places `len` bytes at `addr` on `node` (or the current one) if the machine has several.
pub(crate) fn place(addr: *mut u8, len: usize, node: Option<u32>) -> Placement {
    let nodes = online_nodes();
    if nodes <= 1 {
        return Placement::SingleNode;
    }
    let node = node.unwrap_or_else(current_node).min(nodes - 1);
    let mask: [u64; 16] = std::array::from_fn(|i| {
        if i == node as usize / 64 {
            1 << (node % 64)
        } else {
            0
        }
    });
    const MPOL_PREFERRED: usize = 1;
    // Pages the allocator had already touched (reused heap memory, zeroed) sit where they
    // were first touched: moved to the node too, not only the ones touched from now on.
    const MPOL_MF_MOVE: usize = 1 << 1;
    // SAFETY: mbind only changes the placement policy of pages we own (and moves them, which
    // keeps their contents and addresses); `mask` is a live array of 1024 bits.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            addr,
            len,
            MPOL_PREFERRED,
            mask.as_ptr(),
            1024usize,
            MPOL_MF_MOVE,
        )
    };
    if rc == 0 {
        Placement::Node(node)
    } else {
        Placement::Default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_reports_its_nodes() {
        let nodes = online_nodes();
        assert!(nodes >= 1);
        let mut page = vec![0u8; 4096];
        let placed = place(page.as_mut_ptr(), page.len(), None);
        if nodes == 1 {
            assert_eq!(placed, Placement::SingleNode);
        } else {
            assert!(matches!(placed, Placement::Node(_) | Placement::Default));
        }
    }
}
