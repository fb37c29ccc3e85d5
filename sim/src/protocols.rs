//! The protocols a scenario can name, with their options.
//!
//! A [`Registry`] maps each `protocol = "..."` name to a factory and to the
//! options the protocol takes under its `[[job]]` table. vigil's own binary
//! uses [`Registry::builtin`]; a user's crate registers its own protocols
//! next to them and runs scenarios with [`crate::runtime::run`],
//! [`crate::scenario::parse_with`] or [`crate::cli::main_with_registry`],
//! without touching vigil's code:
//!
//! ```
//! use vigil_sim::protocols::{Registry, OptionSpec, OptionKind};
//! use vigil_protocols::Barrier;
//!
//! let mut registry = Registry::builtin();
//! registry.register(
//!     "short-barrier",
//!     "a barrier of a few rounds",
//!     &[OptionSpec { key: "rounds", kind: OptionKind::Int { min: 1, max: 1000 }, default: "3", doc: "rounds to run" }],
//!     |setup| Barrier { rounds: Some(setup.options.int("rounds").unwrap_or(3) as u64) },
//! );
//! assert!(registry.get("short-barrier").is_some());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use vigil_engine::job::Rounds;
/// A coverage probe's declaration (`Registry::set_probes`).
pub use vigil_engine::probe::ProbeDef;
use vigil_engine::MemberId;
use vigil_protocols::{Barrier, GroupState, Protocol, RoundDriver, Tasks, TwoPhaseCommit};

/// The keys a `[[job]]` table takes for itself; any other is a protocol
/// option, so no protocol may take an option of these names.
pub const JOB_KEYS: &[&str] = &[
    "name",
    "group",
    "nodes",
    "work_threads",
    "work_deadline",
    "protocol",
    "step_time",
    "ordered_every",
];

/// The keys a `[[task]]` table takes for itself; any other is an option of
/// the task's protocol.
pub const TASK_KEYS: &[&str] = &["at", "member", "protocol", "priority", "options"];

/// The type of an option's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptionKind {
    /// An integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Text,
    /// A number in `min..=max`.
    Float {
        min: f64,
        max: f64,
    },
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionKind::Int { min, max } => write!(f, "an integer from {min} to {max}"),
            OptionKind::Bool => f.write_str("true or false"),
            OptionKind::Text => f.write_str("a string"),
            OptionKind::Float { min, max } => write!(f, "a number from {min} to {max}"),
        }
    }
}

/// One option a protocol takes under its `[[job]]` table.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    pub key: &'static str,
    pub kind: OptionKind,
    /// The default, as documentation ("until the scenario ends").
    pub default: &'static str,
    pub doc: &'static str,
}

/// An option's value as written in the file.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    Int(i64),
    Bool(bool),
    Text(String),
    Float(f64),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Int(v) => write!(f, "{v}"),
            OptionValue::Bool(v) => write!(f, "{v}"),
            OptionValue::Text(v) => write!(f, "{v:?}"),
            OptionValue::Float(v) => write!(f, "{v:?}"),
        }
    }
}

/// The options given to one job's protocol (only those written in the file).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options(pub BTreeMap<String, OptionValue>);

