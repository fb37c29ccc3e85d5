//! `node-pause`: every task on the node freezes for `for`, then resumes;
//! packets sent to it queue and arrive in a burst. No effect on a node
//! that is down or paused. And `[random.node-pause]`.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::{node_name, Rate, Scenario};
use std::time::Duration;

/// `node` freezes for `duration` (key `for`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodePause {
    pub node: u16,
    pub duration: Duration,
}

impl NodePause {
    pub const NAME: &'static str = "node-pause";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new("node", Shape::Node, "The node."),
            Key::new("for", Shape::Duration, "How long it stays frozen."),
        ],
        optional: &[],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<NodePause> {
        let node = t.node("node")?.0;
        let duration = t.timer("for")?;
        Ok(NodePause { node, duration })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        w.duration("for", self.duration);
    }

    pub fn describe(&self) -> String {
        format!(
            "node-pause {} for {:?}",
            node_name(self.node),
            self.duration
        )
    }

    pub(super) fn shorter(&self) -> Option<NodePause> {
        Some(NodePause {
            duration: super::half(self.duration)?,
            ..self.clone()
        })
    }
}

/// `[random.node-pause]`: a node freezes for a drawn time (`for`).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomNodePause {
    pub nodes: Option<Vec<u16>>,
    pub duration: (Duration, Duration),
}

impl RandomNodePause {
    pub const NAME: &'static str = "node-pause";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "for",
            Shape::DurationOrRange,
            "How long each pause lasts: a duration, or a [min, max] range drawn per fault.",
        )],
        optional: &[Key::new(
            "nodes",
            Shape::Nodes,
            "The nodes to draw from; default: every node.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomNodePause> {
        Ok(RandomNodePause {
            nodes: t.nodes("nodes")?,
            duration: t.duration_range("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        w.range("for", self.duration);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> NodePause {
        let all = d.nodes();
        NodePause {
            node: d.pick(self.nodes.as_deref().unwrap_or(&all)),
            duration: d.ms_in(self.duration),
        }
    }

    pub(super) fn menu(s: &Scenario) -> (Rate, RandomNodePause) {
        let kind = RandomNodePause {
            nodes: None,
            duration: (Duration::from_millis(100), s.cluster.failure_timeout * 2),
        };
        (super::every(s, 2), kind)
    }
}
