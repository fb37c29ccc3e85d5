//! Random fault schedules, as proptest strategies, for property tests of a
//! scenario's jobs: any mix of the scenario format's fault kinds, at random
//! times, with bounds that keep every fault inside the run. A failing
//! schedule shrinks (fewer faults, earlier, simpler) and is printed as a
//! scenario file with the `vigil run` command that replays it.

use crate::mutation::Mutation;
use crate::protocols::{Options, Registry};
use crate::run::{self, Request};
use crate::scenario::{
    Clock, Delay, Duplicate, Fault, FaultKind, Heal, JobAction, JobFault, Loss, NodeCrash,
    NodePause, NodeSlow, OneWayCut, Partition, Scenario, WorkThread, WorkThreadFault,
};
use crate::trace::Driver;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};
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

fn work_thread(fault: WorkThreadFault, node: u16, job: String, thread: u16) -> FaultKind {
    FaultKind::WorkThread(WorkThread {
        fault,
        node,
        job,
        thread,
    })
}

fn job_fault(action: JobAction, node: u16, job: String) -> FaultKind {
    FaultKind::Job(JobFault { action, node, job })
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
    // The nodes in two non-empty sets.
    let split = proptest::collection::vec(any::<bool>(), usize::from(nodes))
        .prop_filter("two non-empty sides", |side| {
            side.iter().any(|b| *b) && side.iter().any(|b| !*b)
        })
        .prop_map(|side| {
            let pick = |want: bool| -> Vec<u16> {
                (0..side.len())
                    .filter(|i| side[*i] == want)
                    .map(|i| i as u16)
                    .collect()
            };
            (pick(true), pick(false))
        });
    let kind = prop_oneof![
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| work_thread(WorkThreadFault::Panic, node, job, thread)),
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| work_thread(WorkThreadFault::Error, node, job, thread)),
        job_on_node
            .clone()
            .prop_map(|(job, node, thread)| work_thread(WorkThreadFault::Hang, node, job, thread)),
        job_on_node
            .clone()
            .prop_map(|(job, node, _)| job_fault(JobAction::Kill, node, job)),
        job_on_node
            .clone()
            .prop_map(|(job, node, _)| job_fault(JobAction::Leave, node, job)),
        job_on_node.prop_map(|(job, node, _)| job_fault(JobAction::Join, node, job)),
        (
            node.clone(),
            proptest::option::of(ms(100, 6000)),
            any::<bool>()
        )
            .prop_map(|(node, restart_after, lose_disk)| {
                FaultKind::NodeCrash(NodeCrash {
                    node,
                    restart_after,
                    lose_disk,
                })
            }),
        (node.clone(), proptest::option::of(ms(100, 6000))).prop_map(|(node, restart_after)| {
            FaultKind::NodeStop(NodeCrash {
                node,
                restart_after,
                lose_disk: false,
            })
        }),
        (node.clone(), proptest::option::of(ms(1, 4000))).prop_map(|(node, restart_after)| {
            FaultKind::EngineCrash(NodeCrash {
                node,
                restart_after,
                lose_disk: false,
            })
        }),
        (node.clone(), ms(100, 4000))
            .prop_map(|(node, duration)| FaultKind::NodePause(NodePause { node, duration })),
        (split.clone(), proptest::option::of(ms(200, 6000))).prop_map(|((a, b), heal_after)| {
            FaultKind::Partition(Partition {
                sides: vec![a, b],
                heal_after,
            })
        }),
        (split, proptest::option::of(ms(200, 6000))).prop_map(|((from, to), heal_after)| {
            FaultKind::OneWayCut(OneWayCut {
                from,
                to,
                heal_after,
            })
        }),
        Just(FaultKind::Heal(Heal)),
        (
            ms(0, 50),
            ms(0, 100),
            proptest::option::of(proptest::collection::btree_set(node.clone(), 1..3)),
            ms(200, 6000)
        )
            .prop_map(|(lo, extra, nodes, d)| FaultKind::Delay(Delay {
                latency: (lo, lo + extra),
                nodes: nodes.map(|n| n.into_iter().collect()),
                duration: Some(d),
            })),
        (
            0.0..0.3f64,
            proptest::option::of(proptest::collection::btree_set(node.clone(), 1..3)),
            ms(200, 6000)
        )
            .prop_map(|(rate, nodes, d)| FaultKind::Loss(Loss {
                rate,
                nodes: nodes.map(|n| n.into_iter().collect()),
                duration: Some(d)
            })),
        (
            0.0..0.6f64,
            proptest::option::of(proptest::collection::btree_set(node, 1..3)),
            ms(200, 6000)
        )
            .prop_map(|(rate, nodes, d)| FaultKind::Duplicate(Duplicate {
                rate,
                nodes: nodes.map(|n| n.into_iter().collect()),
                duration: Some(d)
            })),
        (
            0..nodes,
            ms(0, 3000),
            crate::scenario::CLOCK_RATE_MIN..=crate::scenario::CLOCK_RATE_MAX,
            proptest::option::of(ms(200, 6000))
        )
            .prop_map(|(node, offset, rate, duration)| {
                let still = offset.is_zero() && crate::scenario::clock_ppm(rate) == 1_000_000;
                FaultKind::Clock(Clock {
                    node,
                    offset: if still {
                        Duration::from_millis(1)
                    } else {
                        offset
                    },
                    rate,
                    duration,
                })
            }),
        (0..nodes, 1.0..=8.0f64, proptest::option::of(ms(200, 6000))).prop_map(
            |(node, factor, duration)| FaultKind::NodeSlow(NodeSlow {
                node,
                factor,
                duration,
            })
        ),
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

