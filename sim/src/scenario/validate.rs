//! Semantic checks: turns a [`RawScenario`] into a [`Scenario`], applying
//! defaults and reporting the first problem at the span of the offending
//! value (or key, or table header for a missing key).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::duration::parse_duration;
use super::error::{Lines, ScenarioError};
use super::raw::{
    entries, job_extras, key_span, DurationText, Extra, List, MemberText, NodeText, Opt,
    RawCluster, RawExpect, RawJob, RawScenario, RawTable, Val, JOB_KEYS,
};
use super::table::{text, Entry, Table};
use super::{
    Cluster, Expectation, Fault, FaultKind, Job, MemberName, Reason, Scenario, Task, TASKS_PROTOCOL,
};
use crate::protocols::{OptionKind, OptionValue, Options, Registry, DEFAULT_PROTOCOL, TASK_KEYS};

type Result<T> = std::result::Result<T, ScenarioError>;

/// Where document-level problems (a missing top-level key or table) point.
const TOP: Range<usize> = 0..0;

/// The keys a fault or expectation kind takes besides `kind` (and `at`).
pub(super) struct KindKeys {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

impl KindKeys {
    fn allows(&self, key: &str) -> bool {
        self.required.contains(&key) || self.optional.contains(&key)
    }

    fn allowed_list(&self) -> String {
        let all: Vec<&str> = self.required.iter().chain(self.optional).copied().collect();
        all.join(", ")
    }
}

pub(super) const EXPECT_KEYS: &[KindKeys] = &[
    KindKeys {
        name: "membership-change",
        required: &["member"],
        optional: &["reason", "within", "group", "primary", "occurrence"],
    },
    KindKeys {
        name: "no-membership-change",
        required: &[],
        optional: &["group"],
    },
    KindKeys {
        name: "final-view",
        required: &["group", "members"],
        optional: &["primary"],
    },
    KindKeys {
        name: "protocol-outcome",
        required: &["instance", "outcome"],
        optional: &["member", "protocol"],
    },
    KindKeys {
        name: "joined",
        required: &["member"],
        optional: &["group", "after", "within", "members", "occurrence"],
    },
];

/// An example line for a key, shown in "missing key" help.
pub(super) fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => r#"name = "my scenario""#,
        "duration" => r#"duration = "20s""#,
        "nodes" => "nodes = 5",
        "group" => r#"group = "g""#,
        "at" => r#"at = "2s""#,
        "node" => r#"node = "n0""#,
        "job" => r#"job = "db""#,
        "for" => r#"for = "1s""#,
        "sides" => r#"sides = [["n0"], ["n1", "n2"]]"#,
        "latency" => r#"latency = ["5ms", "50ms"]"#,
        "rate" => "rate = 0.1",
        "member" => r#"member = "db@n0""#,
        "members" => r#"members = ["db@n0", "db@n1"]"#,
        _ => return None,
    })
}

/// An example line for `key` in `table` (a job's name is not a scenario's).
fn example_in(key: &str, table: &str) -> Option<&'static str> {
    match (key, table) {
        ("name", "[[job]]") => Some(r#"name = "db""#),
        _ => example(key),
    }
}

/// `value`, or a "missing required key" error at `header` (the table's
/// header; `table` is e.g. "[cluster]", empty for the top level).
pub(super) fn require<'a, T>(
    value: &'a Opt<T>,
    key: &str,
    table: &str,
    header: &Range<usize>,
) -> Result<&'a Spanned<T>> {
    value.as_ref().ok_or_else(|| {
        let message = if table.is_empty() {
            format!("missing required key `{key}`")
        } else {
            format!("missing required key `{key}` in {table}")
        };
        let mut error = ScenarioError::new(message).at(header.clone());
        let top_note = if table.is_empty() {
            " at the top of the file, before the first [table] header"
        } else {
            ""
        };
        if let Some(example) = example_in(key, table) {
            error = error.help(format!("add it{top_note}, for example: {example}"));
        }
        error
    })
}

/// What a duration's type error says it expected.
pub(super) const DURATION_EXPECTED: &str = "a duration string such as \"250ms\" or \"1.5s\"";

/// The "missing required key" error of [`require`], for a key read from a
/// generic table.
pub(super) fn missing(key: &str, table: &str, header: &Range<usize>) -> ScenarioError {
    let mut error =
        ScenarioError::new(format!("missing required key `{key}` in {table}")).at(header.clone());
    if let Some(example) = example_in(key, table) {
        error = error.help(format!("add it, for example: {example}"));
    }
    error
}

/// Like [`require`], for keys a fault or expectation kind needs.
fn require_for<'a, T>(
    value: &'a Opt<T>,
    key: &str,
    what: &str,
    header: &Range<usize>,
) -> Result<&'a Spanned<T>> {
    value.as_ref().ok_or_else(|| {
        let mut error =
            ScenarioError::new(format!("{what} requires key `{key}`")).at(header.clone());
        if let Some(example) = example(key) {
            error = error.help(format!("add it, for example: {example}"));
        }
        error
    })
}

pub(super) fn parse_dur(value: &Spanned<DurationText>, key: &str) -> Result<Duration> {
    parse_duration(&value.get_ref().0).map_err(|error| {
        ScenarioError::new(format!(
            "invalid duration `{}` for `{key}`: {}",
            error.input(),
            error.reason()
        ))
        .at(value.span())
    })
}

fn opt_dur(value: &Opt<DurationText>, key: &str) -> Result<Option<Duration>> {
    value.as_ref().map(|v| parse_dur(v, key)).transpose()
}

/// The simulator's clock ticks in milliseconds: madsim sleeps at least
/// 1 ms, so timers below that cannot be honoured.
const TIMER_MIN: Duration = Duration::from_millis(1);

/// The longest scenario vigil runs: a trace grows with simulated time, and
/// a run must stay bounded.
pub const DURATION_MAX: Duration = Duration::from_secs(24 * 3600);

/// A duration that a timer will wait: at least [`TIMER_MIN`].
pub(super) fn timer_dur(value: &Spanned<DurationText>, key: &str) -> Result<Duration> {
    let duration = positive_dur(value, key)?;
    if duration < TIMER_MIN {
        return Err(ScenarioError::new(format!(
            "`{key}` must be at least 1ms (the simulator's timers tick in milliseconds), got {duration:?}"
        ))
        .at(value.span()));
    }
    Ok(duration)
}

fn positive_dur(value: &Spanned<DurationText>, key: &str) -> Result<Duration> {
    let duration = parse_dur(value, key)?;
    if duration.is_zero() {
        return Err(ScenarioError::new(format!("`{key}` must be greater than 0")).at(value.span()));
    }
    Ok(duration)
}

