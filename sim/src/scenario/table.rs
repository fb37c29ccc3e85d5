//! A table whose keys belong to one kind: a `[[fault]]` table (its keys
//! after `at` and `kind`) or a `[random.KIND]` table. The kind's home reads
//! its keys through this, with typed accessors that point every error at
//! the offending value; the table reports keys the kind does not take, at
//! the key itself, before anything is read.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::ScenarioError;
use super::raw::{DurationText, NodeText, Val};
use super::validate::{example, parse_dur, timer_dur, Ctx};
use super::Job;

type Result<T> = std::result::Result<T, ScenarioError>;

/// The keys a kind takes besides the ones every table of its array takes.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    pub required: &'static [Key],
    pub optional: &'static [Key],
    /// Optional keys of which the table must give at least one (none: no
    /// such rule).
    pub any_of: &'static [&'static str],
}

/// One key of a kind: its name, the shape of its value and what it means.
/// The readers below check, in debug builds, that a key is read as the
/// shape it declares, and `vigil schema` writes the JSON Schema from these
/// (`scenario::schema`), so the schema and the parser cannot drift apart.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub shape: Shape,
    pub doc: &'static str,
}

impl Key {
    pub const fn new(name: &'static str, shape: Shape, doc: &'static str) -> Key {
        Key { name, shape, doc }
    }
}

/// The shape of a key's value, as a file writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// A duration string: `"250ms"`, `"1.5s"`.
    Duration,
    /// A `[min, max]` pair of duration strings.
    DurationPair,
    /// A duration string or a `[min, max]` pair of them.
    DurationOrRange,
    /// A node name: `"n2"`.
    Node,
    /// A non-empty list of node names.
    Nodes,
    /// A list of lists of node names.
    Sides,
    /// A job's name.
    Job,
    /// A non-empty list of job names.
    Jobs,
    /// A non-empty list of protocol names.
    Protocols,
    /// A non-empty list of the names in the slice.
    OneOf(&'static [&'static str]),
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// An integer in `min..=max`, or a `[min, max]` pair of them.
    IntOrRange { min: i64, max: i64 },
    /// A number from 0 to 1.
    Rate,
    /// A number from 0 up to 1, 1 left out (the cluster's own loss: a
    /// network that loses every packet is no cluster).
    RateBelowOne,
    /// A number from 0 to 1, or a `[min, max]` pair of them.
    RateOrRange,
    /// A number in `[min, max]` (a clock's rate).
    Factor { min: f64, max: f64 },
    /// A number above `min`, up to `max` (a slow node's factor: at `min`
    /// the fault would do nothing).
    FactorAbove { min: f64, max: f64 },
    /// A number in `[min, max]`, or a `[min, max]` pair of them.
    FactorOrRange { min: f64, max: f64 },
    /// A string that is not empty (the scenario's name).
    Title,
    /// A string.
    Text,
    /// A list of strings.
    Texts,
    /// A name of letters, digits, `_` and `-` (a job, a group).
    Ident,
    /// One of the names in the slice.
    Word(&'static [&'static str]),
    /// A protocol's name.
    Protocol,
    /// A list of integers in `min..=max`.
    Ints { min: i64, max: i64 },
    /// `true` or `false`.
    Bool,
    /// A member: `"db@n2"`.
    Member,
    /// A list of members.
    Members,
}

impl Keys {
    pub const NONE: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[],
    };

    /// Every key, required ones first.
    pub fn all(&self) -> impl Iterator<Item = &'static Key> {
        self.required.iter().chain(self.optional)
    }

    /// Every key's name, required ones first.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.all().map(|k| k.name)
    }

    fn allows(&self, key: &str) -> bool {
        self.names().any(|k| k == key)
    }

    fn list(&self) -> String {
        self.names().collect::<Vec<_>>().join(", ")
    }
}

/// The keys every `[random.KIND]` table takes: how often the kind strikes.
pub const RANDOM_RATE_KEYS: &[Key] = &[
    Key::new(
        "count",
        Shape::IntOrRange {
            min: 0,
            max: super::Rate::MAX_EVERY as i64,
        },
        "How many faults of the kind a run draws: a number, or a [min, max] range drawn per run. Give `count` or `every`.",
    ),
    Key::new(
        "every",
        Shape::Duration,
        "The mean interval between faults of the kind (exponentially distributed). Give `count` or `every`.",
    ),
    Key::new(
        "max",
        Shape::Int {
            min: 0,
            max: super::Rate::MAX_EVERY as i64,
        },
        "With `every`: the most faults of the kind a run draws.",
    ),
];

