//! A job, as deterministic state machines: one [`MainThread`] that takes
//! everything the engine hands the job and routes it, and one
//! [`WorkThread`] per work thread that runs a protocol of ACK rounds
//! (through the [`Rounds`] trait, so this crate knows no protocol).
//!
//! The two kinds of thread are driven apart: a driver may run each as its
//! own task (the madsim driver does, so their interleavings are explored)
//! or step them all from one loop. They speak only through the driver:
//! the main thread's [`MainOutput::Route`] becomes a work thread's
//! [`WorkInput::Routed`], and a work thread's [`WorkOutput::Signal`]
//! becomes a main thread's input.

mod main_thread;
mod rounds;
#[cfg(test)]
mod tests;
mod work_thread;

pub use main_thread::{MainInput, MainOutput, MainThread, HANG_CONFIRM, WORK_THREADS_MAX};
pub use rounds::{Completion, Decision, MakeRounds, Next, Proposal, Rounds, Vote};
pub use work_thread::{StepEnd, WorkInput, WorkOutput, WorkThread, QUEUE_ITEMS_MAX};

use crate::engine::MembershipChange;
use crate::ids::{MemberId, ViewId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What job threads send each other through the engine: an ACK (or other
/// message) of one work thread's protocol instance, for one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct JobMsg {
    /// Which work thread's protocol instance this belongs to; thread `t` of
    /// one member talks to thread `t` of the others.
    pub thread: u16,
    pub round: u64,
    /// The protocol's payload, serialized by the protocol layer.
    pub payload: Arc<[u8]>,
    /// A priority message (US 6,823,512): an ordered message the main
    /// thread routes to both of its thread's queues, so the thread takes
    /// it at its next task boundary ahead of older tasks.
    #[serde(default)]
    pub priority: bool,
}

/// Which of a work thread's two queues an item goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Queue {
    Response,
    Work,
}

/// What a work thread receives from its main thread.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum WorkItem {
    /// (Boxed: a work item moves through two queues, and the rest are a
    /// few words.)
    View(Box<MembershipChange>),
    Message {
        from: MemberId,
        msg: JobMsg,
    },
    /// An ordered message of the group (see `Dest::Ordered`): number `seq`
    /// of view `view`, for a thread that takes them
    /// ([`MainThread::taking_ordered`]).
    Ordered {
        from: MemberId,
        view: ViewId,
        seq: u64,
        msg: JobMsg,
    },
    /// The node's engine is gone (its process died; the job lives on):
    /// the thread drops its protocol instance, since no ACK of the
    /// membership it ran in can come now, and begins afresh at the first
    /// view of the job's next registration. `member` is who the job was.
    EngineLost {
        member: Option<MemberId>,
    },
}

/// What a task-running protocol reports of its tasks (see
/// [`Rounds::take_task_events`]): the trace records it, and the
/// `task-order` check reads it. Tasks are named by the number their
/// submission gave them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum TaskEvent {
    /// The task reached the member's queue, in the group's order.
    Queued { task: u32, priority: bool },
    /// At a task boundary, the group's order chose it to run next, in
    /// view `view` (the member's, as its thread took views and ordered
    /// messages in one order).
    Chosen {
        task: u32,
        priority: bool,
        view: ViewId,
    },
    /// This member began to run it.
    Started { task: u32 },
    /// This member will not run it: it ran it already (before a merge), or
    /// the group finished it before this member could begin it (it joined
    /// late), so nobody waited for it.
    Skipped { task: u32 },
    /// This member takes no (further) part in the group's `number`-th
    /// task, task `task`, and told a member that runs it so (its ACK
    /// answered "skipped"): the group finished that instance without this
    /// member, which joined after its boundary or ran the task in another
    /// history (the other side of a partition), or this member abandoned
    /// it and sends no ACK in it for the round asked or any later. The
    /// member running it does not wait for this one.
    Excused { task: u32, number: u64 },
    /// This member stopped running it: the protocol finished with
    /// `outcome`, or `"abandoned"` when a merge moved the group past it.
    Finished { task: u32, outcome: String },
    /// After a view change, the member took the group's account of its
    /// tasks, as the members agreed on it: `current` chosen last (and still running if
    /// `open`), `queue` waiting in this order.
    Adopted {
        current: Option<u32>,
        open: bool,
        queue: Vec<u32>,
    },
}

/// How a work thread faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum FaultKind {
    Panic,
    Error,
    /// A local step ran past the work deadline.
    Hang,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Error => "error",
            FaultKind::Hang => "hang",
        }
    }
}
