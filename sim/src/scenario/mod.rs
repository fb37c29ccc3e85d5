//! Scenario files: the TOML contract saying which cluster to simulate, which
//! jobs run on it, which faults to inject at which simulated times, and what
//! the run is expected to observe.
//!
//! This module owns that contract: [`parse`] / [`load`] turn a file into a
//! validated [`Scenario`], or into a [`ScenarioError`] that names the file,
//! line and column and renders like a rustc diagnostic. Parsing never panics.
//! Unknown keys are errors everywhere.
//!
//! # Format
//!
//! ```toml
//! name = "work thread panics in an ACK round"   # required
//! description = "..."                           # optional
//! seed = 7                                      # optional default seed (>= 0)
//! duration = "20s"                              # simulated time to run; required, > 0
//!
//! [cluster]                       # required
//! nodes = 5                       # required, 1..=1000; nodes are named n0 .. n4
//! heartbeat_interval = "100ms"    # default 100ms, > 0
//! failure_timeout = "1s"          # default 1s, > heartbeat_interval
//! latency = ["1ms", "10ms"]       # one-way latency range, default 1ms..10ms;
//!                                 # min <= max < failure_timeout
//! loss = 0.0                      # packet loss probability in [0, 1), default 0
//!
//! [[job]]                         # one or more
//! name = "db"                     # required, unique, [A-Za-z0-9_-]+; members db@n0, ...
//! group = "g"                     # required, [A-Za-z0-9_-]+
//! nodes = ["n0", "n1", "n2"]      # default every node; non-empty, no duplicates
//! work_threads = 1                # default 1, 1..=64
//! work_deadline = "1s"            # longest local step before it is a hang; default 1s
//! protocol = "barrier"            # barrier (default), two-phase-commit, group-state
//! step_time = "100ms"             # one local step; default 100ms, 0 < step_time < work_deadline
//! transactions = 20               # other keys: the protocol's options (crate::protocols)
//!
//! [[fault]]                       # zero or more; `at` < duration
//! at = "2s"
//! kind = "work-thread-panic"
//! node = "n2"
//! job = "db"
//!
//! [[expect]]                      # zero or more; `[[expectation]]` is an alias
//! kind = "membership-change"
//! member = "db@n2"
//! reason = "fault"                # optional
//! within = "2s"                   # optional
//! group = "g"                     # optional
//! ```
//!
//! Fault kinds (`at` and `kind` are always required) and their keys:
//!
//! | kind | keys |
//! |------|------|
//! | `work-thread-panic`, `work-thread-error`, `work-thread-hang` | `node`, `job`, optional `thread` (default 0, < the job's `work_threads`) |
//! | `job-kill`, `job-leave`, `job-join` | `node`, `job` (the job must run on that node) |
//! | `node-crash` | `node`, optional `restart_after` |
//! | `node-pause` | `node`, `for` |
//! | `partition` | `sides` (every node in exactly one side, at least 2 non-empty sides), optional `heal_after` |
//! | `heal` | none |
//! | `delay` | `latency` (`["5ms", "50ms"]`), optional `nodes`, optional `for` |
//! | `loss` | `rate` (in [0, 1]), optional `nodes`, optional `for` |
//!
//! Expectation kinds:
//!
//! | kind | keys |
//! |------|------|
//! | `membership-change` | `member` (`"job@node"`), optional `reason` (`fault`, `leave`, `job-lost`, `node-down`), optional `within`, optional `group`, optional `primary` (needs a quorum), optional `occurrence` (1, 2, ...) |
//! | `joined` | `member`; optional `group`, `after`, `within`, `members` (holding `member`), `occurrence` |
//! | `no-membership-change` | optional `group` |
//! | `final-view` | `group`, `members` (list of `"job@node"`, may be empty), optional `primary` (needs a quorum) |
//! | `protocol-outcome` | `instance`, `outcome`; optional `member`, `protocol` (must be running) |
//!
//! Durations are strings: a non-negative decimal number and a unit among
//! `ns`, `us`, `ms`, `s`, `m`, `h`, optionally separated by one space
//! (`"250ms"`, `"1.5s"`, `"2 m"`); see [`parse_duration`].

pub mod draw;
mod duration;
mod error;
pub mod faults;
mod random;
mod raw;
pub mod schema;
mod table;
#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests;
mod validate;
mod write;
pub use write::duration_text;

