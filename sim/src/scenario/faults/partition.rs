//! `partition`: the links between sides drop everything, until
//! `heal_after` restores the ones no other partition still cuts; `heal`:
//! every partition ends. And `[random.partition]`, which splits the nodes
//! into random sides.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::error::ScenarioError;
use crate::scenario::{Rate, Scenario};
use std::time::Duration;

/// The network splits into `sides` (each sorted, empty sides dropped; every
/// node in exactly one), optionally healing after `heal_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub sides: Vec<Vec<u16>>,
    pub heal_after: Option<Duration>,
}

impl Partition {
    pub const NAME: &'static str = "partition";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "sides",
            Shape::Sides,
            "The sides: every node in exactly one, at least two not empty.",
        )],
        optional: &[Key::new(
            "heal_after",
            Shape::Duration,
            "Heal it after this long; default: never (or at a `heal`).",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<Partition> {
        Ok(Partition {
            sides: t.sides("sides")?,
            heal_after: t.duration("heal_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        let sides: Vec<String> = self.sides.iter().map(|s| super::nodes_toml(s)).collect();
        w.raw("sides", format!("[{}]", sides.join(", ")));
        if let Some(d) = self.heal_after {
            w.duration("heal_after", d);
        }
    }

    pub fn describe(&self) -> String {
        let sides: Vec<String> = self
            .sides
            .iter()
            .map(|s| format!("{{{}}}", super::nodes_text(s)))
            .collect();
        match self.heal_after {
            Some(d) => format!("partition {} (heal after {d:?})", sides.join(" | ")),
            None => format!("partition {}", sides.join(" | ")),
        }
    }

    pub(super) fn shorter(&self) -> Option<Partition> {
        Some(Partition {
            heal_after: Some(super::half(self.heal_after?)?),
            ..self.clone()
        })
    }

    /// Without node `last`; `None` if fewer than two sides are left.
    pub(super) fn without_node(&self, last: u16) -> Option<Partition> {
        let mut sides = self.sides.clone();
        for side in &mut sides {
            side.retain(|n| *n != last);
        }
        sides.retain(|side| !side.is_empty());
        (sides.len() >= 2).then(|| Partition {
            sides,
            ..self.clone()
        })
    }
}

/// Every partition ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heal;

impl Heal {
    pub const NAME: &'static str = "heal";
    pub(super) const KEYS: Keys = Keys::NONE;

    pub fn describe(&self) -> String {
        "heal".into()
    }
}

/// `[random.partition]`: the nodes split into a drawn number of random
/// sides, healing after a drawn time.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomPartition {
    pub sides: (u16, u16),
    pub heal_after: (Duration, Duration),
}

impl RandomPartition {
    pub const NAME: &'static str = "partition";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "heal_after",
            Shape::DurationOrRange,
            "Heal each after this long: a duration, or a [min, max] range drawn per fault.",
        )],
        optional: &[Key::new(
            "sides",
            Shape::IntOrRange { min: 2, max: 1000 },
            "How many sides to split the nodes into: N, or a [min, max] range drawn per fault, at most the node count; default 2.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomPartition> {
        if t.cx.nodes < 2 {
            return Err(ScenarioError::new(
                "[random.partition] needs at least 2 nodes in the cluster",
            )
            .at(t.header()));
        }
        let sides = t
            .int_range("sides", 2, i64::from(t.cx.nodes))?
            .unwrap_or((2, 2));
        Ok(RandomPartition {
            sides: (sides.0 as u16, sides.1 as u16),
            heal_after: t.duration_range("heal_after")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.raw("sides", format!("[{}, {}]", self.sides.0, self.sides.1));
        w.range("heal_after", self.heal_after);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> Partition {
        let all = d.nodes();
        let n = all.len() as u16;
        let k = d.between(self.sides.0, self.sides.1).min(n).max(2);
        let order = d.shuffled(all);
        let mut split: Vec<Vec<u16>> = vec![Vec::new(); usize::from(k)];
        for (i, node) in order.into_iter().enumerate() {
            // One node per side first, so that none is empty.
            let side = if i < usize::from(k) {
                i
            } else {
                d.below(usize::from(k))
            };
            split[side].push(node);
        }
        for side in &mut split {
            side.sort_unstable();
        }
        split.sort();
        Partition {
            sides: split,
            heal_after: Some(d.ms_in(self.heal_after)),
        }
    }

    /// `None` on a single node: there is nothing to split.
    pub(super) fn menu(s: &Scenario) -> Option<(Rate, RandomPartition)> {
        let t = s.cluster.failure_timeout;
        let kind = RandomPartition {
            sides: (2, 2),
            heal_after: (t / 2, t * 4),
        };
        (s.cluster.nodes >= 2).then_some((super::every(s, 2), kind))
    }
}
