//! The `tracing` feature: one event per operation completion, one warning per degradation a
//! ring takes, and the fallback backend's choice. Compiled only with the feature.
//!
//! Events, not spans: a completion event carries everything a span would (the operation, its
//! fd, its result and how long it took) for one callsite hit per CQE, where a span would cost
//! a new span, an enter, an exit and a close in the subscriber per operation. Targets:
//! `safer_ring::op` (completions, `TRACE`), `safer_ring::degraded` (`WARN`, once per ring and
//! capability), `safer_ring::backend` (the fallback chosen: `INFO` when asked for, `WARN` when
//! io_uring could not be set up).
//!
//! Start times live in a side table indexed by slot (never in the slot itself), filled only
//! while a subscriber takes `safer_ring::op` events. A ring asks `tracing` whether one does
//! when it is built and at each turn (one load of `tracing`'s global level filter), and keeps
//! the answer in a flag: without a subscriber a push costs one check of that flag and a
//! completion one bounds check on an empty table. So an operation pushed after a subscriber
//! was set but before the ring's next turn has no event.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::Instant;

use super::Ring;
use super::slots::{CqeResult, SlotKey, is_final};
use crate::error::SaferRingError;
use crate::probe::Capability;

/// When and what one operation in flight started, for its completion events.
#[derive(Clone, Copy)]
struct Started {
    user_data: u64,
    op: &'static str,
    fd: Option<RawFd>,
    at: Instant,
}

/// The core's side table of operations in flight while tracing (see the module docs).
#[derive(Default)]
pub(crate) struct Tracer {
    ring: u64,
    started: Vec<Option<Started>>,
    /// Completion events the reap queued, for the ring to emit once the core is unborrowed
    /// (a subscriber is user code: it may panic).
    events: VecDeque<Event>,
}

impl Tracer {
    /// Records that `key`'s operation `op` on `fd` was queued now, on ring `ring`.
    pub fn start(&mut self, ring: u64, key: SlotKey, op: &'static str, fd: Option<RawFd>) {
        self.ring = ring;
        let index = key.index() as usize;
        if self.started.len() <= index {
            self.started.resize_with(index + 1, || None);
        }
        self.started[index] = Some(Started {
            user_data: key.user_data(),
            op,
            fd,
            at: Instant::now(),
        });
    }

    /// Queues the event of one CQE of `key`'s operation, if its start was recorded (the
    /// ring emits it once the core is unborrowed: [`Ring::emit_traces`]); forgets the
    /// operation at its final CQE.
    #[inline]
    pub fn cqe(&mut self, key: SlotKey, cqe: CqeResult) {
        let Some(entry) = self.started.get_mut(key.index() as usize) else {
            return;
        };
        if entry
            .as_ref()
            .is_some_and(|s| s.user_data == key.user_data())
        {
            self.events.extend(Self::event(self.ring, entry, cqe));
        }
    }

    #[cold]
    #[inline(never)]
    fn event(ring: u64, entry: &mut Option<Started>, cqe: CqeResult) -> Option<Event> {
        let last = is_final(cqe);
        let started = if last { entry.take() } else { *entry };
        let s = started?;
        let latency_us = s.at.elapsed().as_secs_f64() * 1e6;
        Some(Event {
            ring,
            op: s.op,
            fd: s.fd,
            res: cqe.res,
            latency_us,
            more: !last,
        })
    }
}

/// One completion event, queued by the reap and emitted once the core is unborrowed.
pub(crate) struct Event {
    ring: u64,
    op: &'static str,
    fd: Option<RawFd>,
    res: i32,
    latency_us: f64,
    more: bool,
}

impl Event {
    /// Hands the event to the subscriber.
    pub fn emit(self) {
        let Self {
            ring,
            op,
            fd,
            res,
            latency_us,
            more,
        } = self;
        if res >= 0 {
            tracing::trace!(target: "safer_ring::op", ring, op, fd, result = res, latency_us,
                more, "completed");
        } else {
            let name = errno_name(-res);
            let errno: &str = &name;
            tracing::trace!(target: "safer_ring::op", ring, op, fd, errno, latency_us, more,
                "failed");
        }
    }
}

/// Whether a subscriber takes completion events now. Rings ask at each turn, and keep the
/// answer for the pushes until the next (see [`Ring::trace_start`]).
#[inline]
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "safer_ring::op", tracing::Level::TRACE)
}

