//! What the running kernel supports: opcodes, setup flags, features, and the
//! [`Capabilities`] they add up to.
//!
//! Each ring probes its kernel once when built (`IORING_REGISTER_PROBE`). An operation whose
//! opcode the kernel lacks is refused at submission with
//! [`SaferRingError::Unsupported`](crate::SaferRingError::Unsupported), naming it, instead of
//! failing later with a bare `EINVAL`.
#![forbid(unsafe_code)]

mod capabilities;
mod kernel_version;

pub use capabilities::{Capabilities, Capability, CapabilitySet};
pub use kernel_version::KernelVersion;

/// Opcodes the kernel supports, as a bitmap (opcodes are `u8`).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::io_uring::opcode;
/// let ring = safer_ring::Ring::new(4)?;
/// let opcodes = ring.opcodes();
/// assert!(opcodes.contains(opcode::Nop::CODE));
/// println!("send_zc here: {}", opcodes.contains(opcode::SendZc::CODE));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpcodeSet([u64; 4]);

impl OpcodeSet {
    /// Probes the kernel behind a ring's registration interface. Kernels without
    /// `IORING_REGISTER_PROBE` (< 5.6) report nothing; then every opcode is assumed
    /// supported and the kernel decides.
    pub(crate) fn probe(kernel: &io_uring::Submitter<'_>) -> Self {
        let mut probe = io_uring::Probe::new();
        if kernel.register_probe(&mut probe).is_err() {
            return Self::all();
        }
        let codes: Vec<u8> = (0..=u8::MAX).filter(|&c| probe.is_supported(c)).collect();
        Self::of(&codes)
    }

    /// Exactly `codes`.
    pub(crate) fn of(codes: &[u8]) -> Self {
        let mut set = Self::default();
        for &code in codes {
            set.0[usize::from(code / 64)] |= 1 << (code % 64);
        }
        set
    }

    /// Every opcode.
    pub(crate) const fn all() -> Self {
        Self([u64::MAX; 4])
    }

    /// Whether the kernel supports `opcode`.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::io_uring::opcode;
    /// let opcodes = safer_ring::Ring::new(4)?.opcodes();
    /// assert!(opcodes.contains(opcode::Read::CODE) && opcodes.contains(opcode::Timeout::CODE));
    /// assert!(!opcodes.contains(u8::MAX)); // no kernel has opcode 255
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn contains(&self, opcode: u8) -> bool {
        self.0[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0
    }
}

/// The `IORING_FEAT_*` flags the kernel reported when a ring was set up, by name
/// ([`Ring::features`](crate::Ring::features)).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let features = ring.features();
/// assert!(features.contains("NODROP")); // Linux 5.5
/// for (name, on) in features.iter() {
///     println!("IORING_FEAT_{name}: {on}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features(u32);

/// Whether a ring's setup parameters report one feature.
type HasFeature = fn(&io_uring::Parameters) -> bool;

/// Every feature [`Features`] knows, by name (without `IORING_FEAT_`), with its test.
const FEATURES: &[(&str, HasFeature)] = &[
    ("SINGLE_MMAP", io_uring::Parameters::is_feature_single_mmap),
    ("NODROP", io_uring::Parameters::is_feature_nodrop),
    (
        "SUBMIT_STABLE",
        io_uring::Parameters::is_feature_submit_stable,
    ),
    ("RW_CUR_POS", io_uring::Parameters::is_feature_rw_cur_pos),
    (
        "CUR_PERSONALITY",
        io_uring::Parameters::is_feature_cur_personality,
    ),
    ("FAST_POLL", io_uring::Parameters::is_feature_fast_poll),
    ("POLL_32BITS", io_uring::Parameters::is_feature_poll_32bits),
    (
        "SQPOLL_NONFIXED",
        io_uring::Parameters::is_feature_sqpoll_nonfixed,
    ),
    ("EXT_ARG", io_uring::Parameters::is_feature_ext_arg),
    (
        "NATIVE_WORKERS",
        io_uring::Parameters::is_feature_native_workers,
    ),
    (
        "RSRC_TAGS",
        io_uring::Parameters::is_feature_resource_tagging,
    ),
    (
        "CQE_SKIP",
        io_uring::Parameters::is_feature_skip_cqe_on_success,
    ),
    ("LINKED_FILE", io_uring::Parameters::is_feature_linked_file),
    (
        "RECVSEND_BUNDLE",
        io_uring::Parameters::is_feature_recvsend_bundle,
    ),
    ("MIN_TIMEOUT", io_uring::Parameters::is_feature_min_timeout),
    ("NO_IOWAIT", io_uring::Parameters::is_feature_no_iowait),
];

impl Features {
    /// The features of a ring set up with `params`.
    pub(crate) fn from_params(params: &io_uring::Parameters) -> Self {
        let bits = FEATURES
            .iter()
            .enumerate()
            .filter(|(_, (_, has))| has(params))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        Self(bits)
    }

    /// Every known feature by name (without the `IORING_FEAT_` prefix) and whether the
    /// kernel has it, oldest first.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let features: Vec<_> = ring.features().iter().collect();
    /// assert_eq!(features[0].0, "SINGLE_MMAP"); // the oldest (Linux 5.4)
    /// assert!(features.contains(&("NODROP", true)));
    /// // Every known name, whether the kernel has it or not.
    /// assert!(features.iter().any(|(name, _)| *name == "NO_IOWAIT"));
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        FEATURES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, self.0 & 1 << i != 0))
    }

    /// Whether the kernel reported the feature `name` (without `IORING_FEAT_`); `false` for
    /// names this library does not know.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let features = safer_ring::Ring::new(4)?.features();
    /// assert!(features.contains("NODROP") && features.contains("EXT_ARG"));
    /// assert!(!features.contains("IORING_FEAT_NODROP")); // names go without the prefix
    /// assert!(!features.contains("WARP_DRIVE"));
    /// # Ok(()) }
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|(n, on)| on && n == name)
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
