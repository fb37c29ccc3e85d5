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
//! ```
//!
//! Each range is `[min, max]` (inclusive) or one value for both. Every kind
//! takes exactly one of `count` and `every`.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::ScenarioError;
use super::raw::{RawRandom, RawRandomKind};
use super::validate::{parse_dur, require, timer_dur, Ctx};
use super::{RandomFault, RandomFaults, RandomKind, Rate, WorkThreadFault};

type Result<T> = std::result::Result<T, ScenarioError>;

/// The keys each `[random.KIND]` takes besides `count`, `every` and `max`.
fn kind_keys(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "work-thread" => (&[], &["kinds", "jobs"]),
        "job-kill" => (&[], &["jobs"]),
        "node-crash" => (&[], &["nodes", "restart_after"]),
        "node-pause" => (&["for"], &["nodes"]),
        "partition" => (&["heal_after"], &["sides"]),
        "delay" => (&["latency", "for"], &["nodes"]),
        _ => (&["rate", "for"], &["nodes"]), // loss
    }
}

/// One duration or a `[min, max]` pair of them.
fn dur_range(value: &Spanned<toml::Value>, key: &str) -> Result<(Duration, Duration)> {
    let one = |v: &toml::Value| -> Result<Duration> {
        let Some(text) = v.as_str() else {
            return Err(ScenarioError::new(format!(
                "`{key}` must be a duration string or a [min, max] pair of them, such as [\"1s\", \"3s\"]"
            ))
            .at(value.span()));
        };
        let spanned = Spanned::new(value.span(), super::raw::DurationText(text.to_owned()));
        timer_dur(&spanned, key)
    };
    let (min, max) = match value.get_ref() {
        toml::Value::Array(items) if items.len() == 2 => (one(&items[0])?, one(&items[1])?),
        toml::Value::Array(items) => {
            return Err(ScenarioError::new(format!(
                "`{key}` must be a [min, max] pair, found {} elements",
                items.len()
            ))
            .at(value.span()))
        }
        v => {
            let d = one(v)?;
            (d, d)
        }
    };
    if min > max {
        return Err(ScenarioError::new(format!(
            "`{key}` range is reversed: its min {min:?} is greater than its max {max:?}"
        ))
        .at(value.span()));
    }
    Ok((min, max))
}

/// One integer or a `[min, max]` pair of them, each in `lo..=hi`.
fn int_range(value: &Spanned<toml::Value>, key: &str, lo: i64, hi: i64) -> Result<(i64, i64)> {
    let bad = || {
        ScenarioError::new(format!(
            "`{key}` must be an integer or a [min, max] pair of integers, each in {lo}..={hi}"
        ))
        .at(value.span())
    };
    let one = |v: &toml::Value| -> Result<i64> {
        v.as_integer()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(bad)
    };
    let (min, max) = match value.get_ref() {
        toml::Value::Array(items) if items.len() == 2 => (one(&items[0])?, one(&items[1])?),
        toml::Value::Array(_) => return Err(bad()),
        v => {
            let n = one(v)?;
            (n, n)
        }
    };
    if min > max {
        return Err(
            ScenarioError::new(format!("`{key}` range is reversed: {min} > {max}"))
                .at(value.span()),
        );
    }
    Ok((min, max))
}

/// A rate or a `[min, max]` pair of rates, each in `[0, 1]`.
fn rate_range(value: &Spanned<toml::Value>) -> Result<(f64, f64)> {
    let bad = || {
        ScenarioError::new(
            "`rate` must be a number or a [min, max] pair of numbers, each between 0 and 1",
        )
        .at(value.span())
    };
    let one = |v: &toml::Value| -> Result<f64> {
        let x = match v {
            toml::Value::Float(x) => *x,
            toml::Value::Integer(n) => *n as f64,
            _ => return Err(bad()),
        };
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err(bad())
        }
    };
    let (min, max) = match value.get_ref() {
        toml::Value::Array(items) if items.len() == 2 => (one(&items[0])?, one(&items[1])?),
        toml::Value::Array(_) => return Err(bad()),
        v => {
            let x = one(v)?;
            (x, x)
        }
    };
    if min > max {
        return Err(
            ScenarioError::new(format!("`rate` range is reversed: {min} > {max}")).at(value.span()),
        );
    }
    Ok((min, max))
}

