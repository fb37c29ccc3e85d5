//! `node-crash`: the node and its jobs die; with `restart_after`, the node
//! comes back (a new incarnation) and its jobs start again. A crash of a
//! node that is down has no effect. And `[random.node-crash]`.

use super::{Dice, Keys, Result, Table, Writer};
use crate::scenario::{node_name, Rate, Scenario};
use std::time::Duration;

/// `node` crashes, restarting after `restart_after` if given.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCrash {
    pub node: u16,
    pub restart_after: Option<Duration>,
}

impl NodeCrash {
    pub const NAME: &'static str = "node-crash";
    pub(super) const KEYS: Keys = Keys {
        required: &["node"],
        optional: &["restart_after"],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<NodeCrash> {
        Ok(NodeCrash {
            node: t.node("node")?.0,
            restart_after: t.duration("restart_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        if let Some(d) = self.restart_after {
            w.duration("restart_after", d);
        }
    }

    pub fn describe(&self) -> String {
        match self.restart_after {
            Some(d) => format!("node-crash {} (restart after {d:?})", node_name(self.node)),
            None => format!("node-crash {}", node_name(self.node)),
        }
    }

    /// The crash with half the time down; `None` if it stays down.
    pub(super) fn shorter(&self) -> Option<NodeCrash> {
        Some(NodeCrash {
            restart_after: Some(super::half(self.restart_after?)?),
            ..self.clone()
        })
    }
}

/// `[random.node-crash]`: a node crashes, restarting after a drawn time if
/// `restart_after` is given.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomNodeCrash {
    pub nodes: Option<Vec<u16>>,
    pub restart_after: Option<(Duration, Duration)>,
}

impl RandomNodeCrash {
    pub const NAME: &'static str = "node-crash";
    pub(super) const KEYS: Keys = Keys {
        required: &[],
        optional: &["nodes", "restart_after"],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomNodeCrash> {
        Ok(RandomNodeCrash {
            nodes: t.nodes("nodes")?,
            restart_after: t.opt_duration_range("restart_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        if let Some(r) = self.restart_after {
            w.range("restart_after", r);
        }
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> NodeCrash {
        let all = d.nodes();
        NodeCrash {
            node: d.pick(self.nodes.as_deref().unwrap_or(&all)),
            restart_after: self.restart_after.map(|r| d.ms_in(r)),
        }
    }

    pub(super) fn menu(s: &Scenario) -> (Rate, RandomNodeCrash) {
        let t = s.cluster.failure_timeout;
        let kind = RandomNodeCrash {
            nodes: None,
            restart_after: Some((t, t * 3)),
        };
        (super::every(s, 2), kind)
    }
}
