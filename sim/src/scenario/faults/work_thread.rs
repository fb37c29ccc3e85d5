//! `work-thread-panic`, `work-thread-error`, `work-thread-hang`: a work
//! thread's next local step panics, returns an error, or never returns (the
//! main thread's watchdog notices after `work_deadline`); and
//! `[random.work-thread]`, which draws them.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::error::ScenarioError;
use crate::scenario::{node_name, Rate, Scenario};

/// What a work thread's faulty step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkThreadFault {
    Panic,
    Error,
    Hang,
}

impl WorkThreadFault {
    pub const ALL: [WorkThreadFault; 3] = [
        WorkThreadFault::Panic,
        WorkThreadFault::Error,
        WorkThreadFault::Hang,
    ];

    /// `panic`, `error` or `hang`, as `[random.work-thread]` writes it.
    pub fn name(self) -> &'static str {
        match self {
            WorkThreadFault::Panic => "panic",
            WorkThreadFault::Error => "error",
            WorkThreadFault::Hang => "hang",
        }
    }
}

/// A work thread of `job` on `node` faults at its next local step.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkThread {
    pub fault: WorkThreadFault,
    pub node: u16,
    pub job: String,
    /// Less than the job's `work_threads`.
    pub thread: u16,
}

impl WorkThread {
    pub const NAMES: &'static [&'static str] =
        &["work-thread-panic", "work-thread-error", "work-thread-hang"];
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new("node", Shape::Node, "The node the job runs on."),
            Key::new("job", Shape::Job, "The job whose work thread faults."),
        ],
        optional: &[Key::new(
            "thread",
            Shape::Int {
                min: 0,
                max: u16::MAX as i64,
            },
            "Which work thread (below the job's `work_threads`); default 0.",
        )],
    };

    pub fn name(&self) -> &'static str {
        match self.fault {
            WorkThreadFault::Panic => "work-thread-panic",
            WorkThreadFault::Error => "work-thread-error",
            WorkThreadFault::Hang => "work-thread-hang",
        }
    }

    pub(super) fn parse(name: &str, t: &Table<'_>) -> Result<WorkThread> {
        let fault = match name {
            "work-thread-panic" => WorkThreadFault::Panic,
            "work-thread-error" => WorkThreadFault::Error,
            "work-thread-hang" => WorkThreadFault::Hang,
            other => unreachable!("not a work-thread fault: {other}"),
        };
        let (node, node_span) = t.node("node")?;
        let job = t.job_on("job", node, node_span)?;
        let thread = match t.int("thread")? {
            None => 0,
            Some(v) => {
                let n = *v.get_ref();
                u16::try_from(n)
                    .ok()
                    .filter(|n| *n < job.work_threads)
                    .ok_or_else(|| {
                        let range = if job.work_threads == 1 {
                            "1 work thread, so the only valid index is 0".to_owned()
                        } else {
                            format!(
                                "{} work threads, numbered 0..={}",
                                job.work_threads,
                                job.work_threads - 1
                            )
                        };
                        ScenarioError::new(format!(
                            "thread {n} is out of range: job `{}` has {range}",
                            job.name
                        ))
                        .at(v.span())
                    })?
            }
        };
        Ok(WorkThread {
            fault,
            node,
            job: job.name.clone(),
            thread,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        w.text("job", &self.job);
        w.raw("thread", self.thread);
    }

    pub fn describe(&self) -> String {
        format!(
            "{} {}@{} thread {}",
            self.name(),
            self.job,
            node_name(self.node),
            self.thread
        )
    }

    pub(super) fn one_thread(&mut self, jobs: &[String]) {
        if jobs.contains(&self.job) {
            self.thread = 0;
        }
    }
}

/// `[random.work-thread]`: a work thread of a member panics, errors or
/// hangs.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomWorkThread {
    /// What a drawn fault does (`kinds`, default all three).
    pub kinds: Vec<WorkThreadFault>,
    /// The jobs it strikes (default every job).
    pub jobs: Option<Vec<String>>,
}

impl RandomWorkThread {
    pub const NAME: &'static str = "work-thread";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[
            Key::new(
                "kinds",
                Shape::OneOf(&["panic", "error", "hang"]),
                "Which faults to draw; default: all three.",
            ),
            Key::new(
                "jobs",
                Shape::Jobs,
                "The jobs to draw from; default: every job.",
            ),
        ],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomWorkThread> {
        let jobs = t.jobs("jobs")?;
        let kinds = match t.strings("kinds")? {
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
        Ok(RandomWorkThread { kinds, jobs })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        let kinds: Vec<String> = self.kinds.iter().map(|k| k.name().to_string()).collect();
        w.texts("kinds", &kinds);
        if let Some(jobs) = &self.jobs {
            w.texts("jobs", jobs);
        }
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> WorkThread {
        let all = d.jobs();
        let job = d.pick(self.jobs.as_deref().unwrap_or(&all));
        let spec = d.scenario.job(&job).expect("validated job");
        let node = d.pick(&spec.nodes);
        let thread = d.below(spec.work_threads);
        WorkThread {
            fault: d.pick(&self.kinds),
            node,
            job,
            thread,
        }
    }

    /// What `--swarm` draws from without a `[random]` section.
    pub(super) fn menu(_: &Scenario) -> (Rate, RandomWorkThread) {
        let kind = RandomWorkThread {
            kinds: WorkThreadFault::ALL.to_vec(),
            jobs: None,
        };
        (super::count(0, 2), kind)
    }
}
