//! Model-based tests of each shipped protocol's state machine, with no
//! simulator: random ACK deliveries (reordered across links, duplicated),
//! membership changes delivered at random points, members leaving and
//! joining, all fed into an in-memory group ([`vigil_protocols::testkit`]).
//! After every schedule the group is settled and checked against the
//! properties vigil checks in the simulator, and against a plain reference
//! of what each protocol must compute.
//!
//! `PROPTEST_CASES` sets the number of cases (default 1000 per property).

use proptest::prelude::*;
use std::collections::BTreeMap;
use vigil_protocols::testkit::{Group, Op};
use vigil_protocols::{Barrier, GroupState, Mutation, Protocol, TwoPhaseCommit, IN_DOUBT};

fn op(faults: bool) -> BoxedStrategy<Op> {
    let quiet = prop_oneof![
        8 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Duplicate),
        3 => any::<usize>().prop_map(Op::Install),
        4 => any::<usize>().prop_map(Op::Step),
    ];
    if faults {
        prop_oneof![
            16 => quiet,
            1 => any::<usize>().prop_map(Op::Leave),
            1 => Just(Op::Join),
        ]
        .boxed()
    } else {
        quiet.boxed()
    }
}

fn run<P: Protocol>(size: u16, ops: Vec<Op>, make: impl Fn() -> P + 'static) -> Group<P> {
    let mut g = Group::new(size, move |_| make());
    for o in ops {
        g.apply(o);
    }
    g.settle();
    g
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1000),
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x2bc_2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const TXS: u64 = 6;
const ABORT_EVERY: u64 = 3;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn barrier_keeps_order(size in 1u16..5, ops in proptest::collection::vec(op(true), 0..150)) {
        let g = run(size, ops, || Barrier { rounds: Some(8) });
        prop_assert_eq!(g.violations(), Vec::<String>::new());
        prop_assert!(g.all_done(), "every member passes its rounds");
    }

    #[test]
    fn two_phase_commit_agrees(size in 1u16..5, ops in proptest::collection::vec(op(true), 0..150)) {
        let g = run(size, ops, || TwoPhaseCommit::new(Some(TXS), ABORT_EVERY));
        prop_assert_eq!(g.violations(), Vec::<String>::new());
        // Reference: a transaction someone votes no on never commits.
        for (m, d) in &g.decisions {
            if d.instance % ABORT_EVERY == ABORT_EVERY - 1 {
                prop_assert_ne!(&d.outcome, "commit", "{} committed {}", m, d.instance);
            }
        }
        prop_assert!(g.all_done(), "every live member finishes");
    }

    #[test]
    fn two_phase_commit_without_faults_matches_the_reference(size in 1u16..5, ops in proptest::collection::vec(op(false), 0..150)) {
        let g = run(size, ops, || TwoPhaseCommit::new(Some(TXS), ABORT_EVERY));
        prop_assert_eq!(g.violations(), Vec::<String>::new());
        prop_assert!(g.all_done());
        // Every member decides every transaction, as the reference says.
        let mut by_member: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
        for (m, d) in &g.decisions {
            prop_assert_ne!(&d.outcome, IN_DOUBT);
            by_member.entry(m.to_string()).or_default().insert(d.instance, d.outcome.clone());
        }
        prop_assert_eq!(by_member.len(), usize::from(size));
        for decided in by_member.values() {
            let expected: BTreeMap<u64, String> = (0..TXS)
                .map(|t| {
                    let no = t % ABORT_EVERY == ABORT_EVERY - 1;
                    (t, if no { "abort" } else { "commit" }.to_string())
                })
                .collect();
            prop_assert_eq!(decided, &expected);
        }
    }

    #[test]
    fn group_state_copies_agree(size in 1u16..5, ops in proptest::collection::vec(op(true), 0..150)) {
        let g = run(size, ops, || GroupState::new(Some(10), 4));
        prop_assert_eq!(g.violations(), Vec::<String>::new());
        prop_assert!(g.all_done());
    }

    #[test]
    fn group_state_without_faults_matches_the_reference(size in 1u16..5, ops in proptest::collection::vec(op(false), 0..150)) {
        const VERSION: u64 = 10;
        let g = run(size, ops, || GroupState::new(Some(VERSION), 4));
        prop_assert_eq!(g.violations(), Vec::<String>::new());
        prop_assert!(g.all_done());
        // Reference: round r's updates (from round 2 on, once synced) applied
        // in member order; version V has applied rounds up to V.
        let reference = GroupState::new(None, 4);
        let mut expected = BTreeMap::new();
        for r in 2..=VERSION {
            for m in g.members() {
                let (k, v) = reference.update_for(&m.to_string(), r);
                expected.insert(k, v);
            }
        }
        for m in g.members() {
            let p = g.driver(&m).expect("live").protocol();
            prop_assert_eq!(p.version(), VERSION);
            prop_assert_eq!(p.state(), &expected);
        }
    }
}

/// The checkers bite: each deliberately broken variant is caught, by the
/// check it exists for.
#[test]
fn broken_variants_are_caught() {
    let ops = (1u16..5, proptest::collection::vec(op(true), 0..150));
    let found = |check: &str, broken: &dyn Fn(u16, Vec<Op>) -> Vec<String>| {
        // A fixed number of cases, whatever PROPTEST_CASES says.
        let mut config = config();
        config.cases = 1000;
        let mut runner = proptest::test_runner::TestRunner::new(config);
        let result = runner.run(&ops, |(size, ops)| {
            let v = broken(size, ops);
            prop_assert!(v.is_empty(), "{:?}", v);
            Ok(())
        });
        match result {
            Err(proptest::test_runner::TestError::Fail(reason, _)) => {
                reason.message().contains(&format!("{check}:"))
            }
            _ => false,
        }
    };
    assert!(
        found("state-agrees", &|size, ops| {
            let mut p = GroupState::new(Some(10), 4);
            p.mutate(Mutation::OwnUpdateFirst);
            run(size, ops, move || p.clone()).violations()
        }),
        "state-agrees catches members applying updates in their own order"
    );
    assert!(
        found("atomic-commit", &|size, ops| {
            let mut p = TwoPhaseCommit::new(Some(TXS), 2);
            p.mutate(Mutation::DecideWithoutMissingVotes);
            run(size, ops, move || p.clone()).violations()
        }),
        "atomic-commit catches a coordinator that decides without the last vote"
    );
}
