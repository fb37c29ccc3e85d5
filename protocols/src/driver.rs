//! [`RoundDriver`]: the ACK-round bookkeeping around one protocol instance.

use crate::{OnViewChange, Protocol, Step, StepCtx};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_engine::{MemberId, MembershipChange};

/// How many rounds ahead of its own a member buffers ACKs for. A peer
/// further ahead than this is not waiting for us, so its ACKs can go.
pub const ROUNDS_AHEAD_MAX: u64 = 1024;

/// What the work thread does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Send this (serialized) ACK for `round` to the view.
    Send { round: u64, payload: Arc<[u8]> },
    /// Run the local step again (the protocol restarted the round).
    Restart,
    /// The protocol finished.
    Done(String),
    /// The protocol's step failed.
    Fault(String),
}

/// Runs one protocol instance in ACK rounds.
#[derive(Debug)]
pub struct RoundDriver<P: Protocol> {
    protocol: P,
    me: MemberId,
    view: Vec<MemberId>,
    /// The round this member is in (0 before the first step).
    round: u64,
    my_ack: Option<Arc<[u8]>>,
    acks: BTreeMap<u64, BTreeMap<MemberId, P::Ack>>,
    /// The highest round each member has ACKed.
    latest: BTreeMap<MemberId, u64>,
    completed: u64,
    malformed: u64,
    /// Whether every member of the view has ACKed `round`: kept up to date
    /// by every input, since the work thread asks after every message.
    complete: bool,
}

impl<P: Protocol> RoundDriver<P> {
    pub fn new(protocol: P, me: MemberId) -> RoundDriver<P> {
        RoundDriver {
            protocol,
            me,
            view: Vec::new(),
            round: 0,
            my_ack: None,
            acks: BTreeMap::new(),
            latest: BTreeMap::new(),
            completed: 0,
            malformed: 0,
            complete: false,
        }
    }

    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// A membership change: the view this member now waits on.
    fn on_view_inner(&mut self, change: &MembershipChange) -> Option<Next> {
        assert!(
            change.members.contains(&change.me),
            "a view holds its observer"
        );
        self.me = change.me.clone();
        self.view = change.members.clone();
        if self.round == 0 {
            return None;
        }
        match self.protocol.on_view_change(change) {
            OnViewChange::Continue => {
                // Members that just joined never saw our ACK: send it again.
                let ack = self.my_ack.clone()?;
                (!change.joined.is_empty()).then_some(Next::Send {
                    round: self.round,
                    payload: ack,
                })
            }
            OnViewChange::RestartRound => {
                self.round -= 1;
                Some(Next::Restart)
            }
            OnViewChange::Abort(outcome) => Some(Next::Done(outcome)),
        }
    }

    /// An ACK arrived (the member's own included). If it comes from a
    /// member of the view that is behind us, the answer is our own current
    /// ACK, sent to that member alone: it may have missed it while its view
    /// did not hold us yet, and it cannot finish its round without it.
    fn on_ack_inner(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        if round < self.round {
            let behind = from != self.me && self.view.contains(&from);
            return behind
                .then(|| self.my_ack.clone().map(|ack| (from, self.round, ack)))
                .flatten();
        }
        if round > self.round + ROUNDS_AHEAD_MAX {
            return None;
        }
        let Ok(ack) = serde_json::from_slice::<P::Ack>(payload) else {
            self.malformed += 1;
            return None;
        };
        let latest = self.latest.entry(from.clone()).or_insert(0);
        *latest = (*latest).max(round);
        self.acks.entry(round).or_default().insert(from, ack);
        None
    }

    /// A membership change: the view this member now waits on.
    pub fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        let next = self.on_view_inner(change);
        self.refresh();
        next
    }

    /// An ACK arrived (the member's own included). If it comes from a
    /// member of the view that is behind us, the answer is our own current
    /// ACK, sent to that member alone: it may have missed it while its view
    /// did not hold us yet, and it cannot finish its round without it.
    pub fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        let reply = self.on_ack_inner(from, round, payload);
        self.refresh();
        reply
    }

    /// Runs the local step that opens the next round.
    pub fn step(&mut self) -> Next {
        let next = self.step_inner();
        self.refresh();
        next
    }

    /// Every member of the current view has ACKed this round (or a later one).
    pub fn round_complete(&self) -> bool {
        self.complete
    }

    fn refresh(&mut self) {
        self.complete = self.round > 0
            && self
                .view
                .iter()
                .all(|m| self.latest.get(m).is_some_and(|r| *r >= self.round));
    }

    /// The members of the view whose ACK for this round is still missing.
    pub fn missing(&self) -> Vec<MemberId> {
        self.view
            .iter()
            .filter(|m| self.latest.get(*m).is_none_or(|r| *r < self.round))
            .cloned()
            .collect()
    }

    pub fn round(&self) -> u64 {
        self.round
    }
    pub fn rounds_completed(&self) -> u64 {
        self.completed
    }

    /// Runs the local step that opens the next round.
    fn step_inner(&mut self) -> Next {
        if self.round > 0 && self.round_complete() {
            self.completed = self.round;
        }
        let mut next = self.round + 1;
        if self.protocol.catch_up() {
            let others = self
                .view
                .iter()
                .filter(|m| **m != self.me)
                .filter_map(|m| self.latest.get(m));
            if let Some(min) = others.min() {
                next = next.max(*min);
            }
        }
        let prev = self.acks.remove(&self.round).unwrap_or_default();
        self.acks = self.acks.split_off(&next);
        let step = self.protocol.step(StepCtx {
            round: next,
            me: &self.me,
            view: &self.view,
            acks: &prev,
        });
        match step {
            Step::Ack(ack) => {
                let payload: Arc<[u8]> =
                    serde_json::to_vec(&ack).expect("an ACK serializes").into();
                self.round = next;
                self.my_ack = Some(payload.clone());
                Next::Send {
                    round: next,
                    payload,
                }
            }
            Step::Done(outcome) => Next::Done(outcome),
            Step::Fault(err) => Next::Fault(err),
        }
    }
}

/// A [`RoundDriver`] with its protocol's types erased, so the simulator can
/// hold any protocol.
pub trait ErasedDriver: Send + std::fmt::Debug {
    fn protocol_name(&self) -> &'static str;
    fn on_view(&mut self, change: &MembershipChange) -> Option<Next>;
    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)>;
    fn round_complete(&self) -> bool;
    fn missing(&self) -> Vec<MemberId>;
    fn round(&self) -> u64;
    fn rounds_completed(&self) -> u64;
    fn step(&mut self) -> Next;
}

impl<P: Protocol> ErasedDriver for RoundDriver<P> {
    fn protocol_name(&self) -> &'static str {
        self.protocol.name()
    }
    fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        RoundDriver::on_view(self, change)
    }
    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        RoundDriver::on_ack(self, from, round, payload)
    }
    fn round_complete(&self) -> bool {
        RoundDriver::round_complete(self)
    }
    fn missing(&self) -> Vec<MemberId> {
        RoundDriver::missing(self)
    }
    fn round(&self) -> u64 {
        RoundDriver::round(self)
    }
    fn rounds_completed(&self) -> u64 {
        RoundDriver::rounds_completed(self)
    }
    fn step(&mut self) -> Next {
        RoundDriver::step(self)
    }
}