/// One key of a table as written: its name, where the name is, its value.
pub(super) type Entry = (Spanned<String>, Spanned<Val>);

/// A kind's table, ready to be read.
pub struct Table<'a> {
    pub(super) cx: &'a Ctx<'a>,
    /// The keys the kind declares (and those every table of its array
    /// takes), for the shape check in debug builds.
    keys: Keys,
    base: &'static [Key],
    /// What the table is, for messages: "fault kind `node-crash`".
    what: String,
    header: Range<usize>,
    entries: &'a [Entry],
}

/// How a TOML value reads in a type error, as serde words it.
fn unexpected(value: &Val) -> String {
    match value {
        Val::Str(s) => format!("string {s:?}"),
        Val::Int(i) => format!("integer `{i}`"),
        Val::Float(f) if f.fract() == 0.0 && f.is_finite() => {
            format!("floating point `{f:.1}`")
        }
        Val::Float(f) => format!("floating point `{f}`"),
        Val::Bool(b) => format!("boolean `{b}`"),
        Val::Datetime(d) => format!("datetime `{d}`"),
        Val::Array(_) => "sequence".into(),
        Val::Table(_) => "map".into(),
    }
}

/// A type error at `value`: it is not what `expected` says.
pub(super) fn type_error(value: &Spanned<Val>, expected: &str) -> ScenarioError {
    ScenarioError::new(format!(
        "invalid type: {}, expected {expected}",
        unexpected(value.get_ref())
    ))
    .at(value.span())
}

/// The string in `value`, or a type error saying what was `expected`.
pub(super) fn text<'v>(value: &'v Spanned<Val>, expected: &str) -> Result<&'v str> {
    value
        .get_ref()
        .as_str()
        .ok_or_else(|| type_error(value, expected))
}

/// The items of the array in `value`, each with its own span.
pub(super) fn items(value: &Spanned<Val>) -> Result<&[Spanned<Val>]> {
    match value.get_ref() {
        Val::Array(items) => Ok(items),
        _ => Err(type_error(value, "a sequence")),
    }
}

const DURATION: &str = "a duration string such as \"250ms\" or \"1.5s\"";
const NODE: &str = "a node name such as \"n0\"";

/// `value` as a duration string.
fn duration_text(value: &Spanned<Val>) -> Result<Spanned<DurationText>> {
    let s = text(value, DURATION)?;
    Ok(Spanned::new(value.span(), DurationText(s.to_owned())))
}

/// `value` as a node name.
fn node_text(value: &Spanned<Val>) -> Result<Spanned<NodeText>> {
    let s = text(value, NODE)?;
    Ok(Spanned::new(value.span(), NodeText(s.to_owned())))
}

