//! ACK-round protocols for vigil jobs.
//!
//! A protocol is a deterministic state machine ([`Protocol`]). A work thread
//! runs it in rounds: it calls the protocol's local step, which reads the
//! ACKs of the previous round and returns this member's ACK for the next
//! one; it sends that ACK to every member of its view; then it waits until
//! every member of its current view has ACKed the round, or a membership
//! change has removed the ones missing. Only local work happens inside a
//! step; all waiting happens between steps, in the work thread, so "only
//! local processing between ACK rounds" holds by construction.
//! [`RoundDriver`] holds that bookkeeping, also without IO, so a protocol
//! can be tested with no simulator at all ([`testkit`]).
//!
//! Invariants kept by [`RoundDriver`]:
//! - a round completes exactly when each member of the *current* view has
//!   ACKed it; since every departed member is removed from the view by a
//!   membership change, no round waits for a member that is gone;
//! - the ACKs a step reads are those of the members of the view in which
//!   the round completed, so two members that complete a round in the same
//!   view read the same ACKs. A protocol whose next state is a function of
//!   those ACKs keeps identical group state on every member
//!   ([`Protocol::group_state`], checked as `state-agrees`).
//!
//! # Writing a protocol
//!
//! ```
//! use vigil_protocols::{Protocol, Step, StepCtx, RoundDriver, Next, Decision};
//! use vigil_engine::{MemberId, Name, NodeId, Incarnation, MembershipChange, ViewId};
//!
//! /// Every member proposes a number; after each round all members add up
//! /// the numbers of that round. Group state: the running sum.
//! #[derive(Clone, Debug, Default, Hash)]
//! struct Sum { total: u64 }
//!
//! impl Protocol for Sum {
//!     type Ack = u64;
//!     fn name(&self) -> &'static str { "sum" }
//!     fn step(&mut self, mut ctx: StepCtx<'_, u64>) -> Step<u64> {
//!         self.total += ctx.acks.values().sum::<u64>();
//!         if ctx.round > 3 {
//!             ctx.decide(Decision::new(0, format!("total {}", self.total)));
//!             return Step::Done("summed 3 rounds".into());
//!         }
//!         Step::Ack(u64::from(ctx.me.node.0) + 1)
//!     }
//!     fn group_state(&self) -> Option<serde_json::Value> {
//!         Some(self.total.into())
//!     }
//! }
//!
//! let member = |n| MemberId { job: Name::new("db"), node: NodeId(n), node_incarnation: Incarnation(1), registration: 1 };
//! let mut driver = RoundDriver::new(Sum::default(), member(0));
//! driver.on_view(&MembershipChange {
//!     group: Name::new("g"), view: ViewId(1), me: member(0),
//!     members: vec![member(0), member(1)], joined: vec![member(0), member(1)], left: vec![], rejoined: vec![], primary: None,
//! });
//! let Next::Send { round, payload } = driver.step() else { panic!() };
//! let _ = driver.on_ack(member(0), round, &payload);
//! assert!(!driver.round_complete(), "db@n1 has not ACKed yet");
//! ```
//!
//! To run it in vigil scenarios, register it with the simulator
//! (`vigil_sim::protocols::Registry`); see `examples/` in the repository.

/// Whether `$sm` runs the broken variant `$name` (see [`Mutation`]):
/// always false outside test builds.
macro_rules! mutated {
    ($sm:expr, $name:ident) => {{
        #[cfg(any(test, feature = "mutations"))]
        let on = $sm.mutation == Some($crate::Mutation::$name);
        #[cfg(not(any(test, feature = "mutations")))]
        let on = false;
        on
    }};
}

mod barrier;
mod driver;
mod group_state;
#[cfg(any(test, feature = "mutations"))]
mod mutation;
mod tasks;
pub mod testkit;
mod two_phase;

#[cfg(any(test, feature = "mutations"))]
pub use mutation::Mutation;

pub use barrier::Barrier;
pub use driver::{digest, digest_of, RoundDriver, Sent, WireAck, HISTORY_ROUNDS, ROUNDS_AHEAD_MAX};
pub use group_state::{GroupState, StateAck};
pub use tasks::{instance_of, round_in_task, MakeTask, Stream, TaskMsg, Tasks};
/// Two-phase commit's coverage probes.
pub use two_phase::PROBES as TWO_PHASE_PROBES;
pub use two_phase::{TpcAck, TpcMsg, TwoPhaseCommit, IN_DOUBT, NO_QUORUM};
/// What crosses between a work thread and its protocol, defined by the
/// engine's job model (so the engine needs no protocol crate).
pub use vigil_engine::job::{Completion, Decision, Next, Proposal, Rounds, Vote};
/// The engine's names for members and views, re-exported so that a
/// protocol crate needs no other vigil dependency.
pub use vigil_engine::{
    Incarnation, LeaveReason, MemberId, MembershipChange, Name, NodeId, ViewId,
};

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

