//! `delay`, `loss` and `duplicate`: packets on the links that touch
//! `nodes` (default every link) are delayed by a latency drawn from a
//! range, lost with a probability, or delivered twice with a probability,
//! for `for` (default to the end). And `[random.delay]`, `[random.loss]`,
//! `[random.duplicate]`: bursts of them. Loss and duplication take the
//! same keys and share their types ([`LinkRate`], [`RandomRate`]).

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::error::ScenarioError;
use crate::scenario::raw::Val;
use crate::scenario::{Rate, Scenario};
use std::time::Duration;

/// One-way latency becomes `latency` on the links of `nodes` (`None`:
/// every link), for `duration` (key `for`; `None`: until the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Delay {
    pub latency: (Duration, Duration),
    pub nodes: Option<Vec<u16>>,
    pub duration: Option<Duration>,
}

/// Packets on the links of `nodes` (`None`: every link) are lost (`loss`)
/// or reach their node twice (`duplicate`: the copy travels on its own
/// latency, so it may come first) with probability `rate` (in `[0, 1]`),
/// for `duration` (key `for`; `None`: until the end). One type for both
/// kinds: which it is, is the [`super::FaultKind`] variant that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRate {
    pub rate: f64,
    pub nodes: Option<Vec<u16>>,
    pub duration: Option<Duration>,
}

/// `loss`: see [`LinkRate`].
pub type Loss = LinkRate;
/// `duplicate`: see [`LinkRate`].
pub type Duplicate = LinkRate;

/// A probability from a `rate` key: in `[0, 1]`.
fn probability(t: &Table<'_>, what: &str) -> Result<f64> {
    let rate_v = t.float("rate")?;
    let rate = *rate_v.get_ref();
    if !(0.0..=1.0).contains(&rate) {
        return Err(ScenarioError::new(format!(
            "{what} rate {rate} is out of range: it must be between 0 and 1"
        ))
        .at(rate_v.span()));
    }
    Ok(rate)
}

/// `every link` or `links of n1,n2`, and ` for 1s` when it ends.
fn where_and_how_long(nodes: &Option<Vec<u16>>, duration: Option<Duration>) -> String {
    format!(
        "{}{}",
        nodes.as_ref().map_or("every link".into(), |n| format!(
            "links of {}",
            super::nodes_text(n)
        )),
        duration.map_or(String::new(), |d| format!(" for {d:?}"))
    )
}

fn write_where(w: &mut Writer, nodes: &Option<Vec<u16>>, duration: Option<Duration>) {
    if let Some(ns) = nodes {
        w.nodes("nodes", ns);
    }
    if let Some(d) = duration {
        w.duration("for", d);
    }
}

/// Without node `last`; `None` if no node of its list is left.
fn nodes_without(nodes: &Option<Vec<u16>>, last: u16) -> Option<Option<Vec<u16>>> {
    match nodes {
        None => Some(None),
        Some(ns) => {
            let left: Vec<u16> = ns.iter().copied().filter(|n| *n != last).collect();
            (!left.is_empty()).then_some(Some(left))
        }
    }
}

impl Delay {
    pub const NAME: &'static str = "delay";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "latency",
            Shape::DurationPair,
            "The extra delay, drawn per packet from this [min, max] range.",
        )],
        optional: &[
            Key::new("nodes", Shape::Nodes, "The nodes whose links it touches (every link with one end among them); default: every link."),
            Key::new("for", Shape::Duration, "How long it lasts; default: to the end of the run."),
        ],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<Delay> {
        Ok(Delay {
            latency: t.duration_pair("latency")?,
            nodes: t.nodes("nodes")?,
            duration: t.lasting("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.raw(
            "latency",
            format!(
                "[{}, {}]",
                super::duration_toml(self.latency.0),
                super::duration_toml(self.latency.1)
            ),
        );
        write_where(w, &self.nodes, self.duration);
    }

    pub fn describe(&self) -> String {
        format!(
            "delay +{:?}..{:?} on {}",
            self.latency.0,
            self.latency.1,
            where_and_how_long(&self.nodes, self.duration)
        )
    }

    pub(super) fn shorter(&self) -> Option<Delay> {
        Some(Delay {
            duration: Some(super::half(self.duration?)?),
            ..self.clone()
        })
    }

    pub(super) fn without_node(&self, last: u16) -> Option<Delay> {
        Some(Delay {
            nodes: nodes_without(&self.nodes, last)?,
            ..self.clone()
        })
    }
}

impl LinkRate {
    /// The kind names it is written under.
    pub const LOSS: &'static str = "loss";
    pub const DUPLICATE: &'static str = "duplicate";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[Key::new(
            "rate",
            Shape::Rate,
            "The probability that a packet is dropped (`loss`) or delivered twice (`duplicate`).",
        )],
        optional: &[
            Key::new("nodes", Shape::Nodes, "The nodes whose links it touches (every link with one end among them); default: every link."),
            Key::new("for", Shape::Duration, "How long it lasts; default: to the end of the run."),
        ],
    };

    /// Reads a `[[fault]]` of kind `kind` ([`LinkRate::LOSS`] or
    /// [`LinkRate::DUPLICATE`]).
    pub(super) fn parse(t: &Table<'_>, kind: &str) -> Result<LinkRate> {
        Ok(LinkRate {
            rate: probability(t, kind)?,
            nodes: t.nodes("nodes")?,
            duration: t.lasting("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.raw("rate", super::float_toml(self.rate));
        write_where(w, &self.nodes, self.duration);
    }

    /// `loss 0.2 on every link for 1s`, with `kind` first.
    pub fn describe(&self, kind: &str) -> String {
        format!(
            "{kind} {} on {}",
            self.rate,
            where_and_how_long(&self.nodes, self.duration)
        )
    }

    pub(super) fn shorter(&self) -> Option<LinkRate> {
        Some(LinkRate {
            duration: Some(super::half(self.duration?)?),
            ..self.clone()
        })
    }

    pub(super) fn without_node(&self, last: u16) -> Option<LinkRate> {
        Some(LinkRate {
            nodes: nodes_without(&self.nodes, last)?,
            ..self.clone()
        })
    }
}

/// `[random.delay]`: a latency burst on every link, or on the links of
/// one node drawn from `nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomDelay {
    pub latency: (Duration, Duration),
    pub nodes: Option<Vec<u16>>,
    pub duration: (Duration, Duration),
}

/// `[random.loss]` and `[random.duplicate]`: bursts at a drawn rate, on
/// every link or on the links of one node drawn from `nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomRate {
    pub rate: (f64, f64),
    pub nodes: Option<Vec<u16>>,
    pub duration: (Duration, Duration),
}

