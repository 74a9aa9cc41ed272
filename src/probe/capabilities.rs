//! [`Capabilities`]: what io_uring can do for one ring, by name — from the kernel's version,
//! its opcodes, features and the setup flags it granted — and a mask to pretend some of it is
//! missing (tests of the degraded paths; fleets of mixed kernels that want one behaviour).
#![forbid(unsafe_code)]

use io_uring::opcode;

use super::{Features, KernelVersion, OpcodeSet};
use crate::error::{Result, SaferRingError};

/// One thing io_uring may or may not do on a machine. Operations that use one fall back to
/// what the machine has when it is missing (see each variant); [`Capabilities::has`] says.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::probe::Capability;
/// assert_eq!(Capability::from_name("send_zc"), Some(Capability::SendZc));
/// assert_eq!(Capability::SendZc.name(), "send_zc");
/// println!("send_zc needs Linux {}", Capability::SendZc.since());
/// // Pretend it is missing: `send_zc` then sends with a plain `send`.
/// let ring = safer_ring::Ring::builder().without(Capability::SendZc).build()?;
/// assert!(!ring.capabilities().has(Capability::SendZc));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `IORING_SETUP_SINGLE_ISSUER` (6.0). Without it: a plain ring.
    SingleIssuer,
    /// `IORING_SETUP_DEFER_TASKRUN` (6.1). Without it: completion work runs as task work.
    DeferTaskrun,
    /// `IORING_SETUP_NO_SQARRAY` (6.6). Without it: the SQ index array.
    NoSqArray,
    /// A registered ring fd (5.18). Without it: `io_uring_enter` on the plain fd.
    RegisteredRingFd,
    /// Multishot accept (5.19). Without it: `accept_multi` re-arms a one-shot accept after
    /// each connection.
    MultishotAccept,
    /// Multishot receive into a provided-buffer ring (6.0). Without it: `recv_multi` re-arms a
    /// one-shot receive from the buffer ring after each message.
    MultishotRecv,
    /// Zero-copy send (6.0). Without it: `send_zc` sends with a plain `send`.
    SendZc,
    /// The `socket` opcode (5.19). Without it: `Ring::socket` calls `socket(2)`.
    SocketOp,
    /// Cross-ring messages (`IORING_OP_MSG_RING`, 5.18). Without it: a ring pool's workers
    /// wake each other with eventfds.
    MsgRing,
    /// Multishot timeouts (6.4). Without it: a ticking timer re-arms a one-shot timeout after
    /// each tick (each period then counts from the tick before, not from the start).
    MultishotTimeout,
}

impl Capability {
    /// Every capability, in declaration order.
    ///
    /// ```
    /// use safer_ring::probe::Capability;
    /// assert_eq!(Capability::ALL[0], Capability::SingleIssuer);
    /// let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    /// assert!(names.contains(&"send_zc") && names.contains(&"multishot_timeout"));
    /// ```
    pub const ALL: [Capability; 10] = [
        Self::SingleIssuer,
        Self::DeferTaskrun,
        Self::NoSqArray,
        Self::RegisteredRingFd,
        Self::MultishotAccept,
        Self::MultishotRecv,
        Self::SendZc,
        Self::SocketOp,
        Self::MsgRing,
        Self::MultishotTimeout,
    ];

