//! `[random.task]`: tasks submitted at random times, each seed its own.
//! Not a fault, but drawn like one (a rate, bounds, on or off in a swarm
//! draw), so it lives with the kinds; a draw yields a `[[task]]` where a
//! fault kind's yields a `[[fault]]`.
//!
//! ```toml
//! [random.task]
//! every = "2s"                      # or count = [min, max]
//! jobs = ["ops"]                    # default every job with protocol = "tasks"
//! protocols = ["barrier"]           # default the shipped ones, each with a size drawn:
//!                                   # barrier 1-6 rounds, two-phase-commit 1-3
//!                                   # transactions, group-state 1-6 updates;
//!                                   # others take their default options
//! priority = 0.25                   # the share of priority tasks, or a [min, max] range (default 0.25)
//! ```

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::protocols::{OptionValue, Options};
use crate::scenario::{Rate, Scenario, Task, TASKS_PROTOCOL};
use std::time::Duration;

/// Tasks from members of `jobs`, of `protocols`, a share `priority` of
/// them priority tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomTask {
    /// The `tasks` jobs whose members submit them (default every one).
    pub jobs: Option<Vec<String>>,
    /// The protocols the tasks run (default every task protocol).
    pub protocols: Option<Vec<String>>,
    /// The share of priority tasks: a range, drawn per task.
    pub priority: (f64, f64),
}

impl RandomTask {
    pub const NAME: &'static str = "task";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[
            Key::new(
                "jobs",
                Shape::Jobs,
                "The jobs (each with `protocol = \"tasks\"`) whose members submit; default: every such job.",
            ),
            Key::new(
                "protocols",
                Shape::Protocols,
                "The protocols tasks run; default: barrier, two-phase-commit, group-state.",
            ),
            Key::new(
                "priority",
                Shape::RateOrRange,
                "The share of priority tasks: a number, or a [min, max] range drawn per run; default 0.25.",
            ),
        ],
    };
    /// The share of priority tasks when the table does not say.
    const PRIORITY: f64 = 0.25;
    /// The protocols tasks run when the table does not say: the shipped
    /// ones.
    pub const PROTOCOLS: &'static [&'static str] = &["barrier", "two-phase-commit", "group-state"];
    /// How long a drawn task of a shipped protocol is: the option that
    /// says it, and its range. Their defaults run for ever, which a task
    /// must not; another protocol's task takes its default options.
    const SIZES: &'static [(&'static str, &'static str, (i64, i64))] = &[
        ("barrier", "rounds", (1, 6)),
        ("two-phase-commit", "transactions", (1, 3)),
        ("group-state", "updates", (1, 6)),
    ];

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomTask> {
        let priority = match t.get("priority") {
            Some(_) => t.rate_range("priority")?,
            None => (Self::PRIORITY, Self::PRIORITY),
        };
        Ok(RandomTask {
            jobs: t.task_jobs("jobs")?,
            protocols: t.task_protocols("protocols", Self::PROTOCOLS)?,
            priority,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(jobs) = &self.jobs {
            w.texts("jobs", jobs);
        }
        if let Some(protocols) = &self.protocols {
            w.texts("protocols", protocols);
        }
        w.rates("priority", self.priority);
    }

    /// One task at `at`: a member of one of the jobs, one of the
    /// protocols with its size drawn, priority with the drawn share.
    /// `None` if none of the jobs runs tasks (a scenario changed after it
    /// was read, as the tests that run every example under each protocol
    /// change it).
    pub(super) fn draw(&self, d: &mut Dice<'_>, at: Duration) -> Option<Task> {
        let all = tasks_jobs(d.scenario);
        let jobs: Vec<String> = match &self.jobs {
            Some(jobs) => jobs.iter().filter(|j| all.contains(j)).cloned().collect(),
            None => all,
        };
        if jobs.is_empty() {
            return None;
        }
        let job = d.pick(&jobs);
        let spec = d.scenario.job(&job).expect("validated job");
        let node = d.pick(&spec.nodes);
        let protocol = match &self.protocols {
            Some(list) => d.pick(list),
            None => d.pick(Self::PROTOCOLS).to_string(),
        };
        let mut options = Options::default();
        if let Some((_, key, (lo, hi))) = Self::SIZES.iter().find(|(p, ..)| *p == protocol) {
            let n = lo + d.below(hi - lo + 1);
            options.0.insert((*key).to_string(), OptionValue::Int(n));
        }
        let share = d.rate_in(self.priority);
        Some(Task {
            at,
            member: spec.member(node),
            protocol,
            options,
            priority: d.chance(share),
            line: 0,
        })
    }

    /// A task every tenth of the run from any member, of any protocol, a
    /// quarter of them priority; none for a scenario without a `tasks` job.
    pub(super) fn menu(s: &Scenario) -> Option<(Rate, RandomTask)> {
        if tasks_jobs(s).is_empty() {
            return None;
        }
        Some((
            super::every(s, 10),
            RandomTask {
                jobs: None,
                protocols: None,
                priority: (Self::PRIORITY, Self::PRIORITY),
            },
        ))
    }
}

/// The jobs of `s` that run tasks.
fn tasks_jobs(s: &Scenario) -> Vec<String> {
    s.jobs
        .iter()
        .filter(|j| j.protocol == TASKS_PROTOCOL)
        .map(|j| j.name.clone())
        .collect()
}