/// `for` of a random link fault.
const RANDOM_FOR: Key = Key::new(
    "for",
    Shape::DurationOrRange,
    "How long each lasts: a duration, or a [min, max] range drawn per fault.",
);

/// `nodes` of a random link fault.
const RANDOM_NODES: Key = Key::new(
    "nodes",
    Shape::Nodes,
    "Draw the nodes whose links it touches from these; default: every link.",
);

impl RandomDelay {
    pub const NAME: &'static str = "delay";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new(
                "latency",
                Shape::DurationPair,
                "The extra delay, drawn per packet from this [min, max] range.",
            ),
            RANDOM_FOR,
        ],
        optional: &[RANDOM_NODES],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomDelay> {
        let nodes = t.nodes("nodes")?;
        let latency_v = t.require_in("latency")?;
        let bad = || {
            ScenarioError::new("`latency` must be a [min, max] pair")
                .at(latency_v.span())
                .help(r#"for example: latency = ["5ms", "50ms"]"#)
        };
        let Val::Array(items) = latency_v.get_ref() else {
            return Err(bad());
        };
        if items.len() != 2 {
            return Err(bad());
        }
        let latency = t.duration_pair("latency")?;
        Ok(RandomDelay {
            latency,
            nodes,
            duration: t.duration_range("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.range("latency", self.latency);
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        w.range("for", self.duration);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> Delay {
        Delay {
            latency: self.latency,
            nodes: self.nodes.as_ref().map(|ns| vec![d.pick(ns)]),
            duration: Some(d.ms_in(self.duration)),
        }
    }

    pub(super) fn menu(s: &Scenario) -> (Rate, RandomDelay) {
        let t = s.cluster.failure_timeout;
        let kind = RandomDelay {
            latency: (
                Duration::from_millis(1),
                (t / 4).max(Duration::from_millis(1)),
            ),
            nodes: None,
            duration: (t / 2, t * 2),
        };
        (super::every(s, 3), kind)
    }
}

impl RandomRate {
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new(
                "rate",
                Shape::RateOrRange,
                "The probability per packet: a number, or a [min, max] range drawn per fault.",
            ),
            RANDOM_FOR,
        ],
        optional: &[RANDOM_NODES],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomRate> {
        let nodes = t.nodes("nodes")?;
        let rate = t.rate_range("rate")?;
        Ok(RandomRate {
            rate,
            nodes,
            duration: t.duration_range("for")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.rates("rate", self.rate);
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        w.range("for", self.duration);
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> LinkRate {
        let r = d.rate_in(self.rate);
        LinkRate {
            // Three decimals keep written schedules readable.
            rate: (r * 1000.0).round() / 1000.0,
            nodes: self.nodes.as_ref().map(|ns| vec![d.pick(ns)]),
            duration: Some(d.ms_in(self.duration)),
        }
    }

    /// What `--swarm` draws without a table: a rate from 0.1 to 0.5 on
    /// every link, for half a failure timeout to `longest` of them.
    pub(super) fn menu(s: &Scenario, longest: u32) -> (Rate, RandomRate) {
        let t = s.cluster.failure_timeout;
        let kind = RandomRate {
            rate: (0.1, 0.5),
            nodes: None,
            duration: (t / 2, t * longest),
        };
        (super::every(s, 3), kind)
    }
}
