//! Model-based test of the ACK-round machinery, with no simulator: random
//! ACK deliveries (duplicated, reordered, for past and future rounds) and
//! membership changes go straight into a `RoundDriver<Barrier>`, and after
//! every operation its answers are compared with a plain reference model of
//! what an ACK round is.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::{Incarnation, LeaveReason, MemberId, MembershipChange, Name, NodeId, ViewId};
use vigil_protocols::{Barrier, Next, RoundDriver};

fn member(n: u16) -> MemberId {
    MemberId {
        job: Name::new("db"),
        node: NodeId(n),
        node_incarnation: Incarnation(1),
        registration: 1,
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// An ACK from member `from` for `round` (relative to the driver's
    /// round), carrying the sender's previous ACK `prev_back` rounds before
    /// (none for 0).
    Ack {
        from: u16,
        round_offset: i8,
        prev_back: u8,
    },
    /// A view of these members (always with us, member 0).
    View(BTreeSet<u16>),
    /// The work thread runs the next local step (when the round is complete).
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..5, -2i8..3, 0u8..4).prop_map(|(from, round_offset, prev_back)| Op::Ack { from, round_offset, prev_back }),
        1 => proptest::collection::btree_set(1u16..5, 0..4).prop_map(Op::View),
        3 => Just(Op::Step),
    ]
}

/// The reference: a member owes no ACK for our round once we hold its ACK
/// for that round (sent, or carried as the previous one of a later ACK), or
/// once its latest ACK says it skipped the round. A round is complete when
/// no member of the view owes one.
#[derive(Default)]
struct Reference {
    view: BTreeSet<u16>,
    latest: BTreeMap<u16, u64>,
    /// Rounds we hold each member's ACK for (at or after our round).
    held: BTreeMap<u16, BTreeSet<u64>>,
    /// The rounds each member's latest ACK says it skipped (open interval).
    gap: BTreeMap<u16, (u64, u64)>,
    round: u64,
    /// Members that joined our view and have not had our ACK answered to
    /// them since: their first ACK for our round gets ours.
    joined_recently: BTreeSet<u16>,
}

impl Reference {
    fn settled(&self, m: u16) -> bool {
        let r = self.round;
        self.held.get(&m).is_some_and(|h| h.contains(&r))
            || self.gap.get(&m).is_some_and(|(p, l)| *p < r && r < *l)
    }
    fn complete(&self) -> bool {
        self.round > 0 && self.view.iter().all(|m| self.settled(*m))
    }
    fn ack(&mut self, from: u16, round: u64, prev: Option<u64>) {
        if round < self.round {
            return;
        }
        let l = self.latest.entry(from).or_insert(0);
        if round >= *l {
            *l = round;
            self.gap.insert(from, (prev.unwrap_or(0), round));
        }
        let held = self.held.entry(from).or_default();
        held.insert(round);
        if let Some(p) = prev {
            if p >= self.round && p < round {
                held.insert(p);
            }
        }
    }
    fn stepped(&mut self, round: u64) {
        self.round = round;
        for h in self.held.values_mut() {
            h.retain(|r| *r >= round);
        }
    }
}

fn wire(prev: Option<u64>) -> Vec<u8> {
    vigil_protocols::WireAck {
        ack: vigil_protocols::Sent::Ack(()),
        prev: prev.map(|p| (p, ())),
        answer: false,
        current: 0,
    }
    .encode()
    .to_vec()
}

proptest! {
    // A fixed seed: the same cases on every run, so CI never flakes, and
    // no regression files written. Set PROPTEST_CASES to run more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn round_driver_matches_the_reference(ops in proptest::collection::vec(op(), 1..80)) {
        let me = member(0);
        let mut driver = RoundDriver::new(Barrier::default(), me.clone());
        let mut reference = Reference::default();
        let mut view_id = 1;
        // Every member starts in one view with us.
        let first: BTreeSet<u16> = (0..3).collect();
        let change = |id: u64, members: &BTreeSet<u16>, prev: &BTreeSet<u16>| MembershipChange {
            group: Name::new("g"),
            view: ViewId(id),
            me: member(0),
            members: members.iter().map(|n| member(*n)).collect(),
            joined: members.difference(prev).map(|n| member(*n)).collect(),
            left: prev.difference(members).map(|n| (member(*n), LeaveReason::Fault)).collect(),
            rejoined: vec![],
            primary: None,
        };
        driver.on_view(&change(view_id, &first, &BTreeSet::new()));
        reference.joined_recently = first.iter().copied().filter(|m| *m != 0).collect();
        reference.view = first;
        for op in ops {
            match op {
                Op::Ack { from, round_offset, prev_back } => {
                    let round = (reference.round as i64 + i64::from(round_offset)).max(1) as u64;
                    let prev = (prev_back > 0 && u64::from(prev_back) < round).then(|| round - u64::from(prev_back));
                    let reply = driver.on_ack(member(from), round, &wire(prev));
                    let peer = from != 0 && reference.view.contains(&from);
                    // Behind us: it gets our ACK for its round. Ahead of us
                    // while we lack its ACK for ours: it gets our current one.
                    let behind = round < reference.round && peer;
                    reference.ack(from, round, prev);
                    let joiner = !behind && peer && round == reference.round && reference.round > 0 && reference.joined_recently.remove(&from);
                    let ask = !joiner && round > reference.round && reference.round > 0 && peer && !reference.settled(from);
                    prop_assert_eq!(reply.is_some(), behind || joiner || ask, "behind {} joiner {} ask {}", behind, joiner, ask);
                    if let Some((to, r, _)) = &reply {
                        prop_assert_eq!(to, &member(from));
                        prop_assert_eq!(*r, if behind || joiner { round } else { reference.round });
                    }

                }
                Op::View(others) => {
                    let mut members = others;
                    members.insert(0);
                    view_id += 1;
                    let prev = reference.view.clone();
                    driver.on_view(&change(view_id, &members, &prev));
                    reference.joined_recently.extend(members.difference(&prev).filter(|m| **m != 0));
                    reference.joined_recently.retain(|m| members.contains(m));
                    reference.view = members;
                }
                Op::Step => {
                    if reference.round > 0 && !reference.complete() {
                        continue; // the work thread only steps between rounds
                    }
                    match driver.step() {
                        Next::Send { round, .. } => {
                            // Catch-up: never behind the most advanced other
                            // member (members that rejoin together must not
                            // crawl after each other from round 1).
                            let others_max = reference
                                .view
                                .iter()
                                .filter(|m| **m != 0)
                                .filter_map(|m| reference.latest.get(m))
                                .max()
                                .copied();
                            let expected = (reference.round + 1).max(others_max.unwrap_or(0));
                            prop_assert_eq!(round, expected);
                            reference.stepped(round);
                            // Our own ACK comes back through the engine.
                            let _ = driver.on_ack(me.clone(), round, &wire(None));
                            reference.ack(0, round, None);
                        }
                        other => prop_assert!(false, "barrier only sends: {:?}", other),
                    }
                }
            }
            prop_assert_eq!(driver.round(), reference.round);
            prop_assert_eq!(driver.round_complete(), reference.complete(), "view {:?} latest {:?}", reference.view, reference.latest);
            let missing: BTreeSet<u16> = driver.missing().iter().map(|m| m.node.0).collect();
            let expected_missing: BTreeSet<u16> = reference
                .view
                .iter()
                .filter(|m| reference.round == 0 || !reference.settled(**m))
                .copied()
                .collect();
            prop_assert_eq!(missing, expected_missing);
        }
    }
}
