//! [`Plan`]: how a [`Batch`](super::Batch)'s `after` edges run — split into runs the kernel
//! links, ordered so that each run starts once every entry it depends on has completed.
//! Pure bookkeeping, no I/O: tested here without a ring.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::landing::Breaks;
use crate::error::{Result, SaferRingError};

/// A linked run: entries each the only child of the one before it.
#[derive(Debug, Default)]
struct Run {
    nodes: Vec<usize>,
    /// Parents of the run's head (in other runs) that have not completed.
    parents_left: usize,
    /// A parent that failed: the run will not start.
    failed_parent: Option<usize>,
    /// Handed out by [`Plan::next_ready`].
    started: bool,
    /// Entries of the run that have landed (they land in order).
    next: usize,
    breaks: Breaks,
}

/// The schedule of a batch.
#[derive(Debug)]
pub(super) struct Plan {
    run_of: Vec<usize>,
    children: Vec<Vec<usize>>,
    runs: Vec<Run>,
    ready: VecDeque<usize>,
}

impl Plan {
    /// Plans `n` entries with `edges` (`(entry, parent)`), runs at most `cap` long.
    ///
    /// # Errors
    /// `InvalidArgument` if an edge names no entry of the batch or the edges form a cycle.
    pub fn new(n: usize, edges: &[(usize, usize)], cap: usize) -> Result<Self> {
        let mut edges = edges.to_vec();
        edges.sort_unstable();
        edges.dedup();
        if edges.iter().any(|&(e, p)| e >= n || p >= n) {
            return Err(SaferRingError::InvalidArgument(
                "an `after` edge names an entry of another batch",
            ));
        }
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for &(entry, parent) in &edges {
            parents[entry].push(parent);
            children[parent].push(entry);
        }
        let order = topological(&parents, &children).ok_or(SaferRingError::InvalidArgument(
            "the batch's `after` edges form a cycle",
        ))?;
        let mut plan = Self {
            run_of: vec![0; n],
            children,
            runs: Vec::new(),
            ready: VecDeque::new(),
        };
        for node in order {
            plan.place(node, &parents[node], cap.max(1));
        }
        plan.ready = (0..plan.runs.len())
            .filter(|&r| plan.runs[r].parents_left == 0)
            .collect();
        Ok(plan)
    }

    /// Appends `node` to its parent's run if it is that parent's only child and has no other
    /// parent (and the run has room); otherwise starts a run.
    fn place(&mut self, node: usize, parents: &[usize], cap: usize) {
        if let [parent] = parents {
            let run = self.run_of[*parent];
            if self.children[*parent].len() == 1 && self.runs[run].nodes.len() < cap {
                self.runs[run].nodes.push(node);
                self.run_of[node] = run;
                return;
            }
        }
        self.run_of[node] = self.runs.len();
        self.runs.push(Run {
            nodes: vec![node],
            parents_left: parents.len(),
            ..Run::default()
        });
    }

    /// Number of runs.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The next run whose parents have all completed.
    pub fn next_ready(&mut self) -> Option<usize> {
        let run = self.ready.pop_front()?;
        self.runs[run].started = true;
        Some(run)
    }

    /// Puts back a run that found no room in the ring.
    pub fn retry_later(&mut self, run: usize) {
        self.runs[run].started = false;
        self.ready.push_front(run);
    }

    /// Whether a run is ready to start.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// A parent of `run` that failed, if one did.
    pub fn failed_parent(&self, run: usize) -> Option<usize> {
        self.runs[run].failed_parent
    }

    /// The entries of `run`, in link order.
    pub fn nodes(&self, run: usize) -> &[usize] {
        &self.runs[run].nodes
    }

    /// The next entry of a started run to land.
    pub fn next_in_run(&self, run: usize) -> Option<usize> {
        let run = &self.runs[run];
        run.started.then(|| run.nodes.get(run.next).copied())?
    }

