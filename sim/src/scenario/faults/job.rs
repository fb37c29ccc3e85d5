//! `job-kill` (the job dies without unregistering), `job-leave` (it
//! unregisters gracefully), `job-join` (it starts and registers again); and
//! `[random.job-kill]`.

use super::{Dice, Key, Keys, Result, Shape, Table, Writer};
use crate::scenario::{node_name, Rate, Scenario};

/// What happens to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Kill,
    Leave,
    Join,
}

/// Something happens to `job` on `node`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFault {
    pub action: JobAction,
    pub node: u16,
    pub job: String,
}

impl JobFault {
    pub const NAMES: &'static [&'static str] = &["job-kill", "job-leave", "job-join"];
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[
            Key::new("node", Shape::Node, "The node the job runs on."),
            Key::new("job", Shape::Job, "The job."),
        ],
        optional: &[],
    };

    pub fn name(&self) -> &'static str {
        match self.action {
            JobAction::Kill => "job-kill",
            JobAction::Leave => "job-leave",
            JobAction::Join => "job-join",
        }
    }

    pub(super) fn parse(name: &str, t: &Table<'_>) -> Result<JobFault> {
        let action = match name {
            "job-kill" => JobAction::Kill,
            "job-leave" => JobAction::Leave,
            "job-join" => JobAction::Join,
            other => unreachable!("not a job fault: {other}"),
        };
        let (node, node_span) = t.node("node")?;
        let job = t.job_on("job", node, node_span)?;
        Ok(JobFault {
            action,
            node,
            job: job.name.clone(),
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.node("node", self.node);
        w.text("job", &self.job);
    }

    pub fn describe(&self) -> String {
        format!("{} {}@{}", self.name(), self.job, node_name(self.node))
    }
}

/// `[random.job-kill]`: a member's job dies without unregistering.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomJobKill {
    /// The jobs it strikes (default every job).
    pub jobs: Option<Vec<String>>,
}

impl RandomJobKill {
    pub const NAME: &'static str = "job-kill";
    pub(super) const KEYS: Keys = Keys {
        any_of: &[],
        required: &[],
        optional: &[Key::new(
            "jobs",
            Shape::Jobs,
            "The jobs to draw from; default: every job.",
        )],
    };

    pub(super) fn parse(t: &Table<'_>) -> Result<RandomJobKill> {
        Ok(RandomJobKill {
            jobs: t.jobs("jobs")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer) {
        if let Some(jobs) = &self.jobs {
            w.texts("jobs", jobs);
        }
    }

    pub(super) fn draw(&self, d: &mut Dice<'_>) -> JobFault {
        let all = d.jobs();
        let job = d.pick(self.jobs.as_deref().unwrap_or(&all));
        let spec = d.scenario.job(&job).expect("validated job");
        let node = d.pick(&spec.nodes);
        JobFault {
            action: JobAction::Kill,
            node,
            job,
        }
    }

    pub(super) fn menu(_: &Scenario) -> (Rate, RandomJobKill) {
        (super::count(0, 1), RandomJobKill { jobs: None })
    }
}
