//! The driver core with no kernel: a fake completion source that the tests fill by hand, as
//! a sans-IO protocol core is tested. It keeps what the core relies on from the real one — a
//! bounded submission queue that `enter` empties, a bounded completion queue whose overflow
//! waits in a list until an `enter` with events moves it in (`IORING_FEAT_NODROP`) — and
//! nothing else: the test decides when and how each request completes.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::squeue;

use super::kernel::Kernel;
use super::slots::CqeResult;

/// See the module docs.
pub(crate) struct FakeKernel {
    sq_capacity: usize,
    cq_capacity: usize,
    /// Queued SQEs' `user_data`, not yet submitted.
    sq: Vec<u64>,
    /// Submitted requests' `user_data`, in submission order.
    pub submitted: Vec<u64>,
    cq: VecDeque<(u64, CqeResult)>,
    overflow: VecDeque<(u64, CqeResult)>,
    /// Errors the next `enter` calls return, first first.
    pub enter_errors: VecDeque<i32>,
    pub enters: usize,
}

impl FakeKernel {
    pub fn new(sq_capacity: usize, cq_capacity: usize) -> Self {
        Self {
            sq_capacity,
            cq_capacity,
            sq: Vec::new(),
            submitted: Vec::new(),
            cq: VecDeque::new(),
            overflow: VecDeque::new(),
            enter_errors: VecDeque::new(),
            enters: 0,
        }
    }

    /// Posts a completion, into the CQ or, if it is full, the overflow list.
    pub fn complete(&mut self, user_data: u64, res: i32, flags: u32) {
        let cqe = CqeResult { res, flags };
        if self.cq.len() < self.cq_capacity && self.overflow.is_empty() {
            self.cq.push_back((user_data, cqe));
        } else {
            self.overflow.push_back((user_data, cqe));
        }
    }

    /// Completions waiting in the CQ and the overflow list.
    pub fn pending(&self) -> usize {
        self.cq.len() + self.overflow.len()
    }
}

