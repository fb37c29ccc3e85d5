//! `clock`: a node's clock steps ahead (`offset`) and runs at `rate` times
//! true time (1.05: its timers run 5% fast), for `for` or to the end. And
//! `[random.clock]`.
//!
//! The engine and the main thread read their node's own clock: failure
//! timeouts, heartbeats, gathers and watchdogs follow it. It is a
//! monotonic clock, as an engine must read: it runs fast or slow and may
//! leap ahead (a suspended VM, a stepped clock carried into monotonic
//! time), never back. When the fault ends its rate is 1 again; the time it
//! gained or lost stays. What the notification bound becomes under drift
//! is in `check::bounds` (`stretched`).

use super::{float_toml, Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::error::ScenarioError;
use crate::scenario::{node_name, Rate, Scenario};
use std::time::Duration;

/// The slowest and fastest rate a clock may run at. Between them, the
/// fastest clock counts at most 4 times the slowest: with the default
/// failure timeout of 10 heartbeat intervals, a fast leader still hears
/// a slow member's heartbeats in time.
pub const RATE_MIN: f64 = 0.5;
pub const RATE_MAX: f64 = 2.0;

/// `node`'s clock steps `offset` ahead and runs at `rate` for `duration`
/// (key `for`; `None`: to the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub node: u16,
    pub offset: Duration,
    pub rate: f64,
    pub duration: Option<Duration>,
}

/// A rate in millionths, as the trace keeps it (exact, comparable).
pub fn ppm(rate: f64) -> u32 {
    (rate * 1e6).round() as u32
}

