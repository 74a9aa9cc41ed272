//! Waking another thread's executor with `IORING_OP_MSG_RING`: the waker's thread queues a
//! message on its own ring, which goes out with the `io_uring_enter` that thread makes next
//! anyway, and a CQE appears in the sleeping ring — no eventfd `write` on the waker's side.
//!
//! A thread can send once it has a ring running its executor and that ring's kernel has the
//! opcode ([`SenderGuard`], set up by a ring pool's workers); an executor accepts messages
//! once it has a target ([`Ring::accept_msg_wakes`](crate::Ring)). Every other wake-up uses
//! the eventfd, and so does one whose message fails: none is lost.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::block_on::Notify;
use crate::ring::{MsgTarget, Ring};

thread_local! {
    /// The ring this thread sends wake-up messages from, if any.
    static SENDER: RefCell<Option<Rc<Ring>>> = const { RefCell::new(None) };
    /// Set while this thread blocks outside its executor: no message can go out then.
    static HELD: Cell<bool> = const { Cell::new(false) };
    /// Messages queued on this thread's executor and not yet delivered.
    static QUEUED: RefCell<Vec<Rc<Pending>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f`, which blocks this thread outside its executor (a pool's drop joining workers, a
/// handle's `join`): the messages already queued on the executor, which cannot run until `f`
/// returns, are signalled by eventfd now, and so are the wake-ups `f` gives.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            HELD.with(|held| held.set(self.0));
        }
    }
    let _restore = Restore(HELD.with(|held| held.replace(true)));
    let queued = QUEUED.with(RefCell::take);
    for pending in queued {
        pending.signal();
    }
    f()
}

/// A wake-up message not yet delivered: until it is, the eventfd it stands for.
struct Pending(Cell<Option<Arc<Notify>>>);

impl Pending {
    /// Signals the eventfd instead, once (a message delivered later is a spare wake-up).
    fn signal(&self) {
        if let Some(notify) = self.0.take() {
            notify.signal();
        }
    }
}

/// Held by a message's task: signals the eventfd when dropped unless the message was
/// delivered — a message that failed, or whose task the executor dropped before it ran,
/// still wakes.
struct Undelivered(Rc<Pending>);

impl Undelivered {
    fn delivered(self) {
        self.0.0.set(None);
    }
}

impl Drop for Undelivered {
    fn drop(&mut self) {
        self.0.signal();
    }
}

/// Makes a ring this thread's message sender until dropped.
pub(crate) struct SenderGuard(());

impl SenderGuard {
    /// `ring` sends this thread's wake-up messages, if its kernel has `IORING_OP_MSG_RING`
    /// (otherwise the thread keeps using eventfds).
    pub fn new(ring: &Rc<Ring>) -> Self {
        if ring.has(crate::probe::Capability::MsgRing) {
            let old = SENDER.with(|s| s.replace(Some(ring.clone())));
            drop(old);
        }
        Self(())
    }
}

impl Drop for SenderGuard {
    fn drop(&mut self) {
        let ring = SENDER.with(RefCell::take);
        drop(ring);
    }
}

/// Queues a wake-up message to `to` on this thread's sending ring; `false` if this thread
/// cannot send one now (the caller signals the eventfd instead). The message runs as a task
/// of this thread's executor; if it fails or never runs, it signals `notify`'s eventfd.
pub(crate) fn send(to: &MsgTarget, notify: &Arc<Notify>) -> bool {
    if HELD.with(Cell::get) {
        return false;
    }
    let Some(ring) = SENDER.with(|s| s.borrow().clone()) else {
        return false;
    };
    if !crate::runtime::tasks::is_running() {
        return false; // the executor is dropping its last tasks: none can start
    }
    let pending = Rc::new(Pending(Cell::new(Some(notify.clone()))));
    QUEUED.with(|queued| {
        let mut queued = queued.borrow_mut();
        queued.retain(|p| Rc::strong_count(p) > 1); // those whose task has ended
        queued.push(pending.clone());
    });
    let (to, undelivered) = (to.clone(), Undelivered(pending));
    drop(crate::spawn(async move {
        if ring.msg_wake(to).await.is_ok() {
            undelivered.delivered();
        }
    }));
    true
}