/// This folder's unit tests (see `unit_tests!` in lib.rs).
#[cfg(feature = "unit-tests")]
pub(crate) const UNIT_TESTS: &[(&str, crate::UnitTests)] = &[
    ("scenario", tests::ALL),
    ("scenario::duration", duration::tests::ALL),
    ("scenario::error", error::tests::ALL),
    ("scenario::write", write::tests::ALL),
];

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::protocols::{Options, Registry};

pub use duration::{parse_duration, DurationError};
pub use error::ScenarioError;
pub use faults::{
    clock_ppm, slow_milli, Clock, Delay, Duplicate, FaultKind, Heal, JobAction, JobFault, Loss,
    NodeCrash, NodePause, NodeSlow, OneWayCut, Partition, RandomFault, WorkThread, WorkThreadFault,
    CLOCK_RATE_MAX, CLOCK_RATE_MIN, SLOW_FACTOR_MAX,
};
pub use raw::JOB_KEYS;

/// Parses and validates the scenario in `text`; `file_name` is only used in
/// error reports.
pub fn parse(file_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(file_name, text, Registry::builtin_ref())
}

/// [`parse`], with the protocols of `registry` (a user's own among them).
pub fn parse_with(
    file_name: &str,
    text: &str,
    registry: &Registry,
) -> Result<Scenario, ScenarioError> {
    parse_unnamed(text, registry).map_err(|error| error.in_file(file_name, text))
}

fn parse_unnamed(text: &str, registry: &Registry) -> Result<Scenario, ScenarioError> {
    validate::validate(parse_raw(text)?, text, registry)
}

fn parse_raw(text: &str) -> Result<raw::RawScenario, ScenarioError> {
    let deserializer = toml::de::Deserializer::parse(text)
        .map_err(|error| error::from_toml(&error, text).prefixed("invalid TOML: "))?;
    raw::RawScenario::deserialize(deserializer).map_err(|error| error::from_toml(&error, text))
}

/// Reads a cluster file for `vigil node`: a scenario file whose `name` and
/// `duration` may be left out (a node runs until it is stopped), with the
/// protocols of `registry`.
pub fn load_cluster_with(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
    let file_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|io| {
        ScenarioError::new(format!("cannot read cluster file `{file_name}`: {io}"))
            .in_file(&file_name, "")
    })?;
    let parsed = parse_raw(&text).and_then(|mut raw| {
        raw.name
            .get_or_insert_with(|| toml::Spanned::new(0..0, "cluster".to_string()));
        raw.duration
            .get_or_insert_with(|| toml::Spanned::new(0..0, raw::DurationText("24h".to_string())));
        if let Some(cluster) = &raw.cluster {
            if cluster.get_ref().addresses.is_none() {
                return Err(ScenarioError::new(
                    "[cluster] has no `addresses`: a cluster file gives each node's address",
                )
                .at(cluster.span())
                .help(r#"for example, for 3 nodes: addresses = ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]"#));
            }
        }
        validate::validate(raw, &text, registry)
    });
    parsed.map_err(|error| error.in_file(&file_name, &text))
}

/// Reads and parses the scenario file at `path`. A file that cannot be read
/// is reported as a [`ScenarioError`] without location; one that is not
/// UTF-8, at its first byte that is not.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, Registry::builtin_ref())
}

/// [`load`], with the protocols of `registry`.
pub fn load_with(path: &Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
    let file_name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|io| {
        ScenarioError::new(format!("cannot read scenario file `{file_name}`: {io}"))
            .in_file(&file_name, "")
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Shown with the bad bytes replaced: the text before them is the
        // file's, so the span falls on the first one.
        let at = e.utf8_error().valid_up_to();
        let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
        ScenarioError::new("the scenario file is not UTF-8 text")
            .at(at..at + char::REPLACEMENT_CHARACTER.len_utf8())
            .help("save it as UTF-8")
            .in_file(&file_name, &shown)
    })?;
    parse_with(&file_name, &text, registry)
}

/// The name of node `index`: `n0`, `n1`, ...
pub fn node_name(index: u16) -> String {
    format!("n{index}")
}