/// `base` with every job running `protocol` with `options`: a schedule plus
/// a protocol make a scenario.
pub fn with_protocol(base: &Scenario, protocol: &str, options: Options) -> Scenario {
    let mut s = base.clone();
    for job in &mut s.jobs {
        job.protocol = protocol.to_string();
        job.options = options.clone();
    }
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
    mutation: Option<Mutation>,
) -> Result<(), String> {
    check_run_as("vigil", Registry::builtin_ref(), scenario, seed, mutation)
}

/// [`check_run_with`] with the protocols of `registry`, naming `program` (a
/// user's own binary, with its own protocols) in the replay command.
pub fn check_run_as(
    program: &str,
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> Result<(), String> {
    check_run_on(
        Driver::default(),
        program,
        registry,
        scenario,
        seed,
        mutation,
    )
}

/// [`check_run_as`] on `driver`.
pub fn check_run_on(
    driver: Driver,
    program: &str,
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> Result<(), String> {
    let e = run::execute(Request {
        registry,
        scenario,
        seed,
        mutation,
        swarm: false,
        detail: false,
        driver,
    });
    if e.passed() {
        return Ok(());
    }
    let violations: Vec<String> = e
        .violations
        .iter()
        .take(10)
        .map(|v| format!("  {v}"))
        .collect();
    let failed: std::collections::BTreeSet<&str> =
        e.violations.iter().map(|v| v.check.as_str()).collect();
    let problem = format!(
        "{} check(s) failed:\n{}",
        failed.len(),
        violations.join("\n")
    );
    Err(format!(
        "{problem}\n\n--- save as failing.toml ---\n{}--- then replay with:\n  {}\n",
        scenario.to_toml(),
        crate::tools::report::replay_command(
            program,
            "failing.toml",
            seed,
            mutation,
            false,
            driver
        )
    ))
}

/// A property test of a scenario's protocol under random fault schedules
/// and random seeds: every check vigil runs (the protocol's own included)
/// must hold. On failure proptest shrinks the schedule, and the failure
/// message carries the minimal schedule as a scenario file and the
/// `vigil run` command that replays it.
///
/// ```no_run
/// use vigil_sim::tools::props::Harness;
/// let base = vigil_sim::scenario::parse("base.toml", r#"
/// name = "2pc" duration = "20s"
/// [cluster]
/// nodes = 3
/// [[job]]
/// name = "db"
/// group = "g"
/// protocol = "two-phase-commit"
/// "#).unwrap();
/// Harness::new(base).cases(256).run().unwrap_or_else(|e| panic!("{e}"));
/// ```
#[derive(Clone, Debug)]
pub struct Harness {
    pub registry: Registry,
    pub base: Scenario,
    pub bounds: Bounds,
    pub mutation: Option<Mutation>,
    pub config: ProptestConfig,
    /// The binary the replay command names (default `vigil`).
    pub program: String,
    /// The driver every case runs on (default madsim).
    pub driver: Driver,
}

/// What a failed property run returns: the minimal schedule and its seed.
pub type HarnessError = TestError<(Vec<Fault>, u64)>;

impl Harness {
    /// Faults between 1 s and two thirds of the run, at most 4 of them;
    /// 256 cases from a fixed proptest seed (the same cases every run, so CI
    /// never flakes), no regression files.
    pub fn new(base: Scenario) -> Harness {
        let end = (base.duration * 2 / 3).max(Duration::from_millis(1500));
        Harness {
            registry: Registry::builtin_ref().clone(),
            bounds: Bounds {
                start: Duration::from_secs(1).min(end / 2),
                end,
                faults_max: 4,
            },
            base,
            mutation: None,
            program: "vigil".to_string(),
            driver: Driver::default(),
            config: ProptestConfig {
                cases: 256,
                rng_seed: proptest::test_runner::RngSeed::Fixed(0x7157_2026),
                failure_persistence: None,
                ..ProptestConfig::default()
            },
        }
    }
    /// With the protocols of `registry` (a user's own among them).
    pub fn registry(mut self, registry: Registry) -> Harness {
        self.registry = registry;
        self
    }
    /// The binary that replays a failure: your own, if it registers your
    /// protocols (`cargo run -p my-crate --`, say).
    pub fn program(mut self, program: &str) -> Harness {
        self.program = program.to_string();
        self
    }
    /// Runs every case on `driver`: on the event loop, a fault that does
    /// nothing leaves the rest of the run as it was, so schedules shrink
    /// further (under madsim every timer draws on the scheduler).
    pub fn driver(mut self, driver: Driver) -> Harness {
        self.driver = driver;
        self
    }
    pub fn cases(mut self, cases: u32) -> Harness {
        self.config.cases = cases;
        self
    }
    pub fn bounds(mut self, bounds: Bounds) -> Harness {
        self.bounds = bounds;
        self
    }
    /// Runs a deliberately broken variant (to show that a property bites).
    pub fn mutation(mut self, mutation: Option<Mutation>) -> Harness {
        self.mutation = mutation;
        self
    }
    /// The schedules and seeds proptest draws.
    pub fn strategy(&self) -> BoxedStrategy<(Vec<Fault>, u64)> {
        (schedule(&self.base, &self.bounds), 0u64..1_000_000).boxed()
    }
    /// Checks one schedule under one seed.
    pub fn check(&self, faults: Vec<Fault>, seed: u64) -> Result<(), TestCaseError> {
        let scenario = with_faults(&self.base, faults);
        check_run_on(
            self.driver,
            &self.program,
            &self.registry,
            &scenario,
            seed,
            self.mutation,
        )
        .map_err(TestCaseError::fail)
    }
    /// Runs the property; `Err` holds the minimal failing schedule and seed,
    /// and its message the scenario file and replay command.
    ///
    /// # Panics
    /// If a job of the base scenario runs a protocol the harness's registry
    /// does not know (give yours with [`Harness::registry`]).
    pub fn run(&self) -> Result<(), HarnessError> {
        for job in &self.base.jobs {
            assert!(
                self.registry.get(&job.protocol).is_some(),
                "job `{}` runs protocol `{}`, which this harness's registry does not know: add `.registry(your_registry)`",
                job.name,
                job.protocol
            );
        }
        let mut runner = TestRunner::new(self.config.clone());
        runner.run(&self.strategy(), |(faults, seed)| self.check(faults, seed))
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;
    use crate::scenario::parse;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// A new fault kind is not covered by the property tests until its
    /// strategy is here, nor readable until its name meets its parser
    /// (`scenario::faults`): this fails until both are so. Every kind is
    /// drawn, written out and read back to the same fault.
    fn every_fault_kind_is_drawn() {
        let scenario = parse(
            "s.toml",
            "name = \"s\"\nduration = \"20s\"\n[cluster]\nnodes = 3\n[[job]]\nname = \"db\"\ngroup = \"g\"\nwork_threads = 2\n",
        )
        .expect("valid");
        let bounds = Bounds {
            start: Duration::from_secs(1),
            end: Duration::from_secs(10),
            faults_max: 4,
        };
        let strategy = fault(&scenario, &bounds);
        let mut runner = TestRunner::deterministic();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let fault = strategy.new_tree(&mut runner).expect("a value").current();
            if seen.insert(fault.kind.name()) {
                let written = with_faults(&scenario, vec![fault.clone()]).to_toml();
                let read = parse("s.toml", &written).unwrap_or_else(|e| {
                    panic!("{} does not read back: {e}\n{written}", fault.kind.name())
                });
                assert_eq!(read.faults[0].kind, fault.kind, "{written}");
            }
        }
        let all: std::collections::BTreeSet<&str> = FaultKind::names().into_iter().collect();
        assert_eq!(seen, all, "add the new kind's strategy to `fault`");
    }

    /// Every random kind is on `--swarm`'s default menu (tasks for a
    /// scenario with a `tasks` job), and a `[random]` section of all of
    /// them writes out and reads back the same.
    fn every_random_kind_is_on_the_menu_and_reads_back() {
        let mut scenario = parse(
            "s.toml",
            "name = \"s\"\nduration = \"20s\"\n[cluster]\nnodes = 3\n[[job]]\nname = \"db\"\ngroup = \"g\"\n[[job]]\nname = \"ops\"\ngroup = \"t\"\nprotocol = \"tasks\"\n",
        )
        .expect("valid");
        let menu = crate::scenario::draw::default_menu(&scenario);
        let names: Vec<&str> = menu.kinds.iter().map(|k| k.fault.name()).collect();
        assert_eq!(names, crate::scenario::RandomFault::names());
        scenario.random = Some(menu);
        let written = scenario.to_toml();
        let read = parse("s.toml", &written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(read.random, scenario.random, "{written}");
    }

    unit_tests![
        every_fault_kind_is_drawn,
        every_random_kind_is_on_the_menu_and_reads_back,
    ];
}
