//! How a work thread reaches its protocol: the [`Rounds`] trait, and what
//! crosses it. `vigil-protocols` implements it (its `RoundDriver` around
//! any `Protocol`); this crate only defines it, so the engine and the job
//! model depend on no protocol.

use super::JobMsg;
use crate::engine::MembershipChange;
use crate::ids::{MemberId, ViewId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the work thread does next, as its protocol says.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Next {
    /// Send this (serialized) ACK for `round` to the view.
    Send { round: u64, payload: Arc<[u8]> },
    /// Run the local step again (the protocol restarted the round).
    Restart,
    /// The protocol finished.
    Done(String),
    /// The protocol's step failed.
    Fault(String),
    /// Nothing to do until an ordered message arrives (a task runner
    /// between tasks): the thread waits, reading its queues.
    Idle,
}

/// A round this member completed, reported by the step that followed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    pub round: u64,
    /// The view in which it completed.
    pub view: ViewId,
    /// The digest of the group state after the step that read its ACKs.
    pub state: Option<String>,
}

/// One outcome of a protocol: transaction 7 committed, say.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Which instance (transaction, update, ...) this decides.
    pub instance: u64,
    /// The outcome, such as `"commit"`.
    pub outcome: String,
    /// How many ACK rounds the instance took (0: not counted).
    pub rounds: u64,
    /// The proposal this decides, when instances with the same number can
    /// be proposed more than once (two sides of a partition each run their
    /// own transaction 7). Agreement is checked per instance and proposal.
    pub proposal: Option<Proposal>,
    /// Whether this is a decision the agreement check holds the member to.
    /// `false` for a provisional word such as two-phase commit's
    /// `in-doubt`, which a later decision may replace.
    pub binding: bool,
    /// Whether this outcome needs a yes vote from every member of its
    /// proposal's view, none of whom left before the proposer decided (a
    /// commit): the agreement check holds it to that too.
    pub unanimous: bool,
}

impl Decision {
    pub fn new(instance: u64, outcome: impl Into<String>) -> Decision {
        Decision {
            instance,
            outcome: outcome.into(),
            rounds: 0,
            proposal: None,
            binding: true,
            unanimous: false,
        }
    }
}

/// A member's vote on an instance of its protocol (two-phase commit's yes
/// or no on a transaction), as the member cast it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    pub instance: u64,
    pub proposal: Proposal,
    pub yes: bool,
}

/// Who proposed an instance, and in which view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Proposal {
    pub by: MemberId,
    pub view: ViewId,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in view {}", self.by, self.view)
    }
}

/// One protocol instance in ACK rounds, as a work thread drives it: views
/// and ACKs in, local steps on demand, ACKs to send out. Implementations
/// are deterministic (the same calls give the same answers).
pub trait Rounds: Send + std::fmt::Debug {
    /// The protocol's name, as scenario files write it.
    fn protocol_name(&self) -> &'static str;
    /// The check that decisions of one instance must pass, if any
    /// (`atomic-commit`).
    fn agreement(&self) -> Option<&'static str>;
    /// A membership change: what to do about the round in progress.
    fn on_view(&mut self, change: &MembershipChange) -> Option<Next>;
    /// An ACK arrived; the answer, if any, goes to one member:
    /// (to, round, payload).
    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)>;
    /// Every member of the current view has ACKed the round (or skipped it).
    fn round_complete(&self) -> bool;
    /// The members of the view whose ACK for this round is still missing.
    fn missing(&self) -> Vec<MemberId>;
    /// The round this member is in (0 before its first step).
    fn round(&self) -> u64;
    /// The view this member's rounds run in.
    fn view_id(&self) -> ViewId;
    fn rounds_completed(&self) -> u64;
    /// The local step that opens the next round.
    fn step(&mut self) -> Next;
    /// The decisions the protocol made since the last call.
    fn take_decisions(&mut self) -> Vec<Decision>;
    /// The same, each with the name and agreement check of the protocol
    /// that made it (a task runner runs several).
    fn take_named_decisions(&mut self) -> Vec<(&'static str, Option<&'static str>, Decision)> {
        let (name, agreement) = (self.protocol_name(), self.agreement());
        self.take_decisions()
            .into_iter()
            .map(|d| (name, agreement, d))
            .collect()
    }
    /// The votes this member cast since the last call.
    fn take_votes(&mut self) -> Vec<Vote>;
    /// The round the last step completed, if it completed one.
    fn take_completion(&mut self) -> Option<Completion>;

    /// An ordered message of the group, for a thread that takes them: the
    /// thread hands them over in the group's order, between the views
    /// they were delivered in.
    fn on_ordered(&mut self, _from: &MemberId, _view: ViewId, _seq: u64, _msg: &JobMsg) {}
    /// Once the protocol is finished: its ACK for `round` (or word that it
    /// never sends one), for a member still in the instance that is at or
    /// past this member's last round (a task runner's member that began a
    /// task late). `None`: not finished, or nothing to say.
    fn answer(&self, _round: u64) -> Option<Arc<[u8]>> {
        None
    }
    /// Its ACK for `round` as it sent it, as an answer, if it holds one
    /// (`None`: it never sent one, or no longer holds it). A task runner
    /// that abandoned the instance answers with it, so that a member still
    /// in the instance has one reading of each round from this one.
    fn ack_for(&self, _round: u64) -> Option<Arc<[u8]>> {
        None
    }
    /// Whether `payload`, an ACK as it arrived, is itself an answer: those
    /// are never answered in turn, or two finished members would keep
    /// answering each other.
    fn is_answer(&self, _payload: &[u8]) -> bool {
        false
    }
    /// Its ACK of the round it waits in, as it sent it to the view (round,
    /// payload), to send again to one member: a task runner's, to a member
    /// that a view change kept from hearing it. `None`: no round open.
    fn current_ack(&self) -> Option<(u64, Arc<[u8]>)> {
        None
    }
    /// Whether the protocol waits for an ordered message before its next
    /// step (a task runner with no task to run).
    fn idle(&self) -> bool {
        false
    }
    /// Answers to send to single members, since the last call: (to,
    /// round, payload), as [`Rounds::on_ack`] returns one.
    fn take_answers(&mut self) -> Vec<(MemberId, u64, Arc<[u8]>)> {
        Vec::new()
    }
    /// Ordered messages to submit to the group, since the last call.
    fn take_submissions(&mut self) -> Vec<Arc<[u8]>> {
        Vec::new()
    }
    /// What happened to tasks since the last call.
    fn take_task_events(&mut self) -> Vec<super::TaskEvent> {
        Vec::new()
    }
    /// The probes ([`crate::probe`]) hit since the last call.
    fn take_probes(&mut self) -> Vec<&'static str> {
        Vec::new()
    }
    /// A copy of this instance, in the same state: an exhaustive explorer
    /// forks a run where it has a choice.
    fn clone_box(&self) -> Box<dyn Rounds>;
    /// Feeds its whole state to `state`: an exhaustive explorer tells
    /// states it has seen by their hash.
    fn hash_state(&self, state: &mut dyn std::hash::Hasher);
}

impl std::hash::Hash for dyn Rounds {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash_state(state);
    }
}

impl Clone for Box<dyn Rounds> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Makes a work thread's protocol instance once its member is known (at
/// the thread's first view, and again at the first view after its job
/// registers anew, when its engine came back).
pub type MakeRounds = Arc<dyn Fn(MemberId) -> Box<dyn Rounds> + Send + Sync>;