    /// Its name, as `SAFER_RING_WITHOUT` and `safer-ring probe` spell it.
    ///
    /// ```
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// assert_eq!(Capability::MultishotAccept.name(), "multishot_accept");
    /// // The names are what `SAFER_RING_WITHOUT` takes.
    /// let set = CapabilitySet::parse(Capability::MultishotAccept.name()).unwrap();
    /// assert!(set.contains(Capability::MultishotAccept));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::SingleIssuer => "single_issuer",
            Self::DeferTaskrun => "defer_taskrun",
            Self::NoSqArray => "no_sqarray",
            Self::RegisteredRingFd => "registered_ring_fd",
            Self::MultishotAccept => "multishot_accept",
            Self::MultishotRecv => "multishot_recv",
            Self::SendZc => "send_zc",
            Self::SocketOp => "socket_op",
            Self::MsgRing => "msg_ring",
            Self::MultishotTimeout => "multishot_timeout",
        }
    }

    /// The first Linux release that has it.
    ///
    /// ```
    /// use safer_ring::probe::{Capability, KernelVersion};
    /// assert_eq!(Capability::DeferTaskrun.since(), KernelVersion::new(6, 1, 0));
    /// assert_eq!(Capability::MsgRing.since().to_string(), "5.18.0");
    /// assert!(Capability::NoSqArray.since() > Capability::SingleIssuer.since());
    /// ```
    pub fn since(self) -> KernelVersion {
        let (major, minor) = match self {
            Self::RegisteredRingFd | Self::MsgRing => (5, 18),
            Self::MultishotAccept | Self::SocketOp => (5, 19),
            Self::SingleIssuer | Self::MultishotRecv | Self::SendZc => (6, 0),
            Self::DeferTaskrun => (6, 1),
            Self::MultishotTimeout => (6, 4),
            Self::NoSqArray => (6, 6),
        };
        KernelVersion::new(major, minor, 0)
    }

    /// The capability called `name` (see [`name`](Self::name)).
    ///
    /// ```
    /// use safer_ring::probe::Capability;
    /// assert_eq!(Capability::from_name("msg_ring"), Some(Capability::MsgRing));
    /// assert_eq!(Capability::from_name("MsgRing"), None); // the snake_case name only
    /// for c in Capability::ALL {
    ///     assert_eq!(Capability::from_name(c.name()), Some(c));
    /// }
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u32 {
        1 << Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A set of [`Capability`]s: what a ring is told to do without.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::probe::{Capability, CapabilitySet};
/// // What `SAFER_RING_WITHOUT=send_zc,multishot_accept` parses to.
/// let set = CapabilitySet::parse("send_zc,multishot_accept")?;
/// assert!(set.contains(Capability::SendZc) && set.contains(Capability::MultishotAccept));
/// assert!(!set.contains(Capability::MsgRing));
/// assert_eq!(CapabilitySet::default().with(Capability::SendZc).contains(Capability::SendZc), true);
/// assert!(CapabilitySet::parse("no_such_thing").is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapabilitySet(u32);

impl CapabilitySet {
    /// Every capability (what the fallback backend does without).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// let all = CapabilitySet::all();
    /// assert!(Capability::ALL.into_iter().all(|c| all.contains(c)));
    /// assert_ne!(all, CapabilitySet::default());
    /// // The fallback backend does without all of them.
    /// let ring = safer_ring::Ring::builder().backend(safer_ring::BackendMode::Fallback).build()?;
    /// assert_eq!(ring.capabilities().without(), all);
    /// # Ok(()) }
    /// ```
    pub fn all() -> Self {
        Capability::ALL
            .into_iter()
            .fold(Self::default(), Self::with)
    }

    /// The set with `capability` added.
    ///
    /// ```
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// let set = CapabilitySet::default().with(Capability::SendZc).with(Capability::MsgRing);
    /// assert!(set.contains(Capability::SendZc) && set.contains(Capability::MsgRing));
    /// assert!(!set.contains(Capability::SocketOp));
    /// assert_eq!(set.with(Capability::SendZc), set); // adding twice changes nothing
    /// assert_eq!(set, CapabilitySet::parse("msg_ring,send_zc").unwrap());
    /// ```
    pub fn with(self, capability: Capability) -> Self {
        Self(self.0 | capability.bit())
    }

    /// Whether `capability` is in the set.
    ///
    /// ```
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// assert!(!CapabilitySet::default().contains(Capability::SendZc));
    /// assert!(CapabilitySet::default().with(Capability::SendZc).contains(Capability::SendZc));
    /// assert!(CapabilitySet::all().contains(Capability::MultishotTimeout));
    /// ```
    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The set named by a comma-separated list (`SAFER_RING_WITHOUT`'s format).
    ///
    /// # Errors
    /// [`InvalidArgument`](SaferRingError::InvalidArgument) naming the known names, for an
    /// unknown one.
    ///
    /// # Examples
    ///
    /// ```
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// let set = CapabilitySet::parse(" send_zc, ,multishot_recv ").unwrap(); // blanks skipped
    /// let both = CapabilitySet::default().with(Capability::SendZc).with(Capability::MultishotRecv);
    /// assert_eq!(set, both);
    /// assert_eq!(CapabilitySet::parse("").unwrap(), CapabilitySet::default());
    /// let err = CapabilitySet::parse("send_zc,warp_drive").unwrap_err();
    /// assert!(err.to_string().contains("known: single_issuer"), "{err}");
    /// ```
    pub fn parse(list: &str) -> Result<Self> {
        let mut names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        names.try_fold(Self::default(), |set, name| {
            Capability::from_name(name)
                .map(|c| set.with(c))
                .ok_or(SaferRingError::InvalidArgument(
                    "unknown capability in SAFER_RING_WITHOUT (known: single_issuer, \
                     defer_taskrun, no_sqarray, registered_ring_fd, multishot_accept, \
                     multishot_recv, send_zc, socket_op, msg_ring, multishot_timeout)",
                ))
        })
    }

    /// The set `SAFER_RING_WITHOUT` names (empty if unset).
    pub(crate) fn from_env() -> Result<Self> {
        match std::env::var("SAFER_RING_WITHOUT") {
            Ok(list) => Self::parse(&list),
            Err(_) => Ok(Self::default()),
        }
    }
}

/// What io_uring can do for one ring ([`Ring::capabilities`](crate::Ring::capabilities)).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::probe::Capability;
/// let ring = safer_ring::Ring::builder().without(Capability::SendZc).build()?;
/// let caps = ring.capabilities();
/// assert!(!caps.has(Capability::SendZc)); // masked: `send_zc` sends with `send`
/// println!("Linux {}", caps.kernel());
/// for (capability, on) in caps.iter() {
///     println!("{}: {on} (Linux {}+)", capability.name(), capability.since());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub(crate) kernel: KernelVersion,
    pub(crate) opcodes: OpcodeSet,
    pub(crate) features: Features,
    /// The setup capabilities the kernel granted the ring (flags and registered fd).
    pub(crate) setup: CapabilitySet,
    pub(crate) without: CapabilitySet,
}

impl Capabilities {
    /// Whether the ring has `capability` (and was not told to do without it).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::{Capability, KernelVersion};
    /// let caps = safer_ring::Ring::new(4)?.capabilities();
    /// if caps.kernel() >= KernelVersion::new(6, 0, 0) {
    ///     assert!(caps.has(Capability::SendZc)); // the kernel has it and nothing masks it
    /// }
    /// let masked = safer_ring::Ring::builder().without(Capability::SendZc).build()?;
    /// assert!(!masked.capabilities().has(Capability::SendZc)); // whatever the kernel has
    /// # Ok(()) }
    /// ```
    pub fn has(&self, capability: Capability) -> bool {
        !self.without.contains(capability) && self.kernel_has(capability)
    }

    /// What the kernel offers, mask aside.
    fn kernel_has(&self, capability: Capability) -> bool {
        let recent = self.kernel >= capability.since();
        let op = |code| self.opcodes.contains(code);
        match capability {
            Capability::SingleIssuer
            | Capability::DeferTaskrun
            | Capability::NoSqArray
            | Capability::RegisteredRingFd => self.setup.contains(capability),
            Capability::MultishotAccept => recent && op(opcode::Accept::CODE),
            Capability::MultishotRecv => recent && op(opcode::RecvMulti::CODE),
            Capability::SendZc => op(opcode::SendZc::CODE),
            Capability::SocketOp => op(opcode::Socket::CODE),
            Capability::MsgRing => op(opcode::MsgRingData::CODE),
            Capability::MultishotTimeout => recent && op(opcode::Timeout::CODE),
        }
    }

    /// The running kernel's version.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::KernelVersion;
    /// let caps = safer_ring::Ring::new(4)?.capabilities();
    /// assert_eq!(caps.kernel(), KernelVersion::running());
    /// assert!(caps.kernel() >= KernelVersion::new(5, 1, 0)); // io_uring exists since 5.1
    /// # Ok(()) }
    /// ```
    pub fn kernel(&self) -> KernelVersion {
        self.kernel
    }

    /// The opcodes the kernel supports.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::io_uring::opcode;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let caps = ring.capabilities();
    /// assert_eq!(caps.opcodes(), ring.opcodes());
    /// assert!(caps.opcodes().contains(opcode::Nop::CODE));
    /// # Ok(()) }
    /// ```
    pub fn opcodes(&self) -> OpcodeSet {
        self.opcodes
    }

    /// The `IORING_FEAT_*` flags the kernel reported.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let caps = ring.capabilities();
    /// assert_eq!(caps.features(), ring.features());
    /// assert!(caps.features().contains("NODROP"));
    /// # Ok(()) }
    /// ```
    pub fn features(&self) -> Features {
        self.features
    }

    /// What the ring was told to do without.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::{Capability, CapabilitySet};
    /// let ring = safer_ring::Ring::builder().without(Capability::MsgRing).build()?;
    /// let without = ring.capabilities().without();
    /// assert!(without.contains(Capability::MsgRing));
    /// assert!(!ring.capabilities().has(Capability::MsgRing));
    /// assert_eq!(without, CapabilitySet::default().with(Capability::MsgRing));
    /// # Ok(()) }
    /// ```
    pub fn without(&self) -> CapabilitySet {
        self.without
    }

    /// Every capability and whether the ring has it.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::Capability;
    /// let ring = safer_ring::Ring::builder().without(Capability::SendZc).build()?;
    /// let caps = ring.capabilities();
    /// let listed: Vec<(Capability, bool)> = caps.iter().collect();
    /// assert_eq!(listed.len(), Capability::ALL.len());
    /// assert!(listed.contains(&(Capability::SendZc, false)));
    /// assert!(listed.iter().all(|&(c, on)| on == caps.has(c)));
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Capability, bool)> + '_ {
        Capability::ALL.into_iter().map(|c| (c, self.has(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused_with_the_list() {
        for c in Capability::ALL {
            assert_eq!(Capability::from_name(c.name()), Some(c));
        }
        let set = CapabilitySet::parse("send_zc, multishot_accept").unwrap();
        assert!(set.contains(Capability::SendZc) && set.contains(Capability::MultishotAccept));
        assert!(!set.contains(Capability::SocketOp));
        let err = CapabilitySet::parse("send_zc,warp_drive").unwrap_err();
        assert!(err.to_string().contains("multishot_timeout"), "{err}");
    }

    #[test]
    fn a_masked_capability_is_missing_whatever_the_kernel_has() {
        let caps = Capabilities {
            kernel: KernelVersion::new(6, 18, 0),
            opcodes: OpcodeSet::all(),
            features: Features::default(),
            setup: CapabilitySet::default().with(Capability::NoSqArray),
            without: CapabilitySet::default(),
        };
        assert!(caps.has(Capability::SendZc) && caps.has(Capability::NoSqArray));
        assert!(!caps.has(Capability::DeferTaskrun), "not granted");
        let masked = Capabilities {
            without: CapabilitySet::default().with(Capability::SendZc),
            ..caps
        };
        assert!(!masked.has(Capability::SendZc));
        assert!(masked.has(Capability::SocketOp));
        let old = Capabilities {
            kernel: KernelVersion::new(6, 1, 0),
            ..caps
        };
        assert!(!old.has(Capability::MultishotTimeout), "6.4+");
        assert!(old.has(Capability::MultishotRecv), "6.0+");
    }
}
