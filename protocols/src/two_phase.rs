//! `two-phase-commit`: transactions decided in two ACK rounds.
//!
//! Round 1 is idle; transaction `t` is voted on in round `2t + 2` and
//! decided in round `2t + 3`, so every member knows from the round number alone which
//! transaction and which phase it is in (a member that joins first ACKs one
//! idle round, then catches up with the group's round). The coordinator is
//! the lowest member of the view in which the vote starts; every vote names
//! it and that view, and the two make the proposal: a transaction is
//! `(t, proposal)`.
//! 1. **Vote round.** Every member ACKs its vote. A member that votes no
//!    aborts `t` at once (a participant may always abort unilaterally).
//! 2. **Decision round.** The coordinator decides when the vote round
//!    completes: commit only if every member of its view voted yes for `t`
//!    under its name and the view did not change during the vote; abort
//!    otherwise (so a membership change during the vote aborts). Its ACK of
//!    this round carries the decision; the others' carry what they know.
//!
//! A member decides when it learns the coordinator's decision: from the
//! coordinator's ACK, or from any later ACK, each of which relays the
//! decisions its sender knows. Only the coordinator of `(t, proposal)`
//! ever decides it; everybody else adopts that decision, so no two members
//! decide differently (checked as `atomic-commit`). If the coordinator
//! leaves before any survivor learned its decision, the survivors do not
//! guess: `t` stays `in-doubt` for them (two-phase commit blocks; it does
//! not disagree), and the group goes on with the next transaction.
//!
//! Members that vote on `t` in different views (a member paused through the
//! vote, a partition) vote on different proposals: each coordinator decides
//! only the proposal of its own view, from the votes of that view.
//!
//! Under a quorum, where a number is one transaction across the cluster, a
//! coordinator decides only a vote its primary view settled whole: every
//! member's vote on the proposal, in the view it was made in. A view change
//! during the vote leaves the proposal in doubt instead of aborting it: the
//! coordinator may have been paused through the vote while the primary side
//! went on and decided the same number.

use crate::{Decision, Proposal, Protocol, Step, StepCtx, Vote};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many of its latest decisions each ACK relays.
const RELAYED: usize = 4;

/// How many transactions back a member remembers (what it voted on, what
/// it knows): a relay about an older one is too late to matter.
const REMEMBERED: u64 = 64;

/// Probe: a member was left in doubt about a transaction.
pub const PROBE_IN_DOUBT: &str = "2pc-in-doubt";
/// Probe: a transaction fell in a view that is not primary.
pub const PROBE_NO_QUORUM: &str = "2pc-no-quorum";

/// The probes two-phase commit declares (`Registry::set_probes`).
pub const PROBES: &[vigil_engine::probe::ProbeDef] = &[
    vigil_engine::probe::ProbeDef::new(
        PROBE_IN_DOUBT,
        "two-phase-commit",
        "a member could not learn a transaction's decision: it stays in doubt",
    ),
    vigil_engine::probe::ProbeDef::new(
        PROBE_NO_QUORUM,
        "two-phase-commit",
        "a transaction's vote fell in a view that is not primary",
    ),
];

/// The outcome of a member that cannot know the decision.
pub const IN_DOUBT: &str = "in-doubt";

/// The outcome of a transaction whose vote fell in a view that is not
/// primary (a cluster with a quorum, on the minority side): nobody votes
/// and nobody decides it, so the majority side's decision of the same
/// transaction number is the only one.
pub const NO_QUORUM: &str = "no-quorum";

