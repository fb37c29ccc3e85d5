//! `node-crash` and `node-stop`: the node goes down; with `restart_after`,
//! it comes back (a new incarnation) and its jobs start again. A crash is
//! sudden: its jobs die with it and the survivors wait out its silence. A
//! stop is graceful (Corosync's `service corosync stop`): its jobs are
//! asked to leave, its engine waits for their leaves to reach its leader
//! and tells its view it is going, then the node goes down. Either of a
//! node that is down (or paused, for a stop) has no effect. And
//! `[random.node-crash]`, `[random.node-stop]`. Both kinds take the same
//! keys and share their types ([`NodeOut`], [`RandomNodeOut`]), but for
//! `lose_disk`, which only a crash takes: the node restarts from a blank
//! disk (see `vigil_engine::Durable::boot` for what it keeps then).
//!
//! `engine-crash` (and `[random.engine-crash]`) takes the same keys as a
//! stop: only the node's engine process dies, its jobs live on. Each job's
//! main thread hears its connection close and tells its work threads, which
//! drop the protocol instances of the membership that is gone; the
//! survivors see the node's members leave as after a crash (`node-down`,
//! after the failure timeout); when the engine is back (a new incarnation,
//! from the node's disk) every job still running registers again, a new
//! member. The `engine-lost` check judges the jobs' side.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::{node_name, Rate, Scenario};
use std::time::Duration;

const RESTART_AFTER: Key = Key::new(
    "restart_after",
    Shape::Duration,
    "Start it again (a new incarnation, its jobs with it) after this long; default: it stays down.",
);

/// `node` goes down (crashes or stops), restarting after `restart_after`
/// if given. Which of the two, is the [`super::FaultKind`] variant that
/// holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOut {
    pub node: u16,
    pub restart_after: Option<Duration>,
    /// A crash that loses the node's disk: it restarts from a blank one.
    pub lose_disk: bool,
}

/// `node-crash`: see [`NodeOut`].
pub type NodeCrash = NodeOut;
/// `node-stop`: see [`NodeOut`].
pub type NodeStop = NodeOut;

impl NodeOut {
    pub const CRASH: &'static str = "node-crash";
    pub const STOP: &'static str = "node-stop";
    pub const ENGINE: &'static str = "engine-crash";
    pub(super) const ENGINE_KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new("node", Shape::Node, "The node whose engine dies.")],
        optional: &[Key::new(
            "restart_after",
            Shape::Duration,
            "Start the engine again (a new incarnation; the jobs still running register with it) after this long; default: it stays down.",
        )],
    };
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new("node", Shape::Node, "The node.")],
        optional: &[RESTART_AFTER],
    };
    pub(super) const CRASH_KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new("node", Shape::Node, "The node.")],
        optional: &[
            RESTART_AFTER,
            Key::new(
                "lose_disk",
                Shape::Bool,
                "The node's disk is lost with it: it restarts from a blank one (its incarnation and view ids then come from its clock); default false.",
            ),
        ],
    };

    /// A `node-crash` table (`crash`) or a `node-stop` one.
    pub(super) fn parse(t: &Table<'_>, crash: bool) -> Result<NodeOut> {
        Ok(NodeOut {
            node: t.node("node")?.0,
            restart_after: t.duration("restart_after")?,
            lose_disk: crash && t.flag("lose_disk")?.unwrap_or(false),
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        if let Some(d) = self.restart_after {
            w.duration("restart_after", d);
        }
        if self.lose_disk {
            w.raw("lose_disk", true);
        }
    }

    /// `node-crash n2 (restart after 2s)`, with `kind` first.
    pub fn describe(&self, kind: &str) -> String {
        let disk = if self.lose_disk { ", disk lost" } else { "" };
        match self.restart_after {
            Some(d) => format!(
                "{kind} {} (restart after {d:?}{disk})",
                node_name(self.node)
            ),
            None if self.lose_disk => format!("{kind} {} (disk lost)", node_name(self.node)),
            None => format!("{kind} {}", node_name(self.node)),
        }
    }

    /// Half the time down; `None` if it stays down.
    pub(super) fn shorter(&self) -> Option<NodeOut> {
        Some(NodeOut {
            restart_after: Some(super::half(self.restart_after?)?),
            ..self.clone()
        })
    }
}

const RANDOM_NODES: Key = Key::new(
    "nodes",
    Shape::Nodes,
    "The nodes to draw from; default: every node.",
);
const RANDOM_RESTART_AFTER: Key = Key::new(
    "restart_after",
    Shape::DurationOrRange,
    "Restart each after this long: a duration, or a [min, max] range drawn per fault; default: it stays down.",
);

/// `[random.node-crash]`, `[random.node-stop]`: a node goes down,
/// restarting after a drawn time if `restart_after` is given.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomNodeOut {
    pub nodes: Option<Vec<u16>>,
    pub restart_after: Option<(Duration, Duration)>,
    /// The chance a crash loses the node's disk (crashes only).
    pub lose_disk: Option<f64>,
}

/// `[random.node-crash]`: see [`RandomNodeOut`].
pub type RandomNodeCrash = RandomNodeOut;

impl RandomNodeOut {
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[RANDOM_NODES, RANDOM_RESTART_AFTER],
    };

    pub(super) const CRASH_KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[
            RANDOM_NODES,
            RANDOM_RESTART_AFTER,
            Key::new(
                "lose_disk",
                Shape::Rate,
                "The chance each crash loses the node's disk (it restarts from a blank one); default 0.",
            ),
        ],
    };

    pub(super) const ENGINE_KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[
            RANDOM_NODES,
            Key::new(
                "restart_after",
                Shape::DurationOrRange,
                "Start each engine again after this long: a duration, or a [min, max] range drawn per fault; default: it stays down.",
            ),
        ],
    };

    /// A `[random.node-crash]` table (`crash`) or a `[random.node-stop]`.
    pub(super) fn parse(t: &Table<'_>, crash: bool) -> Result<RandomNodeOut> {
        Ok(RandomNodeOut {
            nodes: t.nodes("nodes")?,
            restart_after: t.opt_duration_range("restart_after")?,
            lose_disk: if crash { t.chance("lose_disk")? } else { None },
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        if let Some(r) = self.restart_after {
            w.range("restart_after", r);
        }
        if let Some(p) = self.lose_disk {
            w.raw("lose_disk", super::float_toml(p));
        }
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> NodeOut {
        let all = d.nodes();
        NodeOut {
            node: d.pick(self.nodes.as_deref().unwrap_or(&all)),
            restart_after: self.restart_after.map(|r| d.ms_in(r)),
            lose_disk: self.lose_disk.is_some_and(|p| d.chance(p)),
        }
    }

    /// What `--swarm` draws without a table: one every `duration / div`
    /// on average, back after one to three failure timeouts.
    pub(super) fn menu(s: &Scenario, div: u32) -> (Rate, RandomNodeOut) {
        let t = s.cluster.failure_timeout;
        let kind = RandomNodeOut {
            nodes: None,
            restart_after: Some((t, t * 3)),
            lose_disk: None,
        };
        (super::every(s, div), kind)
    }
}