/// The name of an errno a completion reports (`ECANCELED`), or its number.
fn errno_name(errno: i32) -> std::borrow::Cow<'static, str> {
    let name = match errno {
        libc::ECANCELED => "ECANCELED",
        libc::ETIME => "ETIME",
        libc::EAGAIN => "EAGAIN",
        libc::EINTR => "EINTR",
        libc::ENOENT => "ENOENT",
        libc::EBADF => "EBADF",
        libc::EINVAL => "EINVAL",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EEXIST => "EEXIST",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOSPC => "ENOSPC",
        libc::EPIPE => "EPIPE",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ENOTCONN => "ENOTCONN",
        libc::EALREADY => "EALREADY",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EIO => "EIO",
        libc::EFAULT => "EFAULT",
        libc::EMFILE => "EMFILE",
        libc::ENOMEM => "ENOMEM",
        libc::ETIMEDOUT => "ETIMEDOUT",
        _ => return format!("errno {errno}").into(),
    };
    name.into()
}

/// What a ring does instead when it lacks `capability` (see [`Capability`]'s variants).
fn instead(capability: Capability) -> &'static str {
    match capability {
        Capability::SingleIssuer => "a ring without SINGLE_ISSUER",
        Capability::DeferTaskrun => "completion work runs as task work (no DEFER_TASKRUN)",
        Capability::NoSqArray => "the submission queue keeps its index array (no NO_SQARRAY)",
        Capability::RegisteredRingFd => "io_uring_enter on the plain ring fd",
        Capability::MultishotAccept => "accept_multi re-arms a one-shot accept per connection",
        Capability::MultishotRecv => {
            "recv_multi re-arms a one-shot receive from the buffer ring per message"
        }
        Capability::SendZc => "send_zc sends with a plain send",
        Capability::SocketOp => "sockets are made with socket(2)",
        Capability::MsgRing => "ring pool workers wake each other with eventfds",
        Capability::MultishotTimeout => "ticks re-arm a one-shot timeout per tick",
    }
}

impl Ring {
    /// Emits the completion events the last reaps queued, with no borrow of the core held: a
    /// subscriber's panic reaches the caller with the ring consistent (the rest of the
    /// events are dropped; every CQE was delivered before).
    #[cold]
    pub(crate) fn emit_traces(&self) {
        let mut events = std::mem::take(&mut self.core.borrow_mut().tracer().events);
        while let Some(event) = events.pop_front() {
            event.emit();
        }
        // The queue's memory back, for the next reaps (nothing queued meanwhile: a
        // subscriber cannot reach this `!Send` ring).
        self.core.borrow_mut().tracer().events = events;
    }

    /// Whether a subscriber took completion events at the ring's last turn: if so, each
    /// operation pushed is recorded with [`Ring::trace_start`].
    #[inline(always)]
    pub(crate) fn tracing(&self) -> bool {
        self.tracing.get()
    }

    /// Records the start of `key`'s operation `op` on `fd`, for its completion events.
    #[cold]
    pub(crate) fn trace_start(&self, key: SlotKey, op: &'static str, fd: Option<RawFd>) {
        let id = self.id.0;
        self.core.borrow_mut().tracer().start(id, key, op, fd);
    }

    /// Warns, once for this ring, that it takes the degraded path for lacking `capability`.
    pub(crate) fn trace_degraded(&self, capability: Capability) {
        let warned = self.warned.get();
        if warned.contains(capability) {
            return;
        }
        self.warned.set(warned.with(capability));
        // `try_borrow`: a capability asked with the core borrowed must not panic here.
        let emulated = self.core.try_borrow().is_ok_and(|core| core.is_emulated());
        let cause = if emulated {
            "the fallback backend"
        } else if self.without.contains(capability) {
            "masked (RingBuilder::without or SAFER_RING_WITHOUT)"
        } else {
            "not in this kernel"
        };
        tracing::warn!(target: "safer_ring::degraded", ring = self.id.0,
            capability = capability.name(), cause, kernel = %self.kernel,
            "{} missing: {}", capability.name(), instead(capability));
    }

    /// Warns about each setup capability an io_uring ring asked for and did not get.
    pub(crate) fn trace_setup(&self) {
        let asked = &self.config.requested;
        let granted = self.config.flags.granted();
        let setup = [
            (asked.defer_taskrun, Capability::SingleIssuer),
            (asked.defer_taskrun, Capability::DeferTaskrun),
            (true, Capability::NoSqArray),
            (true, Capability::RegisteredRingFd),
        ];
        for (_, capability) in setup.into_iter().filter(|(asked, _)| *asked) {
            if !granted.contains(capability) {
                self.trace_degraded(capability);
            }
        }
    }
}

/// Says that the fallback backend was chosen: asked for (`None`), or because io_uring
/// could not be set up (`Some(reason)`).
pub(crate) fn fallback_chosen(reason: Option<&SaferRingError>) {
    match reason {
        None => tracing::info!(target: "safer_ring::backend", backend = "fallback",
            "fallback backend: asked for (BackendMode::Fallback or SAFER_RING_BACKEND)"),
        Some(e) => tracing::warn!(target: "safer_ring::backend", backend = "fallback",
            reason = %e, "io_uring unavailable, running on the fallback backend: {e}"),
    }
}
