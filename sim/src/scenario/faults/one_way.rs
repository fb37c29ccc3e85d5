//! `one-way-cut`: the links from the `from` nodes to the `to` nodes drop
//! everything while the reverse direction works, until `heal_after` (or a
//! `heal`) restores the ones no other cut still holds. The classic cause of
//! asymmetric suspicion: `to` stops hearing `from`, `from` still hears
//! `to`. And `[random.one-way-cut]`, which draws the two sets.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::error::ScenarioError;
use crate::scenario::{Rate, Scenario};
use std::time::Duration;

/// Packets from `from` to `to` are dropped (each list sorted, the two
/// disjoint), optionally until `heal_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneWayCut {
    pub from: Vec<u16>,
    pub to: Vec<u16>,
    pub heal_after: Option<Duration>,
}

impl OneWayCut {
    pub const NAME: &'static str = "one-way-cut";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new(
                "from",
                Shape::Nodes,
                "The nodes whose packets are dropped...",
            ),
            Key::new(
                "to",
                Shape::Nodes,
                "...on their way to these (disjoint from `from`).",
            ),
        ],
        optional: &[Key::new(
            "heal_after",
            Shape::Duration,
            "Heal it after this long; default: never (or at a `heal`).",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<OneWayCut> {
        t.require("from")?;
        let to_v = t.require("to")?;
        let from = t.nodes("from")?.unwrap_or_default();
        let to = t.nodes("to")?.unwrap_or_default();
        if let Some(both) = to.iter().find(|n| from.contains(n)) {
            return Err(ScenarioError::new(format!(
                "node `{}` is in both `from` and `to`: a node's link to itself is never cut",
                crate::scenario::node_name(*both)
            ))
            .at(to_v.span()));
        }
        Ok(OneWayCut {
            from,
            to,
            heal_after: t.duration("heal_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.nodes("from", &self.from);
        w.nodes("to", &self.to);
        if let Some(d) = self.heal_after {
            w.duration("heal_after", d);
        }
    }

    pub fn describe(&self) -> String {
        let cut = format!(
            "one-way cut {{{}}} -> {{{}}}",
            super::nodes_text(&self.from),
            super::nodes_text(&self.to)
        );
        match self.heal_after {
            Some(d) => format!("{cut} (heal after {d:?})"),
            None => cut,
        }
    }

    /// Every directed link it cuts, `from` side first.
    pub fn links(&self) -> Vec<(u16, u16)> {
        self.from
            .iter()
            .flat_map(|a| self.to.iter().map(move |b| (*a, *b)))
            .collect()
    }

    pub(super) fn shorter(&self) -> Option<OneWayCut> {
        Some(OneWayCut {
            heal_after: Some(super::half(self.heal_after?)?),
            ..self.clone()
        })
    }

    /// Without node `last`; `None` if either set is left empty.
    pub(super) fn without_node(&self, last: u16) -> Option<OneWayCut> {
        let keep = |ns: &[u16]| -> Vec<u16> { ns.iter().copied().filter(|n| *n != last).collect() };
        let (from, to) = (keep(&self.from), keep(&self.to));
        (!from.is_empty() && !to.is_empty()).then_some(OneWayCut {
            from,
            to,
            heal_after: self.heal_after,
        })
    }
}

/// `[random.one-way-cut]`: the nodes split in two at random, and one side
/// stops reaching the other, healing after a drawn time. With `nodes`, the
/// cut isolates one node drawn from the list, in a drawn direction.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomOneWayCut {
    pub nodes: Option<Vec<u16>>,
    pub heal_after: (Duration, Duration),
}

impl RandomOneWayCut {
    pub const NAME: &'static str = "one-way-cut";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "heal_after",
            Shape::DurationOrRange,
            "Heal each after this long: a duration, or a [min, max] range drawn per fault.",
        )],
        optional: &[Key::new(
            "nodes",
            Shape::Nodes,
            "Cut one of these off one way; default: split every node in two, one side stops reaching the other.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomOneWayCut> {
        if t.cx.nodes < 2 {
            return Err(ScenarioError::new(
                "[random.one-way-cut] needs at least 2 nodes in the cluster",
            )
            .at(t.header()));
        }
        Ok(RandomOneWayCut {
            nodes: t.nodes("nodes")?,
            heal_after: t.duration_range("heal_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        w.range("heal_after", self.heal_after);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> OneWayCut {
        let all = d.nodes();
        let (mut a, mut b): (Vec<u16>, Vec<u16>) = match &self.nodes {
            Some(ns) => {
                let one = d.pick(ns);
                (vec![one], all.into_iter().filter(|n| *n != one).collect())
            }
            None => {
                let order = d.shuffled(all);
                let cut = 1 + d.below(order.len() - 1);
                (order[..cut].to_vec(), order[cut..].to_vec())
            }
        };
        a.sort_unstable();
        b.sort_unstable();
        let (from, to) = if d.chance(0.5) { (a, b) } else { (b, a) };
        OneWayCut {
            from,
            to,
            heal_after: Some(d.ms_in(self.heal_after)),
        }
    }

    /// `None` on a single node: there is nothing to cut.
    pub(super) fn menu(s: &Scenario) -> Option<(Rate, RandomOneWayCut)> {
        let t = s.cluster.failure_timeout;
        let kind = RandomOneWayCut {
            nodes: None,
            heal_after: (t / 2, t * 4),
        };
        (s.cluster.nodes >= 2).then_some((super::every(s, 3), kind))
    }
}
