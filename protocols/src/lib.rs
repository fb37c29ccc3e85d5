//! ACK-round protocols for vigil jobs.
//!
//! A protocol is a deterministic state machine ([`Protocol`]). A work thread
//! runs it in rounds: it calls the protocol's local step, which returns this
//! member's ACK for the round; it sends that ACK to every member of its view;
//! then it waits until every member of its current view has ACKed the round,
//! or a membership change has removed the ones missing. Only local work
//! happens inside a step; all waiting happens between steps, in the work
//! thread. [`RoundDriver`] holds that bookkeeping, also without IO, so a
//! protocol can be tested with no simulator at all.
//!
//! Invariant (the patent's promise, kept by [`RoundDriver::round_complete`]):
//! a round completes exactly when each member of the *current* view has
//! ACKed it; since every departed member is removed from the view by a
//! membership change, no round waits for a member that is gone.
//!
//! ```
//! use vigil_protocols::{Barrier, RoundDriver, Next};
//! use vigil_engine::{MemberId, Name, NodeId, Incarnation, MembershipChange, ViewId};
//!
//! let member = |n| MemberId { job: Name::new("db"), node: NodeId(n), node_incarnation: Incarnation(1), registration: 1 };
//! let mut driver = RoundDriver::new(Barrier::default(), member(0));
//! driver.on_view(&MembershipChange {
//!     group: Name::new("g"), view: ViewId(1), me: member(0),
//!     members: vec![member(0), member(1)], joined: vec![member(0), member(1)], left: vec![],
//! });
//! let Next::Send { round, .. } = driver.step() else { panic!() };
//! let _ = driver.on_ack(member(0), round, b"null");
//! assert!(!driver.round_complete(), "db@n1 has not ACKed yet");
//! let _ = driver.on_ack(member(1), round, b"null");
//! assert!(driver.round_complete());
//! ```

mod barrier;
mod driver;

pub use barrier::Barrier;
pub use driver::{ErasedDriver, Next, RoundDriver, ROUNDS_AHEAD_MAX};

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use vigil_engine::{MemberId, MembershipChange};

/// What a local step sees.
#[derive(Debug)]
pub struct StepCtx<'a, A> {
    /// The round this step opens (1 for the first).
    pub round: u64,
    pub me: &'a MemberId,
    /// The current view's members, sorted.
    pub view: &'a [MemberId],
    /// The ACKs gathered in the previous round, by sender (empty before round 1).
    pub acks: &'a BTreeMap<MemberId, A>,
}

/// What a local step decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Step<A> {
    /// Send this ACK for the round and wait for everybody else's.
    Ack(A),
    /// The protocol is finished with this outcome.
    Done(String),
    /// The step failed: the work thread faults.
    Fault(String),
}

/// What a protocol does when the view changes in the middle of a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnViewChange {
    /// Go on with the members left (and wait for new ones to ACK too).
    Continue,
    /// Abandon the round and run the local step again in the new view.
    RestartRound,
    /// Stop with this outcome.
    Abort(String),
}

/// An ACK-round protocol.
pub trait Protocol: Debug + Send + 'static {
    /// The payload of one member's ACK.
    type Ack: Clone + Debug + Send + Serialize + DeserializeOwned + 'static;

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
}
