//! Random fault schedules, as proptest strategies, for property tests of a
//! scenario's jobs: any mix of the scenario format's fault kinds, at random
//! times, with bounds that keep every fault inside the run. A failing
//! schedule shrinks (fewer faults, earlier, simpler) and is printed as a
//! scenario file with the `vigil run` command that replays it.

use crate::scenario::{Fault, FaultKind, Scenario};
use crate::{check, world};
use proptest::prelude::*;
use std::time::Duration;

/// Where faults may strike, and how many.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// No fault before this (let the cluster form first).
    pub start: Duration,
    /// No fault at or after this; faults that last end by `end` plus their
    /// own length (at most 6 s).
    pub end: Duration,
    pub faults_max: usize,
}

fn ms(lo: u64, hi: u64) -> impl Strategy<Value = Duration> {
    (lo..hi).prop_map(Duration::from_millis)
}

/// One fault for `scenario`'s cluster and jobs, at a time within `bounds`.
pub fn fault(scenario: &Scenario, bounds: &Bounds) -> BoxedStrategy<Fault> {
    let nodes = scenario.cluster.nodes;
    let jobs: Vec<(String, Vec<u16>, u16)> = scenario
        .jobs
        .iter()
        .map(|j| (j.name.clone(), j.nodes.clone(), j.work_threads))
        .collect();
    let at = ms(
        bounds.start.as_millis() as u64,
        bounds.end.as_millis() as u64,
    );
    let node = 0..nodes;
    let job_on_node = proptest::sample::select(jobs).prop_flat_map(|(name, on, threads)| {
        (Just(name), proptest::sample::select(on), 0..threads)
    });
    let kind = prop_oneof![
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| FaultKind::WorkThreadPanic { node, job, thread }),
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| FaultKind::WorkThreadError { node, job, thread }),
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| FaultKind::WorkThreadHang { node, job, thread }),
        job_on_node
            .clone()
            .prop_map(|(job, node, _)| FaultKind::JobKill { node, job }),
        job_on_node
            .clone()
            .prop_map(|(job, node, _)| FaultKind::JobLeave { node, job }),
        job_on_node.prop_map(|(job, node, _)| FaultKind::JobJoin { node, job }),
        (node.clone(), proptest::option::of(ms(100, 6000))).prop_map(|(node, restart_after)| {
            FaultKind::NodeCrash {
                node,
                restart_after,
            }
        }),
        (node.clone(), ms(100, 4000))
            .prop_map(|(node, duration)| FaultKind::NodePause { node, duration }),
        (
            proptest::collection::vec(any::<bool>(), usize::from(nodes)),
            proptest::option::of(ms(200, 6000))
        )
            .prop_filter("two non-empty sides", |(side, _)| side.iter().any(|b| *b)
                && side.iter().any(|b| !*b))
            .prop_map(|(side, heal_after)| {
                let pick = |want: bool| {
                    (0..side.len())
                        .filter(|i| side[*i] == want)
                        .map(|i| i as u16)
                        .collect()
                };
                FaultKind::Partition {
                    sides: vec![pick(true), pick(false)],
                    heal_after,
                }
            }),
        Just(FaultKind::Heal),
        (
            ms(0, 50),
            ms(0, 100),
            proptest::option::of(proptest::collection::btree_set(node.clone(), 1..3)),
            ms(200, 6000)
        )
            .prop_map(|(lo, extra, nodes, d)| FaultKind::Delay {
                latency: (lo, lo + extra),
                nodes: nodes.map(|n| n.into_iter().collect()),
                duration: Some(d),
            }),
        (
            0.0..0.3f64,
            proptest::option::of(proptest::collection::btree_set(node, 1..3)),
            ms(200, 6000)
        )
            .prop_map(|(rate, nodes, d)| FaultKind::Loss {
                rate,
                nodes: nodes.map(|n| n.into_iter().collect()),
                duration: Some(d)
            }),
    ];
    (at, kind)
        .prop_map(|(at, kind)| Fault { at, kind, line: 0 })
        .boxed()
}

/// A schedule of up to `bounds.faults_max` faults, in time order.
pub fn schedule(scenario: &Scenario, bounds: &Bounds) -> BoxedStrategy<Vec<Fault>> {
    proptest::collection::vec(fault(scenario, bounds), 0..=bounds.faults_max)
        .prop_map(|mut faults| {
            faults.sort_by_key(|f| f.at);
            faults
        })
        .boxed()
}

/// `base` with `faults` instead of its own (and none of its expectations,
/// which speak of its own faults).
pub fn with_faults(base: &Scenario, faults: Vec<Fault>) -> Scenario {
    let mut s = base.clone();
    s.faults = faults;
    s.faults.sort_by_key(|f| f.at);
    s.expectations.clear();
    s
}

/// Runs `scenario` under `seed` and checks it. On failure: the violations,
/// the scenario as a file, and the command that replays it.
pub fn check_run(scenario: &Scenario, seed: u64) -> Result<(), String> {
    check_run_with(scenario, seed, None)
}

/// [`check_run`] with a deliberately broken variant of the system (to show
/// that a property catches it).
pub fn check_run_with(
    scenario: &Scenario,
    seed: u64,
    mutation: Option<world::Mutation>,
) -> Result<(), String> {
    let out = world::run_mutated(scenario, seed, mutation);
    let checks = check::check(&out, scenario, &world::engine_config(scenario));
    let violations: Vec<String> = checks
        .iter()
        .flat_map(|c| c.violations.iter())
        .take(10)
        .map(|v| format!("  {v}"))
        .collect();
    if violations.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} check(s) failed:\n{}\n\n--- save as failing.toml ---\n{}--- then replay with:\n  vigil run failing.toml --seed {seed}\n",
        checks.iter().filter(|c| !c.violations.is_empty()).count(),
        violations.join("\n"),
        scenario.to_toml()
    ))
}
