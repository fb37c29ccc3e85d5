//! `node-slow`: a node runs slow, as on a loaded host or under a garbage
//! collector that does not stop the world: its work threads' local steps
//! take `factor` times as long, and its engine takes each input (a packet,
//! a timer, a job's request) `factor - 1` milliseconds after the one
//! before, so a burst queues. For `for`, or to the end. And
//! `[random.node-slow]`.

use super::{float_toml, Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::{node_name, Rate, Scenario};
use std::time::Duration;

/// The slowest a node may run: steps 20 times as long, 19 ms an input.
pub const FACTOR_MAX: f64 = 20.0;

/// `node` runs `factor` times slower for `duration` (key `for`; `None`:
/// to the end).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSlow {
    pub node: u16,
    pub factor: f64,
    pub duration: Option<Duration>,
}

/// The least factor a `[random.node-slow]` draws: the least above 1 on
/// the tenth.
pub const DRAWN_MIN: f64 = 1.1;

/// `factor` rounded to the tenth.
fn on_the_tenth(factor: f64) -> f64 {
    (factor * 10.0).round() / 10.0
}

/// A factor in thousandths, as the trace keeps it.
pub fn milli(factor: f64) -> u32 {
    (factor * 1000.0).round() as u32
}

impl NodeSlow {
    pub const NAME: &'static str = "node-slow";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new("node", Shape::Node, "The node."),
            Key::new(
                "factor",
                Shape::FactorAbove {
                    min: 1.0,
                    max: FACTOR_MAX,
                },
                "How much slower: its local steps take this many times as long, and its engine takes each input this many milliseconds less one after the last.",
            ),
        ],
        optional: &[Key::new(
            "for",
            Shape::Duration,
            "How long it stays slow; default: to the end of the run.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<NodeSlow> {
        let node = t.node("node")?.0;
        let span = t.require("factor")?.span();
        let factor = t.factor("factor", 1.0, FACTOR_MAX)?.unwrap_or(1.0);
        if milli(factor) <= 1000 {
            return Err(crate::scenario::ScenarioError::new(
                "a `node-slow` fault needs a `factor` above 1 (1 is full speed)".to_string(),
            )
            .at(span));
        }
        let duration = t.get("for").map(|_| t.timer("for")).transpose()?;
        Ok(NodeSlow {
            node,
            factor,
            duration,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        w.raw("factor", float_toml(self.factor));
        if let Some(d) = self.duration {
            w.duration("for", d);
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "node-slow {} {}x{}",
            node_name(self.node),
            self.factor,
            self.duration
                .map_or(String::new(), |d| format!(" for {d:?}"))
        )
    }

    pub(super) fn shorter(&self) -> Option<NodeSlow> {
        Some(NodeSlow {
            duration: Some(super::half(self.duration?)?),
            ..self.clone()
        })
    }
}

/// `[random.node-slow]`: a node runs slow by a drawn factor for a drawn
/// time.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomNodeSlow {
    pub nodes: Option<Vec<u16>>,
    pub factor: (f64, f64),
    pub duration: (Duration, Duration),
}

impl RandomNodeSlow {
    pub const NAME: &'static str = "node-slow";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new(
                "factor",
                Shape::FactorOrRange {
                    min: 1.0,
                    max: FACTOR_MAX,
                },
                "How much slower: a number or a [min, max] range drawn per fault.",
            ),
            Key::new(
                "for",
                Shape::DurationOrRange,
                "How long each lasts: a duration or a [min, max] range.",
            ),
        ],
        optional: &[Key::new(
            "nodes",
            Shape::Nodes,
            "The nodes to draw from; default: every node.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomNodeSlow> {
        let span = t.require("factor")?.span();
        let factor = t
            .factor_range("factor", 1.0, FACTOR_MAX)?
            .unwrap_or((1.0, 1.0));
        // A draw is written on the tenth, and a `node-slow` fault needs a
        // factor above 1: a draw is at least DRAWN_MIN, which the range
        // must reach (or every draw would lie above it).
        if factor.1 < DRAWN_MIN {
            return Err(crate::scenario::ScenarioError::new(format!(
                "a `node-slow` factor range must reach {DRAWN_MIN} or more: a factor is drawn on the tenth, and 1 is full speed"
            ))
            .at(span));
        }
        Ok(RandomNodeSlow {
            nodes: t.nodes("nodes")?,
            factor,
            duration: t.duration_range("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        w.rates("factor", self.factor);
        w.range("for", self.duration);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> NodeSlow {
        let all = d.nodes();
        NodeSlow {
            node: d.pick(self.nodes.as_deref().unwrap_or(&all)),
            // On the tenth, so written schedules read well; and above 1,
            // so that a drawn fault written out is one the loader takes.
            factor: on_the_tenth(d.rate_in(self.factor)).clamp(DRAWN_MIN, FACTOR_MAX),
            duration: Some(d.ms_in(self.duration)),
        }
    }

    pub(super) fn menu(s: &Scenario) -> (Rate, RandomNodeSlow) {
        let kind = RandomNodeSlow {
            nodes: None,
            factor: (1.5, 5.0),
            duration: (Duration::from_secs(1), s.cluster.failure_timeout * 6),
        };
        (super::every(s, 2), kind)
    }
}
