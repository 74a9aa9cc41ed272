//! What the running kernel supports: opcodes, setup flags, features.
//!
//! Each ring probes its kernel once when built (`IORING_REGISTER_PROBE`). An operation whose
//! opcode the kernel lacks is refused at submission with
//! [`SaferRingError::Unsupported`](crate::SaferRingError::Unsupported), naming it, instead of
//! failing later with a bare `EINVAL`.
#![forbid(unsafe_code)]

/// Opcodes the kernel supports, as a bitmap (opcodes are `u8`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpcodeSet([u64; 4]);

impl OpcodeSet {
    /// Probes the kernel behind a ring's registration interface. Kernels without
    /// `IORING_REGISTER_PROBE` (< 5.6) report nothing; then every opcode is assumed
    /// supported and the kernel decides.
    pub(crate) fn probe(kernel: &io_uring::Submitter<'_>) -> Self {
        let mut probe = io_uring::Probe::new();
        if kernel.register_probe(&mut probe).is_err() {
            return Self([u64::MAX; 4]);
        }
        let mut set = Self::default();
        for code in 0..=u8::MAX {
            if probe.is_supported(code) {
                set.0[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
        set
    }

    /// Whether the kernel supports `opcode`.
    #[inline]
    pub fn contains(&self, opcode: u8) -> bool {
        self.0[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::SUPPORTED_OPCODES;

    #[test]
    fn this_kernel_supports_every_opcode_the_library_uses() {
        let uring = io_uring::IoUring::new(2).unwrap();
        let set = OpcodeSet::probe(&uring.submitter());
        for (name, code) in SUPPORTED_OPCODES {
            assert!(set.contains(*code), "kernel lacks {name}");
        }
        assert!(!set.contains(u8::MAX), "no kernel has opcode 255");
    }
}