/// A `[min, max]` duration range.
pub(super) fn dur_range(value: &List<DurationText>, key: &str) -> Result<(Duration, Duration)> {
    let [min, max] = value.get_ref().as_slice() else {
        return Err(ScenarioError::new(format!(
            "`{key}` must be a range of two durations [min, max], found {} element{}",
            value.get_ref().len(),
            plural(value.get_ref().len())
        ))
        .at(value.span())
        .help(format!(r#"for example: {key} = ["1ms", "10ms"]"#)));
    };
    let (min_d, max_d) = (parse_dur(min, key)?, parse_dur(max, key)?);
    if min_d > max_d {
        return Err(ScenarioError::new(format!(
            "`{key}` range is reversed: its min {min_d:?} is greater than its max {max_d:?}"
        ))
        .at(value.span()));
    }
    Ok((min_d, max_d))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A duration for messages, noting when it is a default.
fn shown(duration: Duration, explicit: bool) -> String {
    if explicit {
        format!("{duration:?}")
    } else {
        format!("{duration:?}, the default")
    }
}

/// Whether `s` is a valid job or group name: `[A-Za-z0-9_-]+`.
pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The index in a node name `nK` (no sign, no leading zeros); `u64::MAX`
/// for indexes too large to represent (they never exist).
pub(super) fn parse_node_name(s: &str) -> Option<u64> {
    let digits = s.strip_prefix('n')?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// Node indexes as text, runs of three or more compressed: `n0..n4, n7`.
fn fmt_nodes(nodes: &[u16]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let mut j = i;
        while j + 1 < nodes.len() && nodes[j + 1] == nodes[j].saturating_add(1) {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("n{}..n{}", nodes[i], nodes[j]));
        } else {
            parts.extend(nodes[i..=j].iter().map(|n| format!("n{n}")));
        }
        i = j + 1;
    }
    parts.join(", ")
}

fn check_name(value: &Spanned<String>, what: &str) -> Result<String> {
    let name = value.get_ref();
    if !is_name(name) {
        return Err(ScenarioError::new(format!(
            "invalid {what} `{name}`: names may only contain letters, digits, `_` and `-`"
        ))
        .at(value.span()));
    }
    Ok(name.clone())
}

/// Reports the first key of `present` that `kind` does not take, at the key
/// itself when it can be found (`array`/`index` locate the table).
fn check_allowed_keys(
    source: &str,
    array: &str,
    index: usize,
    present: Vec<(&'static str, Range<usize>)>,
    kind: &KindKeys,
    base_keys: &str,
) -> Result<()> {
    for (key, value_span) in present {
        if kind.allows(key) {
            continue;
        }
        let span = key_span(source, array, index, key).unwrap_or(value_span);
        let message = if kind.required.is_empty() && kind.optional.is_empty() {
            format!(
                "key `{key}` is not allowed for kind `{}`, which takes no keys besides {base_keys}",
                kind.name
            )
        } else {
            format!(
                "key `{key}` is not allowed for kind `{}`; allowed: {}",
                kind.name,
                kind.allowed_list()
            )
        };
        return Err(ScenarioError::new(message).at(span));
    }
    Ok(())
}

/// Validates the whole file.
pub(super) fn validate(raw: RawScenario, source: &str, registry: &Registry) -> Result<Scenario> {
    let extras = job_extras(source).map_err(|e| super::error::from_toml(&e, source))?;
    // A top-level key written after a [[job]] header lands in that job.
    for extra in extras.iter().flatten() {
        if ["name", "description", "seed", "duration"].contains(&extra.key.as_str()) {
            return Err(ScenarioError::new(format!(
                "unknown key `{}` in [[job]]",
                extra.key
            ))
            .at(extra.key_span.clone())
            .help("top-level keys such as `name` and `duration` must come before the first [table] header"));
        }
    }
    let name = require(&raw.name, "name", "", &TOP)?;
    if name.get_ref().trim().is_empty() {
        return Err(ScenarioError::new("`name` must not be empty").at(name.span()));
    }
    let seed = match &raw.seed {
        None => None,
        Some(seed) => Some(u64::try_from(*seed.get_ref()).map_err(|_| {
            ScenarioError::new(format!("`seed` must be 0 or more, got {}", seed.get_ref()))
                .at(seed.span())
        })?),
    };
    let duration_v = require(&raw.duration, "duration", "", &TOP)?;
    let duration = timer_dur(duration_v, "duration")?;
    if duration > DURATION_MAX {
        return Err(ScenarioError::new(format!(
            "`duration` must be at most 24h (got {duration:?}): split a longer soak into several scenarios or seeds"
        ))
        .at(duration_v.span()));
    }
    let cluster = match &raw.cluster {
        Some(cluster) => validate_cluster(cluster)?,
        None => {
            return Err(ScenarioError::new("missing required table [cluster]")
                .at(TOP)
                .help("add it, for example:\n[cluster]\nnodes = 3"))
        }
    };

    let mut ctx = Ctx {
        source,
        lines: Lines::of(source),
        nodes: cluster.nodes,
        quorum: cluster.quorum.is_some(),
        lossy: cluster.loss > 0.0,
        duration,
        jobs: Vec::new(),
        registry,
        extras,
    };
    if raw.job.is_empty() {
        return Err(
            ScenarioError::new("the scenario has no jobs; add at least one [[job]]")
                .at(TOP)
                .help("for example:\n[[job]]\nname = \"db\"\ngroup = \"g\""),
        );
    }
    let mut job_lines = BTreeMap::new();
    for (index, job) in raw.job.iter().enumerate() {
        let validated = ctx.job_table(index, job)?;
        let line = ctx.lines.line(job.span().start);
        if let Some(first) = job_lines.insert(validated.name.clone(), line) {
            let span = job
                .get_ref()
                .name
                .as_ref()
                .map_or(job.span(), Spanned::span);
            return Err(ScenarioError::new(format!(
                "duplicate job name `{}` (already defined by the [[job]] on line {first})",
                validated.name
            ))
            .at(span));
        }
        // One group runs one protocol, with one instance per work thread
        // index: members that disagree would wait on each other forever.
        if let Some(other) = ctx.jobs.iter().find(|o| o.group == validated.group) {
            let j = job.get_ref();
            if other.protocol != validated.protocol {
                let span = j.protocol.as_ref().map_or(job.span(), Spanned::span);
                return Err(ScenarioError::new(format!(
                    "job `{}` runs protocol `{}` but job `{}` of the same group `{}` runs `{}`: a group runs one protocol",
                    validated.name,
                    validated.protocol,
                    other.name,
                    validated.group,
                    other.protocol
                ))
                .at(span));
            }
            if other.options != validated.options {
                // Name the first option that differs, and point at it.
                let keys: std::collections::BTreeSet<&String> = other
                    .options
                    .0
                    .keys()
                    .chain(validated.options.0.keys())
                    .collect();
                let key = keys
                    .into_iter()
                    .find(|k| other.options.0.get(*k) != validated.options.0.get(*k))
                    .expect("the options differ");
                let shown = |job: &Job| match job.options.0.get(key) {
                    Some(v) => format!("sets `{key} = {v}`"),
                    None => format!("leaves `{key}` unset"),
                };
                let span = ctx
                    .extras
                    .get(index)
                    .and_then(|e| e.iter().find(|x| x.key == *key))
                    .map(|x| x.value_span.clone())
                    .or_else(|| j.protocol.as_ref().map(Spanned::span))
                    .unwrap_or(job.span());
                let other_line = job_lines.get(&other.name).copied().unwrap_or(0);
                return Err(ScenarioError::new(format!(
                    "job `{}` {} but job `{}` of the same group `{}` (line {other_line}) {}: the members of a group run one protocol with one set of options",
                    validated.name,
                    shown(&validated),
                    other.name,
                    validated.group,
                    shown(other)
                ))
                .at(span)
                .help("write the same options under every job of the group"));
            }
            if other.work_threads != validated.work_threads {
                let span = j.work_threads.as_ref().map_or(job.span(), Spanned::span);
                return Err(ScenarioError::new(format!(
                    "job `{}` has {} work threads but job `{}` of the same group `{}` has {}: thread t of each member ACKs thread t of the others, so they must agree",
                    validated.name, validated.work_threads, other.name, validated.group, other.work_threads
                ))
                .at(span));
            }
        }
        ctx.jobs.push(validated);
    }

    let mut faults = raw
        .fault
        .iter()
        .map(|fault| ctx.fault(fault, duration))
        .collect::<Result<Vec<_>>>()?;
    faults.sort_by_key(|fault| fault.at); // stable: equal times keep file order

    let tasks = raw
        .task
        .iter()
        .map(|task| ctx.task(task, duration))
        .collect::<Result<Vec<_>>>()?;
    if tasks.len() > TASKS_MAX {
        return Err(ScenarioError::new(format!(
            "{} [[task]] tables: at most {TASKS_MAX}",
            tasks.len()
        ))
        .at(raw.task[TASKS_MAX].span()));
    }

    let mut expects: Vec<(&str, usize, &Spanned<RawExpect>)> = raw
        .expect
        .iter()
        .enumerate()
        .map(|(i, e)| ("expect", i, e))
        .chain(
            raw.expectation
                .iter()
                .enumerate()
                .map(|(i, e)| ("expectation", i, e)),
        )
        .collect();
    expects.sort_by_key(|(_, _, e)| e.span().start);
    let expectations = expects
        .into_iter()
        .map(|(array, index, expect)| {
            ctx.expectation(array, index, expect, &faults, raw.random.is_some())
        })
        .collect::<Result<Vec<_>>>()?;
    let random = raw
        .random
        .as_ref()
        .map(|r| ctx.random(r, duration))
        .transpose()?;

    Ok(Scenario {
        name: name.get_ref().clone(),
        description: raw.description.map(Spanned::into_inner),
        seed,
        duration,
        cluster,
        jobs: ctx.jobs,
        faults,
        tasks,
        expectations,
        random,
    })
}

/// Most `[[task]]` tables a scenario holds.
const TASKS_MAX: usize = 10_000;

/// A TOML value as the protocol options' reader takes it.
fn plain(value: &Val) -> toml::Value {
    match value {
        Val::Str(s) => toml::Value::String(s.clone()),
        Val::Int(i) => toml::Value::Integer(*i),
        Val::Float(f) => toml::Value::Float(*f),
        Val::Bool(b) => toml::Value::Boolean(*b),
        Val::Datetime(d) => toml::Value::String(d.clone()),
        Val::Array(items) => toml::Value::Array(items.iter().map(|v| plain(v.get_ref())).collect()),
        Val::Table(entries) => toml::Value::Table(
            entries
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), plain(v.get_ref())))
                .collect(),
        ),
    }
}

fn validate_cluster(raw: &Spanned<RawCluster>) -> Result<Cluster> {
    let header = raw.span();
    let c = raw.get_ref();
    let nodes_v = require(&c.nodes, "nodes", "[cluster]", &header)?;
    let nodes = u16::try_from(*nodes_v.get_ref())
        .ok()
        .filter(|n| (1..=Cluster::MAX_NODES).contains(n))
        .ok_or_else(|| {
            ScenarioError::new(format!(
                "the cluster must have between 1 and {} nodes, got {}",
                Cluster::MAX_NODES,
                nodes_v.get_ref()
            ))
            .at(nodes_v.span())
        })?;

    let heartbeat = match &c.heartbeat_interval {
        Some(v) => timer_dur(v, "heartbeat_interval")?,
        None => Cluster::DEFAULT_HEARTBEAT_INTERVAL,
    };
    let timeout =
        opt_dur(&c.failure_timeout, "failure_timeout")?.unwrap_or(Cluster::DEFAULT_FAILURE_TIMEOUT);
    if timeout <= heartbeat {
        let span = c
            .failure_timeout
            .as_ref()
            .or(c.heartbeat_interval.as_ref())
            .map_or(header.clone(), Spanned::span);
        return Err(ScenarioError::new(format!(
            "failure_timeout ({}) must be longer than heartbeat_interval ({})",
            shown(timeout, c.failure_timeout.is_some()),
            shown(heartbeat, c.heartbeat_interval.is_some()),
        ))
        .at(span));
    }

    let latency = match &c.latency {
        Some(v) => dur_range(v, "latency")?,
        None => Cluster::DEFAULT_LATENCY,
    };
    if latency.1 >= timeout {
        let span = c
            .latency
            .as_ref()
            .map(Spanned::span)
            .or(c.failure_timeout.as_ref().map(Spanned::span))
            .unwrap_or(header);
        return Err(ScenarioError::new(format!(
            "the latency maximum ({}) must be shorter than failure_timeout ({})",
            shown(latency.1, c.latency.is_some()),
            shown(timeout, c.failure_timeout.is_some()),
        ))
        .at(span));
    }

    let loss = match &c.loss {
        None => 0.0,
        Some(v) => {
            let loss = *v.get_ref();
            if !(0.0..1.0).contains(&loss) {
                return Err(ScenarioError::new(format!(
                    "cluster loss {loss} is out of range: it must be at least 0 and less than 1"
                ))
                .at(v.span()));
            }
            loss
        }
    };

    let addresses = match &c.addresses {
        None => Vec::new(),
        Some(list) => addresses(list, nodes)?,
    };

    let quorum = quorum(c, nodes)?;

    Ok(Cluster {
        nodes,
        heartbeat_interval: heartbeat,
        failure_timeout: timeout,
        latency,
        loss,
        addresses,
        quorum,
    })
}

/// Most votes one node may have.
pub(super) const VOTES_MAX: i64 = 1_000;

/// `quorum`, `votes` and `wait_for_all`.
fn quorum(c: &RawCluster, nodes: u16) -> Result<Option<vigil_engine::Quorum>> {
    let Some(kind) = &c.quorum else {
        let orphan = c
            .votes
            .as_ref()
            .map(|v| ("votes", v.span()))
            .or(c.wait_for_all.as_ref().map(|v| ("wait_for_all", v.span())));
        if let Some((key, span)) = orphan {
            return Err(ScenarioError::new(format!(
                "`{key}` belongs to a primary component, and this cluster keeps none"
            ))
            .at(span)
            .help(r#"add quorum = "majority" to [cluster]"#));
        }
        return Ok(None);
    };
    if kind.get_ref() != "majority" {
        return Err(ScenarioError::new(format!(
            "unknown quorum `{}`: the one kind is \"majority\" (a view is primary when its nodes hold more than half of all votes)",
            kind.get_ref()
        ))
        .at(kind.span()));
    }
    let mut q = vigil_engine::Quorum::majority(nodes);
    if let Some(list) = &c.votes {
        if list.get_ref().len() != usize::from(nodes) {
            return Err(ScenarioError::new(format!(
                "`votes` must give one count per node: the cluster has {nodes} node{}, the list {}",
                plural(usize::from(nodes)),
                list.get_ref().len()
            ))
            .at(list.span())
            .help("for example, for 3 nodes where n0 counts twice: votes = [2, 1, 1]"));
        }
        q.votes.clear();
        for (k, v) in list.get_ref().iter().enumerate() {
            let n = *v.get_ref();
            if !(0..=VOTES_MAX).contains(&n) {
                return Err(ScenarioError::new(format!(
                    "n{k} has {n} votes: a node has between 0 and {VOTES_MAX}"
                ))
                .at(v.span()));
            }
            q.votes.push(n as u32);
        }
        if q.expected() == 0 {
            return Err(
                ScenarioError::new("`votes` are all 0: no view could ever be primary")
                    .at(list.span()),
            );
        }
    }
    q.wait_for_all = c.wait_for_all.as_ref().is_some_and(|w| *w.get_ref());
    Ok(Some(q))
}

/// `addresses`: one distinct `IP:port` per node, in node order.
fn addresses(list: &List<String>, nodes: u16) -> Result<Vec<std::net::SocketAddr>> {
    if list.get_ref().len() != usize::from(nodes) {
        return Err(ScenarioError::new(format!(
            "`addresses` must give one address per node: the cluster has {nodes} node{}, the list {}",
            plural(usize::from(nodes)),
            list.get_ref().len()
        ))
        .at(list.span())
        .help(r#"for example, for 2 nodes: addresses = ["127.0.0.1:7000", "127.0.0.1:7001"]"#));
    }
    let mut out: Vec<std::net::SocketAddr> = Vec::new();
    for (k, item) in list.get_ref().iter().enumerate() {
        let addr: std::net::SocketAddr = item.get_ref().parse().map_err(|_| {
            ScenarioError::new(format!(
                "`{}` (the address of n{k}) is not an IP address and port such as \"127.0.0.1:7000\"",
                item.get_ref()
            ))
            .at(item.span())
        })?;
        if let Some(other) = out.iter().position(|a| *a == addr) {
            return Err(ScenarioError::new(format!(
                "n{k} has the address {addr} of n{other}: each node needs its own"
            ))
            .at(item.span()));
        }
        out.push(addr);
    }
    Ok(out)
}

/// What later checks need: the file, the node count, the jobs so far.
pub(super) struct Ctx<'a> {
    pub(super) source: &'a str,
    /// Where the file's lines start, to name a table's line.
    lines: Lines,
    pub(super) nodes: u16,
    /// Whether the cluster keeps a quorum (for `primary` in expectations).
    pub(super) quorum: bool,
    /// Whether the cluster loses packets (a member may then be taken for
    /// gone with no fault at all).
    lossy: bool,
    /// How long the scenario runs (for `after` in expectations).
    duration: Duration,
    pub(super) jobs: Vec<Job>,
    registry: &'a Registry,
    /// The protocol options of each `[[job]]` table.
    extras: Vec<Vec<Extra>>,
}

impl Ctx<'_> {
    /// An expectation's `within`: a change takes time to reach a member,
    /// so none arrives within 0 ms.
    fn within(&self, value: &Opt<DurationText>) -> Result<Option<Duration>> {
        let within = opt_dur(value, "within")?;
        match (within, value) {
            (Some(d), Some(v)) if d.is_zero() => Err(ScenarioError::new(
                "`within = \"0ms\"` can never hold: a change takes time to reach a member",
            )
            .at(v.span())
            .help("give the time a notification may take, such as within = \"2s\"")),
            _ => Ok(within),
        }
    }

    fn cluster_nodes(&self) -> String {
        if self.nodes == 1 {
            "the cluster has a single node, n0".to_owned()
        } else {
            format!("the cluster has nodes n0..n{}", self.nodes - 1)
        }
    }

    /// Checks a node name against the cluster; `context` is appended to the
    /// message (e.g. " in member `db@n9`").
    fn node_index(&self, name: &str, span: Range<usize>, context: &str) -> Result<u16> {
        let Some(index) = parse_node_name(name) else {
            return Err(ScenarioError::new(format!(
                "invalid node name `{name}`{context}: expected `n` followed by a node index, like `n0`"
            ))
            .at(span));
        };
        match u16::try_from(index) {
            Ok(index) if index < self.nodes => Ok(index),
            _ => Err(ScenarioError::new(format!(
                "unknown node `{name}`{context}: {}",
                self.cluster_nodes()
            ))
            .at(span)),
        }
    }

    pub(super) fn node(&self, value: &Spanned<NodeText>) -> Result<u16> {
        self.node_index(&value.get_ref().0, value.span(), "")
    }

    /// A non-empty list of distinct nodes, sorted.
    pub(super) fn node_list(&self, value: &List<NodeText>, key: &str) -> Result<Vec<u16>> {
        if value.get_ref().is_empty() {
            return Err(ScenarioError::new(format!(
                "`{key}` must not be empty (leave it out to mean every node)"
            ))
            .at(value.span()));
        }
        let mut nodes = Vec::new();
        for item in value.get_ref() {
            let node = self.node(item)?;
            if nodes.contains(&node) {
                return Err(ScenarioError::new(format!(
                    "node `{}` is listed twice in `{key}`",
                    item.get_ref().0
                ))
                .at(item.span()));
            }
            nodes.push(node);
        }
        nodes.sort_unstable();
        Ok(nodes)
    }

    fn job_names(&self) -> String {
        let names: Vec<&str> = self.jobs.iter().map(|job| job.name.as_str()).collect();
        names.join(", ")
    }

    pub(super) fn find_job(&self, name: &str, span: Range<usize>, context: &str) -> Result<&Job> {
        self.jobs
            .iter()
            .find(|job| job.name == name)
            .ok_or_else(|| {
                ScenarioError::new(format!(
                    "unknown job `{name}`{context}: the scenario's jobs are {}",
                    self.job_names()
                ))
                .at(span)
            })
    }

    pub(super) fn check_runs_on(&self, job: &Job, node: u16, span: Range<usize>) -> Result<()> {
        if job.runs_on(node) {
            return Ok(());
        }
        Err(ScenarioError::new(format!(
            "job `{}` does not run on node `n{node}` (it runs on {})",
            job.name,
            fmt_nodes(&job.nodes)
        ))
        .at(span))
    }

    fn group(&self, value: &Spanned<String>) -> Result<String> {
        let name = value.get_ref();
        if self.jobs.iter().any(|job| &job.group == name) {
            return Ok(name.clone());
        }
        let mut groups: Vec<&str> = self.jobs.iter().map(|job| job.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        Err(ScenarioError::new(format!(
            "unknown group `{name}`: the scenario's groups are {}",
            groups.join(", ")
        ))
        .at(value.span()))
    }

    /// A `job@node` member of an existing job on a node it runs on.
    fn member(&self, value: &Spanned<MemberText>) -> Result<MemberName> {
        let text = &value.get_ref().0;
        let span = value.span();
        let Some((job, node)) = text.split_once('@') else {
            return Err(ScenarioError::new(format!(
                "invalid member name `{text}`: expected `job@node`, like `db@n2`"
            ))
            .at(span));
        };
        let context = format!(" in member `{text}`");
        let job = self.find_job(job, span.clone(), &context)?;
        let node = self.node_index(node, span.clone(), &context)?;
        self.check_runs_on(job, node, span)?;
        Ok(job.member(node))
    }

    fn job_table(&self, index: usize, raw: &Spanned<RawJob>) -> Result<Job> {
        let header = raw.span();
        let j = raw.get_ref();
        let name = check_name(require(&j.name, "name", "[[job]]", &header)?, "job name")?;
        let group = check_name(
            require(&j.group, "group", "[[job]]", &header)?,
            "group name",
        )?;
        let nodes = match &j.nodes {
            Some(list) => self.node_list(list, "nodes")?,
            None => (0..self.nodes).collect(),
        };
        let work_threads = match &j.work_threads {
            None => Job::DEFAULT_WORK_THREADS,
            Some(v) => u16::try_from(*v.get_ref())
                .ok()
                .filter(|n| (1..=Job::MAX_WORK_THREADS).contains(n))
                .ok_or_else(|| {
                    ScenarioError::new(format!(
                        "`work_threads` must be between 1 and {}, got {}",
                        Job::MAX_WORK_THREADS,
                        v.get_ref()
                    ))
                    .at(v.span())
                })?,
        };
        let work_deadline = match &j.work_deadline {
            Some(v) => positive_dur(v, "work_deadline")?,
            None => Job::DEFAULT_WORK_DEADLINE,
        };
        let protocol = match &j.protocol {
            None => DEFAULT_PROTOCOL.to_string(),
            Some(v) => {
                let name = v.get_ref();
                if self.registry.get(name).is_none() {
                    return Err(ScenarioError::new(format!(
                        "unknown protocol `{name}`, expected one of: {}",
                        self.registry.names().join(", ")
                    ))
                    .at(v.span()));
                }
                name.clone()
            }
        };
        let options = self.options(
            &protocol,
            self.extras.get(index).map_or(&[][..], Vec::as_slice),
            "[[job]]",
        )?;
        if protocol == TASKS_PROTOCOL && work_threads != 1 {
            let span = j
                .work_threads
                .as_ref()
                .map_or(header.clone(), Spanned::span);
            return Err(ScenarioError::new(format!(
                "job `{name}` runs protocol `tasks` with {work_threads} work threads: a task runner is one work thread"
            ))
            .at(span)
            .help("remove `work_threads`; run more tasks instead"));
        }
        let step_time = match &j.step_time {
            Some(v) => timer_dur(v, "step_time")?,
            None => Job::DEFAULT_STEP_TIME,
        };
        if step_time >= work_deadline {
            let span = j
                .step_time
                .as_ref()
                .or(j.work_deadline.as_ref())
                .map_or(header, Spanned::span);
            return Err(ScenarioError::new(format!(
                "step_time ({}) must be shorter than work_deadline ({})",
                shown(step_time, j.step_time.is_some()),
                shown(work_deadline, j.work_deadline.is_some()),
            ))
            .at(span));
        }
        let ordered_every = j
            .ordered_every
            .as_ref()
            .map(|v| timer_dur(v, "ordered_every"))
            .transpose()?;
        Ok(Job {
            name,
            group,
            nodes,
            work_threads,
            work_deadline,
            protocol,
            options,
            step_time,
            ordered_every,
        })
    }

    /// Validates the protocol options of one `[[job]]` against the protocol.
    fn options(&self, protocol: &str, extras: &[Extra], table: &str) -> Result<Options> {
        let def = self.registry.get(protocol);
        let mut options = Options::default();
        for extra in extras {
            let Some(spec) = def.and_then(|d| d.option(&extra.key)) else {
                let takes = def
                    .map(|d| d.options.iter().map(|o| o.key).collect::<Vec<_>>())
                    .unwrap_or_default();
                let help = if takes.is_empty() {
                    format!("protocol `{protocol}` takes no options")
                } else {
                    format!("protocol `{protocol}` takes: {}", takes.join(", "))
                };
                return Err(ScenarioError::new(format!(
                    "unknown key `{}` in {table}: not a {} key and not an option of protocol `{protocol}`",
                    extra.key,
                    if table == "[[job]]" { "job" } else { "task" },
                ))
                .at(extra.key_span.clone())
                .help(if table == "[[job]]" {
                    format!("{help}; job keys: {}", JOB_KEYS.join(", "))
                } else {
                    format!("{help}; task keys: {}", TASK_KEYS.join(", "))
                }));
            };
            let value = match (spec.kind, &extra.value) {
                (OptionKind::Int { min, max }, toml::Value::Integer(v))
                    if (min..=max).contains(v) =>
                {
                    OptionValue::Int(*v)
                }
                (OptionKind::Bool, toml::Value::Boolean(v)) => OptionValue::Bool(*v),
                (OptionKind::Text, toml::Value::String(v)) => OptionValue::Text(v.clone()),
                (OptionKind::Float { min, max }, toml::Value::Float(v))
                    if *v >= min && *v <= max =>
                {
                    OptionValue::Float(*v)
                }
                (OptionKind::Float { min, max }, toml::Value::Integer(v))
                    if (*v as f64) >= min && (*v as f64) <= max =>
                {
                    OptionValue::Float(*v as f64)
                }
                (_, other) => {
                    return Err(ScenarioError::new(format!(
                        "`{}` (an option of protocol `{protocol}`) must be {}, got {}",
                        extra.key,
                        spec.kind,
                        toml_shown(other)
                    ))
                    .at(extra.value_span.clone())
                    .help(spec.doc.to_string()));
                }
            };
            options.0.insert(extra.key.clone(), value);
        }
        Ok(options)
    }

    /// One `[[task]]`: `at`, `member`, `protocol`, `priority`, and the
    /// protocol's options, in an `options` table or as keys of their own.
    fn task(&self, raw: &Spanned<RawTable>, duration: Duration) -> Result<Task> {
        let header = raw.span();
        let all = entries(raw.get_ref());
        let value = |key: &str| all.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v);
        let at_v = value("at").ok_or_else(|| missing("at", "[[task]]", &header))?;
        let member_v = value("member").ok_or_else(|| missing("member", "[[task]]", &header))?;
        let protocol_v = value("protocol").ok_or_else(|| {
            missing("protocol", "[[task]]", &header).help(format!(
                "a task is an instance of a protocol: {}",
                self.task_protocols().join(", ")
            ))
        })?;
        let at_text = Spanned::new(
            at_v.span(),
            DurationText(text(at_v, DURATION_EXPECTED)?.to_owned()),
        );
        let at = parse_dur(&at_text, "at")?;
        if at >= duration {
            return Err(ScenarioError::new(format!(
                "task at {at:?} is not before the end of the scenario (duration {duration:?})"
            ))
            .at(at_v.span()));
        }
        let member_text = Spanned::new(
            member_v.span(),
            MemberText(text(member_v, "a member name such as \"ops@n1\"")?.to_owned()),
        );
        let member = self.member(&member_text)?;
        let job = self
            .jobs
            .iter()
            .find(|j| j.name == member.job)
            .expect("a member names a job");
        if job.protocol != TASKS_PROTOCOL {
            return Err(ScenarioError::new(format!(
                "member `{member}` cannot take tasks: job `{}` runs protocol `{}`, not `tasks`",
                job.name, job.protocol
            ))
            .at(member_v.span())
            .help(format!(
                "set `protocol = \"tasks\"` in the [[job]] named `{}`",
                job.name
            )));
        }
        let protocol = text(protocol_v, "a protocol name such as \"barrier\"")?;
        if protocol == TASKS_PROTOCOL || self.registry.get(protocol).is_none() {
            return Err(ScenarioError::new(format!(
                "unknown task protocol `{protocol}`, expected one of: {}",
                self.task_protocols().join(", ")
            ))
            .at(protocol_v.span()));
        }
        let priority = match value("priority") {
            None => false,
            Some(v) => match v.get_ref() {
                Val::Bool(b) => *b,
                _ => return Err(super::table::type_error(v, "a boolean")),
            },
        };
        let mut extras: Vec<Extra> = Vec::new();
        for (key, v) in &all {
            let name = key.get_ref().as_str();
            if TASK_KEYS.contains(&name) && name != "options" {
                continue;
            }
            if name == "options" {
                let Val::Table(inner) = v.get_ref() else {
                    return Err(super::table::type_error(
                        v,
                        "a table of the protocol's options, such as { rounds = 3 }",
                    ));
                };
                for (k, iv) in inner {
                    extras.push(Extra {
                        key: k.get_ref().clone(),
                        key_span: k.span(),
                        value: plain(iv.get_ref()),
                        value_span: iv.span(),
                    });
                }
                continue;
            }
            extras.push(Extra {
                key: name.to_string(),
                key_span: key.span(),
                value: plain(v.get_ref()),
                value_span: v.span(),
            });
        }
        for (i, e) in extras.iter().enumerate() {
            if extras[..i].iter().any(|o| o.key == e.key) {
                return Err(ScenarioError::new(format!(
                    "option `{}` is given twice in this [[task]]",
                    e.key
                ))
                .at(e.key_span.clone()));
            }
        }
        let options = self.options(protocol, &extras, "[[task]]")?;
        Ok(Task {
            at,
            member,
            protocol: protocol.to_string(),
            options,
            priority,
            line: self.lines.line(header.start),
        })
    }

    /// The protocols a task can run.
    pub(super) fn task_protocols(&self) -> Vec<&str> {
        self.registry
            .names()
            .into_iter()
            .filter(|n| *n != TASKS_PROTOCOL)
            .collect()
    }

    fn fault(&self, raw: &Spanned<RawTable>, duration: Duration) -> Result<Fault> {
        let header = raw.span();
        let entries = entries(raw.get_ref());
        let value = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v)
        };
        let at_v = value("at").ok_or_else(|| missing("at", "[[fault]]", &header))?;
        let kind_v = value("kind").ok_or_else(|| {
            missing("kind", "[[fault]]", &header)
                .help(format!("kinds: {}", FaultKind::names().join(", ")))
        })?;
        let kind_name = text(kind_v, "a string")?;
        let Some(spec) = FaultKind::spec(kind_name) else {
            return Err(ScenarioError::new(format!(
                "unknown fault kind `{kind_name}`, expected one of: {}",
                FaultKind::names().join(", ")
            ))
            .at(kind_v.span()));
        };
        let own: Vec<Entry> = entries
            .iter()
            .filter(|(k, _)| !["at", "kind"].contains(&k.get_ref().as_str()))
            .cloned()
            .collect();
        let table = Table::new(
            self,
            format!("fault kind `{kind_name}`"),
            header.clone(),
            &own,
            spec.keys,
            &[],
        );
        table.check_keys(kind_name, spec.keys, "`at` and `kind`")?;

        let at_text = Spanned::new(
            at_v.span(),
            DurationText(text(at_v, DURATION_EXPECTED)?.to_owned()),
        );
        let at = parse_dur(&at_text, "at")?;
        if at >= duration {
            let message = if at == duration {
                format!("fault at {at:?} is at the very end of the scenario (duration {duration:?}); faults must happen before the end")
            } else {
                format!("fault at {at:?} is after the scenario's duration {duration:?}")
            };
            return Err(ScenarioError::new(message).at(at_v.span()));
        }
        Ok(Fault {
            at,
            kind: (spec.parse)(&table)?,
            line: self.lines.line(header.start),
        })
    }

    /// Partition sides: every node in exactly one side, at least two
    /// non-empty sides. Returns the non-empty sides, each sorted.
    pub(super) fn sides(&self, value: &Spanned<Vec<List<NodeText>>>) -> Result<Vec<Vec<u16>>> {
        let mut side_of: Vec<Option<usize>> = vec![None; usize::from(self.nodes)];
        let mut sides = Vec::new();
        for (side_index, side) in value.get_ref().iter().enumerate() {
            let mut nodes = Vec::new();
            for item in side.get_ref() {
                let node = self.node(item)?;
                let name = &item.get_ref().0;
                if let Some(previous) = side_of[usize::from(node)] {
                    let message = if previous == side_index {
                        format!("node `{name}` is listed twice in side {}", side_index + 1)
                    } else {
                        format!(
                            "node `{name}` is in both side {} and side {}: every node must be in exactly one side",
                            previous + 1,
                            side_index + 1
                        )
                    };
                    return Err(ScenarioError::new(message).at(item.span()));
                }
                side_of[usize::from(node)] = Some(side_index);
                nodes.push(node);
            }
            if !nodes.is_empty() {
                nodes.sort_unstable();
                sides.push(nodes);
            }
        }
        if sides.len() < 2 {
            return Err(ScenarioError::new(format!(
                "a partition needs at least 2 non-empty sides, found {}",
                sides.len()
            ))
            .at(value.span())
            .help(r#"for example: sides = [["n0"], ["n1", "n2"]]"#));
        }
        let missing: Vec<u16> = (0..self.nodes)
            .filter(|&n| side_of[usize::from(n)].is_none())
            .collect();
        if !missing.is_empty() {
            let message = if missing.len() == 1 {
                format!("node `n{}` is not in any side of the partition", missing[0])
            } else {
                format!(
                    "nodes {} are not in any side of the partition",
                    fmt_nodes(&missing)
                )
            };
            return Err(ScenarioError::new(message)
                .at(value.span())
                .help("every node must be in exactly one side"));
        }
        Ok(sides)
    }

    fn expectation(
        &self,
        array: &str,
        index: usize,
        raw: &Spanned<RawExpect>,
        faults: &[Fault],
        random: bool,
    ) -> Result<Expectation> {
        let header = raw.span();
        let e = raw.get_ref();
        let table = format!("[[{array}]]");
        let kind_v = require(&e.kind, "kind", &table, &header)
            .map_err(|e| e.help(format!("kinds: {}", Expectation::NAMES.join(", "))))?;
        let kind_name = kind_v.get_ref().as_str();
        let Some(keys) = EXPECT_KEYS.iter().find(|k| k.name == kind_name) else {
            return Err(ScenarioError::new(format!(
                "unknown expectation kind `{kind_name}`, expected one of: {}",
                Expectation::NAMES.join(", ")
            ))
            .at(kind_v.span()));
        };
        check_allowed_keys(self.source, array, index, e.present_keys(), keys, "`kind`")?;
        let what = format!("expectation kind `{kind_name}`");
        let primary = match &e.primary {
            Some(p) if !self.quorum => {
                return Err(ScenarioError::new(format!(
                    "`primary = {}` can never hold: this cluster keeps no quorum, so no view is primary or not",
                    p.get_ref()
                ))
                .at(p.span())
                .help(r#"add quorum = "majority" to [cluster]"#))
            }
            p => p.as_ref().map(|p| *p.get_ref()),
        };

        Ok(match kind_name {
            "membership-change" => {
                let member = self.member(require_for(&e.member, "member", &what, &header)?)?;
                let reason = match &e.reason {
                    None => None,
                    Some(v) => Some(
                        v.get_ref()
                            .parse::<Reason>()
                            .map_err(|message| ScenarioError::new(message).at(v.span()))?,
                    ),
                };
                let group = self.member_group(&member, &e.group)?;
                let occurrence = occurrence(&e.occurrence)?;
                if let (Some(n), Some(v), false) = (occurrence, &e.occurrence, random) {
                    let can = faults
                        .iter()
                        .filter(|f| can_leave(&f.kind, &member))
                        .count();
                    if n as usize > can {
                        return Err(ScenarioError::new(format!(
                            "`occurrence = {n}` can never hold: {} of this scenario's faults can make `{member}` leave",
                            if can == 0 { "none".to_string() } else { format!("only {can}") }
                        ))
                        .at(v.span()));
                    }
                }
                // Without `occurrence`, some change must name it: only a
                // fault (or a lossy network) can make a member leave.
                let may = faults.iter().any(|f| may_leave(&f.kind, &member));
                if occurrence.is_none() && !random && !self.lossy && !may {
                    return Err(ScenarioError::new(format!(
                        "this expectation can never hold: none of this scenario's faults can make `{member}` leave"
                    ))
                    .at(header.clone())
                    .help(format!(
                        "add a [[fault]] that `{member}` leaves by (a crash, a partition, a work-thread fault, a job kill...), or expect `no-membership-change`"
                    )));
                }
                Expectation::MembershipChange {
                    member,
                    reason,
                    within: self.within(&e.within)?,
                    group,
                    primary,
                    occurrence,
                }
            }
            "joined" => {
                let member = self.member(require_for(&e.member, "member", &what, &header)?)?;
                let group = self.member_group(&member, &e.group)?;
                let members = match &e.members {
                    None => None,
                    Some(list) => {
                        let own = self.jobs.iter().find(|j| j.name == member.job);
                        let members = self.member_list(list, own.map(|j| j.group.as_str()))?;
                        if !members.contains(&member) {
                            return Err(ScenarioError::new(format!(
                                "`members` can never hold: the view `{member}` joins holds `{member}` itself"
                            ))
                            .at(list.span())
                            .help(format!("add \"{member}\" to `members`")));
                        }
                        Some(members)
                    }
                };
                let after = opt_dur(&e.after, "after")?;
                if let (Some(after), Some(v)) = (after, &e.after) {
                    if after >= self.duration {
                        return Err(ScenarioError::new(format!(
                            "`after = {:?}` can never hold: the scenario ends at {:?}",
                            v.get_ref().0,
                            self.duration
                        ))
                        .at(v.span()));
                    }
                }
                Expectation::Joined {
                    member,
                    group,
                    after,
                    within: self.within(&e.within)?,
                    members,
                    occurrence: occurrence(&e.occurrence)?,
                }
            }
            "no-membership-change" => Expectation::NoMembershipChange {
                group: e.group.as_ref().map(|v| self.group(v)).transpose()?,
            },
            "protocol-outcome" => self.protocol_outcome(e, &what, &header)?,
            _ => {
                let group = self.group(require_for(&e.group, "group", &what, &header)?)?;
                let list = require_for(&e.members, "members", &what, &header)?;
                let members = self.member_list(list, Some(&group))?;
                Expectation::FinalView {
                    group,
                    members,
                    primary,
                }
            }
        })
    }

    /// A `protocol-outcome` expectation: the protocol must be running.
    fn protocol_outcome(
        &self,
        e: &RawExpect,
        what: &str,
        header: &Range<usize>,
    ) -> Result<Expectation> {
        let instance_v = require_for(&e.instance, "instance", what, header)?;
        let instance = u64::try_from(*instance_v.get_ref()).map_err(|_| {
            ScenarioError::new(format!(
                "`instance` must be 0 or more, got {}",
                instance_v.get_ref()
            ))
            .at(instance_v.span())
        })?;
        let outcome_v = require_for(&e.outcome, "outcome", what, header)?;
        // `member = "all"` is the same as no `member`.
        let member = e
            .member
            .as_ref()
            .filter(|v| v.get_ref().0 != "all")
            .map(|v| self.member(v))
            .transpose()?;
        let running: Vec<&str> = {
            let mut r: Vec<&str> = self.jobs.iter().map(|j| j.protocol.as_str()).collect();
            r.sort_unstable();
            r.dedup();
            r
        };
        let protocol = match (&e.protocol, &member) {
            (Some(v), member) => {
                let name = v.get_ref();
                if let Some(m) = member {
                    let job = self
                        .jobs
                        .iter()
                        .find(|j| j.name == m.job)
                        .expect("validated member");
                    if job.protocol != *name {
                        return Err(ScenarioError::new(format!(
                            "member `{m}` runs protocol `{}`, not `{name}`",
                            job.protocol
                        ))
                        .at(v.span()));
                    }
                } else if !running.contains(&name.as_str()) {
                    return Err(ScenarioError::new(format!(
                        "no job runs protocol `{name}`; running: {}",
                        running.join(", ")
                    ))
                    .at(v.span()));
                }
                name.clone()
            }
            (None, Some(m)) => self
                .jobs
                .iter()
                .find(|j| j.name == m.job)
                .expect("validated member")
                .protocol
                .clone(),
            (None, None) if running.len() == 1 => running[0].to_string(),
            (None, None) => {
                return Err(ScenarioError::new(format!(
                    "say which protocol: this scenario runs {}",
                    running.join(", ")
                ))
                .at(header.clone())
                .help("add `protocol = \"...\"` or `member = \"job@nK\"`"));
            }
        };
        let outcome = outcome_v.get_ref().clone();
        if let Some(allowed) = self
            .registry
            .get(&protocol)
            .and_then(|d| d.outcomes.as_ref())
        {
            if !allowed.contains(&outcome) {
                return Err(ScenarioError::new(format!(
                    "protocol `{protocol}` has no outcome `{outcome}`, expected one of: {}",
                    allowed.join(", ")
                ))
                .at(outcome_v.span()));
            }
        }
        // A protocol that decides only once an option bounds it (a barrier
        // passes after `rounds`) can never meet this expectation without it.
        if let Some(key) = self
            .registry
            .get(&protocol)
            .and_then(|d| d.decides_with.as_ref())
        {
            let deciding = self.jobs.iter().filter(|j| {
                j.protocol == protocol && member.as_ref().is_none_or(|m| m.job == j.name)
            });
            if !deciding.clone().any(|j| j.options.0.contains_key(key)) {
                let jobs: Vec<&str> = deciding.map(|j| j.name.as_str()).collect();
                return Err(ScenarioError::new(format!(
                    "protocol `{protocol}` decides nothing unless its option `{key}` is set, and job {} does not set it: this expectation could never pass",
                    jobs.iter().map(|j| format!("`{j}`")).collect::<Vec<_>>().join(", ")
                ))
                .at(header.clone())
                .help(format!("add `{key} = N` to the job's [[job]] table")));
            }
        }
        Ok(Expectation::ProtocolOutcome {
            member,
            protocol,
            instance,
            outcome,
        })
    }

    /// An optional `group` key of an expectation about `member`: its job
    /// must be in it.
    fn member_group(&self, member: &MemberName, group: &Opt<String>) -> Result<Option<String>> {
        let Some(v) = group else { return Ok(None) };
        let group = self.group(v)?;
        self.check_member_group(member, &group, v.span())?;
        Ok(Some(group))
    }

    /// A `members` list: each a member of `group` (when known), none
    /// twice; sorted.
    fn member_list(
        &self,
        list: &Spanned<Vec<Spanned<MemberText>>>,
        group: Option<&str>,
    ) -> Result<Vec<MemberName>> {
        let mut members: Vec<MemberName> = Vec::new();
        for item in list.get_ref() {
            let member = self.member(item)?;
            if let Some(group) = group {
                self.check_member_group(&member, group, item.span())?;
            }
            if members.contains(&member) {
                return Err(ScenarioError::new(format!(
                    "member `{member}` is listed twice in `members`"
                ))
                .at(item.span()));
            }
            members.push(member);
        }
        members.sort();
        Ok(members)
    }

    /// Checks that `member`'s job belongs to `group`.
    fn check_member_group(
        &self,
        member: &MemberName,
        group: &str,
        span: Range<usize>,
    ) -> Result<()> {
        match self.jobs.iter().find(|job| job.name == member.job) {
            Some(job) if job.group != group => Err(ScenarioError::new(format!(
                "member `{member}` is not in group `{group}`: job `{}` is in group `{}`",
                job.name, job.group
            ))
            .at(span)),
            _ => Ok(()),
        }
    }
}

/// An `occurrence` key: 1 or more.
fn occurrence(value: &Opt<i64>) -> Result<Option<u32>> {
    let Some(v) = value else { return Ok(None) };
    match u32::try_from(*v.get_ref()) {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(ScenarioError::new(format!(
            "`occurrence` counts from 1 (the first), got {}",
            v.get_ref()
        ))
        .at(v.span())),
    }
}

/// Whether `fault` can make `member` leave its group: it strikes the
/// member's job or node, or cuts its node off (a partition cuts every
/// node off from some other). A one-way cut, loss, delay or duplication
/// owes no departure.
/// Whether `fault` may make `member` leave, though no scenario can count
/// on it: what [`can_leave`] says, and any fault that delays, loses or
/// cuts its packets, slows its node or skews its clock.
fn may_leave(fault: &FaultKind, member: &MemberName) -> bool {
    can_leave(fault, member)
        || matches!(
            fault,
            FaultKind::OneWayCut(_)
                | FaultKind::Delay(_)
                | FaultKind::Loss(_)
                | FaultKind::Clock(_)
                | FaultKind::NodeSlow(_)
        )
}

fn can_leave(fault: &FaultKind, member: &MemberName) -> bool {
    match fault {
        FaultKind::WorkThread(f) => f.node == member.node && f.job == member.job,
        FaultKind::Job(f) => f.node == member.node && f.job == member.job,
        FaultKind::NodeCrash(f) | FaultKind::NodeStop(f) | FaultKind::EngineCrash(f) => {
            f.node == member.node
        }
        FaultKind::NodePause(f) => f.node == member.node,
        FaultKind::Partition(_) => true,
        FaultKind::OneWayCut(_)
        | FaultKind::Heal(_)
        | FaultKind::Delay(_)
        | FaultKind::Loss(_)
        | FaultKind::Duplicate(_)
        | FaultKind::Clock(_) => false,
        // A slow node's step may outlast its deadline: its watchdog then
        // takes it for a hang, which no scenario can count on.
        FaultKind::NodeSlow(_) => false,
    }
}

/// A TOML value as the user wrote it, for messages.
fn toml_shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("{i}"),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}