impl Clock {
    pub const NAME: &'static str = "clock";
    pub(super) const KEYS: Keys = Keys {
        any_of: &["offset", "rate"],
        required: &[Key::new("node", Shape::Node, "The node whose clock it is.")],
        optional: &[
            Key::new(
                "offset",
                Shape::Duration,
                "How far the clock steps ahead when the fault strikes (a monotonic clock never steps back); default 0.",
            ),
            Key::new(
                "rate",
                Shape::Factor {
                    min: RATE_MIN,
                    max: RATE_MAX,
                },
                "How fast the clock runs against true time while the fault lasts: 1.05 runs 5% fast, 0.9 10% slow; default 1.",
            ),
            Key::new(
                "for",
                Shape::Duration,
                "How long the rate lasts; default: to the end of the run. The time gained or lost stays.",
            ),
        ],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<Clock> {
        let (node, span) = t.node("node")?;
        let offset = t.duration("offset")?.unwrap_or_default();
        let rate = t.factor("rate", RATE_MIN, RATE_MAX)?.unwrap_or(1.0);
        // A time a fault lasts is at least a millisecond, as a timer's.
        let duration = t.get("for").map(|_| t.timer("for")).transpose()?;
        if offset.is_zero() && ppm(rate) == 1_000_000 {
            // Point at the value that does nothing, if the file gave one.
            let at = ["offset", "rate"]
                .iter()
                .find_map(|k| t.get(k))
                .map_or(span, |v| v.span());
            return Err(ScenarioError::new(
                "a `clock` fault needs an `offset` above 0 or a `rate` other than 1".to_string(),
            )
            .at(at));
        }
        Ok(Clock {
            node,
            offset,
            rate,
            duration,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        if !self.offset.is_zero() {
            w.duration("offset", self.offset);
        }
        if ppm(self.rate) != 1_000_000 {
            w.raw("rate", float_toml(self.rate));
        }
        if let Some(d) = self.duration {
            w.duration("for", d);
        }
    }

    pub fn describe(&self) -> String {
        let mut text = format!("clock of {}", node_name(self.node));
        if !self.offset.is_zero() {
            text += &format!(" steps {:?} ahead", self.offset);
        }
        if ppm(self.rate) != 1_000_000 {
            if !self.offset.is_zero() {
                text += " and";
            }
            text += &format!(" runs at {}x", self.rate);
            if let Some(d) = self.duration {
                text += &format!(" for {d:?}");
            }
        }
        text
    }

    /// Half as long, or half the step.
    pub(super) fn shorter(&self) -> Option<Clock> {
        if let Some(d) = self.duration.and_then(super::half) {
            return Some(Clock {
                duration: Some(d),
                ..self.clone()
            });
        }
        let offset = super::half(self.offset)?;
        Some(Clock {
            offset,
            ..self.clone()
        })
    }
}

/// `[random.clock]`: a node's clock steps ahead by a drawn `offset` and
/// runs at a drawn `rate` for a drawn time.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomClock {
    pub nodes: Option<Vec<u16>>,
    pub offset: Option<(Duration, Duration)>,
    pub rate: Option<(f64, f64)>,
    pub duration: Option<(Duration, Duration)>,
}

impl RandomClock {
    pub const NAME: &'static str = "clock";
    pub(super) const KEYS: Keys = Keys {
        any_of: &["offset", "rate"],
        required: &[],
        optional: &[
            Key::new(
                "nodes",
                Shape::Nodes,
                "The nodes to draw from; default: every node.",
            ),
            Key::new(
                "offset",
                Shape::DurationOrRange,
                "How far each clock steps ahead: a duration or a [min, max] range; default: no step.",
            ),
            Key::new(
                "rate",
                Shape::FactorOrRange {
                    min: RATE_MIN,
                    max: RATE_MAX,
                },
                "How fast each clock runs: a number or a [min, max] range; default 1. Give `offset` or `rate`.",
            ),
            Key::new(
                "for",
                Shape::DurationOrRange,
                "How long each rate lasts: a duration or a [min, max] range; default: to the end.",
            ),
        ],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomClock> {
        let kind = RandomClock {
            nodes: t.nodes("nodes")?,
            offset: t.opt_duration_range("offset")?,
            rate: t.factor_range("rate", RATE_MIN, RATE_MAX)?,
            duration: t.opt_duration_range("for")?,
        };
        let still = kind
            .rate
            .is_none_or(|(a, b)| ppm(a) == 1_000_000 && ppm(b) == 1_000_000);
        if kind.offset.is_none() && still {
            return Err(ScenarioError::new(
                "`[random.clock]` needs an `offset` or a `rate` other than 1".to_string(),
            )
            .at(t.header()));
        }
        Ok(kind)
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(ns) = &self.nodes {
            w.nodes("nodes", ns);
        }
        if let Some(o) = self.offset {
            w.range("offset", o);
        }
        if let Some(r) = self.rate {
            w.rates("rate", r);
        }
        if let Some(d) = self.duration {
            w.range("for", d);
        }
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> Clock {
        let all = d.nodes();
        let node = d.pick(self.nodes.as_deref().unwrap_or(&all));
        let offset = self.offset.map_or(Duration::ZERO, |o| d.ms_in(o));
        // A rate on the thousandth, so written schedules read well.
        let rate = self
            .rate
            .map_or(1.0, |r| (d.rate_in(r) * 1000.0).round() / 1000.0)
            .clamp(RATE_MIN, RATE_MAX);
        let duration = self.duration.map(|r| d.ms_in(r));
        let offset = if offset.is_zero() && ppm(rate) == 1_000_000 {
            Duration::from_millis(1)
        } else {
            offset
        };
        Clock {
            node,
            offset,
            rate,
            duration,
        }
    }

    pub(super) fn menu(s: &Scenario) -> (Rate, RandomClock) {
        let kind = RandomClock {
            nodes: None,
            offset: Some((Duration::from_millis(1), s.cluster.failure_timeout * 3)),
            rate: Some((RATE_MIN, RATE_MAX)),
            duration: Some((
                Duration::from_secs(1),
                (s.duration / 2).max(Duration::from_secs(1)),
            )),
        };
        (super::every(s, 2), kind)
    }
}