impl<'a> Table<'a> {
    /// The table of a kind; `what` names it in messages.
    pub(super) fn new(
        cx: &'a Ctx<'a>,
        what: String,
        header: Range<usize>,
        entries: &'a [Entry],
        keys: Keys,
        base: &'static [Key],
    ) -> Table<'a> {
        Table {
            cx,
            keys,
            base,
            what,
            header,
            entries,
        }
    }

    /// Reports the first key (in file order) the kind does not take, at the
    /// key: `kind` names the kind, `base` the keys every table takes.
    pub(super) fn check_keys(&self, kind: &str, keys: Keys, base: &str) -> Result<()> {
        for (key, _) in self.entries {
            let name = key.get_ref().as_str();
            if keys.allows(name) {
                continue;
            }
            let message = if keys.required.is_empty() && keys.optional.is_empty() {
                format!("key `{name}` is not allowed for kind `{kind}`, which takes no keys besides {base}")
            } else {
                format!(
                    "key `{name}` is not allowed for kind `{kind}`; allowed: {}",
                    keys.list()
                )
            };
            return Err(ScenarioError::new(message).at(key.span()));
        }
        Ok(())
    }

    /// Reports the first key the `[random.KIND]` table does not take.
    pub(super) fn check_random_keys(&self, keys: Keys) -> Result<()> {
        for (key, _) in self.entries {
            let name = key.get_ref().as_str();
            if RANDOM_RATE_KEYS.iter().any(|k| k.name == name) || keys.allows(name) {
                continue;
            }
            let mut allowed: Vec<&str> = RANDOM_RATE_KEYS.iter().map(|k| k.name).collect();
            allowed.extend(keys.names());
            return Err(ScenarioError::new(format!(
                "key `{name}` is not allowed in {}; allowed: {}",
                self.what,
                allowed.join(", ")
            ))
            .at(key.span()));
        }
        Ok(())
    }

    /// Debug builds: `key` is one the kind declares, with `shape`. A reader
    /// that reads a key as another shape than its declaration (which the
    /// schema is written from) fails every test that reads it.
    fn declared(&self, key: &str, shape: Shape) {
        self.declared_as(key, &format!("{shape:?}"), |s| *s == shape);
    }

    fn declared_as(&self, key: &str, what: &str, fits: impl Fn(&Shape) -> bool) {
        if cfg!(debug_assertions) {
            let found = self.keys.all().chain(self.base).find(|k| k.name == key);
            assert!(
                found.is_some_and(|k| fits(&k.shape)),
                "{}: key `{key}` is read as {what} but declared as {:?}",
                self.what,
                found.map(|k| k.shape)
            );
        }
    }

    /// Where the table's header is.
    pub(super) fn header(&self) -> Range<usize> {
        self.header.clone()
    }

    /// The value of `key`, if the table has it.
    pub fn get(&self, key: &str) -> Option<&'a Spanned<Val>> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }

    /// The value of `key`, or "fault kind `x` requires key `key`".
    pub fn require(&self, key: &str) -> Result<&'a Spanned<Val>> {
        self.get(key).ok_or_else(|| {
            let mut error = ScenarioError::new(format!("{} requires key `{key}`", self.what))
                .at(self.header.clone());
            if let Some(example) = example(key) {
                error = error.help(format!("add it, for example: {example}"));
            }
            error
        })
    }

    /// The error for a table that lacks `key`, as a `[random.KIND]` table
    /// words it: "missing required key `key` in [random.x]".
    pub(super) fn require_in(&self, key: &str) -> Result<&'a Spanned<Val>> {
        self.get(key).ok_or_else(|| {
            let mut error =
                ScenarioError::new(format!("missing required key `{key}` in {}", self.what))
                    .at(self.header.clone());
            if let Some(example) = example(key) {
                error = error.help(format!("add it, for example: {example}"));
            }
            error
        })
    }

    /// A duration, if `key` is there.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.declared(key, Shape::Duration);
        self.get(key)
            .map(|v| parse_dur(&duration_text(v)?, key))
            .transpose()
    }

    /// A duration above zero, to the nanosecond, if `key` is there (how
    /// long a network fault lasts: one of no time is no fault).
    pub fn lasting(&self, key: &str) -> Result<Option<Duration>> {
        let d = self.duration(key)?;
        match (d, self.get(key)) {
            (Some(d), Some(v)) if d.is_zero() => {
                Err(ScenarioError::new(format!("`{key}` must be greater than 0")).at(v.span()))
            }
            _ => Ok(d),
        }
    }

    /// A duration a timer waits (at least 1 ms): required.
    pub fn timer(&self, key: &str) -> Result<Duration> {
        self.declared(key, Shape::Duration);
        timer_dur(&duration_text(self.require(key)?)?, key)
    }

    /// A node of the cluster (with where it is written): required.
    pub fn node(&self, key: &str) -> Result<(u16, Range<usize>)> {
        self.declared(key, Shape::Node);
        let v = self.require(key)?;
        let node = self.cx.node(&node_text(v)?)?;
        Ok((node, v.span()))
    }

    /// A non-empty list of distinct nodes, sorted, if `key` is there.
    pub fn nodes(&self, key: &str) -> Result<Option<Vec<u16>>> {
        self.declared(key, Shape::Nodes);
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let list = items(v)?
            .iter()
            .map(node_text)
            .collect::<Result<Vec<_>>>()?;
        self.cx
            .node_list(&Spanned::new(v.span(), list), key)
            .map(Some)
    }

    /// A job that runs on `node` (written at `node_span`): required.
    pub fn job_on(&self, key: &str, node: u16, node_span: Range<usize>) -> Result<&'a Job> {
        self.declared(key, Shape::Job);
        let v = self.require(key)?;
        let name = text(v, "a string")?;
        let job = self.cx.find_job(name, v.span(), "")?;
        self.cx.check_runs_on(job, node, node_span)?;
        Ok(job)
    }

    /// An integer, if `key` is there.
    pub fn int(&self, key: &str) -> Result<Option<Spanned<i64>>> {
        self.declared_as(key, "an integer", |s| matches!(s, Shape::Int { .. }));
        self.get(key)
            .map(|v| match v.get_ref() {
                Val::Int(i) => Ok(Spanned::new(v.span(), *i)),
                _ => Err(type_error(v, "an integer")),
            })
            .transpose()
    }

    /// `true` or `false`, if `key` is there.
    pub fn flag(&self, key: &str) -> Result<Option<bool>> {
        self.declared(key, Shape::Bool);
        self.get(key)
            .map(|v| match v.get_ref() {
                Val::Bool(b) => Ok(*b),
                _ => Err(type_error(v, "a boolean")),
            })
            .transpose()
    }

    /// A probability in `[0, 1]`, if `key` is there.
    pub fn chance(&self, key: &str) -> Result<Option<f64>> {
        self.declared(key, Shape::Rate);
        self.get(key)
            .map(|v| {
                let x = match v.get_ref() {
                    Val::Float(x) => *x,
                    Val::Int(n) => *n as f64,
                    _ => return Err(type_error(v, "a probability: a number from 0 to 1")),
                };
                if (0.0..=1.0).contains(&x) {
                    Ok(x)
                } else {
                    Err(ScenarioError::new(format!(
                        "`{key}` is a probability: a number from 0 to 1, not {x}"
                    ))
                    .at(v.span()))
                }
            })
            .transpose()
    }

    /// A number, required.
    pub fn float(&self, key: &str) -> Result<Spanned<f64>> {
        self.declared(key, Shape::Rate);
        let v = self.require(key)?;
        match v.get_ref() {
            Val::Float(f) => Ok(Spanned::new(v.span(), *f)),
            Val::Int(i) => Ok(Spanned::new(v.span(), *i as f64)),
            _ => Err(type_error(v, "a number")),
        }
    }

    /// A `[min, max]` pair of durations, required.
    pub fn duration_pair(&self, key: &str) -> Result<(Duration, Duration)> {
        self.declared(key, Shape::DurationPair);
        let v = self.require(key)?;
        let list = items(v)?
            .iter()
            .map(duration_text)
            .collect::<Result<Vec<_>>>()?;
        super::validate::dur_range(&Spanned::new(v.span(), list), key)
    }

    /// Partition sides: required; see [`Ctx::sides`].
    pub fn sides(&self, key: &str) -> Result<Vec<Vec<u16>>> {
        self.declared(key, Shape::Sides);
        let v = self.require(key)?;
        let sides = items(v)?
            .iter()
            .map(|side| {
                let nodes = items(side)?
                    .iter()
                    .map(node_text)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Spanned::new(side.span(), nodes))
            })
            .collect::<Result<Vec<_>>>()?;
        self.cx.sides(&Spanned::new(v.span(), sides))
    }

    /// A non-empty list of strings, if `key` is there.
    pub fn strings(&self, key: &str) -> Result<Option<Spanned<Vec<Spanned<String>>>>> {
        self.declared_as(key, "a list of strings", |s| {
            matches!(s, Shape::OneOf(_) | Shape::Jobs | Shape::Protocols)
        });
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let list = items(v)?
            .iter()
            .map(|item| {
                Ok(Spanned::new(
                    item.span(),
                    text(item, "a string")?.to_owned(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Spanned::new(v.span(), list)))
    }

    /// Existing jobs, if `key` lists them (not empty, duplicates dropped).
    pub fn jobs(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.declared(key, Shape::Jobs);
        let Some(list) = self.strings(key)? else {
            return Ok(None);
        };
        if list.get_ref().is_empty() {
            return Err(ScenarioError::new(format!(
                "`{key}` must not be empty (leave it out to mean every job)"
            ))
            .at(list.span()));
        }
        let mut jobs = Vec::new();
        for item in list.get_ref() {
            let job = self.cx.find_job(item.get_ref(), item.span(), "")?;
            if !jobs.contains(&job.name) {
                jobs.push(job.name.clone());
            }
        }
        Ok(Some(jobs))
    }

    /// The jobs `key` lists, each running tasks (`protocol = "tasks"`);
    /// `None` if the key is left out, which means every such job, and an
    /// error if the scenario has none.
    pub fn task_jobs(&self, key: &str) -> Result<Option<Vec<String>>> {
        let tasks = super::TASKS_PROTOCOL;
        let Some(jobs) = self.jobs(key)? else {
            if !self.cx.jobs.iter().any(|j| j.protocol == tasks) {
                return Err(ScenarioError::new(format!(
                    "{} submits tasks, but no job runs them",
                    self.what
                ))
                .at(self.header.clone())
                .help(format!("set `protocol = \"{tasks}\"` in a [[job]]")));
            }
            return Ok(None);
        };
        let list = self.get(key).expect("listed");
        for name in &jobs {
            let job = self
                .cx
                .jobs
                .iter()
                .find(|j| &j.name == name)
                .expect("found");
            if job.protocol != tasks {
                let at = items(list)?
                    .iter()
                    .find(|i| text(i, "a string").is_ok_and(|t| t == name))
                    .map_or(list.span(), |i| i.span());
                return Err(ScenarioError::new(format!(
                    "job `{name}` cannot take tasks: it runs protocol `{}`, not `{tasks}`",
                    job.protocol
                ))
                .at(at)
                .help(format!(
                    "set `protocol = \"{tasks}\"` in the [[job]] named `{name}`"
                )));
            }
        }
        Ok(Some(jobs))
    }

    /// The task protocols `key` lists (not empty, each known, not `tasks`
    /// itself); `None` if it is left out, which means `default`, each of
    /// which must then be known.
    pub fn task_protocols(&self, key: &str, default: &[&str]) -> Result<Option<Vec<String>>> {
        self.declared(key, Shape::Protocols);
        let known = self.cx.task_protocols();
        let expected = || format!("expected one of: {}", known.join(", "));
        let Some(list) = self.strings(key)? else {
            if let Some(missing) = default.iter().find(|p| !known.contains(p)) {
                return Err(ScenarioError::new(format!(
                    "{} draws protocol `{missing}` by default, which this build does not have",
                    self.what
                ))
                .at(self.header.clone())
                .help(format!(
                    "list the protocols to draw: `{key} = [...]`; {}",
                    expected()
                )));
            }
            return Ok(None);
        };
        if list.get_ref().is_empty() {
            return Err(ScenarioError::new(format!(
                "`{key}` must not be empty (leave it out to mean {})",
                default.join(", ")
            ))
            .at(list.span()));
        }
        let mut out: Vec<String> = Vec::new();
        for item in list.get_ref() {
            let name = item.get_ref();
            if !known.contains(&name.as_str()) {
                return Err(ScenarioError::new(format!(
                    "unknown task protocol `{name}`, {}",
                    expected()
                ))
                .at(item.span()));
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(Some(out))
    }

    /// One duration or a `[min, max]` pair of them (each at least 1 ms),
    /// required.
    pub fn duration_range(&self, key: &str) -> Result<(Duration, Duration)> {
        self.declared(key, Shape::DurationOrRange);
        let v = self.require_in(key)?;
        self.duration_range_of(v, key)
    }

    /// [`Table::duration_range`], if `key` is there.
    pub fn opt_duration_range(&self, key: &str) -> Result<Option<(Duration, Duration)>> {
        self.declared(key, Shape::DurationOrRange);
        self.get(key)
            .map(|v| self.duration_range_of(v, key))
            .transpose()
    }

    fn duration_range_of(&self, value: &Spanned<Val>, key: &str) -> Result<(Duration, Duration)> {
        let one = |v: &Spanned<Val>| -> Result<Duration> {
            let Some(text) = v.get_ref().as_str() else {
                return Err(ScenarioError::new(format!(
                    "`{key}` must be a duration string or a [min, max] pair of them, such as [\"1s\", \"3s\"]"
                ))
                .at(v.span()));
            };
            timer_dur(&Spanned::new(v.span(), DurationText(text.to_owned())), key)
        };
        let (min, max) = match value.get_ref() {
            Val::Array(items) if items.len() == 2 => (one(&items[0])?, one(&items[1])?),
            Val::Array(items) => {
                return Err(ScenarioError::new(format!(
                    "`{key}` must be a [min, max] pair, found {} elements",
                    items.len()
                ))
                .at(value.span()))
            }
            _ => {
                let d = one(value)?;
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

    /// One integer or a `[min, max]` pair of them, each in `lo..=hi`, if
    /// `key` is there.
    pub fn int_range(&self, key: &str, lo: i64, hi: i64) -> Result<Option<(i64, i64)>> {
        // The bounds may follow the cluster (at most the node count).
        let _ = (lo, hi);
        self.declared_as(key, "an integer or a [min, max] pair", |s| {
            matches!(s, Shape::IntOrRange { .. })
        });
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let bad = |span: Range<usize>| {
            ScenarioError::new(format!(
                "`{key}` must be an integer or a [min, max] pair of integers, each in {lo}..={hi}"
            ))
            .at(span)
        };
        let one = |v: &Spanned<Val>| -> Result<i64> {
            v.get_ref()
                .as_integer()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| bad(v.span()))
        };
        let (min, max) = match value.get_ref() {
            Val::Array(items) if items.len() == 2 => (one(&items[0])?, one(&items[1])?),
            Val::Array(_) => return Err(bad(value.span())),
            _ => {
                let n = one(value)?;
                (n, n)
            }
        };
        if min > max {
            return Err(
                ScenarioError::new(format!("`{key}` range is reversed: {min} > {max}"))
                    .at(value.span()),
            );
        }
        Ok(Some((min, max)))
    }

    /// A number in `[lo, hi]`, if `key` is there.
    pub fn factor(&self, key: &str, lo: f64, hi: f64) -> Result<Option<f64>> {
        self.declared_as(key, "a factor", |s| {
            matches!(s, Shape::Factor { .. } | Shape::FactorAbove { .. })
        });
        self.get(key)
            .map(|v| factor_of(v, key, lo, hi, false).map(|(x, _)| x))
            .transpose()
    }

    /// A number in `[lo, hi]` or a `[min, max]` pair of them, if `key` is
    /// there.
    pub fn factor_range(&self, key: &str, lo: f64, hi: f64) -> Result<Option<(f64, f64)>> {
        self.declared_as(key, "a factor or range", |s| {
            matches!(s, Shape::FactorOrRange { .. })
        });
        self.get(key)
            .map(|v| factor_of(v, key, lo, hi, true))
            .transpose()
    }

    /// A rate or a `[min, max]` pair of rates, each in `[0, 1]`: required.
    pub fn rate_range(&self, key: &str) -> Result<(f64, f64)> {
        self.declared(key, Shape::RateOrRange);
        let value = self.require_in(key)?;
        factor_of(value, key, 0.0, 1.0, true)
    }
}

/// A number in `[lo, hi]` (or, with `pair`, a `[min, max]` pair of them).
fn factor_of(value: &Spanned<Val>, key: &str, lo: f64, hi: f64, pair: bool) -> Result<(f64, f64)> {
    let what = if pair {
        format!("a number or a [min, max] pair of numbers, each between {lo} and {hi}")
    } else {
        format!("a number between {lo} and {hi}")
    };
    let bad = |span: Range<usize>| ScenarioError::new(format!("`{key}` must be {what}")).at(span);
    let one = |v: &Spanned<Val>| -> Result<f64> {
        let x = match v.get_ref() {
            Val::Float(x) => *x,
            Val::Int(n) => *n as f64,
            _ => return Err(bad(v.span())),
        };
        if (lo..=hi).contains(&x) {
            Ok(x)
        } else {
            Err(bad(v.span()))
        }
    };
    let (min, max) = match value.get_ref() {
        Val::Array(items) if pair && items.len() == 2 => (one(&items[0])?, one(&items[1])?),
        Val::Array(_) => return Err(bad(value.span())),
        _ => {
            let x = one(value)?;
            (x, x)
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