    /// The run's link tracker and the position in the run of its next entry to land.
    pub fn breaks(&mut self, run: usize) -> (&mut Breaks, usize, usize) {
        let run = &mut self.runs[run];
        let previous = run.next.checked_sub(1).map_or(0, |p| run.nodes[p]);
        (&mut run.breaks, run.next, previous)
    }

    /// Entry `node` landed (`failed`: with an error); its run moves on and the runs waiting
    /// for it become ready once their last parent landed.
    pub fn landed(&mut self, node: usize, failed: bool) {
        let own = self.run_of[node];
        debug_assert_eq!(self.runs[own].nodes.get(self.runs[own].next), Some(&node));
        self.runs[own].next += 1;
        for i in 0..self.children[node].len() {
            let child = self.children[node][i];
            let run = self.run_of[child];
            if run == own {
                continue; // linked: the kernel starts it
            }
            let run = &mut self.runs[run];
            run.parents_left -= 1;
            if failed {
                run.failed_parent.get_or_insert(node);
            }
            if run.parents_left == 0 {
                self.ready.push_back(self.run_of[child]);
            }
        }
    }
}

/// Kahn's algorithm: the entries in an order where every parent comes before its children,
/// or `None` if the edges form a cycle.
fn topological(parents: &[Vec<usize>], children: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut left: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut queue: VecDeque<usize> = (0..parents.len()).filter(|&i| left[i] == 0).collect();
    let mut order = Vec::with_capacity(parents.len());
    while let Some(node) = queue.pop_front() {
        order.push(node);
        for &child in &children[node] {
            left[child] -= 1;
            if left[child] == 0 {
                queue.push_back(child);
            }
        }
    }
    (order.len() == parents.len()).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::Plan;

    fn runs(plan: &Plan) -> Vec<Vec<usize>> {
        (0..plan.runs()).map(|r| plan.nodes(r).to_vec()).collect()
    }

    #[test]
    fn single_parent_edges_become_one_linked_run() {
        let plan = Plan::new(4, &[(1, 0), (2, 1), (3, 2)], 32).unwrap();
        assert_eq!(runs(&plan), vec![vec![0, 1, 2, 3]]);
        let capped = Plan::new(4, &[(1, 0), (2, 1), (3, 2)], 2).unwrap();
        assert_eq!(runs(&capped), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn a_join_waits_for_every_parent() {
        // 0 → 2 ← 1, 2 → 3
        let mut plan = Plan::new(4, &[(2, 0), (2, 1), (3, 2)], 32).unwrap();
        assert_eq!(runs(&plan), vec![vec![0], vec![1], vec![2, 3]]);
        assert_eq!((plan.next_ready(), plan.next_ready()), (Some(0), Some(1)));
        assert_eq!(plan.next_ready(), None);
        plan.landed(0, false);
        assert!(!plan.has_ready(), "one parent left");
        plan.landed(1, false);
        assert_eq!(plan.next_ready(), Some(2));
        assert_eq!(plan.failed_parent(2), None);
    }

    #[test]
    fn a_failed_parent_is_remembered() {
        let mut plan = Plan::new(3, &[(2, 0), (2, 1)], 32).unwrap();
        plan.next_ready();
        plan.next_ready();
        plan.landed(1, true);
        plan.landed(0, false);
        assert_eq!(plan.next_ready(), Some(2));
        assert_eq!(plan.failed_parent(2), Some(1));
    }

    #[test]
    fn cycles_and_foreign_entries_are_refused() {
        for edges in [&[(0, 1), (1, 0)][..], &[(0, 0)], &[(1, 0), (2, 1), (0, 2)]] {
            let err = Plan::new(3, edges, 32).unwrap_err();
            assert!(err.to_string().contains("cycle"), "{edges:?}: {err}");
        }
        let err = Plan::new(2, &[(5, 0)], 32).unwrap_err();
        assert!(err.to_string().contains("another batch"), "{err}");
    }
}
