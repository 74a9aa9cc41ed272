//! [`Claim`]: one in-flight operation's use count on a registered resource.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

/// One in-flight operation's claim on a registered resource (a file-table slot, a registered
/// buffer pool). The registry refuses to unregister a resource while claims on it exist; the
/// operation holding a claim lives until its final CQE (in its owner or parked in its slot),
/// so the resource stays registered for as long as the kernel may use it (invariant 8).
#[derive(Debug)]
pub(crate) struct Claim {
    users: Rc<Cell<u32>>,
    index: u32,
}

impl Claim {
    /// Counts one more user of the resource `users` counts, at `index` of its table.
    pub fn new(users: &Rc<Cell<u32>>, index: u32) -> Self {
        users.set(users.get() + 1);
        Self {
            users: users.clone(),
            index,
        }
    }

    /// The claimed index (a file-table slot).
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.users.set(self.users.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_counts_while_it_lives() {
        let users = Rc::new(Cell::new(0));
        let a = Claim::new(&users, 3);
        let b = Claim::new(&users, 3);
        assert_eq!((users.get(), a.index()), (2, 3));
        drop(a);
        assert_eq!(users.get(), 1);
        drop(b);
        assert_eq!(users.get(), 0);
    }
}