/// What a local step sees.
#[derive(Debug)]
pub struct StepCtx<'a, A> {
    /// The round this step opens (1 for the first).
    pub round: u64,
    /// This member, as named in the current view.
    pub me: &'a MemberId,
    /// The current view's members, sorted.
    pub view: &'a [MemberId],
    /// The current view's id.
    pub view_id: ViewId,
    /// The ACKs of the round just completed, by sender: those of the members
    /// of the current view, this member's own included (empty before the
    /// first round). A member of the
    /// view may be missing if it skipped that round (it joined later and
    /// caught up, or it ran ahead while this member was not in its view).
    pub acks: &'a BTreeMap<MemberId, A>,
    /// ACKs of the same round from members that have left the view since.
    /// A protocol that keeps group state must not let them reach it (the
    /// members left may have sent them to only some of the view); one that
    /// relays decisions may learn from them.
    pub left_acks: &'a BTreeMap<MemberId, A>,
    /// The round whose ACKs `acks` holds (0: none).
    pub acks_round: u64,
    /// Whether the view changed since this member's previous step.
    pub view_changed: bool,
    /// Whether the current view is primary (see `vigil_engine::Quorum`):
    /// `None` when the cluster keeps no quorum. A protocol that must not
    /// decide on a minority side of a partition decides only when this is
    /// not `Some(false)`.
    pub primary: Option<bool>,
    decisions: &'a mut Vec<Decision>,
    votes: &'a mut Vec<Vote>,
    probes: &'a mut Vec<&'static str>,
}

impl<A> StepCtx<'_, A> {
    /// Records an outcome of this protocol: reported in `protocol_outcomes`,
    /// matched by `protocol-outcome` expectations, and, for a protocol
    /// with [`Protocol::agreement`], checked to agree across members.
    pub fn decide(&mut self, decision: Decision) {
        self.decisions.push(decision);
    }

    /// Records this member's vote on an instance: reported in the trace,
    /// where the agreement check holds a unanimous outcome (a commit) to
    /// the votes cast for it.
    pub fn vote(&mut self, vote: Vote) {
        self.votes.push(vote);
    }

    /// Marks a rare path this step took: a coverage probe ("sometimes"
    /// point), which `vigil run` lists and `vigil explore` counts per
    /// probe, listing the ones no run reached. Declare the protocol's
    /// probes with `Registry::set_probes` so that a sweep that never hits
    /// one says so.
    pub fn sometimes(&mut self, name: &'static str) {
        self.probes.push(name);
    }
}

/// What a local step decides.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Step<A> {
    /// Send this ACK for the round and wait for everybody else's.
    Ack(A),
    /// The protocol is finished with this outcome; the member stops taking
    /// part in rounds (it still answers members behind it).
    Done(String),
    /// The step failed: the work thread faults and the job leaves its group.
    Fault(String),
}

/// What a protocol does when the view changes in the middle of a round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OnViewChange {
    /// Go on with the members left (and wait for new ones to ACK too).
    Continue,
    /// Abandon the round and run the local step again in the new view.
    /// The re-run sees the same ACKs as the abandoned step did.
    RestartRound,
    /// Stop with this outcome.
    Abort(String),
}

/// An ACK-round protocol.
///
/// The implementation must be deterministic: the same calls in the same
/// order give the same answers (no clocks, no unseeded randomness, no
/// `HashMap` iteration reaching an ACK). It is `Clone` and `Hash` over its
/// whole state, so that `vigil exhaust` can fork a run and tell the
/// states it has seen.
pub trait Protocol: Clone + Debug + Hash + Send + 'static {
    /// The payload of one member's ACK.
    type Ack: Clone + Debug + Hash + Send + Serialize + DeserializeOwned + 'static;

    /// The name used in scenario files.
    fn name(&self) -> &'static str;

    /// The local step that opens round `ctx.round`.
    fn step(&mut self, ctx: StepCtx<'_, Self::Ack>) -> Step<Self::Ack>;

    /// Called when a membership change arrives during a round.
    fn on_view_change(&mut self, _change: &MembershipChange) -> OnViewChange {
        OnViewChange::Continue
    }

    /// Whether a member may skip to the round the others are in, as a
    /// member that just joined does (it has nothing to contribute to the
    /// rounds it missed).
    fn catch_up(&self) -> bool {
        false
    }

    /// This member's copy of the group state, if the protocol keeps one
    /// (IBM's US 6,625,639). After every round that the members of a view
    /// completed in that view, their copies must be identical: vigil checks
    /// this as `state-agrees`.
    fn group_state(&self) -> Option<serde_json::Value> {
        None
    }

    /// [`digest`] of [`Protocol::group_state`], taken after every round. A
    /// protocol may give the same digest without building the JSON value
    /// first (`group-state` does: the value and its text were a tenth of
    /// a run).
    fn state_digest(&self) -> Option<String> {
        self.group_state().map(|s| digest(&s))
    }

    /// The name of the check that the decisions of one instance agree across
    /// members (`"atomic-commit"` for two-phase commit), if they must.
    fn agreement(&self) -> Option<&'static str> {
        None
    }

    /// Runs a deliberately broken variant of the protocol, if it has this
    /// one (tests only).
    #[cfg(any(test, feature = "mutations"))]
    fn mutate(&mut self, _mutation: Mutation) {}
}
