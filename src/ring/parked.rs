//! Resources the kernel may still touch, parked in a slot after their owner let go.
//!
//! When an operation is dropped mid-flight (invariant 3), everything it owns that the kernel
//! may read or write — buffers, iovec arrays, paths, fd handles — moves here as one boxed
//! value. The ring calls [`Parked::finish`] with the final CQE and only then drops it, so an
//! operation that succeeded after its owner left still gets its result processed (an `openat`
//! that produced an fd closes it).
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::slots::CqeResult;

/// Something that finishes an abandoned operation given its final completion.
pub(crate) trait Finish {
    /// Processes the final CQE and releases everything.
    fn finish(self: Box<Self>, cqe: CqeResult);

    /// Processes a non-final CQE of a multishot operation (close the fd it carries, return
    /// its buffer). Single-shot operations never get one.
    fn item(&mut self, _cqe: CqeResult) {}
}

/// An abandoned operation's resources, owned by its slot until the final CQE.
pub struct Parked(Box<dyn Finish>);

impl Parked {
    /// Parks `value`; `finish` runs it to completion when the final CQE arrives.
    pub(crate) fn new(value: impl Finish + 'static) -> Self {
        Self(Box::new(value))
    }

    /// Finishes and releases the parked resources.
    pub fn finish(self, cqe: CqeResult) {
        self.0.finish(cqe);
    }

    /// Hands a non-final multishot CQE to the parked operation.
    pub fn item(&mut self, cqe: CqeResult) {
        self.0.item(cqe);
    }
}

/// The last work for an abandoned operation, run outside every borrow of the ring (it runs
/// user code: buffer hooks, `Drop`s): its multishot CQEs that were queued while it was parked,
/// then its final CQE — or, for a stream whose final CQE its owner already took, just the drop.
pub(crate) struct Release {
    parked: Parked,
    items: VecDeque<CqeResult>,
    last: Option<CqeResult>,
}

impl Release {
    pub fn new(parked: Parked, items: VecDeque<CqeResult>, last: Option<CqeResult>) -> Self {
        Self {
            parked,
            items,
            last,
        }
    }

    /// Hands over the queued CQEs and the final one, then releases everything.
    pub fn run(mut self) {
        while let Some(cqe) = self.items.pop_front() {
            self.parked.item(cqe);
        }
        match self.last {
            Some(cqe) => self.parked.finish(cqe),
            None => drop(self.parked),
        }
    }
}

impl std::fmt::Debug for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Parked")
    }
}

#[cfg(test)]
struct FnFinish<F>(F);

#[cfg(test)]
impl<F: FnOnce(CqeResult)> Finish for FnFinish<F> {
    fn finish(self: Box<Self>, cqe: CqeResult) {
        (self.0)(cqe);
    }
}

/// Parks a closure (tests of the pure lifecycle).
#[cfg(test)]
pub(crate) fn park_fn(f: impl FnOnce(CqeResult) + 'static) -> Parked {
    Parked::new(FnFinish(f))
}

/// Parks a counter of every CQE handed over, item or final (tests of multishot slots).
#[cfg(test)]
pub(crate) fn park_items(on_cqe: impl Fn() + 'static) -> Parked {
    struct Items<F>(F);
    impl<F: Fn()> Finish for Items<F> {
        fn finish(self: Box<Self>, _cqe: CqeResult) {
            (self.0)();
        }
        fn item(&mut self, _cqe: CqeResult) {
            (self.0)();
        }
    }
    Parked::new(Items(on_cqe))
}