/// A validated scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Human-readable title.
    pub name: String,
    /// Optional longer explanation.
    pub description: Option<String>,
    /// Default seed, used when the command line gives none.
    pub seed: Option<u64>,
    /// Simulated time to run; greater than zero.
    pub duration: Duration,
    /// The simulated cluster.
    pub cluster: Cluster,
    /// The jobs, in file order; at least one; names are unique.
    pub jobs: Vec<Job>,
    /// Faults sorted by `at`; faults at equal times keep their file order.
    pub faults: Vec<Fault>,
    /// `[[task]]`s in file order: task `i` is numbered `i` in the trace.
    pub tasks: Vec<Task>,
    /// Expectations in file order (`[[expect]]` and `[[expectation]]` mixed).
    pub expectations: Vec<Expectation>,
    /// `[random]`: faults each seed draws for itself, on top of `faults`
    /// (see [`crate::scenario::draw`]).
    pub random: Option<RandomFaults>,
}

impl Scenario {
    /// The engine settings the scenario's cluster implies.
    pub fn engine_config(&self) -> vigil_engine::Config {
        vigil_engine::Config {
            nodes: self.cluster.nodes,
            heartbeat_interval: vigil_engine::Dur::from_std(self.cluster.heartbeat_interval),
            failure_timeout: vigil_engine::Dur::from_std(self.cluster.failure_timeout),
            latency_max: vigil_engine::Dur::from_std(self.cluster.latency.1),
            quorum: self.cluster.quorum.clone(),
        }
    }

    /// The job called `name`, if any.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|job| job.name == name)
    }

    /// Members of one group from which its runs are slow: each ACK round
    /// of a group of m members sends about m(m-1) member messages a work
    /// thread, so 300 members cost nine times what a 100-member barrier
    /// does (about 90,000 packets a simulated second), and 10,000 members
    /// ran out of 24 GB of memory within 30 s.
    pub const LARGE_GROUP: usize = 300;

    /// What to tell a user before a run: each group of at least
    /// [`Scenario::LARGE_GROUP`] members, and what its rounds cost.
    pub fn cost_warnings(&self) -> Vec<String> {
        let mut members: std::collections::BTreeMap<&str, usize> = Default::default();
        for job in &self.jobs {
            *members.entry(job.group.as_str()).or_default() += job.nodes.len();
        }
        (members.into_iter())
            .filter(|(_, m)| *m >= Self::LARGE_GROUP)
            .map(|(group, m)| {
                let per_round = m as u64 * (m as u64 - 1);
                format!(
                    "group `{group}` has {m} members: each of its ACK rounds sends about {per_round} member messages, so a run may take very long and much memory (a job's `nodes = [...]` puts it on fewer nodes)"
                )
            })
            .collect()
    }
}

/// `[cluster]`: nodes `n0..n{nodes-1}` and the network between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Number of nodes, `1..=10000` ([`Cluster::MAX_NODES`]).
    pub nodes: u16,
    /// How often nodes send heartbeats; greater than zero.
    pub heartbeat_interval: Duration,
    /// Silence after which a node is considered down; greater than
    /// `heartbeat_interval` and than the latency maximum.
    pub failure_timeout: Duration,
    /// One-way latency range `(min, max)`, `min <= max`.
    pub latency: (Duration, Duration),
    /// Packet loss probability in `[0, 1)`.
    pub loss: f64,
    /// Each node's UDP address, by node number, where `vigil node` runs it
    /// on a real network (empty: the file is for the simulator only, which
    /// ignores them).
    pub addresses: Vec<std::net::SocketAddr>,
    /// A primary component (`quorum = "majority"`, with `votes` and
    /// `wait_for_all`); `None`: every view is just a view.
    pub quorum: Option<vigil_engine::Quorum>,
}

impl Cluster {
    /// Largest accepted `nodes`.
    pub const MAX_NODES: u16 = 10_000;
    /// Default `heartbeat_interval`.
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);
    /// Default `failure_timeout`.
    pub const DEFAULT_FAILURE_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default `latency`.
    pub const DEFAULT_LATENCY: (Duration, Duration) =
        (Duration::from_millis(1), Duration::from_millis(10));
}

/// One `[[job]]`: a job placed on some nodes; its member on node `nK` is
/// `name@nK`.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Unique name, `[A-Za-z0-9_-]+`.
    pub name: String,
    /// The group the job's members join, `[A-Za-z0-9_-]+`.
    pub group: String,
    /// Node indexes the job runs on: non-empty, sorted, no duplicates.
    pub nodes: Vec<u16>,
    /// Work threads per member, `1..=64`.
    pub work_threads: u16,
    /// Longest local step before it counts as a hang.
    pub work_deadline: Duration,
    /// The coordination protocol, by its registered name (`barrier`,
    /// `two-phase-commit`, `group-state`, or one a user registered).
    pub protocol: String,
    /// The protocol's options, as written under the job.
    pub options: Options,
    /// Simulated duration of one local step; `0 < step_time < work_deadline`.
    pub step_time: Duration,
    /// Each member sends its group an ordered message this often, once
    /// registered (`None`: never).
    pub ordered_every: Option<Duration>,
}

