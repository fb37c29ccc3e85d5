//! Every regression scenario keeps failing with its bug put back: a file
//! with a `# postmortem:` comment was written for one bug, and the bug
//! lives on as a deliberately broken variant (a `Mutation`). Run on the
//! file's own seed with its bug, the scenario must fail the check that
//! caught the bug; without it, pass (as `scenarios.rs` checks over many
//! seeds). A scenario whose timings drift until its bug no longer shows is
//! a regression test that no longer tests: this file says so.

use vigil_sim::mutation::Mutation;
use vigil_sim::protocols::Registry;
use vigil_sim::run::{execute, Execution, Request};
use vigil_sim::trace::Driver;
use vigil_tests::{load, scenario_files};

/// Each postmortem scenario, the bug it was written for, and the check
/// that must catch it.
const REGRESSIONS: &[(&str, Mutation, &str)] = &[
    (
        "views-in-order-across-queues",
        Mutation::StepBeforeResponses,
        "no-panic",
    ),
    (
        "partition-then-crash",
        Mutation::PartitionEndsLives,
        "notified",
    ),
    (
        "pause-overlapping-crash-restart",
        Mutation::RoundsByJobAndNode,
        "barrier-order",
    ),
    (
        "two-phase-commit-paused-coordinator",
        Mutation::ProposalWithoutView,
        "atomic-commit",
    ),
    (
        "rejoin-together-catch-up",
        Mutation::CatchUpWithSlowest,
        "acks-complete",
    ),
    (
        "group-state-loss-burst",
        Mutation::GuessSkippedAcks,
        "state-agrees",
    ),
    (
        "lost-disk-hold-crash",
        Mutation::BlankHoldForgotten,
        "epochs-grow",
    ),
    ("leader-pause", Mutation::DropDepartedLinks, "acks-complete"),
    ("loss-burst", Mutation::DropDepartedLinks, "acks-complete"),
    (
        "crash-restart-during-install",
        Mutation::IncarnationWaitsOut,
        "expect membership-change db@n4",
    ),
    (
        "state-overtakes-install-ack",
        Mutation::EarlyStateDropped,
        "notified",
    ),
    (
        "gather-answer-lost",
        Mutation::GatherAnsweredOnce,
        "expect no-membership-change h",
    ),
    (
        "delay-loss-no-false-removal",
        Mutation::RetransmitsAsHeartbeats,
        "expect no-membership-change",
    ),
    (
        "isolated-leader-panic",
        Mutation::GatherSentOnce,
        "expect no-membership-change h",
    ),
    (
        "gather-suspect-below-candidate",
        Mutation::SuspectsInView,
        "no-panic",
    ),
    (
        "restart-epochs",
        Mutation::PersistIssuedViewIdsOnly,
        "epochs-grow",
    ),
    (
        "one-way-cuts-ordered",
        Mutation::KeepForkedView,
        "total-order",
    ),
    (
        "one-way-cuts-ordered",
        Mutation::LateGroupViewFromAnyLead,
        "total-order",
    ),
    (
        "ordered-taken-over",
        Mutation::TakenOverViewNumbered,
        "total-order",
    ),
    (
        "ordered-paused-leader",
        Mutation::TakenOverViewNumbered,
        "total-order",
    ),
    (
        "one-way-cut-dropped",
        Mutation::ProbeAsHeartbeat,
        "notified",
    ),
    (
        "tasks-joiner-ran-it",
        Mutation::JoinerLeftWaiting,
        "acks-complete",
    ),
    (
        "tasks-exchange-across-views",
        Mutation::AdoptAcrossViews,
        "task-order",
    ),
    (
        "tasks-abandoned-instance",
        Mutation::AbandonedSilent,
        "acks-complete",
    ),
    (
        "ordered-unchanged-view",
        Mutation::NoCatchUpOnUnchanged,
        "view-synchrony",
    ),
    (
        "ordered-install-overtook",
        Mutation::OrderedAcrossAnInstall,
        "view-synchrony",
    ),
    (
        "ordered-memberless-flush",
        Mutation::FlushToAMemberlessNode,
        "view-synchrony",
    ),
    (
        "ordered-drop-across-installs",
        Mutation::DropForgottenAtNextInstall,
        "view-synchrony",
    ),
    (
        "tasks-apart-member",
        Mutation::ApartUnpoked,
        "acks-complete",
    ),
    (
        "tasks-finished-answers",
        Mutation::FinishedUnexcused,
        "barrier-order",
    ),
    (
        "engine-lost-renamed",
        Mutation::FaultByExactId,
        "engine-lost",
    ),
];

