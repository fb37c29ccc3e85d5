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

/// The checks a failure's violations name.
fn checks_of(failure: &Value) -> BTreeSet<&str> {
    failure["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["check"].as_str().unwrap())
        .collect()
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
    let checks = checks_of(failure);
    assert!(checks.contains("notified"), "{checks:?}");
    let choices = failure["choices"].as_array().unwrap();
    assert!(
        choices[0]["what"]
            .as_str()
            .unwrap()
            .starts_with("add: crash"),
        "{choices:?}"
    );

    // It names its scenario relative to itself, so the two move together.
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&schedule).unwrap()).unwrap();
    let named = std::path::Path::new(file["scenario"].as_str().unwrap());
    assert!(named.is_relative(), "{named:?}");
    assert_eq!(
        dir.join(named).canonicalize().unwrap(),
        std::path::Path::new(&barrier).canonicalize().unwrap()
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
        replayed.stdout.contains("1 deviation from the plain order")
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
    // A command that reads scenarios says where a schedule goes.
    let path = schedule.to_str().unwrap();
    for command in [vec!["run", path], vec!["explore", path, "--seeds", "0..2"]] {
        let o = vigil(&command);
        assert_eq!(o.code, 2, "{command:?}");
        assert!(
            o.stderr.contains("run it again with `vigil replay"),
            "{command:?}: {}",
            o.stderr
        );
    }
    // A schedule is the event loop's: `--driver madsim` is refused, though
    // madsim is the default elsewhere (it was silently ignored).
    for (driver, code, says) in [
        ("madsim", 2, "event loop only"),
        ("event-loop", 1, "notified"),
    ] {
        let o = vigil(&[
            "replay",
            path,
            "--mutation",
            "deaf-to-departures",
            "--driver",
            driver,
        ]);
        assert_eq!(o.code, code, "{driver}: {}", o.stderr);
        assert!(
            o.stdout.contains(says) || o.stderr.contains(says),
            "{driver}: {}{}",
            o.stdout,
            o.stderr
        );
    }
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

/// A search of `scenario` with both reductions and a budget of `crashes`.
fn plain(scenario: &vigil_sim::scenario::Scenario, crashes: u32) -> Search {
    Search {
        budget: Budget {
            crashes,
            ..Budget::default()
        },
        restart_after: None,
        pause_for: scenario.cluster.failure_timeout,
        heal_after: None,
        late_by: Duration::ZERO,
        threads: false,
        por: true,
        visited: true,
    }
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
            por,
            visited,
            ..plain(&scenario, 1)
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
    let base = plain(&scenario, 0);
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
    // `--driver event-loop`, which every other command takes, is taken
    // here too (it is the only driver that can choose).
    let out = vigil(&[
        "exhaust",
        &example("exhaust-barrier.toml"),
        "--max-states",
        "50",
        "--driver",
        "event-loop",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out)["stopped"], "state-limit");

    let dir = Scratch::dir();
    let bad = dir.join("bad.schedule.json");
    std::fs::write(&bad, "{\"kind\": \"vigil-schedule\"").unwrap();
    let out = vigil(&["replay", bad.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a schedule file"), "{}", out.stderr);
    // Where, as for any bad file: `file:line:column:`.
    assert!(
        out.stderr.contains("bad.schedule.json:1:"),
        "{}",
        out.stderr
    );
    // What `explore --json` wrote is not a scenario either, and is told so.
    let lines = dir.join("runs.jsonl");
    std::fs::write(&lines, "{\"type\": \"run\"}\n").unwrap();
    let out = vigil(&["replay", lines.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("JSON lines"), "{}", out.stderr);
    let out = vigil(&["exhaust", bad.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("vigil replay"), "{}", out.stderr);

    // Flags that could not take effect are refused before any work, each
    // with one JSON object for scripts.
    let barrier = example("exhaust-barrier.toml");
    let txt = dir.join("out.txt");
    let nowhere = dir.join("no/such/dir/x.json");
    for (flags, says) in [
        (vec!["-o", txt.to_str().unwrap()], "ends in `.json`"),
        (
            vec!["-o", nowhere.to_str().unwrap()],
            "there is no directory",
        ),
        (vec!["--late-by", "5ms"], "--late-by tunes --delays"),
        (
            vec!["--crashes", "1", "--restart-after", "0s"],
            "at the instant it strikes",
        ),
        (
            vec!["--no-deepening", "--max-deviations", "1"],
            "does not apply",
        ),
        (vec!["--delays", "1"], "nothing to delay by"),
        (vec!["--max-states", "0"], "before the first state"),
        (vec!["--driver", "madsim"], "event loop only"),
    ] {
        let mut args = vec!["exhaust", barrier.as_str(), "--json"];
        args.extend(flags.iter().copied());
        let out = vigil(&args);
        assert_eq!(out.code, 2, "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{flags:?}: {}", out.stderr);
        assert_eq!(json(&out)["verdict"], "error", "{flags:?}: {}", out.stdout);
    }

    // A scenario far too long to explore stops at the time budget while
    // its plain schedule still runs, and says why.
    let long = dir.join("long.toml");
    let text = std::fs::read_to_string(&barrier).unwrap();
    let text = text
        .replace("duration = \"2s\"", "duration = \"1h\"")
        .replace("nodes = 3", "nodes = 20");
    assert!(
        text.contains("duration = \"1h\"") && text.contains("nodes = 20"),
        "the barrier's duration or size moved"
    );
    std::fs::write(&long, text).unwrap();
    let started = std::time::Instant::now();
    let out = vigil(&["exhaust", long.to_str().unwrap(), "--time-budget", "1s"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        out.stdout
            .contains("the plain schedule alone did not finish"),
        "{}",
        out.stdout
    );
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
        |run, _| {
            let trace = run.expect("no panic");
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
        visited,
        ..plain(&scenario, 1)
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

/// A broken variant, the scenario and budget `vigil exhaust` finds it in,
/// and the check its shortest schedule must break.
struct Case {
    mutation: &'static str,
    /// From the repository's root.
    file: &'static str,
    budget: &'static [&'static str],
    check: &'static str,
}

const fn case(
    mutation: &'static str,
    file: &'static str,
    budget: &'static [&'static str],
    check: &'static str,
) -> Case {
    Case {
        mutation,
        file,
        budget,
        check,
    }
}

/// Every broken variant the checkers and the regression scenarios bite on,
/// each with the smallest search that finds it. The scenario's own faults
/// where the budget cannot say them (a clock step, a slow node, a lost
/// disk, a job leaving, a work thread hanging); a budget where it can.
const CASES: &[Case] = &[
    case(
        "deaf-to-departures",
        "scenarios/exhaust-barrier.toml",
        &["--crashes", "1"],
        "notified",
    ),
    case(
        "ignore-departures",
        "scenarios/quickstart.toml",
        &[],
        "acks-complete",
    ),
    case(
        "blocking-main",
        "scenarios/quickstart.toml",
        &[],
        "main-thread-responsive",
    ),
    case(
        "no-merge",
        "scenarios/partition-heal.toml",
        &[],
        "converged",
    ),
    case(
        "plain-counter-view-ids",
        "scenarios/exhaust-barrier.toml",
        &[],
        "views-agree",
    ),
    case(
        "persist-issued-view-ids-only",
        "scenarios/node-crash-restart.toml",
        &[],
        "epochs-grow",
    ),
    case(
        "minority-stays-primary",
        "scenarios/quorum-partition.toml",
        &[],
        "one-primary",
    ),
    case(
        "stop-before-jobs-leave",
        "scenarios/node-stop.toml",
        &[],
        "notified",
    ),
    case(
        "absence-as-silence",
        "scenarios/clock.toml",
        &[],
        "expect no-membership-change",
    ),
    case(
        "adaptive-watchdog",
        "scenarios/slow-node.toml",
        &[],
        "expect no-membership-change",
    ),
    case(
        "blank-disk-trusted",
        "scenarios/disk-loss.toml",
        &[],
        "epochs-grow",
    ),
    case(
        "blank-boot-unheld",
        "scenarios/lost-disk-skew.toml",
        &[],
        "epochs-grow",
    ),
    case(
        "blank-hold-forgotten",
        "scenarios/lost-disk-hold-crash.toml",
        &[],
        "epochs-grow",
    ),
    case(
        "watchdog-counts-absence",
        "scenarios/clock.toml",
        &[],
        "expect no-membership-change",
    ),
    case(
        "engine-loss-unseen",
        "scenarios/engine-crash.toml",
        &[],
        "engine-lost",
    ),
    case(
        "late-group-view-from-any-lead",
        "scenarios/one-way-cuts-ordered.toml",
        &[],
        "total-order",
    ),
    case(
        "keep-forked-view",
        "scenarios/one-way-cuts-ordered.toml",
        &[],
        "total-order",
    ),
    case(
        "probe-as-heartbeat",
        "scenarios/one-way-cut-dropped.toml",
        &[],
        "notified",
    ),
    case(
        "priority-ignored",
        "scenarios/tasks.toml",
        &[],
        "task-order",
    ),
    case(
        "forget-reasons",
        "scenarios/quickstart.toml",
        &[],
        "notified",
    ),
    case(
        "early-round",
        "scenarios/work-thread-hang.toml",
        &[],
        "barrier-order",
    ),
    case(
        "broken-protocol",
        "scenarios/group-state.toml",
        &[],
        "state-agrees",
    ),
    case(
        "unseeded-random",
        "scenarios/exhaust-barrier.toml",
        &[],
        "determinism",
    ),
    case(
        "late-unregister",
        "scenarios/quickstart.toml",
        &[],
        "notified",
    ),
    case(
        "main-blocks-until-leave",
        "scenarios/job-leave-join.toml",
        &[],
        "main-thread-responsive",
    ),
    case(
        "stale-view",
        "scenarios/quickstart.toml",
        &[],
        "round-views",
    ),
    case(
        "hang-as-leave",
        "scenarios/work-thread-hang.toml",
        &[],
        "notified",
    ),
    case(
        "drop-departed-links",
        "scenarios/leader-pause.toml",
        &[],
        "acks-complete",
    ),
    case(
        "catch-up-with-slowest",
        "scenarios/rejoin-together-catch-up.toml",
        &[],
        "acks-complete",
    ),
    case(
        "partition-ends-lives",
        "scenarios/partition-then-crash.toml",
        &[],
        "notified",
    ),
    case(
        "rounds-by-job-and-node",
        "scenarios/pause-overlapping-crash-restart.toml",
        &[],
        "barrier-order",
    ),
    case(
        "gather-answered-once",
        "tests/exhaust/gather-lost-packet.toml",
        LOST_AND_LATE,
        "expect no-membership-change h",
    ),
    case(
        "gather-sent-once",
        "tests/exhaust/gather-lost-packet.toml",
        LOST_AND_LATE,
        "expect no-membership-change h",
    ),
    case(
        "early-state-dropped",
        "tests/exhaust/state-before-install-ack.toml",
        &["--delays", "1", "--late-by", "10ms"],
        "notified",
    ),
    case(
        "retransmits-as-heartbeats",
        "tests/exhaust/short-partition.toml",
        &[],
        "expect no-membership-change",
    ),
    case(
        "suspects-in-view",
        "tests/exhaust/late-gather-answer.toml",
        &["--delays", "1", "--late-by", "350ms"],
        "no-panic",
    ),
    case(
        "no-ordered-flush",
        "tests/exhaust/ordered-leader-crash.toml",
        &["--drops", "1"],
        "view-synchrony",
    ),
    case(
        "no-catch-up-before-new-view",
        "tests/exhaust/hidden-group-view.toml",
        &["--drops", "2"],
        "view-synchrony",
    ),
    case(
        "duplicates-delivered",
        "tests/exhaust/duplicate-ack.toml",
        &["--duplicates", "1"],
        "delivered-once",
    ),
    case(
        "skip-ghost-filter",
        "tests/exhaust/lost-group-view.toml",
        &["--drops", "1"],
        "no-ghost-delivery",
    ),
    case(
        "decide-without-quorum",
        "tests/exhaust/quorum-cut.toml",
        &["--partitions", "1"],
        "atomic-commit",
    ),
    case(
        "local-boundary",
        "tests/exhaust/priority-at-boundary.toml",
        &[],
        "task-order",
    ),
    case(
        "step-before-responses",
        "tests/exhaust/leave-and-join.toml",
        &[],
        "no-panic",
    ),
    case(
        "strict-group-view-stamp",
        "tests/exhaust/group-view-after-next-install.toml",
        &["--drops", "2"],
        "view-synchrony",
    ),
    case(
        "join-short-of-prev-tail",
        "tests/exhaust/flush-cut-off.toml",
        &["--drops", "1"],
        "view-synchrony",
    ),
    case(
        "incarnation-waits-out",
        "tests/exhaust/install-waits-for-old-incarnation.toml",
        &["--delays", "1", "--late-by", "1300ms"],
        "expect membership-change db@n2",
    ),
    case(
        "proposal-without-view",
        "tests/exhaust/crash-during-vote.toml",
        &["--crashes", "1"],
        "atomic-commit",
    ),
    case(
        "guess-skipped-acks",
        "tests/exhaust/pause-during-rounds.toml",
        &[],
        "state-agrees",
    ),
];

const LOST_AND_LATE: &[&str] = &["--drops", "1", "--delays", "1", "--late-by", "20ms"];

/// Each case: `vigil exhaust` finds the variant with the expected check,
/// the same search without it finds nothing, and the schedule replays
/// (failing the same check) and draws.
fn finds(cases: &[Case]) {
    let dir = Scratch::dir();
    let mut missed = Vec::new();
    for c in cases {
        let schedule = dir.join(format!("{}.schedule.json", c.mutation));
        let file = vigil_tests::root().join(c.file).display().to_string();
        let mut args = vec!["exhaust", &file, "--json", "-o", schedule.to_str().unwrap()];
        args.extend(c.budget);
        let mut bad = args.clone();
        bad.extend(["--mutation", c.mutation]);
        let out = vigil(&bad);
        if out.code != 1 {
            missed.push(format!("{}: exit {}: {}", c.mutation, out.code, out.stdout));
            continue;
        }
        let j = json(&out);
        let failure = &j["failure"];
        let checks = checks_of(failure);
        if !checks.contains(c.check) {
            missed.push(format!("{}: broke {checks:?}, not {}", c.mutation, c.check));
            continue;
        }
        // Without the bug, the schedules within as many deviations pass.
        let deviations = failure["deviations"].as_u64().unwrap().to_string();
        let mut good = args.clone();
        good.extend(["--max-deviations", &deviations, "--max-states", "100000"]);
        let clean = vigil(&good);
        let verdict = json(&clean)["verdict"].clone();
        if clean.code != 0 || verdict == "fail" {
            missed.push(format!(
                "{}: fails without the bug: {}",
                c.mutation, clean.stdout
            ));
            continue;
        }
        let svg = dir.join(format!("{}.svg", c.mutation));
        let replayed = vigil(&[
            "replay",
            schedule.to_str().unwrap(),
            "--mutation",
            c.mutation,
            "--svg",
            svg.to_str().unwrap(),
        ]);
        let determinism = c.check == "determinism";
        let replays = if determinism {
            replayed.code == 3
        } else if c.check == "no-panic" {
            // Reported once, by vigil, with where it struck; not printed
            // by Rust's panic hook as well (`panicked at`, a backtrace).
            replayed.code == 1
                && replayed.stderr.contains("error: the simulation panicked")
                && replayed.stderr.contains(".rs:")
                && !replayed.stderr.contains("panicked at")
        } else {
            replayed.code == 1 && replayed.stdout.contains(&format!("FAIL  {}", c.check))
        };
        if !replays {
            missed.push(format!(
                "{}: the schedule does not replay: exit {}\n{}\n{}",
                c.mutation, replayed.code, replayed.stdout, replayed.stderr
            ));
            continue;
        }
        // A run that panicked is drawn up to the panic; the failed check
        // is marked (a divergence is between two runs, not in one).
        let drawn = std::fs::read_to_string(&svg).unwrap_or_default();
        let marked = determinism || drawn.contains(c.check);
        if roxmltree::Document::parse(&drawn).is_err() || !marked {
            missed.push(format!("{}: no diagram marking {}", c.mutation, c.check));
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

// In three parts, which run side by side.
#[test]
fn broken_variants_are_found_with_schedules_that_replay_and_draw_1() {
    finds(&CASES[..CASES.len() / 3]);
}

#[test]
fn broken_variants_are_found_with_schedules_that_replay_and_draw_2() {
    finds(&CASES[CASES.len() / 3..2 * CASES.len() / 3]);
}

#[test]
fn broken_variants_are_found_with_schedules_that_replay_and_draw_3() {
    finds(&CASES[2 * CASES.len() / 3..]);
}

/// A bug random seeds almost never hit: a gathering node that answers an
/// asker only once (`gather-answered-once`) drops a live member when one
/// heartbeat comes late and then the one answer is lost. On the same
/// scenario with latencies drawn from 5 to 25 ms and 1% loss, 10,000
/// seeds find it once; `vigil exhaust` with one late and one lost packet
/// finds it in a few thousand states.
#[test]
fn a_bug_seeds_almost_never_hit_is_found_exhaustively() {
    let fixture = vigil_tests::root().join("tests/exhaust/gather-lost-packet.toml");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let seeded = text.replace(
        "latency = [\"5ms\", \"5ms\"]",
        "latency = [\"5ms\", \"25ms\"]\nloss = 0.01",
    );
    assert_ne!(seeded, text, "the seeded variant draws latency and loss");
    let dir = Scratch::dir();
    let file = dir.join("seeded.toml");
    std::fs::write(&file, seeded).unwrap();
    let failed = |mutation: &[&str]| {
        let mut args = vec![
            "explore",
            file.to_str().unwrap(),
            "--seeds",
            "0..10000",
            "--driver",
            "event-loop",
            "--jobs",
            "1",
            "--json",
        ];
        args.extend(mutation);
        let out = vigil(&args);
        let summary: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(summary["runs"], 10000, "{summary}");
        summary["failed"].as_u64().unwrap()
    };
    assert_eq!(failed(&[]), 0, "the scenario passes without the bug");
    let by_seeds = failed(&["--mutation", "gather-answered-once"]);
    assert!(by_seeds <= 2, "10,000 seeds found it {by_seeds} times");

    let out = vigil(&[
        "exhaust",
        fixture.to_str().unwrap(),
        "--drops",
        "1",
        "--delays",
        "1",
        "--late-by",
        "20ms",
        "--mutation",
        "gather-answered-once",
        "-o",
        dir.join("g.schedule.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = json(&out);
    assert_eq!(j["failure"]["deviations"], 2, "{j}");
    assert!(j["states"].as_u64().unwrap() < 20_000, "{j}");
}

/// A replay says when what it runs may not be what failed: the scenario
/// changed since (its hash), or the failure recorded does not recur.
#[test]
fn a_replay_warns_when_the_scenario_changed_or_the_failure_did_not_recur() {
    let dir = Scratch::dir();
    let scenario = dir.join("short-partition.toml");
    std::fs::copy(
        vigil_tests::root().join("tests/exhaust/short-partition.toml"),
        &scenario,
    )
    .unwrap();
    let schedule = dir.join("short-partition.schedule.json");
    let file = scenario.to_str().unwrap();
    let out = vigil(&["exhaust", file, "--drops", "1", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let replay = || vigil(&["replay", schedule.to_str().unwrap()]);
    let out = replay();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    let mut text = std::fs::read_to_string(&scenario).unwrap();
    text.push_str("# edited\n");
    std::fs::write(&scenario, &text).unwrap();
    let out = replay();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("changed since"), "{}", out.stderr);

    // The plain order of this scenario passes: a schedule of it that
    // records a failure is one that no longer fails.
    let mut j: Value = serde_json::from_str(&std::fs::read_to_string(&schedule).unwrap()).unwrap();
    j["choices"] = serde_json::json!([]);
    j.as_object_mut().unwrap().remove("scenario_sha256");
    std::fs::write(&schedule, j.to_string()).unwrap();
    let out = replay();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("did not recur"), "{}", out.stderr);
}
