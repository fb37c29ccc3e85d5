//! When a leader last heard from each member of its view: by node, and the
//! same entries by time, so that the silent ones (and the next to fall
//! silent) are found at the front instead of by a walk over every member
//! on every input.

use crate::ids::{Dur, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, Hash)]
pub(super) struct Heard {
    by_node: BTreeMap<NodeId, Time>,
    by_time: BTreeSet<(Time, NodeId)>,
}

impl Heard {
    /// `node` was last heard at `at`.
    pub(super) fn set(&mut self, node: NodeId, at: Time) {
        if let Some(old) = self.by_node.insert(node, at) {
            self.by_time.remove(&(old, node));
        }
        self.by_time.insert((at, node));
    }

    /// `node`, if it is one of those listened for, was last heard at `at`.
    pub(super) fn touch(&mut self, node: NodeId, at: Time) {
        if self.by_node.contains_key(&node) {
            self.set(node, at);
        }
    }

    pub(super) fn get(&self, node: NodeId) -> Option<Time> {
        self.by_node.get(&node).copied()
    }

    /// Every node counts as heard `by` later than it was (at most at
    /// `now`); one marked to go at the next tick (heard at 0) stays so.
    pub(super) fn shift(&mut self, by: Dur, now: Time) {
        let entries: Vec<(NodeId, Time)> = self
            .by_node
            .iter()
            .filter(|(_, t)| t.0 > 0)
            .map(|(n, t)| (*n, *t))
            .collect();
        for (n, t) in entries {
            self.set(n, (t + by).min(now));
        }
    }

    /// The nodes silent for longer than `timeout` at `now`, in node order.
    pub(super) fn silent(&self, now: Time, timeout: Dur) -> Vec<NodeId> {
        let mut silent: Vec<NodeId> = self
            .by_time
            .iter()
            .take_while(|(t, _)| now.saturating_sub(*t) > timeout)
            .map(|(_, n)| *n)
            .collect();
        silent.sort_unstable();
        silent
    }

    /// Every entry, longest silent first.
    pub(super) fn by_time(&self) -> impl Iterator<Item = (Time, NodeId)> + '_ {
        self.by_time.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_silent_are_found_in_node_order_and_kept_in_step() {
        let mut h = Heard::default();
        for (n, t) in [(3, 50), (1, 10), (2, 30), (4, 5)] {
            h.set(NodeId(n), Time(t));
        }
        h.set(NodeId(4), Time(60));
        h.touch(NodeId(9), Time(0));
        assert_eq!(h.get(NodeId(9)), None, "touch adds no one");
        assert_eq!(h.silent(Time(41), Dur(10)), vec![NodeId(1), NodeId(2)]);
        assert_eq!(h.by_time().next(), Some((Time(10), NodeId(1))));
        assert_eq!(h.by_time().count(), 4);
        // A walk over every entry says the same, at every time.
        for now in 0..80 {
            let walk: Vec<NodeId> = h
                .by_node
                .iter()
                .filter(|(_, t)| Time(now).saturating_sub(**t) > Dur(10))
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(h.silent(Time(now), Dur(10)), walk, "at {now}");
        }
    }
}
