//! The user's property tests: the counter's state machine in memory (no
//! simulator), then on a simulated cluster under random fault schedules.

use proptest::prelude::*;
use vigil_example_counter::{registry, Counter};
use vigil_protocols::testkit::{Group, Op};
use vigil_sim::tools::props::Harness;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        rng_seed: proptest::test_runner::RngSeed::Fixed(7),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn copies_and_checkpoints_agree_in_memory(ops in proptest::collection::vec(
        prop_oneof![
            6 => any::<usize>().prop_map(Op::Deliver),
            2 => any::<usize>().prop_map(Op::Install),
            3 => any::<usize>().prop_map(Op::Step),
            1 => any::<usize>().prop_map(Op::Leave),
            1 => Just(Op::Join),
        ],
        0..120,
    )) {
        let mut g = Group::new(3, |_| Counter::new(4));
        for op in ops {
            g.apply(op);
        }
        g.settle_for(20);
        prop_assert_eq!(g.violations(), Vec::<String>::new());
    }
}

#[test]
fn counter_survives_random_fault_schedules() {
    let base = vigil_sim::scenario::parse_with(
        "counter.toml",
        include_str!("../counter.toml"),
        &registry(),
    )
    .expect("the example parses");
    let mut base = vigil_sim::tools::props::with_faults(&base, Vec::new());
    base.duration = std::time::Duration::from_secs(12);
    let harness = Harness::new(base)
        .registry(registry())
        .program("cargo run -p vigil-example-counter --")
        .cases(64);
    if let Err(e) = harness.run() {
        panic!("{e}");
    }
}
