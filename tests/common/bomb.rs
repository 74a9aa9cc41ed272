//! Deliberate panics from user code the library calls: a waker that panics when woken while
//! armed, and a panic hook that keeps such "bomb" panics quiet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// A waker that panics when woken while armed.
pub struct Bomb {
    pub armed: AtomicBool,
    pub wakes: AtomicUsize,
}

impl Wake for Bomb {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if self.armed.load(Ordering::SeqCst) {
            panic!("waker bomb");
        }
    }
}

pub fn bomb() -> (Arc<Bomb>, Waker) {
    quiet_bombs();
    let bomb = Arc::new(Bomb {
        armed: AtomicBool::new(false),
        wakes: AtomicUsize::new(0),
    });
    (bomb.clone(), Waker::from(bomb))
}

/// Deliberate panics print nothing (their backtraces would take long enough to change the
/// timing the tests attack); any other panic is reported as usual.
pub fn quiet_bombs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.ends_with("bomb") {
                default(info);
            }
        }));
    });
}

pub fn arm(bomb: &Bomb, on: bool) {
    bomb.armed.store(on, Ordering::SeqCst);
}
