//! The membership-change histories of three example scenarios, pinned: one
//! line per change, as each main thread took it. A change in the engine's
//! behaviour shows up here as a readable diff (`cargo insta review`).

use vigil_tests::{load, run};

fn history(name: &str, seed: u64) -> String {
    let checked = run(&load(name), seed, None);
    assert!(checked.failed().is_empty(), "{}", checked.violations());
    checked.history()
}

#[test]
fn quickstart_history() {
    insta::assert_snapshot!(history("quickstart", 7));
}

#[test]
fn partition_heal_history() {
    insta::assert_snapshot!(history("partition-heal", 23));
}

#[test]
fn node_crash_restart_history() {
    insta::assert_snapshot!(history("node-crash-restart", 13));
}

#[test]
fn node_pause_history() {
    insta::assert_snapshot!(history("node-pause", 19));
}