impl Kernel for FakeKernel {
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        if self.sq.len() == self.sq_capacity {
            return false;
        }
        self.sq.push(entry.get_user_data());
        true
    }

    fn queued(&mut self) -> u32 {
        self.sq.len() as u32
    }

    fn sq_room(&mut self) -> (usize, usize) {
        (self.sq_capacity - self.sq.len(), self.sq_capacity)
    }

    unsafe fn enter(
        &mut self,
        _to_submit: u32,
        _min_complete: u32,
        get_events: bool,
        _timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.enters += 1;
        if let Some(errno) = self.enter_errors.pop_front() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let n = self.sq.len();
        self.submitted.append(&mut self.sq);
        while get_events && self.cq.len() < self.cq_capacity {
            let Some(cqe) = self.overflow.pop_front() else {
                break;
            };
            self.cq.push_back(cqe);
        }
        Ok(n)
    }

    fn cq_overflow(&mut self) -> bool {
        !self.overflow.is_empty()
    }

    fn drain(&mut self, mut f: impl FnMut(u64, CqeResult)) {
        while let Some((user_data, cqe)) = self.cq.pop_front() {
            f(user_data, cqe);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Waker;

    use io_uring::opcode;

    use super::*;
    use crate::error::SaferRingError;
    use crate::ring::after_reap::AfterReap;
    use crate::ring::core::{Core, Wait};
    use crate::ring::parked::park_fn;
    use crate::ring::slots::{Polled, SlotKey};

    /// `IORING_CQE_F_MORE`.
    const MORE: u32 = 1 << 1;

    fn core(sq: usize, cq: usize, limit: usize) -> Core<FakeKernel> {
        Core::with_kernel(FakeKernel::new(sq, cq), limit, cq)
    }

    fn nop() -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn push(core: &mut Core<FakeKernel>) -> SlotKey {
        // SAFETY: a NOP names no memory and no fd (and the fake kernel reads nothing).
        unsafe { core.push_op(&mut nop()) }.expect("room for the op")
    }

    fn push_stream(core: &mut Core<FakeKernel>) -> SlotKey {
        // SAFETY: as `push`.
        unsafe { core.push_stream(&mut nop()) }.expect("room for the stream")
    }

    /// Runs what the core deferred (wakers, releases), as the ring does after its borrow.
    fn run_deferred(core: &mut Core<FakeKernel>) {
        let mut after = AfterReap::default();
        core.swap_deferred(&mut after);
        assert!(after.run().is_none(), "no user code here panics");
    }

    fn poll(core: &mut Core<FakeKernel>, key: SlotKey) -> Option<i32> {
        match core.poll(key, None) {
            Polled::Ready(cqe) => Some(cqe.res()),
            _ => None,
        }
    }

    #[test]
    fn completions_in_any_order_reach_their_owners_and_stale_ones_are_counted() {
        let mut core = core(8, 8, 64);
        let keys: Vec<_> = (0..4).map(|_| push(&mut core)).collect();
        core.flush().unwrap();
        assert_eq!(core.kernel().submitted.len(), 4);
        for (i, key) in keys.iter().enumerate().rev() {
            core.kernel().complete(key.user_data(), i as i32, 0);
        }
        core.kernel()
            .complete(keys[0].user_data() ^ (1 << 40), 99, 0); // wrong generation
        assert_eq!(core.reap(), 5);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(poll(&mut core, *key), Some(i as i32));
        }
        assert_eq!(core.stats().stale_cqes, 1);
        assert_eq!((core.ops_in_kernel(), core.live_slots()), (0, 0));
    }

    #[test]
    fn a_full_submission_queue_is_flushed_and_the_push_retried() {
        let mut core = core(2, 8, 64);
        let keys: Vec<_> = (0..5).map(|_| push(&mut core)).collect();
        assert_eq!(core.kernel().submitted.len(), 4, "two flushes made room");
        core.flush().unwrap();
        let submitted: Vec<u64> = keys.iter().map(|k| k.user_data()).collect();
        assert_eq!(
            core.kernel().submitted,
            submitted,
            "in push order, none lost"
        );
    }

    #[test]
    fn a_busy_kernel_is_reaped_and_the_push_retried() {
        let mut core = core(2, 8, 64);
        let a = push(&mut core);
        push(&mut core);
        core.kernel().complete(a.user_data(), 0, 0);
        core.kernel().enter_errors.push_back(libc::EBUSY);
        push(&mut core); // SQ full, the flush refused with EBUSY: reaped, then submitted
        assert_eq!(core.kernel().submitted.len(), 2);
        assert_eq!(
            poll(&mut core, a),
            Some(0),
            "the reap delivered what was ready"
        );
    }

    #[test]
    fn past_the_limit_a_push_is_refused_and_a_completion_wakes_the_waiters() {
        let mut core = core(8, 8, 2);
        let a = push(&mut core);
        push(&mut core);
        // SAFETY: as `push`.
        let refused = unsafe { core.push_op(&mut nop()) };
        assert!(matches!(
            refused,
            Err(SaferRingError::SlotTableFull {
                in_flight: 2,
                limit: 2
            })
        ));
        let woken = Rc::new(Cell::new(false));
        core.wait_for_turn(waker_setting(&woken));
        core.flush().unwrap();
        core.kernel().complete(a.user_data(), 0, 0);
        core.reap();
        run_deferred(&mut core);
        assert!(woken.get(), "a freed slot wakes a waiting future");
        assert_eq!(poll(&mut core, a), Some(0));
        push(&mut core);
    }

    #[test]
    fn streams_leave_a_quarter_of_the_limit_to_one_shot_operations() {
        let mut core = core(64, 64, 8);
        let streams = (0..6).map(|_| push_stream(&mut core)).count();
        assert_eq!(streams, 6);
        // SAFETY: as `push`.
        let refused = unsafe { core.push_stream(&mut nop()) };
        assert!(refused.is_err(), "streams stop at 6 of 8");
        push(&mut core);
        push(&mut core);
    }

    #[test]
    fn overflowing_completions_wait_in_the_kernel_and_all_arrive() {
        let mut core = core(256, 4, 1000);
        let keys: Vec<_> = (0..200).map(|_| push(&mut core)).collect();
        core.flush().unwrap();
        for key in &keys {
            core.kernel().complete(key.user_data(), 1, 0);
        }
        assert_eq!(core.reap(), 200, "one reap drains the overflow list too");
        assert!(core.stats().cq_overflows > 0);
        assert!(keys.iter().all(|k| poll(&mut core, *k) == Some(1)));
        assert_eq!(core.kernel().pending(), 0);
    }

    #[test]
    fn an_abandoned_operation_is_released_only_at_its_final_cqe() {
        let mut core = core(8, 8, 64);
        let key = push(&mut core);
        core.flush().unwrap();
        let released = Rc::new(Cell::new(None));
        let r = released.clone();
        core.abandon(key, park_fn(move |cqe| r.set(Some(cqe.res()))), false);
        run_deferred(&mut core);
        core.flush().unwrap();
        let cancel = *core.kernel().submitted.last().unwrap();
        assert!(
            SlotKey::from_user_data(cancel).is_internal(),
            "a cancel was pushed"
        );
        assert_eq!(released.get(), None, "held while the kernel may use it");
        core.kernel().complete(cancel, 0, 0);
        core.kernel().complete(key.user_data(), -libc::ECANCELED, 0);
        core.reap();
        assert_eq!(
            released.get(),
            None,
            "released after the borrow, not inside the reap"
        );
        run_deferred(&mut core);
        assert_eq!(released.get(), Some(-libc::ECANCELED));
        assert!(!core.anything_in_kernel());
        assert_eq!(core.live_slots(), 0);
    }

    #[test]
    fn a_cancel_that_missed_its_abandoned_operation_is_retried_a_bounded_number_of_times() {
        let mut core = core(8, 8, 64);
        let key = push(&mut core);
        core.flush().unwrap();
        core.abandon(key, park_fn(|_| ()), false);
        run_deferred(&mut core);
        let mut cancels = 0;
        // The kernel keeps answering "no such request" while the operation is in flight.
        loop {
            core.flush().unwrap();
            let Some(&cancel) = core.kernel().submitted.last() else {
                break;
            };
            if !SlotKey::from_user_data(cancel).is_internal() || cancels > 20 {
                break;
            }
            core.kernel().submitted.clear();
            cancels += 1;
            core.kernel().complete(cancel, -libc::ENOENT, 0);
            core.reap();
        }
        assert_eq!(
            cancels,
            1 + 8,
            "the first cancel and 8 retries, then it waits"
        );
        assert_eq!(core.stats().cancel_retries, 8);
        assert!(
            core.anything_in_kernel(),
            "the operation is still held: never freed early"
        );
        core.kernel().complete(key.user_data(), -libc::EINTR, 0);
        core.reap();
        run_deferred(&mut core);
        assert_eq!(core.live_slots(), 0);
    }

    #[test]
    fn a_cancel_that_missed_an_operation_already_finished_is_not_retried() {
        let mut core = core(8, 8, 64);
        let key = push(&mut core);
        core.flush().unwrap();
        core.abandon(key, park_fn(|_| ()), false);
        run_deferred(&mut core);
        core.flush().unwrap();
        let cancel = *core.kernel().submitted.last().unwrap();
        core.kernel().complete(key.user_data(), 0, 0);
        core.kernel().complete(cancel, -libc::ENOENT, 0);
        core.reap();
        run_deferred(&mut core);
        core.kernel().submitted.clear();
        core.flush().unwrap();
        assert!(core.kernel().submitted.is_empty(), "nothing left to cancel");
        assert_eq!(core.stats().cancel_retries, 0);
    }

    #[test]
    fn an_abandoned_stream_hands_every_later_cqe_to_its_resources() {
        let mut core = core(8, 8, 64);
        let key = push_stream(&mut core);
        core.flush().unwrap();
        core.kernel().complete(key.user_data(), 1, MORE);
        core.reap();
        let seen = Rc::new(Cell::new(0));
        let s = seen.clone();
        let parked = crate::ring::parked::park_items(move || s.set(s.get() + 1));
        core.abandon(key, parked, true);
        core.kernel().complete(key.user_data(), 2, MORE);
        core.kernel().complete(key.user_data(), -libc::ECANCELED, 0);
        core.reap();
        run_deferred(&mut core);
        assert_eq!(
            seen.get(),
            3,
            "the queued item, the later one, the final CQE"
        );
        assert_eq!(core.live_slots(), 0);
    }

    #[test]
    fn interrupted_or_busy_enters_are_not_errors_but_others_are() {
        let mut core = core(8, 8, 64);
        push(&mut core);
        for errno in [libc::EINTR, libc::EAGAIN, libc::EBUSY, libc::ETIME] {
            core.kernel().enter_errors.push_back(errno);
            assert_eq!(core.turn(Wait::No).unwrap(), 0, "errno {errno}");
        }
        core.kernel().enter_errors.push_back(libc::EBADF);
        let err = core.turn(Wait::No).unwrap_err();
        assert!(err.to_string().contains("io_uring_enter"), "{err}");
    }

    #[test]
    fn a_turn_never_blocks_with_nothing_in_the_kernel() {
        let mut core = core(8, 8, 64);
        assert_eq!(core.turn(Wait::One).unwrap(), 0);
        assert_eq!(core.kernel().enters, 1);
    }

    fn waker_setting(flag: &Rc<Cell<bool>>) -> Waker {
        // A waker that sets a thread-local flag: the fake is single-threaded.
        thread_local!(static FLAG: std::cell::RefCell<Option<Rc<Cell<bool>>>> = const {
            std::cell::RefCell::new(None)
        });
        FLAG.with(|f| *f.borrow_mut() = Some(flag.clone()));
        struct SetFlag;
        impl std::task::Wake for SetFlag {
            fn wake(self: std::sync::Arc<Self>) {
                FLAG.with(|f| f.borrow().as_ref().unwrap().set(true));
            }
        }
        Waker::from(std::sync::Arc::new(SetFlag))
    }

    mod model {
        //! The core against a plain model, over random sequences: pushes (one-shot and
        //! stream), completions in any order (some overflowing a tiny CQ), polls, abandons,
        //! turns. Every owner gets exactly its CQEs, every parked operation is released once,
        //! after its final CQE, and the counts of what the kernel holds agree.
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Step {
            Push,
            PushStream,
            /// Complete the n-th request the kernel holds; `more` keeps a stream armed.
            Complete(usize, i32, bool),
            Poll(usize),
            Abandon(usize),
            Turn,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => Just(Step::Push),
                1 => Just(Step::PushStream),
                4 => (0usize..32, 0i32..100, any::<bool>())
                    .prop_map(|(i, r, m)| Step::Complete(i, r, m)),
                2 => (0usize..32).prop_map(Step::Poll),
                1 => (0usize..32).prop_map(Step::Abandon),
                1 => Just(Step::Turn),
            ]
        }

        /// One operation as the model sees it.
        struct Op {
            key: SlotKey,
            stream: bool,
            /// CQEs posted and not yet seen by the owner (or the parked resources).
            posted: VecDeque<i32>,
            /// The final CQE was posted.
            ended: bool,
            /// Abandoned: its release count, shared with the parked closure.
            released: Option<Rc<Cell<usize>>>,
            /// The owner saw its end (one-shot result or stream end).
            done: bool,
        }

        /// Completes the ring's own requests (cancels) submitted since the last call.
        fn answer_cancels(core: &mut Core<FakeKernel>, answered: &mut usize) {
            core.flush().unwrap();
            let new = core.kernel().submitted[*answered..].to_vec();
            *answered += new.len();
            for user_data in new {
                if SlotKey::from_user_data(user_data).is_internal() {
                    core.kernel().complete(user_data, 0, 0);
                }
            }
        }

        fn run(steps: Vec<Step>) {
            let mut core = core(4, 2, 12);
            let mut ops: Vec<Op> = Vec::new();
            let mut answered = 0;
            for step in steps {
                match step {
                    Step::Push | Step::PushStream => {
                        let stream = matches!(step, Step::PushStream);
                        let key = if stream {
                            // SAFETY: as `push`.
                            unsafe { core.push_stream(&mut nop()) }
                        } else {
                            // SAFETY: as `push`.
                            unsafe { core.push_op(&mut nop()) }
                        };
                        if let Ok(key) = key {
                            ops.push(Op {
                                key,
                                stream,
                                posted: VecDeque::new(),
                                ended: false,
                                released: None,
                                done: false,
                            });
                        }
                    }
                    Step::Complete(i, res, more) => {
                        core.flush().unwrap();
                        let live: Vec<usize> = (0..ops.len()).filter(|&j| !ops[j].ended).collect();
                        if let Some(&j) = live.get(i % live.len().max(1)) {
                            let op = &mut ops[j];
                            let more = more && op.stream;
                            core.kernel().complete(
                                op.key.user_data(),
                                res,
                                if more { MORE } else { 0 },
                            );
                            op.posted.push_back(res);
                            op.ended = !more;
                        }
                    }
                    Step::Poll(i) => {
                        let owned: Vec<usize> = (0..ops.len())
                            .filter(|&j| ops[j].released.is_none() && !ops[j].done)
                            .collect();
                        let Some(&j) = owned.get(i % owned.len().max(1)) else {
                            continue;
                        };
                        core.reap();
                        run_deferred(&mut core);
                        let op = &mut ops[j];
                        if op.stream {
                            while let Polled::Ready(next) = core.poll_next(op.key, Waker::noop()) {
                                match next {
                                    Some(cqe) => assert_eq!(Some(cqe.res()), op.posted.pop_front()),
                                    None => {
                                        assert!(op.ended && op.posted.is_empty());
                                        op.done = true;
                                        break;
                                    }
                                }
                            }
                        } else if let Some(res) = poll(&mut core, op.key) {
                            assert!(op.ended);
                            assert_eq!(Some(res), op.posted.pop_front());
                            op.done = true;
                        }
                    }
                    Step::Abandon(i) => {
                        let owned: Vec<usize> = (0..ops.len())
                            .filter(|&j| ops[j].released.is_none() && !ops[j].done)
                            .collect();
                        let Some(&j) = owned.get(i % owned.len().max(1)) else {
                            continue;
                        };
                        let op = &mut ops[j];
                        let count = Rc::new(Cell::new(0));
                        let c = count.clone();
                        let parked = if op.stream {
                            crate::ring::parked::park_items(move || c.set(c.get() + 1))
                        } else {
                            park_fn(move |_| c.set(c.get() + 1))
                        };
                        core.abandon(op.key, parked, op.stream);
                        op.released = Some(count);
                    }
                    Step::Turn => {
                        answer_cancels(&mut core, &mut answered);
                        core.turn(Wait::No).unwrap();
                        run_deferred(&mut core);
                    }
                }
                check(&mut core, &ops);
            }
            // Finish: complete everything still held, reap, and check every release.
            answer_cancels(&mut core, &mut answered);
            for op in ops.iter_mut().filter(|op| !op.ended) {
                core.kernel()
                    .complete(op.key.user_data(), -libc::ECANCELED, 0);
                op.posted.push_back(-libc::ECANCELED);
                op.ended = true;
            }
            core.reap();
            run_deferred(&mut core);
            for op in &ops {
                if let Some(count) = &op.released {
                    // A one-shot op is released once; a stream's resources see every CQE
                    // its owner had not taken (items and the final one).
                    let expected = if op.stream { op.posted.len() } else { 1 };
                    assert_eq!(count.get(), expected, "parked {:?}", op.key);
                }
            }
            assert!(!core.anything_in_kernel());
            let owned_unfinished = ops
                .iter()
                .filter(|op| op.released.is_none() && !op.done)
                .count();
            assert_eq!(
                core.live_slots(),
                owned_unfinished,
                "only un-taken results hold slots"
            );
        }

        /// What the core counts matches the model after every step.
        fn check(core: &mut Core<FakeKernel>, ops: &[Op]) {
            let held = ops.iter().filter(|op| !op.ended).count();
            let posted_unreaped = core.kernel().pending();
            // Ops whose final CQE is posted but not reaped are still counted as held.
            assert!(
                core.ops_in_kernel() >= held,
                "held {held}, core {}",
                core.ops_in_kernel()
            );
            assert!(core.ops_in_kernel() <= held + posted_unreaped);
            assert!(core.ops_in_kernel() <= core.limit());
            for op in ops.iter().filter(|op| op.released.is_some() && !op.ended) {
                assert_eq!(
                    op.released.as_ref().unwrap().get(),
                    0,
                    "released before its final CQE"
                );
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]
            #[test]
            fn the_core_matches_the_model(steps in prop::collection::vec(step(), 1..120)) {
                run(steps);
            }
        }
    }
}
