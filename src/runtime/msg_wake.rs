//! Waking another thread's executor with `IORING_OP_MSG_RING`: the waker's thread queues a
//! message on its own ring, which goes out with the `io_uring_enter` that thread makes next
//! anyway, and a CQE appears in the sleeping ring — no eventfd `write` on the waker's side.
//!
//! A thread can send once it has a ring running its executor and that ring's kernel has the
//! opcode ([`SenderGuard`], set up by a ring pool's workers); an executor accepts messages
//! once it has a target ([`Ring::accept_msg_wakes`](crate::Ring)). Every other wake-up uses
//! the eventfd, and so does one whose message fails: none is lost.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::block_on::Notify;
use crate::ring::{MsgTarget, Ring};

thread_local! {
    /// The ring this thread sends wake-up messages from, if any.
    static SENDER: RefCell<Option<Rc<Ring>>> = const { RefCell::new(None) };
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
/// of this thread's executor; if it fails, it signals `notify`'s eventfd.
pub(crate) fn send(to: &MsgTarget, notify: &Arc<Notify>) -> bool {
    let Some(ring) = SENDER.with(|s| s.borrow().clone()) else {
        return false;
    };
    if !crate::runtime::tasks::is_running() {
        return false; // the executor is dropping its last tasks: none can start
    }
    let (to, notify) = (to.clone(), notify.clone());
    drop(crate::spawn(async move {
        if ring.msg_wake(to).await.is_err() {
            notify.signal();
        }
    }));
    true
}