impl Ctx<'_> {
    pub(super) fn random(
        &self,
        raw: &Spanned<RawRandom>,
        duration: Duration,
    ) -> Result<RandomFaults> {
        let r = raw.get_ref();
        let after = r
            .after
            .as_ref()
            .map(|v| parse_dur(v, "after"))
            .transpose()?
            .unwrap_or(Duration::ZERO);
        let before = match &r.before {
            Some(v) => {
                let before = parse_dur(v, "before")?;
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
            let span = r.after.as_ref().map_or(raw.span(), Spanned::span);
            return Err(ScenarioError::new(format!(
                "`after` ({after:?}) must be earlier than `before` ({before:?}, default the duration): random faults strike between them"
            ))
            .at(span));
        }
        let tables = [
            &r.work_thread,
            &r.job_kill,
            &r.node_crash,
            &r.node_pause,
            &r.partition,
            &r.delay,
            &r.loss,
        ];
        let mut kinds = Vec::new();
        for (name, table) in RandomFault::NAMES.iter().zip(tables) {
            if let Some(table) = table {
                kinds.push(self.random_kind(name, table)?);
            }
        }
        if kinds.is_empty() {
            return Err(ScenarioError::new("[random] names no fault kind")
                .at(raw.span())
                .help(format!(
                    "add at least one table among: {}; for example:\n[random.node-crash]\nevery = \"5s\"\nrestart_after = [\"1s\", \"3s\"]",
                    RandomFault::NAMES
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

    fn random_kind(&self, name: &str, raw: &Spanned<RawRandomKind>) -> Result<RandomKind> {
        let header = raw.span();
        let k = raw.get_ref();
        let table = format!("[random.{name}]");
        let (required, optional) = kind_keys(name);
        for (key, span) in k.present_keys() {
            if ["count", "every", "max"].contains(&key)
                || required.contains(&key)
                || optional.contains(&key)
            {
                continue;
            }
            let mut allowed = vec!["count", "every", "max"];
            allowed.extend(required);
            allowed.extend(optional);
            return Err(ScenarioError::new(format!(
                "key `{key}` is not allowed in {table}; allowed: {}",
                allowed.join(", ")
            ))
            .at(span));
        }
        let rate = match (&k.count, &k.every) {
            (Some(_), Some(every)) => {
                return Err(ScenarioError::new(format!(
                    "{table} takes `count` or `every`, not both"
                ))
                .at(every.span()))
            }
            (None, None) => {
                return Err(ScenarioError::new(format!(
                    "{table} needs `count` (faults per run) or `every` (their mean interval)"
                ))
                .at(header)
                .help("for example: count = [0, 2], or every = \"5s\""))
            }
            (Some(count), None) => {
                if let Some(max) = &k.max {
                    return Err(ScenarioError::new(
                        "`max` caps an `every` kind; with `count`, write the range [min, max]",
                    )
                    .at(max.span()));
                }
                let (min, max) = int_range(count, "count", 0, i64::from(Rate::MAX_EVERY))?;
                Rate::Count {
                    min: min as u32,
                    max: max as u32,
                }
            }
            (None, Some(every)) => {
                let mean = timer_dur(every, "every")?;
                let max = match &k.max {
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
        let need =
            |value: &Option<Spanned<toml::Value>>, key: &str| -> Result<(Duration, Duration)> {
                let v = require(value, key, &table, &header)?;
                dur_range(v, key)
            };
        let nodes = k
            .nodes
            .as_ref()
            .map(|v| self.node_list(v, "nodes"))
            .transpose()?;
        let jobs = match &k.jobs {
            None => None,
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(ScenarioError::new(
                        "`jobs` must not be empty (leave it out to mean every job)",
                    )
                    .at(list.span()));
                }
                let mut jobs = Vec::new();
                for item in list.get_ref() {
                    let job = self.find_job(item.get_ref(), item.span(), "")?;
                    if !jobs.contains(&job.name) {
                        jobs.push(job.name.clone());
                    }
                }
                Some(jobs)
            }
        };
        let fault = match name {
            "work-thread" => {
                let kinds = match &k.kinds {
                    None => WorkThreadFault::ALL.to_vec(),
                    Some(list) => {
                        let mut kinds = Vec::new();
                        for item in list.get_ref() {
                            let kind = WorkThreadFault::ALL
                                .into_iter()
                                .find(|w| w.name() == item.get_ref())
                                .ok_or_else(|| {
                                    ScenarioError::new(format!(
                                        "unknown work-thread fault `{}`, expected one of: panic, error, hang",
                                        item.get_ref()
                                    ))
                                    .at(item.span())
                                })?;
                            if !kinds.contains(&kind) {
                                kinds.push(kind);
                            }
                        }
                        if kinds.is_empty() {
                            return Err(ScenarioError::new(
                                "`kinds` must not be empty (leave it out to mean all three)",
                            )
                            .at(list.span()));
                        }
                        kinds
                    }
                };
                RandomFault::WorkThread { kinds, jobs }
            }
            "job-kill" => RandomFault::JobKill { jobs },
            "node-crash" => RandomFault::NodeCrash {
                nodes,
                restart_after: k
                    .restart_after
                    .as_ref()
                    .map(|v| dur_range(v, "restart_after"))
                    .transpose()?,
            },
            "node-pause" => RandomFault::NodePause {
                nodes,
                duration: need(&k.for_, "for")?,
            },
            "partition" => {
                if self.nodes < 2 {
                    return Err(ScenarioError::new(
                        "[random.partition] needs at least 2 nodes in the cluster",
                    )
                    .at(header));
                }
                let sides = match &k.sides {
                    Some(v) => int_range(v, "sides", 2, i64::from(self.nodes))?,
                    None => (2, 2),
                };
                RandomFault::Partition {
                    sides: (sides.0 as u16, sides.1 as u16),
                    heal_after: need(&k.heal_after, "heal_after")?,
                }
            }
            "delay" => {
                let latency_v = require(&k.latency, "latency", &table, &header)?;
                let latency = latency_range(latency_v)?;
                RandomFault::Delay {
                    latency,
                    nodes,
                    duration: need(&k.for_, "for")?,
                }
            }
            _ => {
                let rate_v = require(&k.rate, "rate", &table, &header)?;
                RandomFault::Loss {
                    rate: rate_range(rate_v)?,
                    nodes,
                    duration: need(&k.for_, "for")?,
                }
            }
        };
        Ok(RandomKind { rate, fault })
    }
}

fn latency_range(
    value: &Spanned<Vec<Spanned<super::raw::DurationText>>>,
) -> Result<(Duration, Duration)> {
    let [min, max] = value.get_ref().as_slice() else {
        return Err(bad_pair(value.span(), "latency"));
    };
    let (min, max) = (parse_dur(min, "latency")?, parse_dur(max, "latency")?);
    if min > max {
        return Err(ScenarioError::new(format!(
            "`latency` range is reversed: its min {min:?} is greater than its max {max:?}"
        ))
        .at(value.span()));
    }
    Ok((min, max))
}

fn bad_pair(span: Range<usize>, key: &str) -> ScenarioError {
    ScenarioError::new(format!("`{key}` must be a [min, max] pair"))
        .at(span)
        .help(format!(r#"for example: {key} = ["5ms", "50ms"]"#))
}
