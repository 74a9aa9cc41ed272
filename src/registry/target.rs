//! Binding an operation's [`Target`] to the ring that submits it (invariant 12).
#![forbid(unsafe_code)]

use crate::error::Result;
use crate::fd::{Claim, Kind, RegisteredFd, Target};
use crate::ring::Ring;

impl Target {
    /// Binds a registered target to `ring`, the ring submitting the operation: refused with
    /// `RingMismatch` or `Stale` unless the handle names a live registration of this ring.
    /// A claim from an earlier attempt is released first.
    #[inline]
    pub(crate) fn bind(&mut self, ring: &Ring) -> Result<()> {
        match &mut self.0 {
            Kind::Fd(_) => Ok(()),
            Kind::Fixed { handle, claim } => bind_fixed(handle, claim, ring),
        }
    }
}

/// [`Target::bind`] for a registered file (out of line: the plain fd path stays small).
#[cold]
fn bind_fixed(handle: &RegisteredFd, claim: &mut Option<Claim>, ring: &Ring) -> Result<()> {
    *claim = None;
    *claim = Some(ring.acquire_file(handle)?);
    Ok(())
}
