//! Validation of `[random]`: fault kinds that each seed draws for itself.
//!
//! ```toml
//! [random]
//! after = "1s"                   # no random fault before this (default 0s)
//! before = "15s"                 # nor at or after this (default: the duration)
//!
//! [random.work-thread]           # a work thread panics, errors or hangs
//! count = [0, 3]                 # per run: N or [min, max]; or every = "5s"
//! kinds = ["panic", "hang"]      # default ["panic", "error", "hang"]
//! jobs = ["db"]                  # default every job
//!
//! [random.job-kill]              # a job dies without unregistering
//! count = 1                      # jobs = [...] as above
//!
//! [random.node-crash]
//! every = "5s"                   # mean interval (a Poisson process)
//! max = 4                        # at most this many per run (default 1000)
//! restart_after = ["1s", "3s"]   # default: the node stays down
//! nodes = ["n1", "n2"]           # default every node
//!
//! [random.node-pause]
//! every = "8s"
//! for = ["200ms", "2s"]          # required; nodes = [...] as above
//!
//! [random.partition]
//! every = "6s"
//! heal_after = ["500ms", "4s"]   # required
//! sides = 2                      # N or [min, max] sides, default 2
//!
//! [random.delay]
//! every = "4s"
//! latency = ["5ms", "50ms"]      # required: the latency during the burst
//! for = ["1s", "3s"]             # required
//! nodes = ["n0"]                 # default: every link; else the links of one of these
//!
//! [random.loss]
//! count = [1, 2]
//! rate = [0.1, 0.5]              # required: a rate or a [min, max] range in [0, 1]
//! for = ["500ms", "2s"]          # required; nodes = [...] as for delay
//!
//! [random.task]                  # not a fault: tasks at random times
//! every = "400ms"                # jobs, protocols, priority: see faults/task.rs
//! ```
//!
//! Each range is `[min, max]` (inclusive) or one value for both. Every kind
//! takes exactly one of `count` and `every`.

use std::time::Duration;

use toml::Spanned;

use super::error::ScenarioError;
use super::faults::RandomFault;
use super::raw::{DurationText, RawRandom, Val};
use super::table::{text, type_error, Entry, Key, Shape, Table, RANDOM_RATE_KEYS};
use super::validate::{parse_dur, timer_dur, Ctx, DURATION_EXPECTED};
use super::{RandomFaults, RandomKind, Rate};

type Result<T> = std::result::Result<T, ScenarioError>;

/// The keys `[random]` takes for itself, besides a table per kind.
pub(super) const SECTION_KEYS: &[Key] = &[
    Key::new(
        "after",
        Shape::Duration,
        "Draw no fault before this time; default the start.",
    ),
    Key::new(
        "before",
        Shape::Duration,
        "Draw no fault after this time; default the duration.",
    ),
];

