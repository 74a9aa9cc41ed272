//! The `tracing` feature (`cargo test --features tracing --test tracing`): one event per
//! completion with the operation's exact name, fd, result and latency; one per CQE of a
//! multishot operation; a warning, once per ring, for each degradation taken; the fallback's
//! choice. A test subscriber collects every event.
#![cfg(feature = "tracing")]

mod common;

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use safer_ring::probe::Capability;
use safer_ring::{BackendMode, File, Ring};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event as the subscriber saw it: its level, target, and fields as text.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    fields: HashMap<String, String>,
}

impl Seen {
    fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("<absent>", String::as_str)
    }
}

/// Collects every event; no spans (the crate makes none).
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

impl Collector {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    /// The completion events (target `safer_ring::op`) seen so far, taken.
    fn ops(&self) -> Vec<Seen> {
        let mut all = self.take();
        all.retain(|e| e.target == "safer_ring::op");
        all
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().into(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `f` with a fresh collector as this thread's subscriber.
fn traced<R>(f: impl FnOnce(&Collector) -> R) -> R {
    let collector = Collector::default();
    tracing::subscriber::with_default(collector.clone(), || f(&collector))
}

#[test]
fn one_event_per_operation_with_its_name_fd_result_and_latency() {
    traced(|seen| {
        let ring = Ring::new(8).unwrap();
        let file = File::from(tempfile::tempfile().unwrap());
        let fd = file.as_raw_fd().to_string();
        ring.nop().submit().unwrap().wait().unwrap();
        let (n, _) = ring
            .write_at(&file, b"twelve bytes".to_vec(), 0)
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 12);
        let (n, _) = ring
            .read_at(&file, Vec::with_capacity(64), 2)
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 10);
        ring.block_on(ring.sleep(Duration::from_millis(20)))
            .unwrap();
        let ops = seen.ops();
        let names: Vec<_> = ops.iter().map(|e| e.get("op")).collect();
        assert_eq!(names, ["nop", "write_at", "read_at", "sleep"], "{ops:#?}");
        assert!(ops.iter().all(|e| e.level == Level::TRACE));
        assert!(ops.iter().all(|e| e.get("ring") == ops[0].get("ring")));
        assert!(ops.iter().all(|e| e.get("more") == "false"));
        let [nop, write, read, sleep] = &ops[..] else {
            unreachable!()
        };
        assert_eq!((nop.get("result"), nop.get("fd")), ("0", "<absent>"));
        assert_eq!((write.get("result"), write.get("fd")), ("12", &*fd));
        assert_eq!((read.get("result"), read.get("fd")), ("10", &*fd));
        // A timeout's completion is ETIME: the sleep ran its 20 ms in the kernel.
        assert_eq!(sleep.get("errno"), "ETIME");
        let slept: f64 = sleep.get("latency_us").parse().unwrap();
        assert!(slept >= 20_000.0, "{slept} us");
        let nop_us: f64 = nop.get("latency_us").parse().unwrap();
        assert!((0.0..slept).contains(&nop_us), "{nop_us} us");
    });
}

#[test]
fn errors_carry_the_errno_name_and_rings_their_own_id() {
    traced(|seen| {
        let (a, b) = (Ring::new(8).unwrap(), Ring::new(8).unwrap());
        let (empty, _writer) = common::pipe();
        let read = a.read(&empty, vec![0; 8]).submit().unwrap();
        a.submit().unwrap();
        let (res, _) = read.cancel().wait();
        assert!(res.is_err());
        b.nop().submit().unwrap().wait().unwrap();
        let ops = seen.ops();
        assert_eq!(ops.len(), 2, "{ops:#?}");
        assert_eq!(
            (ops[0].get("op"), ops[0].get("errno")),
            ("read", "ECANCELED")
        );
        assert_eq!(ops[0].get("result"), "<absent>");
        assert_eq!(ops[1].get("op"), "nop");
        assert_ne!(ops[0].get("ring"), ops[1].get("ring"));
    });
}

#[test]
fn a_multishot_operation_has_an_event_per_cqe() {
    if !common::kernel_only("the kernel's multishot timeout") {
        return;
    }
    traced(|seen| {
        let ring = Ring::new(8).unwrap();
        if !ring.capabilities().has(Capability::MultishotTimeout) {
            eprintln!("skipped: no multishot timeouts before Linux 6.4");
            return;
        }
        let ticks: Vec<_> = ring.block_on(ring.ticks(Duration::from_millis(2), 3).collect());
        assert_eq!(ticks.len(), 3);
        let ops = seen.ops();
        let more: Vec<_> = ops.iter().map(|e| (e.get("op"), e.get("more"))).collect();
        assert_eq!(
            more,
            [("ticks", "true"), ("ticks", "true"), ("ticks", "false")],
            "{ops:#?}"
        );
        assert!(ops.iter().all(|e| e.get("errno") == "ETIME"));
    });
}

#[test]
fn no_events_for_operations_started_without_a_subscriber() {
    let ring = Ring::new(8).unwrap();
    let (empty, mut writer) = common::pipe();
    let read = ring.read(&empty, vec![0; 8]).submit().unwrap();
    traced(|seen| {
        common::feed(&mut writer, b"x");
        let (n, _) = read.wait();
        assert_eq!(n.unwrap(), 1);
        ring.nop().submit().unwrap().wait().unwrap();
        let names: Vec<_> = seen.ops().iter().map(|e| e.get("op").to_owned()).collect();
        assert_eq!(names, ["nop"], "the read started before the subscriber");
    });
}

#[test]
fn a_masked_capability_warns_once_per_ring_naming_the_degraded_path() {
    traced(|seen| {
        let ring = Ring::builder()
            .without(Capability::MultishotTimeout)
            .build()
            .unwrap();
        for _ in 0..2 {
            let ticks: Vec<_> = ring.block_on(ring.ticks(Duration::from_millis(1), 2).collect());
            assert_eq!(ticks.len(), 2);
        }
        let timeouts = |events: Vec<Seen>| -> Vec<Seen> {
            let degraded = |e: &Seen| e.target == "safer_ring::degraded";
            let named = |e: &Seen| e.get("capability") == "multishot_timeout";
            events
                .into_iter()
                .filter(|e| degraded(e) && named(e))
                .collect()
        };
        let warnings = timeouts(seen.take());
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        let w = &warnings[0];
        assert_eq!(w.level, Level::WARN);
        assert_eq!(w.get("capability"), "multishot_timeout");
        let cause = match common::on_fallback() {
            true => "the fallback backend",
            false => "masked",
        };
        assert!(w.get("cause").starts_with(cause), "{w:?}");
        assert!(w.get("message").contains("one-shot timeout"), "{w:?}");
        // Another ring warns for itself.
        let other = Ring::builder()
            .without(Capability::MultishotTimeout)
            .build()
            .unwrap();
        let _ = other.block_on(other.ticks(Duration::from_millis(1), 1).collect::<Vec<_>>());
        assert_eq!(timeouts(seen.take()).len(), 1);
    });
}

#[test]
fn a_setup_flag_done_without_warns_when_the_ring_is_built() {
    if !common::kernel_only("io_uring setup flags") {
        return;
    }
    traced(|seen| {
        let plain = Ring::new(8).unwrap();
        let warned = |events: Vec<Seen>| -> Vec<String> {
            events
                .iter()
                .filter(|e| e.target == "safer_ring::degraded")
                .map(|e| e.get("capability").to_owned())
                .collect()
        };
        let granted = plain.capabilities();
        let expected: Vec<_> = [
            Capability::SingleIssuer,
            Capability::DeferTaskrun,
            Capability::NoSqArray,
            Capability::RegisteredRingFd,
        ]
        .into_iter()
        .filter(|c| !granted.has(*c))
        .map(|c| c.name().to_owned())
        .collect();
        assert_eq!(warned(seen.take()), expected, "what this kernel lacks");
        let _masked = Ring::builder()
            .without(Capability::NoSqArray)
            .build()
            .unwrap();
        let warnings = warned(seen.take());
        assert!(warnings.contains(&"no_sqarray".to_owned()), "{warnings:?}");
    });
}

#[test]
fn choosing_the_fallback_backend_is_logged() {
    traced(|seen| {
        let ring = Ring::builder()
            .backend(BackendMode::Fallback)
            .build()
            .unwrap();
        ring.nop().submit().unwrap().wait().unwrap();
        let events = seen.take();
        let chosen: Vec<_> = events
            .iter()
            .filter(|e| e.target == "safer_ring::backend")
            .collect();
        assert_eq!(chosen.len(), 1, "{events:#?}");
        assert_eq!(
            (chosen[0].level, chosen[0].get("backend")),
            (Level::INFO, "fallback")
        );
        let ops: Vec<_> = events
            .iter()
            .filter(|e| e.target == "safer_ring::op")
            .collect();
        assert_eq!(ops.len(), 1, "the fallback's operations are traced too");
    });
}

/// A subscriber that panics on its first completion event.
struct Panics(std::sync::atomic::AtomicBool);

impl Subscriber for Panics {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let first = !self.0.swap(true, std::sync::atomic::Ordering::SeqCst);
        if first && event.metadata().target() == "safer_ring::op" {
            panic!("the subscriber panics");
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A subscriber is user code: its panic on a completion event reaches the caller, as a
/// waker's does (invariant 11), and loses no completion — the event is emitted once the
/// reap is done and the core unborrowed, so every CQE of that reap is delivered.
#[test]
fn a_panicking_subscriber_loses_no_completion() {
    let subscriber = Panics(std::sync::atomic::AtomicBool::new(false));
    tracing::subscriber::with_default(subscriber, || {
        let ring = Ring::new(8).unwrap();
        let ops: Vec<_> = (0..4).map(|_| ring.nop().submit().unwrap()).collect();
        ring.submit().unwrap();
        let turned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ring.turn(true).unwrap();
        }));
        assert!(turned.is_err(), "the subscriber's panic reaches the caller");
        for op in ops {
            op.wait().unwrap(); // every NOP's completion was delivered
        }
        assert_eq!((ring.in_flight(), ring.live_slots()), (0, 0));
        assert_eq!(ring.stats().completed, 4);
    });
}
