//! The membership-change history of every example scenario at its own seed,
//! pinned: one line per change, as each main thread took it (time,
//! observer, group, view, members, joined, left with reasons), under a
//! header that lists the faults as they struck. Read them as
//! documentation of what each scenario does; a change in the engine's
//! behaviour shows up here as a reviewed diff (`cargo insta review`).
//!
//! The runs are deterministic, so the snapshots are the same on every run
//! and machine. `every_example_has_a_snapshot` keeps the list complete.

use vigil_sim::trace::TraceEvent;
use vigil_tests::{load, run, EXAMPLES};

fn history(name: &str) {
    let scenario = load(name);
    let seed = scenario.seed.unwrap_or(0);
    let checked = run(&scenario, seed, None);
    assert!(checked.failed().is_empty(), "{}", checked.violations());
    // The faults as they struck, in the header: the cause beside the effect.
    let faults: Vec<insta::internals::Content> = checked
        .out
        .trace
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            TraceEvent::Fault { text, .. } => {
                Some(format!("{:>10.3}ms {text}", e.at.as_millis_f64()))
            }
            TraceEvent::FaultEnd { text, .. } => {
                Some(format!("{:>10.3}ms {text}", e.at.as_millis_f64()))
            }
            _ => None,
        })
        .map(insta::internals::Content::String)
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_description(format!("{}: {} (seed {seed})", name, scenario.name));
    settings.set_omit_expression(true);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_raw_info(&insta::internals::Content::Map(vec![(
        insta::internals::Content::String("faults".into()),
        insta::internals::Content::Seq(faults),
    )]));
    settings.bind(|| insta::assert_snapshot!(name, checked.history()));
}

macro_rules! snapshots {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { history($name); })*

        #[test]
        fn every_example_has_a_snapshot() {
            let listed: Vec<&str> = vec![$($name),*];
            assert_eq!(listed, EXAMPLES, "add new examples to the snapshots! list");
        }
    };
}

snapshots! {
    crash_restart_during_install => "crash-restart-during-install",
    delay_loss_no_false_removal => "delay-loss-no-false-removal",
    gather_answer_lost => "gather-answer-lost",
    gather_suspect_below_candidate => "gather-suspect-below-candidate",
    group_state => "group-state",
    group_state_loss_burst => "group-state-loss-burst",
    group_state_partition => "group-state-partition",
    isolated_leader_panic => "isolated-leader-panic",
    job_kill => "job-kill",
    job_leave_join => "job-leave-join",
    leader_crash => "leader-crash",
    leader_pause => "leader-pause",
    loss_burst => "loss-burst",
    many_faults => "many-faults",
    node_crash_restart => "node-crash-restart",
    node_pause => "node-pause",
    partition_heal => "partition-heal",
    partition_then_crash => "partition-then-crash",
    pause_overlapping_crash_restart => "pause-overlapping-crash-restart",
    quickstart => "quickstart",
    random_faults => "random-faults",
    rejoin_together_catch_up => "rejoin-together-catch-up",
    state_overtakes_install_ack => "state-overtakes-install-ack",
    two_groups => "two-groups",
    two_phase_commit_paused_coordinator => "two-phase-commit-paused-coordinator",
    two_phase_commit => "two-phase-commit",
    views_in_order_across_queues => "views-in-order-across-queues",
    work_thread_error => "work-thread-error",
    work_thread_hang => "work-thread-hang",
}
