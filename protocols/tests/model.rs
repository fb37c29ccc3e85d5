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
    /// An ACK from member `from` for `round` (relative to the driver's round).
    Ack { from: u16, round_offset: i8 },
    /// A view of these members (always with us, member 0).
    View(BTreeSet<u16>),
    /// The work thread runs the next local step (when the round is complete).
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..5, -2i8..3).prop_map(|(from, round_offset)| Op::Ack { from, round_offset }),
        1 => proptest::collection::btree_set(1u16..5, 0..4).prop_map(Op::View),
        3 => Just(Op::Step),
    ]
}

/// The reference: a round is complete when every member of the current view
/// has ACKed it or a later round.
#[derive(Default)]
struct Reference {
    view: BTreeSet<u16>,
    latest: BTreeMap<u16, u64>,
    round: u64,
}

impl Reference {
    fn complete(&self) -> bool {
        self.round > 0
            && self
                .view
                .iter()
                .all(|m| self.latest.get(m).is_some_and(|r| *r >= self.round))
    }
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
        };
        driver.on_view(&change(view_id, &first, &BTreeSet::new()));
        reference.view = first;
        for op in ops {
            match op {
                Op::Ack { from, round_offset } => {
                    let round = (reference.round as i64 + i64::from(round_offset)).max(1) as u64;
                    let reply = driver.on_ack(member(from), round, b"null");
                    if round >= reference.round {
                        let l = reference.latest.entry(from).or_insert(0);
                        *l = (*l).max(round);
                    }
                    // A member of the view that is behind gets our ACK again.
                    let behind = round < reference.round && from != 0 && reference.view.contains(&from);
                    prop_assert_eq!(reply.is_some(), behind && reference.round > 0);
                    if let Some((to, r, _)) = reply {
                        prop_assert_eq!((to, r), (member(from), reference.round));
                    }
                }
                Op::View(others) => {
                    let mut members = others;
                    members.insert(0);
                    view_id += 1;
                    let prev = reference.view.clone();
                    driver.on_view(&change(view_id, &members, &prev));
                    reference.view = members;
                }
                Op::Step => {
                    if reference.round > 0 && !reference.complete() {
                        continue; // the work thread only steps between rounds
                    }
                    match driver.step() {
                        Next::Send { round, .. } => {
                            // Catch-up: never behind the slowest other member.
                            let others_min = reference
                                .view
                                .iter()
                                .filter(|m| **m != 0)
                                .filter_map(|m| reference.latest.get(m))
                                .min()
                                .copied();
                            let expected = (reference.round + 1).max(others_min.unwrap_or(0));
                            prop_assert_eq!(round, expected);
                            reference.round = round;
                            // Our own ACK comes back through the engine.
                            let _ = driver.on_ack(me.clone(), round, b"null");
                            let l = reference.latest.entry(0).or_insert(0);
                            *l = (*l).max(round);
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
                .filter(|m| reference.latest.get(m).is_none_or(|r| *r < reference.round))
                .copied()
                .collect();
            prop_assert_eq!(missing, expected_missing);
        }
    }
}
