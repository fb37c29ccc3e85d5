//! Coverage probes: `vigil run` lists the probes a run hit, and a modest
//! sweep of the examples still reaches every probe it reached when
//! `tests/probes-hit.txt` was written, so a change that makes a rare path
//! unreachable is noticed.
//!
//! `VIGIL_BLESS=1 cargo test -p vigil-tests --test suite coverage::` rewrites the
//! list after a change that adds probes or reaches new ones (say why in
//! the commit when one goes).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use vigil_sim::protocols::Registry;
use vigil_sim::trace::Driver;
use vigil_tests::{example, load, root, run_on, vigil, EXAMPLES};

/// Seeds per example in the sweep.
const SEEDS: u64 = 2;

/// Per example, the probes its seeds hit: every example, seeds 0..SEEDS,
/// on the event loop (the faster driver; both run the same machines).
fn sweep() -> &'static BTreeMap<&'static str, BTreeSet<String>> {
    static SWEEP: OnceLock<BTreeMap<&'static str, BTreeSet<String>>> = OnceLock::new();
    SWEEP.get_or_init(|| {
        EXAMPLES
            .iter()
            .map(|name| {
                let scenario = load(name);
                let mut hit = BTreeSet::new();
                for seed in 0..SEEDS {
                    let run = run_on(Driver::EventLoop, &scenario, seed, None);
                    hit.extend(run.out.probes().into_keys().map(str::to_string));
                }
                (*name, hit)
            })
            .collect()
    })
}

fn union<'a>(sets: impl Iterator<Item = &'a BTreeSet<String>>) -> BTreeSet<String> {
    sets.flatten().cloned().collect()
}

/// The probes `before` lists that `now` lacks.
fn lost(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    before.difference(now).cloned().collect()
}

fn baseline_path() -> std::path::PathBuf {
    root().join("tests").join("probes-hit.txt")
}

fn baseline() -> BTreeSet<String> {
    std::fs::read_to_string(baseline_path())
        .expect("tests/probes-hit.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_examples_still_reach_every_probe_they_reached() {
    let hit = union(sweep().values());
    if std::env::var_os("VIGIL_BLESS").is_some() {
        let mut text = String::from(
            "# The coverage probes that every example, seeds 0..2 on the event loop,\n# reaches (tests/coverage.rs). Rewrite with VIGIL_BLESS=1.\n",
        );
        for p in &hit {
            text.push_str(p);
            text.push('\n');
        }
        std::fs::write(baseline_path(), text).expect("write the list");
    }
    let before = baseline();
    let gone = lost(&before, &hit);
    assert!(
        gone.is_empty(),
        "the example sweep no longer reaches {gone:?}: a change made these paths unreachable \
         (or moved them); if that is meant, rerun with VIGIL_BLESS=1 and say why"
    );
    let declared: BTreeSet<String> = Registry::builtin_ref()
        .probes()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let undeclared: Vec<&String> = hit.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "probes hit but declared nowhere: {undeclared:?}"
    );
    assert!(
        before.len() * 2 > declared.len(),
        "the sweep reaches most probes: {} of {}",
        before.len(),
        declared.len()
    );
}

/// The check bites: drop from the sweep the examples that reach some probe
/// (the one the fewest examples reach) and it is reported lost.
#[test]
fn a_sweep_that_stops_reaching_a_probe_is_caught() {
    let sweep = sweep();
    let all = union(sweep.values());
    let rarest = all
        .iter()
        .min_by_key(|p| sweep.values().filter(|h| h.contains(*p)).count())
        .expect("the sweep hits probes");
    let rest = union(sweep.values().filter(|h| !h.contains(rarest)));
    assert_eq!(lost(&all, &rest), vec![rarest.clone()]);
}

#[test]
fn vigil_run_lists_the_probes_a_run_hit() {
    let file = example("random-faults.toml");
    let o = vigil(&["run", &file, "--seed", "3"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("probes hit"), "{}", o.stdout);
    assert!(o.stdout.contains("gather-asked-again ×"), "{}", o.stdout);
    let j = vigil(&["run", &file, "--seed", "3", "--json"]);
    let v: serde_json::Value = serde_json::from_str(j.stdout.trim()).expect("JSON");
    assert!(
        v["probes"]["gather-asked-again"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{}",
        v["probes"]
    );
    // The trace has each hit, with its node.
    let t = vigil(&["run", &file, "--seed", "3", "--trace"]);
    assert!(
        t.stdout.contains(" probe      n"),
        "no probe lines in the trace"
    );
}

#[test]
fn explore_reports_each_probe_and_the_ones_no_run_hit() {
    let file = example("quickstart.toml");
    let o = vigil(&["explore", &file, "--seeds", "0..3", "--json", "--jobs", "1"]);
    let summary: serde_json::Value = o
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("a summary line");
    let cov = &summary["coverage"];
    let probes = cov["probes"].as_array().expect("probes");
    assert_eq!(
        probes.len(),
        Registry::builtin_ref().probes().len(),
        "one row per declared probe"
    );
    let never: Vec<&str> = cov["not_hit"]
        .as_array()
        .expect("not_hit")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        never.contains(&"2pc-in-doubt"),
        "the quickstart runs no 2PC: {never:?}"
    );
    for row in probes.iter().filter(|r| r["runs"].as_u64() > Some(0)) {
        assert!(
            row["smallest_seed"].as_u64().is_some_and(|s| s < 3),
            "{row}"
        );
        assert!(
            row["replay"]
                .as_str()
                .is_some_and(|r| r.contains("vigil run")),
            "{row}"
        );
    }
    assert_eq!(
        cov["hit"].as_u64().expect("hit") as usize + never.len(),
        probes.len()
    );
    // The human summary has the table.
    assert!(o.stderr.contains("coverage:"), "{}", o.stderr);
    assert!(o.stderr.contains("never hit:"), "{}", o.stderr);
}
