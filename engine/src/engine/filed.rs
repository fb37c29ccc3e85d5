//! Where the engine files its links for a step to find: those with
//! messages not sent yet, and those due for a resend or a standalone ack.
//! A link is refiled after nearly every packet in or out, so filing costs
//! a push, not a search of an ordered set: each index may hold entries a
//! link has moved on from, and [`Peer`](super::Peer)'s own `unsent` and
//! `due` say which entries stand. Both indexes are derived from the links
//! (an engine's hash leaves them out: two engines with the same links are
//! in the same state, whatever history their indexes kept).

use crate::ids::{NodeId, Time};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The links with messages not sent yet, as they were filed (a node may be
/// named twice, or name a link that has sent them since).
#[derive(Clone, Debug, Default)]
pub(super) struct Unsent(Vec<NodeId>);

impl Unsent {
    pub(super) fn file(&mut self, node: NodeId) {
        self.0.push(node);
    }

    /// Moves every node filed to `out` (the caller keeps those that
    /// stand); this keeps its room.
    pub(super) fn drain_into(&mut self, out: &mut Vec<NodeId>) {
        out.append(&mut self.0);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    pub(super) fn names(&self, node: NodeId) -> bool {
        self.0.contains(&node)
    }
}

impl std::hash::Hash for Unsent {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {
        // Derived from the links (see the module's note).
    }
}

/// A list of nodes a step works through, kept for the next step's use.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch(pub(super) Vec<NodeId>);

impl std::hash::Hash for Scratch {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {
        // Empty between steps.
    }
}

/// When each link next needs a resend or a standalone ack: the earliest
/// first. An entry stands while its link is still due then; the engine
/// drops those that no longer stand as they reach the top
/// ([`Due::drop_fallen`]), so the top always stands.
#[derive(Clone, Debug, Default)]
pub(super) struct Due(BinaryHeap<Reverse<(Time, NodeId)>>);

impl Due {
    pub(super) fn file(&mut self, due: Time, node: NodeId) {
        self.0.push(Reverse((due, node)));
    }

    /// Drops the entries at the top that do not stand (`stands(due, node)`
    /// false), so that the top, if any, does.
    pub(super) fn drop_fallen(&mut self, stands: impl Fn(Time, NodeId) -> bool) {
        while let Some(&Reverse((due, node))) = self.0.peek() {
            if stands(due, node) {
                return;
            }
            self.0.pop();
        }
    }

    /// The earliest entry, which stands if the engine dropped those above
    /// it after its last change.
    pub(super) fn peek(&self) -> Option<(Time, NodeId)> {
        self.0.peek().map(|Reverse(e)| *e)
    }

    pub(super) fn pop(&mut self) {
        self.0.pop();
    }

    /// How many entries it holds, standing or not.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Starts again from the entries that stand.
    pub(super) fn rebuild(&mut self, standing: impl Iterator<Item = (Time, NodeId)>) {
        self.0 = standing.map(Reverse).collect();
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    pub(super) fn names(&self, due: Time, node: NodeId) -> bool {
        self.0.iter().any(|Reverse(e)| *e == (due, node))
    }
}

impl std::hash::Hash for Due {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {
        // Derived from the links (see the module's note).
    }
}