impl Job {
    /// Default `work_threads`.
    pub const DEFAULT_WORK_THREADS: u16 = 1;
    /// Largest accepted `work_threads`: the most a main thread serves.
    pub const MAX_WORK_THREADS: u16 = vigil_engine::job::WORK_THREADS_MAX;
    /// Default `work_deadline`.
    pub const DEFAULT_WORK_DEADLINE: Duration = Duration::from_secs(1);
    /// Default `step_time`.
    pub const DEFAULT_STEP_TIME: Duration = Duration::from_millis(100);

    /// Whether the job runs on node `node`.
    pub fn runs_on(&self, node: u16) -> bool {
        self.nodes.binary_search(&node).is_ok()
    }

    /// The job's member on node `node`.
    pub fn member(&self, node: u16) -> MemberName {
        MemberName {
            job: self.name.clone(),
            node,
        }
    }
}

/// One `[[task]]`: at `at`, member `member` submits to its group a task,
/// an instance of `protocol` with `options`, which every member of the
/// group runs in the group's one order (see `vigil_protocols::Tasks`). The
/// member's job runs protocol `tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub at: Duration,
    pub member: MemberName,
    pub protocol: String,
    pub options: Options,
    /// A priority task runs at the next task boundary, ahead of older
    /// tasks that have not begun (US 6,823,512).
    pub priority: bool,
    /// 1-based line of the task's table header in the file.
    pub line: usize,
}

pub use crate::protocols::TASKS_PROTOCOL;

/// One `[[fault]]`: what to inject and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Simulated time since the start; less than the scenario's duration.
    pub at: Duration,
    /// What happens.
    pub kind: FaultKind,
    /// 1-based line of the fault's table header in the file, for messages.
    pub line: usize,
}

/// `[random]`: fault kinds with rates or counts and bounds, from which each
/// seed draws its own concrete schedule ([`crate::scenario::draw::draw`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    /// Random faults strike at or after this time (key `after`, default 0).
    pub after: Duration,
    /// ... and before this one (key `before`, default the duration).
    pub before: Duration,
    /// One entry per `[random.KIND]` table, in [`RandomFault::names`] order.
    pub kinds: Vec<RandomKind>,
}

/// What a swarm draw turned on, and at what rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Swarm {
    /// The kinds on, with their drawn rates, as `[random]` would say them.
    pub on: Vec<RandomKind>,
    /// The kinds drawn off.
    pub off: Vec<&'static str>,
}

impl Swarm {
    /// One line: `node-crash every 7.2s, loss count 0..=2; off: partition`.
    pub fn summary(&self) -> String {
        let on: Vec<String> = self
            .on
            .iter()
            .map(|k| format!("{} {}", k.fault.name(), rate_text(k.rate)))
            .collect();
        let mut s = on.join(", ");
        if !self.off.is_empty() {
            s.push_str(&format!("; off: {}", self.off.join(", ")));
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        let on: Vec<serde_json::Value> = self
            .on
            .iter()
            .map(|k| serde_json::json!({"kind": k.fault.name(), "rate": rate_text(k.rate)}))
            .collect();
        serde_json::json!({"on": on, "off": self.off})
    }
}

fn rate_text(rate: Rate) -> String {
    match rate {
        Rate::Count { min, max } if min == max => format!("count {min}"),
        Rate::Count { min, max } => format!("count {min}..={max}"),
        Rate::Every { mean, .. } => format!("every {}", duration_text(mean)),
    }
}

/// How often a random fault kind strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// `count = N` or `count = [min, max]`: that many per run, at uniform times.
    Count { min: u32, max: u32 },
    /// `every = "5s"`: a Poisson process with that mean interval, at most
    /// `max` times (key `max`, default [`Rate::MAX_EVERY`]).
    Every { mean: Duration, max: u32 },
}

impl Rate {
    /// The default cap on an `every` kind's faults per run.
    pub const MAX_EVERY: u32 = 1000;
}

/// One `[random.KIND]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomKind {
    pub rate: Rate,
    pub fault: RandomFault,
}

