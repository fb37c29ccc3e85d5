//! Property tests: each shipped protocol on a simulated cluster under random
//! fault schedules (any mix of the scenario format's fault kinds, at random
//! times) and random seeds. Every check must hold, the protocol's own
//! (`barrier-order`, `atomic-commit`, `state-agrees`) among them. On
//! failure, proptest shrinks the schedule and the message prints it as a
//! scenario file with the command that replays it.
//!
//! `VIGIL_PROP_CASES` sets the number of cases per property (default 256).

use vigil_sim::mutation::Mutation;
use vigil_sim::tools::props::{check_run_with, Harness, HarnessError};
use vigil_sim::trace::Driver;
use vigil_tests::parse;

fn cases() -> u32 {
    std::env::var("VIGIL_PROP_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

/// The base scenario of a property: four nodes, twenty seconds, one job.
fn base(job: &str) -> vigil_sim::scenario::Scenario {
    parse(&format!(
        r#"
name = "under a random fault schedule"
duration = "20s"
[cluster]
nodes = 4
[[job]]
name = "db"
group = "g"
{job}
"#
    ))
}

fn barrier() -> vigil_sim::scenario::Scenario {
    base("work_threads = 2")
}
fn two_phase_commit() -> vigil_sim::scenario::Scenario {
    base("protocol = \"two-phase-commit\"\nabort_every = 2")
}
fn group_state() -> vigil_sim::scenario::Scenario {
    base("protocol = \"group-state\"\nkeys = 4")
}

fn holds(result: Result<(), HarnessError>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn barrier_survives_random_fault_schedules() {
    holds(Harness::new(barrier()).cases(cases()).run());
}

#[test]
fn two_phase_commit_survives_random_fault_schedules() {
    holds(Harness::new(two_phase_commit()).cases(cases()).run());
}

#[test]
fn group_state_survives_random_fault_schedules() {
    holds(Harness::new(group_state()).cases(cases()).run());
}

/// The message of a failed property: the printed scenario file and seed.
fn printed_file(error: &HarnessError) -> (String, String, u64) {
    let HarnessError::Fail(reason, (_, seed)) = error else {
        panic!("expected a failing case, got {error}");
    };
    let message = reason.message().to_string();
    let file = message
        .split("--- save as failing.toml ---\n")
        .nth(1)
        .expect("a file")
        .split("--- then")
        .next()
        .expect("a file")
        .to_string();
    (message, file, *seed)
}

/// The property bites: with main threads that drop departures, proptest
/// finds a failing schedule, shrinks it to a single fault, and the message
/// carries the scenario file and the replay command.
#[test]
fn a_broken_variant_is_found_and_shrunk_to_a_replayable_scenario() {
    let result = Harness::new(barrier())
        .cases(64)
        .mutation(Some(Mutation::DeafToDepartures))
        .run();
    let error = result.expect_err("the broken variant went unnoticed");
    let HarnessError::Fail(_, (faults, _)) = &error else {
        panic!("{error}")
    };
    assert_eq!(faults.len(), 1, "shrunk to one fault: {faults:?}");
    let (message, file, seed) = printed_file(&error);
    assert!(message.contains("[notified]"), "{message}");
    assert!(
        message.contains(&format!(
            "vigil run failing.toml --seed {seed} --mutation deaf-to-departures"
        )),
        "{message}"
    );
    let replayed =
        vigil_sim::scenario::parse("failing.toml", &file).expect("the printed file parses");
    assert_eq!(replayed.faults.len(), 1);
    assert!(
        check_run_with(&replayed, seed, Some(Mutation::DeafToDepartures)).is_err(),
        "the replay fails again"
    );
}

/// `atomic-commit` bites: a coordinator that decides with the votes that
/// arrived (not waiting for the last one) commits a transaction that a
/// member who died mid-vote had already aborted. The property finds it,
/// shrinks it, and `vigil run` on the printed file replays the failure.
#[test]
fn broken_two_phase_commit_is_found_shrunk_and_replayed() {
    // A fixed number of cases, whatever VIGIL_PROP_CASES says.
    // On the event loop, a fault that does nothing leaves the run as it
    // was, so the schedule shrinks to the faults that matter.
    let result = Harness::new(two_phase_commit())
        .cases(256)
        .mutation(Some(Mutation::BrokenProtocol))
        .driver(Driver::EventLoop)
        .run();
    let error = result.expect_err("the broken two-phase commit went unnoticed");
    let (message, file, seed) = printed_file(&error);
    assert!(message.contains("[atomic-commit]"), "{message}");
    let HarnessError::Fail(_, (faults, _)) = &error else {
        panic!("{error}")
    };
    assert!(faults.len() <= 2, "shrunk: {faults:?}");
    // Replay it the way a user would: the file and `vigil run`.
    let dir = vigil_tests::Scratch::dir();
    let path = dir.join("failing.toml");
    std::fs::write(&path, &file).expect("write");
    let args: Vec<String> = [
        "vigil",
        "run",
        path.to_str().expect("utf-8"),
        "--seed",
        &seed.to_string(),
        "--mutation",
        "broken-protocol",
        "--driver",
        "event-loop",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let c = vigil_sim::cli::capture(&args, vigil_sim::protocols::Registry::builtin_ref());
    assert_eq!(c.code, 1, "{}", c.stderr);
    let report: serde_json::Value = serde_json::from_str(&c.stdout).expect("json");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(failed.contains(&"atomic-commit"), "{failed:?}");
    // And the correct protocol passes the same schedule.
    let scenario = vigil_sim::scenario::parse("failing.toml", &file).expect("parses");
    assert_eq!(check_run_with(&scenario, seed, None), Ok(()));
}
