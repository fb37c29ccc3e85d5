//! Property tests: `barrier` on a simulated cluster under random fault
//! schedules (any mix of fault kinds, at random times) and random seeds.
//! Every always-on check must hold. On failure, proptest shrinks the
//! schedule and the message prints it as a scenario file with the command
//! that replays it.
//!
//! `VIGIL_PROP_CASES` sets the number of cases (default 64).

use proptest::prelude::*;
use std::time::Duration;
use vigil_sim::schedule::{check_run_with, schedule, with_faults, Bounds};
use vigil_sim::world::Mutation;
use vigil_tests::parse;

const BASE: &str = r#"
name = "barrier under a random fault schedule"
duration = "30s"
[cluster]
nodes = 4
[[job]]
name = "db"
group = "g"
work_threads = 2
"#;

fn cases() -> u32 {
    std::env::var("VIGIL_PROP_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

type Outcome = Result<(), proptest::test_runner::TestError<(Vec<vigil_sim::scenario::Fault>, u64)>>;

/// Runs `cases` random schedules (and seeds) of `BASE`, with an optional
/// broken variant; a fixed proptest seed keeps every run the same.
fn property(cases: u32, mutation: Option<Mutation>) -> Outcome {
    let base = parse(BASE);
    let bounds = Bounds {
        start: Duration::from_secs(1),
        end: Duration::from_secs(15),
        faults_max: 4,
    };
    let config = ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7157_2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (schedule(&base, &bounds), 0u64..1_000_000);
    runner.run(&strategy, |(faults, seed)| {
        let scenario = with_faults(&base, faults);
        check_run_with(&scenario, seed, mutation).map_err(TestCaseError::fail)
    })
}

#[test]
fn barrier_survives_random_fault_schedules() {
    if let Err(e) = property(cases(), None) {
        panic!("{e}");
    }
}

/// The property bites: with main threads that drop departures, proptest
/// finds a failing schedule, shrinks it to a single fault, and the message
/// carries the scenario file and the replay command.
#[test]
fn a_broken_variant_is_found_and_shrunk_to_a_replayable_scenario() {
    let result = property(64, Some(Mutation::DeafToDepartures));
    let Err(proptest::test_runner::TestError::Fail(reason, (faults, seed))) = result else {
        panic!("the broken variant went unnoticed: {result:?}");
    };
    assert_eq!(faults.len(), 1, "shrunk to one fault: {faults:?}");
    let message = reason.message();
    assert!(message.contains("[notified]"), "{message}");
    assert!(
        message.contains(&format!("vigil run failing.toml --seed {seed}")),
        "{message}"
    );
    // The printed file is the failing scenario, and it replays the failure.
    let file = message
        .split("--- save as failing.toml ---\n")
        .nth(1)
        .expect("a file")
        .split("--- then")
        .next()
        .expect("a file");
    let replayed =
        vigil_sim::scenario::parse("failing.toml", file).expect("the printed file parses");
    assert_eq!(replayed.faults.len(), 1);
    assert!(
        check_run_with(&replayed, seed, Some(Mutation::DeafToDepartures)).is_err(),
        "the replay fails again"
    );
}