impl Options {
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.0.get(key) {
            Some(OptionValue::Int(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key) {
            Some(OptionValue::Bool(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(OptionValue::Text(v)) => Some(v),
            _ => None,
        }
    }
    pub fn float(&self, key: &str) -> Option<f64> {
        match self.0.get(key) {
            Some(OptionValue::Float(v)) => Some(*v),
            Some(OptionValue::Int(v)) => Some(*v as f64),
            _ => None,
        }
    }
}

/// What a protocol factory gets for one work thread.
#[derive(Debug)]
pub struct Setup<'a> {
    pub options: &'a Options,
    /// The job's name.
    pub job: &'a str,
    pub thread: u16,
    /// The tasks submitted to the job's group, for a protocol that runs
    /// them (`tasks`), and the registry their protocols come from.
    pub tasks: &'a [TaskDef],
    pub registry: &'a Registry,
    /// The run's deliberately broken variant, if any (tests only; see
    /// [`crate::mutation`]).
    pub mutation: Option<crate::mutation::Mutation>,
}

type Factory = Arc<dyn Fn(&Setup<'_>, MemberId) -> Box<dyn Rounds> + Send + Sync>;

/// One registered protocol.
#[derive(Clone)]
pub struct ProtocolDef {
    pub name: String,
    pub summary: String,
    pub options: Vec<OptionSpec>,
    /// The outcomes it decides, if it names them (checked in expectations).
    pub outcomes: Option<Vec<String>>,
    /// The option without which it decides nothing (`rounds` for barrier):
    /// a `protocol-outcome` expectation needs a job that sets it.
    pub decides_with: Option<String>,
    /// The coverage probes it declares (hit with `StepCtx::sometimes`).
    pub probes: Vec<ProbeDef>,
    make: Factory,
}

impl fmt::Debug for ProtocolDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolDef")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ProtocolDef {
    /// A driver for one work thread.
    pub fn driver(&self, setup: &Setup<'_>, me: MemberId) -> Box<dyn Rounds> {
        (self.make)(setup, me)
    }
    pub fn option(&self, key: &str) -> Option<&OptionSpec> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// Protocol names to factories.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    defs: BTreeMap<String, ProtocolDef>,
}

/// The default protocol of a job.
pub const DEFAULT_PROTOCOL: &str = "barrier";

/// The protocol of a job whose work thread runs the tasks submitted to its
/// group (`[[task]]`).
pub const TASKS_PROTOCOL: &str = "tasks";

/// One task a group's task runner may be handed: its number (the
/// scenario's `[[task]]` index), protocol and options.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDef {
    pub id: u32,
    pub protocol: String,
    pub options: Options,
}

/// The task runner of one work thread: it makes each task's protocol
/// from the registry, with the task's options.
fn tasks(setup: &Setup<'_>, me: MemberId) -> Box<dyn Rounds> {
    let mine: BTreeMap<u32, TaskDef> = setup.tasks.iter().map(|t| (t.id, t.clone())).collect();
    let registry = setup.registry.clone();
    let (job, thread, mutation) = (setup.job.to_string(), setup.thread, setup.mutation);
    let make = move |id: u32, me: MemberId| {
        let task = mine.get(&id)?;
        let def = registry.get(&task.protocol)?;
        let setup = Setup {
            options: &task.options,
            job: &job,
            thread,
            tasks: &[],
            registry: &registry,
            mutation,
        };
        Some(def.driver(&setup, me))
    };
    #[allow(unused_mut)]
    let mut runner = Tasks::new(me, Arc::new(make));
    #[cfg(feature = "mutations")]
    if let Some(m) = setup.mutation {
        for p in m.protocols() {
            runner.mutate(*p);
        }
    }
    Box::new(runner)
}

fn limit(setup: &Setup<'_>, key: &str) -> Option<u64> {
    setup.options.int(key).map(|v| v.max(0) as u64)
}

impl Registry {
    /// The built-in registry, built once.
    pub fn builtin_ref() -> &'static Registry {
        static BUILTIN: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(Registry::builtin)
    }

    /// No protocols at all.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// vigil's shipped protocols: `barrier`, `two-phase-commit`, `group-state`.
    pub fn builtin() -> Registry {
        let mut r = Registry::empty();
        r.register(
            "barrier",
            "every member waits for every other member, round after round",
            &[OptionSpec {
                key: "rounds",
                kind: OptionKind::Int {
                    min: 0,
                    max: 1_000_000,
                },
                default: "until the scenario ends",
                doc: "stop after this many rounds (outcome `passed`)",
            }],
            |s| Barrier {
                rounds: limit(s, "rounds"),
            },
        );
        r.set_outcomes("barrier", &["passed"]);
        r.set_decides_with("barrier", "rounds");
        r.register(
            "two-phase-commit",
            "the lowest member coordinates transactions: a vote round, then a decision round",
            &[
                OptionSpec {
                    key: "transactions",
                    kind: OptionKind::Int {
                        min: 0,
                        max: 1_000_000,
                    },
                    default: "until the scenario ends",
                    doc: "how many transactions to run",
                },
                OptionSpec {
                    key: "abort_every",
                    kind: OptionKind::Int {
                        min: 0,
                        max: 1_000_000,
                    },
                    default: "0 (never)",
                    doc: "with k > 0, the highest member votes no on every k-th transaction",
                },
            ],
            |s| {
                TwoPhaseCommit::new(
                    limit(s, "transactions"),
                    limit(s, "abort_every").unwrap_or(0),
                )
            },
        );
        r.set_outcomes(
            "two-phase-commit",
            &[
                "commit",
                "abort",
                vigil_protocols::IN_DOUBT,
                vigil_protocols::NO_QUORUM,
            ],
        );
        r.set_probes("two-phase-commit", vigil_protocols::TWO_PHASE_PROBES);
        r.register(
            "group-state",
            "a replicated key-value state, updated at every ACK round in one agreed order",
            &[
                OptionSpec {
                    key: "updates",
                    kind: OptionKind::Int {
                        min: 0,
                        max: 1_000_000,
                    },
                    default: "until the scenario ends",
                    doc: "stop when the state reaches this version",
                },
                OptionSpec {
                    key: "keys",
                    kind: OptionKind::Int {
                        min: 1,
                        max: 1_000_000,
                    },
                    default: "8",
                    doc: "how many distinct keys members write",
                },
            ],
            |s| GroupState::new(limit(s, "updates"), limit(s, "keys").unwrap_or(8)),
        );
        r.set_decides_with("group-state", "updates");
        r.register_rounds(
            TASKS_PROTOCOL,
            "runs the [[task]]s submitted to the group, one after another, in the group's one order; priority tasks first at each task boundary",
            &[],
            tasks,
        );
        r
    }

