//! `vigil exhaust`: every schedule of a small scenario. It finds a broken
//! variant with the shortest schedule (fewest deviations from the plain
//! order), writes it as a file that `vigil replay` runs again and draws,
//! passes the same search without the bug, finds the same violations with
//! its reductions switched off, and refuses what it cannot explore.

use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use vigil_sim::mutation::Mutation;
use vigil_sim::protocols::Registry;
use vigil_sim::runtime::exhaust::{Budget, Limits, Search};
use vigil_sim::tools::exhaust as exhaust_tool;
use vigil_tests::{example, load, vigil, Scratch};

fn json(out: &vigil_tests::Outcome) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "one JSON object on stdout ({e}):\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        )
    })
}

#[test]
fn a_broken_variant_is_found_with_its_shortest_schedule_which_replays_and_draws() {
    let dir = Scratch::dir();
    let schedule = dir.join("deaf.schedule.json");
    let barrier = example("exhaust-barrier.toml");
    let out = vigil(&[
        "exhaust",
        &barrier,
        "--crashes",
        "1",
        "--mutation",
        "deaf-to-departures",
        "-o",
        schedule.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let j = json(&out);
    assert_eq!(j["verdict"], "fail");
    let failure = &j["failure"];
    // The plain order passes (level 0), so the shortest has one deviation:
    // the crash.
    assert_eq!(failure["deviations"], 1, "{failure}");
    let checks: BTreeSet<&str> = failure["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains("notified"), "{checks:?}");
    let choices = failure["choices"].as_array().unwrap();
    assert!(
        choices[0]["what"]
            .as_str()
            .unwrap()
            .starts_with("add: crash"),
        "{choices:?}"
    );

    // The schedule runs again, exactly, and breaks the same check; drawn.
    let svg = dir.join("deaf.svg");
    let replayed = vigil(&[
        "replay",
        schedule.to_str().unwrap(),
        "--mutation",
        "deaf-to-departures",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(replayed.code, 1, "{}\n{}", replayed.stdout, replayed.stderr);
    assert!(
        replayed
            .stdout
            .contains("1 deviations from the plain order")
            && replayed.stdout.contains("add: crash"),
        "{}",
        replayed.stdout
    );
    assert!(replayed.stdout.contains("notified"), "{}", replayed.stdout);
    let drawn = std::fs::read_to_string(&svg).expect("the diagram");
    roxmltree::Document::parse(&drawn).expect("the diagram is SVG");

    // Without the broken variant's flag the replay refuses, saying why.
    let without = vigil(&["replay", schedule.to_str().unwrap()]);
    assert_eq!(without.code, 2);
    assert!(
        without.stderr.contains("--mutation deaf-to-departures"),
        "{}",
        without.stderr
    );
}

#[test]
fn the_same_search_without_the_bug_is_complete_and_passes() {
    let out = vigil(&[
        "exhaust",
        &example("exhaust-barrier.toml"),
        "--crashes",
        "1",
        "--no-deepening",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let j = json(&out);
    assert_eq!(j["verdict"], "pass");
    assert_eq!(j["complete"], true);
    for field in [
        "states",
        "revisits",
        "schedules",
        "depth",
        "frontier",
        "elapsed_ms",
        "peak_memory_bytes",
    ] {
        assert!(j[field].as_u64().is_some(), "{field} in {j}");
    }
    assert!(j["states"].as_u64().unwrap() > 1000, "{j}");
}

/// Explores `scenario` under `search`, with at most `deviations`.
fn search(
    scenario: &vigil_sim::scenario::Scenario,
    search: &Search,
    deviations: u32,
    mutation: Option<Mutation>,
) -> vigil_sim::runtime::exhaust::Outcome<Vec<vigil_sim::check::Violation>> {
    let limits = Limits {
        max_deviations: Some(deviations),
        ..Limits::default()
    };
    exhaust_tool::explore(
        Registry::builtin_ref(),
        scenario,
        search,
        &limits,
        mutation,
        exhaust_tool::Watch {
            time: None,
            stop: &AtomicBool::new(false),
            progress: &mut |_| {},
        },
    )
}

#[test]
fn each_reduction_switched_off_finds_the_same_violations() {
    let scenario = load("exhaust-two-phase-commit");
    let mut found = Vec::new();
    for (por, visited) in [(true, true), (false, true), (true, false), (false, false)] {
        let s = Search {
            budget: Budget {
                crashes: 1,
                ..Budget::default()
            },
            restart_after: None,
            pause_for: scenario.cluster.failure_timeout,
            heal_after: None,
            late_by: Duration::ZERO,
            threads: false,
            por,
            visited,
        };
        let bad = search(&scenario, &s, 2, Some(Mutation::DeafToDepartures));
        let f = bad.failures.first().unwrap_or_else(|| {
            panic!("por {por}, visited {visited}: deaf-to-departures not found")
        });
        let checks: BTreeSet<String> = f.violations.iter().map(|v| v.check.clone()).collect();
        found.push((f.choices.len(), checks));
        let good = search(&scenario, &s, 1, None);
        assert!(
            good.failures.is_empty(),
            "por {por}, visited {visited}: a failure without the bug"
        );
    }
    assert!(
        found.iter().all(|f| *f == found[0]),
        "the reductions changed what was found: {found:?}"
    );
}

#[test]
fn the_reductions_explore_fewer_states() {
    let scenario = load("exhaust-two-phase-commit");
    let base = Search {
        budget: Budget::default(),
        restart_after: None,
        pause_for: scenario.cluster.failure_timeout,
        heal_after: None,
        late_by: Duration::ZERO,
        threads: false,
        por: true,
        visited: true,
    };
    let reduced = search(&scenario, &base, 2, None);
    let unreduced = search(
        &scenario,
        &Search {
            por: false,
            visited: false,
            ..base.clone()
        },
        2,
        None,
    );
    assert!(
        reduced.stats.states * 2 < unreduced.stats.states,
        "reduced {} states, unreduced {}",
        reduced.stats.states,
        unreduced.stats.states
    );
}

#[test]
fn what_it_cannot_explore_is_refused_and_limits_stop_it() {
    let random = example("random-faults.toml");
    let out = vigil(&["exhaust", &random]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("[random]"), "{}", out.stderr);

    let out = vigil(&[
        "exhaust",
        &example("exhaust-barrier.toml"),
        "--crashes",
        "1",
        "--max-states",
        "50",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = json(&out);
    assert_eq!(j["verdict"], "incomplete");
    assert_eq!(j["stopped"], "state-limit");

    let dir = Scratch::dir();
    let bad = dir.join("bad.schedule.json");
    std::fs::write(&bad, "{\"kind\": \"vigil-schedule\"").unwrap();
    let out = vigil(&["replay", bad.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a schedule file"), "{}", out.stderr);
}

/// Every complete schedule's trace, as a multiset of its entries (what
/// every check reads), over a search within `deviations`.
fn outcomes(
    scenario: &vigil_sim::scenario::Scenario,
    search: &Search,
    deviations: u32,
    mutation: Option<Mutation>,
) -> BTreeSet<Vec<String>> {
    let cfg = vigil_sim::runtime::RunConfig::new(scenario, 0)
        .registry(Registry::builtin_ref())
        .mutation(mutation)
        .driver(vigil_sim::runtime::Driver::EventLoop);
    let limits = Limits {
        max_deviations: Some(deviations),
        ..Limits::default()
    };
    let mut seen = BTreeSet::new();
    vigil_sim::runtime::exhaust::exhaust(
        &cfg,
        search,
        &limits,
        |trace, _| {
            let mut entries: Vec<String> = trace.entries.iter().map(|e| e.line()).collect();
            entries.sort();
            seen.insert(entries);
            None::<()>
        },
        |_| None,
    );
    seen
}

/// The visited-states reduction merges two runs only when every machine,
/// every pending event and what each node recorded agree (up to the order
/// of messages within one instant): so it reaches every outcome the search
/// without it reaches, and every check reads the same traces. A fingerprint
/// that leaves out what nodes recorded merges runs whose members were told
/// different things, and misses outcomes.
#[test]
fn visited_states_reach_every_outcome_the_full_search_reaches() {
    let scenario = load("exhaust-two-phase-commit");
    let s = |visited| Search {
        budget: Budget {
            crashes: 1,
            ..Budget::default()
        },
        restart_after: None,
        pause_for: scenario.cluster.failure_timeout,
        heal_after: None,
        late_by: Duration::ZERO,
        threads: false,
        por: true,
        visited,
    };
    let full = outcomes(&scenario, &s(false), 2, None);
    let reduced = outcomes(&scenario, &s(true), 2, None);
    assert!(full.len() > 100, "{} outcomes", full.len());
    assert_eq!(
        full.difference(&reduced).count(),
        0,
        "of {} outcomes the reduced search missed some",
        full.len()
    );
    let broken = Some(Mutation::FingerprintWithoutHistory);
    let full = outcomes(&scenario, &s(false), 2, broken);
    let reduced = outcomes(&scenario, &s(true), 2, broken);
    assert!(
        full.difference(&reduced).count() > 0,
        "a fingerprint without what nodes recorded reached all {} outcomes",
        full.len()
    );
}