/// Why a member left a group's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `fault`: the member reported a local fault (panic, error, hang).
    Fault,
    /// `leave`: the job unregistered gracefully.
    Leave,
    /// `job-lost`: the job vanished without unregistering.
    JobLost,
    /// `node-down`: the member's node stopped answering heartbeats.
    NodeDown,
}

impl Reason {
    /// Every reason name, as written in files.
    pub const NAMES: &'static [&'static str] = &["fault", "leave", "job-lost", "node-down"];

    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Fault => "fault",
            Reason::Leave => "leave",
            Reason::JobLost => "job-lost",
            Reason::NodeDown => "node-down",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fault" => Ok(Reason::Fault),
            "leave" => Ok(Reason::Leave),
            "job-lost" => Ok(Reason::JobLost),
            "node-down" => Ok(Reason::NodeDown),
            _ => Err(format!(
                "unknown reason `{s}`, expected one of: {}",
                Reason::NAMES.join(", ")
            )),
        }
    }
}

/// A job's member on one node, written `job@nK` (e.g. `db@n2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberName {
    /// The job's name.
    pub job: String,
    /// The node index.
    pub node: u16,
}

impl fmt::Display for MemberName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@n{}", self.job, self.node)
    }
}

impl FromStr for MemberName {
    type Err = String;

    /// Parses `job@nK` syntactically (no check that the job or node exist).
    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || format!("invalid member name `{s}`: expected `job@node`, like `db@n2`");
        let (job, node) = s.split_once('@').ok_or_else(invalid)?;
        if !validate::is_name(job) {
            return Err(invalid());
        }
        let node = validate::parse_node_name(node)
            .and_then(|index| u16::try_from(index).ok())
            .ok_or_else(invalid)?;
        Ok(MemberName {
            job: job.to_owned(),
            node,
        })
    }
}

/// One `[[expect]]`: something the run must observe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// `membership-change`: `member` leaves its group's view, optionally for
    /// `reason`, optionally `within` some time of the fault that caused it,
    /// optionally checked in `group` (validated to be the member's group).
    MembershipChange {
        member: MemberName,
        reason: Option<Reason>,
        within: Option<Duration>,
        group: Option<String>,
        /// Every observer's change naming the departure says its view is
        /// (`true`) or is not (`false`) primary (a cluster with a quorum).
        primary: Option<bool>,
        /// Which of the member's departures (of `reason`, if given) this
        /// judges: 1 for the first (the default), 2 for the second, ...
        occurrence: Option<u32>,
    },
    /// `joined`: `member` enters its group's view (registers, or comes
    /// back after a partition) at or after `after` (default: the start):
    /// its `occurrence`-th such entry (default the first); every member of
    /// the view it entered holds a view with it within `within` of
    /// `after` (default: no limit); with `members`, that view is exactly
    /// these members.
    Joined {
        member: MemberName,
        group: Option<String>,
        after: Option<Duration>,
        within: Option<Duration>,
        /// Sorted, no duplicates, `member` among them.
        members: Option<Vec<MemberName>>,
        occurrence: Option<u32>,
    },
    /// `no-membership-change`: no view changes (in `group`, or in any group).
    NoMembershipChange { group: Option<String> },
    /// `final-view`: at the end, `group`'s view is exactly `members`
    /// (sorted, no duplicates, each a member of a job in `group`).
    FinalView {
        group: String,
        members: Vec<MemberName>,
        /// The final view is (`true`) or is not (`false`) primary.
        primary: Option<bool>,
    },
    /// `protocol-outcome`: `member` (or, without it, every member that
    /// decided it) decided `instance` of `protocol` with `outcome`.
    ProtocolOutcome {
        member: Option<MemberName>,
        protocol: String,
        instance: u64,
        outcome: String,
    },
}

impl Expectation {
    /// Every expectation kind name, as written in files.
    pub const NAMES: &'static [&'static str] = &[
        "membership-change",
        "no-membership-change",
        "final-view",
        "protocol-outcome",
        "joined",
    ];

    /// The kebab-case kind name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            Expectation::MembershipChange { .. } => "membership-change",
            Expectation::NoMembershipChange { .. } => "no-membership-change",
            Expectation::FinalView { .. } => "final-view",
            Expectation::ProtocolOutcome { .. } => "protocol-outcome",
            Expectation::Joined { .. } => "joined",
        }
    }
}