    /// Registers `name` as a maker of work-thread machines that are not a
    /// [`Protocol`] in a [`RoundDriver`] (the task runner).
    pub fn register_rounds(
        &mut self,
        name: &str,
        summary: &str,
        options: &[OptionSpec],
        make: impl Fn(&Setup<'_>, MemberId) -> Box<dyn Rounds> + Send + Sync + 'static,
    ) -> &mut Registry {
        for o in options {
            assert!(
                !JOB_KEYS.contains(&o.key) && !TASK_KEYS.contains(&o.key),
                "protocol `{name}`: option `{}` is a [[job]] or [[task]] key and could never be set",
                o.key
            );
        }
        self.defs.insert(
            name.to_string(),
            ProtocolDef {
                name: name.to_string(),
                summary: summary.to_string(),
                options: options.to_vec(),
                outcomes: None,
                probes: Vec::new(),
                decides_with: None,
                make: Arc::new(make),
            },
        );
        self
    }

    /// Registers protocol `name`, made by `make` for every work thread.
    /// A later registration of the same name replaces the earlier one.
    pub fn register<P: Protocol>(
        &mut self,
        name: &str,
        summary: &str,
        options: &[OptionSpec],
        make: impl Fn(&Setup<'_>) -> P + Send + Sync + 'static,
    ) -> &mut Registry {
        self.register_rounds(name, summary, options, move |setup, me| {
            #[allow(unused_mut)]
            let mut driver = RoundDriver::new(make(setup), me);
            #[cfg(feature = "mutations")]
            if let Some(m) = setup.mutation {
                for p in m.protocols() {
                    driver.mutate(*p);
                }
            }
            Box::new(driver)
        })
    }

    /// Declares that protocol `name` decides nothing unless option `key` is
    /// set, so that expectations that could never pass are rejected.
    pub fn set_decides_with(&mut self, name: &str, key: &str) -> &mut Registry {
        if let Some(def) = self.defs.get_mut(name) {
            def.decides_with = Some(key.to_string());
        }
        self
    }

    /// Declares the outcomes protocol `name` decides, so that expectations
    /// naming another outcome are rejected.
    pub fn set_outcomes(&mut self, name: &str, outcomes: &[&str]) -> &mut Registry {
        if let Some(def) = self.defs.get_mut(name) {
            def.outcomes = Some(outcomes.iter().map(|s| s.to_string()).collect());
        }
        self
    }

    /// Declares the coverage probes protocol `name` may hit
    /// (`StepCtx::sometimes`): `vigil explore` lists those no run reached.
    pub fn set_probes(&mut self, name: &str, probes: &[ProbeDef]) -> &mut Registry {
        if let Some(def) = self.defs.get_mut(name) {
            def.probes = probes.to_vec();
        }
        self
    }

    /// Every probe a run with these protocols may hit: the built-in ones,
    /// then each protocol's, in name order.
    pub fn probes(&self) -> Vec<ProbeDef> {
        let mut all = vigil_engine::probe::PROBES.to_vec();
        for def in self.defs.values() {
            for p in &def.probes {
                if !all.iter().any(|a| a.name == p.name) {
                    all.push(*p);
                }
            }
        }
        all
    }

    pub fn get(&self, name: &str) -> Option<&ProtocolDef> {
        self.defs.get(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.defs.keys().map(String::as_str).collect()
    }
}