/// One member's ACK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct TpcAck {
    pub msg: TpcMsg,
    /// The latest decisions the sender knows: (transaction, proposal, outcome).
    pub known: Vec<(u64, Proposal, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum TpcMsg {
    /// Not voting this round (a member's first round, or one it caught up
    /// into).
    Idle,
    Vote {
        tx: u64,
        proposal: Proposal,
        yes: bool,
    },
    /// The decision round; the coordinator's carries its decision.
    Decide {
        tx: u64,
        proposal: Proposal,
        outcome: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Pending {
    None,
    Voted {
        tx: u64,
        proposal: Proposal,
        round: u64,
    },
    Deciding {
        tx: u64,
        proposal: Proposal,
        vote_round: u64,
    },
}

/// Two-phase commit over ACK rounds.
#[derive(Clone, Debug, Hash)]
pub struct TwoPhaseCommit {
    /// Stop after this many transactions (`None`: until the scenario ends).
    pub transactions: Option<u64>,
    /// With `k > 0`, the highest member of the view votes no on every
    /// transaction `t` with `t % k == k - 1`.
    pub abort_every: u64,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
    pending: Pending,
    known: BTreeMap<(u64, Proposal), String>,
    /// Transactions this member voted on, with the round of the vote.
    voted: BTreeMap<(u64, Proposal), u64>,
    recorded: BTreeSet<(u64, Proposal)>,
}

impl Default for TwoPhaseCommit {
    fn default() -> Self {
        TwoPhaseCommit::new(None, 0)
    }
}

impl TwoPhaseCommit {
    pub fn new(transactions: Option<u64>, abort_every: u64) -> TwoPhaseCommit {
        TwoPhaseCommit {
            transactions,
            abort_every,
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
            pending: Pending::None,
            known: BTreeMap::new(),
            voted: BTreeMap::new(),
            recorded: BTreeSet::new(),
        }
    }

    /// The decision of transaction `tx` of `proposal` this member knows.
    pub fn decision(&self, tx: u64, proposal: &Proposal) -> Option<&str> {
        self.known.get(&(tx, proposal.clone())).map(String::as_str)
    }

    /// Learns a decision (first one wins; only one is ever made) and, for a
    /// transaction this member voted on, decides it.
    fn learn(&mut self, ctx: &mut StepCtx<'_, TpcAck>, tx: u64, p: &Proposal, outcome: &str) {
        if outcome == IN_DOUBT {
            return;
        }
        let key = (tx, p.clone());
        self.known
            .entry(key.clone())
            .or_insert_with(|| outcome.to_string());
        if let Some(vote_round) = self.voted.get(&key) {
            if self.recorded.insert(key) {
                ctx.decide(Decision {
                    instance: tx,
                    outcome: outcome.to_string(),
                    rounds: ctx.round.saturating_sub(*vote_round).max(1),
                    proposal: Some(p.clone()),
                    binding: true,
                    unanimous: outcome == "commit",
                });
            }
        }
    }

    /// The `RELAYED` latest decisions: newest transaction first, and among
    /// one transaction's proposals the least first. `known` is ordered by
    /// (transaction, proposal), so they are among its last entries: walked
    /// from the end, the ones of the newest transactions up to the one
    /// that fills the count, that transaction's included whole. (Every
    /// ACK carries them: collecting and sorting the whole of `known` each
    /// time was a third of a two-phase-commit run.)
    fn relayed(&self) -> Vec<(u64, Proposal, String)> {
        let mut latest: Vec<(u64, Proposal, String)> = Vec::with_capacity(RELAYED + 1);
        for ((t, p), o) in self.known.iter().rev() {
            if latest.len() >= RELAYED && latest.last().is_some_and(|l| l.0 != *t) {
                break;
            }
            latest.push((*t, p.clone(), o.clone()));
        }
        latest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        latest.truncate(RELAYED);
        latest
    }

    fn ack(&self, msg: TpcMsg) -> Step<TpcAck> {
        Step::Ack(TpcAck {
            msg,
            known: self.relayed(),
        })
    }
}

impl Protocol for TwoPhaseCommit {
    #[cfg(any(test, feature = "mutations"))]
    fn mutate(&mut self, mutation: crate::Mutation) {
        if matches!(
            mutation,
            crate::Mutation::DecideWithoutMissingVotes
                | crate::Mutation::ProposalWithoutView
                | crate::Mutation::DecideWithoutQuorum
        ) {
            self.mutation = Some(mutation);
        }
    }

    type Ack = TpcAck;

    fn name(&self) -> &'static str {
        "two-phase-commit"
    }

    fn agreement(&self) -> Option<&'static str> {
        Some("atomic-commit")
    }

    /// A member that joins starts with the next transaction.
    fn catch_up(&self) -> bool {
        true
    }

    fn step(&mut self, mut ctx: StepCtx<'_, TpcAck>) -> Step<TpcAck> {
        // Learn every decision the round's ACKs carry, the ACKs of members
        // that left included: a decision, once made, is the decision.
        let mut heard = Vec::new();
        for ack in ctx.acks.values().chain(ctx.left_acks.values()) {
            heard.extend(ack.known.iter().cloned());
            if let TpcMsg::Decide {
                tx,
                proposal,
                outcome: Some(o),
            } = &ack.msg
            {
                heard.push((*tx, proposal.clone(), o.clone()));
            }
        }
        for (tx, p, o) in &heard {
            self.learn(&mut ctx, *tx, p, o);
        }

        // Close what the last round left open.
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Voted {
                tx,
                proposal,
                round,
            } => {
                if proposal.by == *ctx.me {
                    let is_yes = |ack: &TpcAck| {
                        matches!(&ack.msg, TpcMsg::Vote { tx: t, proposal: p, yes: true }
                            if *t == tx && *p == proposal)
                    };
                    let commit = if mutated!(self, DecideWithoutMissingVotes) {
                        // Broken: counts the votes that are there (a member
                        // that left before its vote got out is simply not
                        // counted).
                        ctx.acks
                            .values()
                            .chain(ctx.left_acks.values())
                            .filter(|a| matches!(a.msg, TpcMsg::Vote { .. }))
                            .all(is_yes)
                    } else {
                        // Every member of the proposal's view voted yes on
                        // it, and nobody joined or left meanwhile.
                        ctx.acks_round == round
                            && (proposal.view == ctx.view_id || mutated!(self, ProposalWithoutView))
                            && ctx.left_acks.is_empty()
                            && ctx.view.iter().all(|m| ctx.acks.get(m).is_some_and(is_yes))
                    };
                    // Under a quorum a number is one transaction across the
                    // cluster, so the coordinator decides only what its
                    // primary view settled whole: every member's vote on the
                    // proposal, in the view it was made in. A coordinator
                    // that lacks some (it was paused through the vote while
                    // the primary side went on and decided this number
                    // itself), or whose view changed or is not primary,
                    // decides nothing: its abort could contradict that.
                    let settled = ctx.primary.is_none()
                        || mutated!(self, DecideWithoutQuorum)
                        || (ctx.primary == Some(true)
                            && ctx.acks_round == round
                            && proposal.view == ctx.view_id
                            && ctx.left_acks.is_empty()
                            && ctx.view.iter().all(|m| {
                                ctx.acks.get(m).is_some_and(|a| {
                                    matches!(&a.msg, TpcMsg::Vote { tx: t, proposal: p, .. }
                                        if *t == tx && *p == proposal)
                                })
                            }));
                    if settled {
                        let outcome = if commit { "commit" } else { "abort" };
                        // The decision round opens now and counts as the second.
                        self.voted.insert((tx, proposal.clone()), round - 1);
                        self.learn(&mut ctx, tx, &proposal, outcome);
                    }
                }
                self.pending = Pending::Deciding {
                    tx,
                    proposal,
                    vote_round: round,
                };
            }
            Pending::Deciding {
                tx,
                proposal,
                vote_round,
            } => {
                // Not learned in the decision round: the coordinator left,
                // or was in another view and did not coordinate. Nobody
                // here guesses; a later relay may still tell.
                if self.decision(tx, &proposal).is_none() {
                    ctx.sometimes(PROBE_IN_DOUBT);
                    ctx.decide(Decision {
                        instance: tx,
                        outcome: IN_DOUBT.to_string(),
                        rounds: ctx.round.saturating_sub(vote_round),
                        proposal: Some(proposal),
                        binding: false,
                        unanimous: false,
                    });
                }
            }
            Pending::None => {}
        }

        if ctx.acks_round == 0 {
            // A member's first round (it may be catching up with the group).
            return self.ack(TpcMsg::Idle);
        }
        // Round 1 is idle; even rounds vote on transaction (round - 2) / 2,
        // odd rounds decide it: every member that reads the round number
        // agrees on both.
        let tx = (ctx.round - 2) / 2;
        // Forget what is too old to matter, so a long run stays cheap.
        if let Some(floor) = tx.checked_sub(REMEMBERED) {
            self.known.retain(|(t, _), _| *t >= floor);
            self.voted.retain(|(t, _), _| *t >= floor);
            self.recorded.retain(|(t, _)| *t >= floor);
        }
        if ctx.round % 2 == 1 {
            let msg = match &self.pending {
                Pending::Deciding { tx, proposal, .. } => TpcMsg::Decide {
                    tx: *tx,
                    proposal: proposal.clone(),
                    outcome: self.decision(*tx, proposal).map(str::to_string),
                },
                // Did not vote (it just caught up): nothing to say.
                _ => TpcMsg::Idle,
            };
            return self.ack(msg);
        }
        if self.transactions.is_some_and(|limit| tx >= limit) {
            return Step::Done(format!("ran {tx} transactions"));
        }
        if ctx.primary == Some(false) && !mutated!(self, DecideWithoutQuorum) {
            // Not primary: no vote, no decision (see [`NO_QUORUM`]).
            ctx.sometimes(PROBE_NO_QUORUM);
            ctx.decide(Decision {
                instance: tx,
                outcome: NO_QUORUM.to_string(),
                rounds: 1,
                proposal: Some(Proposal {
                    by: ctx.view[0].clone(),
                    view: ctx.view_id,
                }),
                binding: false,
                unanimous: false,
            });
            return self.ack(TpcMsg::Idle);
        }
        let proposal = Proposal {
            by: ctx.view[0].clone(),
            view: if mutated!(self, ProposalWithoutView) {
                vigil_engine::ViewId(0) // the bug: one coordinator, one transaction t
            } else {
                ctx.view_id
            },
        };
        let no = self.abort_every > 0
            && tx % self.abort_every == self.abort_every - 1
            && ctx.view.last() == Some(ctx.me);
        self.voted.insert((tx, proposal.clone()), ctx.round);
        if no {
            self.learn(&mut ctx, tx, &proposal, "abort");
        }
        ctx.vote(Vote {
            instance: tx,
            proposal: proposal.clone(),
            yes: !no,
        });
        self.pending = Pending::Voted {
            tx,
            proposal: proposal.clone(),
            round: ctx.round,
        };
        self.ack(TpcMsg::Vote {
            tx,
            proposal,
            yes: !no,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_engine::{Incarnation, MemberId, Name, NodeId, ViewId};

    fn proposal(node: u16, view: u64) -> Proposal {
        Proposal {
            by: MemberId {
                job: Name::new("db"),
                node: NodeId(node),
                node_incarnation: Incarnation(1),
                registration: 1,
            },
            view: ViewId(view),
        }
    }

    /// What `relayed` must give: every known decision, newest transaction
    /// first and the least proposal first within one, cut to `RELAYED`.
    fn every_one_sorted(t: &TwoPhaseCommit) -> Vec<(u64, Proposal, String)> {
        let mut all: Vec<_> = t
            .known
            .iter()
            .map(|((tx, p), o)| (*tx, p.clone(), o.clone()))
            .collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(RELAYED);
        all
    }

    /// `relayed` walks only the newest entries, and gives what sorting them
    /// all gives: with one proposal per transaction, with several (a
    /// transaction split across the count), and with fewer than the count.
    #[test]
    fn relayed_is_the_latest_decisions_in_order() {
        let shapes: &[&[u16]] = &[
            &[1, 1, 1, 1, 1, 1],
            &[1, 3, 2, 3, 1],
            &[5, 5],
            &[2],
            &[],
            &[1, 1, 1, 7],
        ];
        for shape in shapes {
            let mut t = TwoPhaseCommit::default();
            for (tx, proposals) in shape.iter().enumerate() {
                for p in 0..*proposals {
                    let outcome = if p % 2 == 0 { "commit" } else { "abort" };
                    t.known.insert(
                        (tx as u64, proposal(p * 7 % 5, u64::from(p))),
                        outcome.into(),
                    );
                }
            }
            assert_eq!(t.relayed(), every_one_sorted(&t), "{shape:?}");
        }
    }
}