/// Every key some `[random.KIND]` table takes.
fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = RANDOM_RATE_KEYS.iter().map(|k| k.name).collect();
    for name in RandomFault::names() {
        let k = RandomFault::spec(name).expect("a kind's own name").keys;
        keys.extend(k.names());
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A duration-valued key of `[random]` itself.
fn section_duration(value: &Spanned<Val>, key: &str) -> Result<Duration> {
    let text = text(value, DURATION_EXPECTED)?;
    parse_dur(
        &Spanned::new(value.span(), DurationText(text.to_owned())),
        key,
    )
}

impl Ctx<'_> {
    pub(super) fn random(
        &self,
        raw: &Spanned<RawRandom>,
        duration: Duration,
    ) -> Result<RandomFaults> {
        let mut all: Vec<(&Spanned<String>, &Spanned<Val>)> = raw.get_ref().iter().collect();
        all.sort_by_key(|(k, _)| k.span().start);
        // `after` and `before` are values; every other key is a kind's table.
        let value = |key: &str| -> Option<&Spanned<Val>> {
            all.iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| *v)
        };
        for (key, v) in &all {
            let name = key.get_ref().as_str();
            if SECTION_KEYS.iter().any(|k| k.name == name) {
                continue;
            }
            if RandomFault::spec(name).is_none() {
                let expected: Vec<String> = SECTION_KEYS
                    .iter()
                    .map(|k| k.name)
                    .chain(RandomFault::names())
                    .map(|k| format!("`{k}`"))
                    .collect();
                return Err(ScenarioError::new(format!(
                    "unknown key `{name}`, expected one of {}",
                    expected.join(", ")
                ))
                .at(key.span()));
            }
            if !matches!(v.get_ref(), Val::Table(_)) {
                return Err(type_error(v, &format!("a table [random.{name}]")));
            }
        }
        let after = value("after")
            .map(|v| section_duration(v, "after"))
            .transpose()?
            .unwrap_or(Duration::ZERO);
        let before = match value("before") {
            Some(v) => {
                let before = section_duration(v, "before")?;
                if before > duration {
                    return Err(ScenarioError::new(format!(
                        "`before` ({before:?}) is after the scenario's duration ({duration:?})"
                    ))
                    .at(v.span()));
                }
                before
            }
            None => duration,
        };
        if after >= before {
            let span = value("after").map_or(raw.span(), |v| v.span());
            return Err(ScenarioError::new(format!(
                "`after` ({after:?}) must be earlier than `before` ({before:?}, default the duration): random faults strike between them"
            ))
            .at(span));
        }
        let mut kinds = Vec::new();
        for name in RandomFault::names() {
            if let Some((key, v)) = all.iter().find(|(k, _)| k.get_ref() == name) {
                if let Val::Table(own) = v.get_ref() {
                    kinds.push(self.random_kind(name, key, own)?);
                }
            }
        }
        if kinds.is_empty() {
            return Err(ScenarioError::new("[random] names no fault kind")
                .at(raw.span())
                .help(format!(
                    "add at least one table among: {}; for example:\n[random.node-crash]\nevery = \"5s\"\nrestart_after = [\"1s\", \"3s\"]",
                    RandomFault::names()
                        .iter()
                        .map(|n| format!("[random.{n}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
        }
        Ok(RandomFaults {
            after,
            before,
            kinds,
        })
    }

    fn random_kind(&self, name: &str, key: &Spanned<String>, own: &[Entry]) -> Result<RandomKind> {
        // Errors about the table as a whole point at its header line.
        let header = line_start(self.source, key.span().start)..key.span().end;
        let table_name = format!("[random.{name}]");
        let spec = RandomFault::spec(name).expect("a kind's own name");
        let keys = spec.keys;
        let t = Table::new(
            self,
            table_name.clone(),
            header.clone(),
            own,
            keys,
            RANDOM_RATE_KEYS,
        );
        for (k, _) in own {
            if !known_keys().contains(&k.get_ref().as_str()) {
                let mut allowed: Vec<&str> = RANDOM_RATE_KEYS.iter().map(|k| k.name).collect();
                allowed.extend(keys.names());
                return Err(ScenarioError::new(format!(
                    "unknown key `{}` in {table_name}; allowed: {}",
                    k.get_ref(),
                    allowed.join(", ")
                ))
                .at(k.span()));
            }
        }
        t.check_random_keys(keys)?;
        let value = |key: &str| own.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v);
        let rate = match (value("count"), value("every")) {
            (Some(_), Some(every)) => {
                return Err(ScenarioError::new(format!(
                    "{table_name} takes `count` or `every`, not both"
                ))
                .at(every.span()))
            }
            (None, None) => {
                return Err(ScenarioError::new(format!(
                    "{table_name} needs `count` (faults per run) or `every` (their mean interval)"
                ))
                .at(header)
                .help("for example: count = [0, 2], or every = \"5s\""))
            }
            (Some(_), None) => {
                if let Some(max) = value("max") {
                    return Err(ScenarioError::new(
                        "`max` caps an `every` kind; with `count`, write the range [min, max]",
                    )
                    .at(max.span()));
                }
                let (min, max) = t
                    .int_range("count", 0, i64::from(Rate::MAX_EVERY))?
                    .expect("count is there");
                Rate::Count {
                    min: min as u32,
                    max: max as u32,
                }
            }
            (None, Some(every)) => {
                let text = text(every, DURATION_EXPECTED)?;
                let mean = timer_dur(
                    &Spanned::new(every.span(), DurationText(text.to_owned())),
                    "every",
                )?;
                let max = match t.int("max")? {
                    Some(v) => u32::try_from(*v.get_ref())
                        .ok()
                        .filter(|n| *n <= Rate::MAX_EVERY)
                        .ok_or_else(|| {
                            ScenarioError::new(format!(
                                "`max` must be in 0..={}, got {}",
                                Rate::MAX_EVERY,
                                v.get_ref()
                            ))
                            .at(v.span())
                        })?,
                    None => Rate::MAX_EVERY,
                };
                Rate::Every { mean, max }
            }
        };
        Ok(RandomKind {
            rate,
            fault: (spec.parse)(&t)?,
        })
    }
}

/// Where the line holding byte `at` starts.
fn line_start(source: &str, at: usize) -> usize {
    source[..at.min(source.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}
