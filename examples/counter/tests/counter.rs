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

/// A protocol written against the public API declares its own coverage
/// probe; `vigil run` lists its hits and `vigil explore` knows it.
#[test]
fn counter_declares_its_own_probe_and_runs_report_it() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/counter.toml");
    let args = |extra: &[&str]| {
        let mut a = vec!["vigil".to_string()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = vigil_sim::cli::capture(&args(&["run", file]), &registry());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("{} ×", vigil_example_counter::CAUGHT_UP)),
        "{}",
        run.stdout
    );
    let sweep = vigil_sim::cli::capture(
        &args(&["explore", file, "--seeds", "0..2", "--json", "--jobs", "1"]),
        &registry(),
    );
    let summary: serde_json::Value = sweep
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("a summary");
    let row = summary["coverage"]["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .find(|r| r["probe"] == vigil_example_counter::CAUGHT_UP)
        .cloned()
        .expect("the counter's probe is declared");
    assert_eq!(row["at"], "counter");
    assert!(row["runs"].as_u64().is_some_and(|n| n > 0), "{row}");
}