/// The regression scenarios whose seed was chosen on the event loop (the
/// sweep that found their bug ran there); the others', under madsim.
const ON_THE_EVENT_LOOP: &[&str] = &[
    "tasks-joiner-ran-it",
    "tasks-abandoned-instance",
    "tasks-apart-member",
    "tasks-finished-answers",
    "engine-lost-renamed",
    "ordered-paused-leader",
    "ordered-unchanged-view",
    "ordered-memberless-flush",
];

/// A run of `name` on its own seed, with `mutation`.
fn run_own_seed(name: &str, mutation: Option<Mutation>) -> Execution {
    let scenario = load(name);
    execute(Request {
        registry: Registry::builtin_ref(),
        scenario: &scenario,
        seed: scenario.seed.unwrap_or(0),
        mutation,
        swarm: false,
        detail: false,
        // Each scenario's seed was chosen on one driver, whose timing its
        // race needs; `checkers.rs` shows both drivers catch every broken
        // variant on seeds of their own.
        driver: if ON_THE_EVENT_LOOP.contains(&name) {
            Driver::EventLoop
        } else {
            Driver::Madsim
        },
    })
}

/// The checks a run of `name` on its own seed fails, with `mutation`.
fn failed_checks(name: &str, mutation: Option<Mutation>) -> Vec<String> {
    let e = run_own_seed(name, mutation);
    let mut checks: Vec<String> = e.violations.iter().map(|v| v.check.clone()).collect();
    checks.dedup();
    checks
}

#[test]
fn every_regression_scenario_fails_with_its_bug_put_back() {
    for (name, mutation, check) in REGRESSIONS {
        let failed = failed_checks(name, Some(*mutation));
        assert!(
            failed.iter().any(|c| c == check),
            "{name} with --mutation {} should fail `{check}` on its own seed, failed {failed:?}",
            mutation.name()
        );
        assert_eq!(
            failed_checks(name, None),
            Vec::<String>::new(),
            "{name} passes without its bug"
        );
    }
}

#[test]
fn every_postmortem_scenario_has_its_bug_listed() {
    let listed: Vec<&str> = REGRESSIONS.iter().map(|(n, _, _)| *n).collect();
    for path in scenario_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        if text.contains("# postmortem:") {
            assert!(
                listed.contains(&name.as_str()),
                "{name} has a postmortem but no bug to put back in REGRESSIONS"
            );
        }
    }
}

/// ordered-left-tail.toml on its own seed (madsim): a node behind in a
/// group view it must leave gets that view's tail from the left tails of
/// the others and joins the view they took (61). Without the tails
/// (`forget-left-tails`) view synchrony still holds, since a leader gives a
/// node a view only if some node of its own holds the view before as far
/// as the view's issuer numbered it (`ordered-flush-cut.toml`), but the
/// node goes to a view of its own instead, one more view change than
/// needed.
#[test]
fn left_tails_bring_a_behind_node_into_the_view_the_others_took() {
    let last_views = |mutation: Option<Mutation>| {
        let e = run_own_seed("ordered-left-tail", mutation);
        assert!(e.violations.is_empty(), "{mutation:?}: {:?}", e.violations);
        let trace = e.out.expect("the run ends");
        let mut last: std::collections::BTreeMap<String, u64> = Default::default();
        for (_, c) in trace.views() {
            last.insert(c.me.to_string(), c.view.0);
        }
        last
    };
    let good = last_views(None);
    assert_eq!(good.get("db@n2"), good.get("db@n1"), "{good:?}");
    let bad = last_views(Some(Mutation::ForgetLeftTails));
    assert_ne!(bad.get("db@n2"), bad.get("db@n1"), "{bad:?}");
}
