//! Binding an operation's [`Target`] to the ring that submits it (invariant 12).
#![forbid(unsafe_code)]

use crate::error::Result;
use crate::fd::{Kind, Target};
use crate::ring::Ring;

impl Target {
    /// Binds a registered target to `ring`, the ring submitting the operation: refused with
    /// `RingMismatch` or `Stale` unless the handle names a live registration of this ring.
    /// A claim from an earlier attempt is released first.
    pub(crate) fn bind(&mut self, ring: &Ring) -> Result<()> {
        if let Kind::Fixed { handle, claim } = &mut self.0 {
            *claim = None;
            *claim = Some(ring.acquire_file(handle)?);
        }
        Ok(())
    }
}
