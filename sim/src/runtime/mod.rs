//! One run of one scenario under one seed, by one of two drivers:
//!
//! - `madsim_driver`: madsim's seeded runtime and network, a madsim node
//!   per cluster node with one task stepping it (the default);
//! - `event_loop`: a plain loop over an agenda of timed events, with its
//!   own seeded network model and no async at all (`--driver event-loop`).
//!
//! A driver translates between its world and the state machines of
//! `vigil-engine` and `vigil-protocols` and decides nothing itself. What
//! both share lives here, so that they cannot disagree: what each fault
//! does (`faults`, over the [`faults::Plant`] each driver implements), the
//! network's conditions (`net`), what a job's threads record and how
//! a step runs (`threads`), and one node as a synchronous state machine
//! (`node`, stepped by both drivers through its `Host` trait).
//!
//! Invariant: everything random in a run comes from a generator seeded by
//! the run's seed, and every collection whose order can reach the trace is
//! ordered; so a scenario, a seed and a driver always give the same trace.
//!
//! Layers, without a circle: `net` and `threads` at the bottom, `faults`
//! above them, `node` above those, the drivers on top, each using only
//! those.

mod clock;
mod event_loop;
mod faults;
mod madsim_driver;
mod net;
mod node;
pub mod real;
mod threads;

pub use crate::trace::{Driver, NodeStatus};
pub use event_loop::exhaust;
pub use event_loop::{Agenda, Scheduled, TimeOrder};
pub use madsim_driver::{live_worlds, simulate};
pub use threads::INJECTED_PANIC;

/// This folder's unit tests (see `unit_tests!` in lib.rs).
#[cfg(feature = "unit-tests")]
pub(crate) const UNIT_TESTS: &[(&str, crate::UnitTests)] = &[
    ("runtime", tests::ALL),
    ("runtime::clock", clock::tests::ALL),
    ("runtime::event_loop", event_loop::tests::ALL),
    (
        "runtime::event_loop::exhaust",
        event_loop::exhaust::tests::ALL,
    ),
    ("runtime::faults", faults::tests::ALL),
    (
        "runtime::madsim_driver::host",
        madsim_driver::host::tests::ALL,
    ),
    ("runtime::net", net::tests::ALL),
    ("runtime::real", real::tests::ALL),
    ("runtime::real::launch", real::LAUNCH_TESTS),
];

use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::scenario::Scenario;
use crate::trace::{JobInfo, RunInfo, Trace};
use std::cell::Cell;
use std::sync::Once;
use vigil_engine::{Dur, Name, NodeId};

/// How far in simulated time (ns) the run watched with [`watch`] has come:
/// for a progress bar on a long `vigil run`. Written by the drivers as
/// time moves, never read by a run.
pub static PROGRESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// Whether the run on this thread reports to [`PROGRESS`] (a sweep's
    /// runs, side by side, do not).
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread runs inside [`catch`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught by [`catch`] struck.
    static PLACE: Cell<Option<String>> = const { Cell::new(None) };
}

/// Has the runs on this thread report how far they came to [`PROGRESS`]
/// (`on`), or stop.
pub fn watch(on: bool) {
    PROGRESS.store(0, std::sync::atomic::Ordering::Relaxed);
    WATCHED.with(|w| w.set(on));
}

/// A driver's clock reached `now`.
#[inline]
fn reached(now: vigil_engine::Time) {
    if WATCHED.get() {
        PROGRESS.store(now.0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What to run: one concrete scenario (its random faults already drawn,
/// see [`crate::scenario::draw`]) under one seed.
#[derive(Clone)]
pub struct RunConfig {
    /// The protocols jobs may name (a user's own among them).
    pub registry: Registry,
    pub scenario: Scenario,
    pub seed: u64,
    /// A deliberately broken variant (tests only; see [`crate::mutation`]).
    pub mutation: Option<Mutation>,
    /// Record every packet sent, delivered and dropped (`vigil replay`).
    pub detail: bool,
    pub driver: Driver,
}

impl RunConfig {
    /// `scenario` under `seed`, with the built-in protocols, no mutation,
    /// no packet detail and the default driver.
    pub fn new(scenario: &Scenario, seed: u64) -> RunConfig {
        RunConfig {
            registry: Registry::builtin_ref().clone(),
            scenario: scenario.clone(),
            seed,
            mutation: None,
            detail: false,
            driver: Driver::default(),
        }
    }

    pub fn registry(mut self, registry: &Registry) -> RunConfig {
        self.registry = registry.clone();
        self
    }

    pub fn mutation(mut self, mutation: Option<Mutation>) -> RunConfig {
        self.mutation = mutation;
        self
    }

    pub fn detail(mut self, detail: bool) -> RunConfig {
        self.detail = detail;
        self
    }

    pub fn driver(mut self, driver: Driver) -> RunConfig {
        self.driver = driver;
        self
    }
}

/// Keeps injected panics out of the terminal; a real one is printed by
/// Rust's hook (with its backtrace, if asked for) unless it strikes inside
/// [`catch`], which reports it itself (with its place, see [`catch`]).
pub(crate) fn quiet_injected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&INJECTED_PANIC) {
                return;
            }
            if CATCHING.get() && std::env::var_os("VIGIL_BACKTRACE").is_none() {
                let place = info.location().map(|l| l.to_string());
                PLACE.set(place);
                return;
            }
            previous(info);
        }));
    });
}

/// Runs the configured scenario to its end. A panic inside the simulation
/// (a bug in vigil, or in a protocol's code outside its steps) is caught
/// and returned as its message, so that one bad seed cannot take a sweep
/// down.
pub fn run(cfg: &RunConfig) -> Result<Trace, String> {
    catch(|| match cfg.driver {
        Driver::Madsim => madsim_driver::run(cfg),
        Driver::EventLoop => event_loop::run(cfg, TimeOrder::default()),
        Driver::Real => panic!("a real run is not a simulation: it is `real::run_real`'s"),
    })
}

/// Runs the configured scenario on the event loop, taking events in the
/// order `agenda` chooses (an explorer's own, for one): see [`Agenda`].
pub fn run_with_agenda<A: Agenda>(cfg: &RunConfig, agenda: A) -> Result<Trace, String> {
    catch(|| event_loop::run(cfg, agenda))
}

/// Runs `body`, returning a panic's message and where it struck as the
/// error (`boom (at engine/src/job/work_thread.rs:626:9)`). The panic is
/// not printed: whoever called reports it, once, as a failed run with its
/// replay command. `VIGIL_BACKTRACE=1` prints it as Rust would (with
/// `RUST_BACKTRACE`, its backtrace), for a developer chasing it.
pub(crate) fn catch<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    quiet_injected_panics();
    PLACE.set(None);
    let outer = CATCHING.replace(true);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    CATCHING.set(outer);
    out.map_err(|p| match PLACE.take() {
        Some(place) => format!("{} (at {place})", panic_text(&*p)),
        None => panic_text(&*p),
    })
}

/// A caught panic's message.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// What the trace says of the run before it starts: the settings the
/// checks' bounds need.
fn run_info(scenario: &Scenario, seed: u64, driver: Driver) -> RunInfo {
    RunInfo {
        scenario: scenario.name.clone(),
        seed,
        engine: scenario.engine_config(),
        loss: scenario.cluster.loss,
        jobs: scenario
            .jobs
            .iter()
            .map(|j| JobInfo {
                name: Name::new(&j.name),
                group: Name::new(&j.group),
                nodes: j.nodes.iter().map(|n| NodeId(*n)).collect(),
                work_threads: j.work_threads,
                step_time: Dur::from_std(j.step_time),
                work_deadline: Dur::from_std(j.work_deadline),
            })
            .collect(),
        duration: Dur::from_std(scenario.duration),
        driver,
    }
}

/// A fresh, empty trace for `scenario` under `seed` on `driver`.
fn new_trace(scenario: &Scenario, seed: u64, driver: Driver) -> Trace {
    Trace::new(run_info(scenario, seed, driver))
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    /// A scenario of `nodes` nodes running job `db` in group `g` for
    /// `duration`.
    fn one_job(nodes: u16, duration: &str) -> Scenario {
        crate::scenario::parse(
            "s.toml",
            &format!(
                "name = \"s\"\nduration = \"{duration}\"\n[cluster]\nnodes = {nodes}\n\
                 [[job]]\nname = \"db\"\ngroup = \"g\"\n"
            ),
        )
        .expect("the scenario parses")
    }

    /// A trace's hash takes its entries in chunks: it must equal the hash of
    /// them taken one by one (what it hashed before the chunks, and the
    /// definition the doc gives), and the last entry, in a chunk of its
    /// own or not, must count.
    fn a_trace_hash_is_over_every_entry_in_order() {
        let scenario = one_job(3, "3s");
        let cfg = RunConfig::new(&scenario, 1);
        let mut trace = run(&cfg).expect("the run");
        let one_by_one = |t: &Trace| {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for e in &t.entries {
                if !e.event.is_detail()
                    && !matches!(e.event, crate::trace::TraceEvent::Probe { .. })
                {
                    h.update(bincode::serialize(e).expect("encodes"));
                }
            }
            h.update(format!("sent {} delivered {}", t.net.sent, t.net.delivered).as_bytes());
            crate::trace::hex(&h.finalize())
        };
        let encoded: usize = trace
            .entries
            .iter()
            .map(|e| bincode::serialize(e).expect("encodes").len())
            .sum();
        assert!(
            encoded > 3 * (8 << 10),
            "a trace of several chunks ({encoded} bytes)"
        );
        assert_eq!(trace.hash(), one_by_one(&trace));
        let before = trace.hash();
        let last = trace.entries.last_mut().expect("entries");
        last.at = vigil_engine::Time(last.at.0 + 1);
        assert_ne!(trace.hash(), before, "the last entry counts");
        assert_eq!(trace.hash(), one_by_one(&trace));
    }

    /// A watched run reports how far its simulated time came, on both
    /// drivers, and reports nothing once unwatched; its trace is the
    /// unwatched run's.
    fn a_watched_run_reports_its_simulated_time() {
        use std::sync::atomic::Ordering;
        let scenario = one_job(3, "2s");
        for driver in [Driver::Madsim, Driver::EventLoop] {
            let cfg = RunConfig {
                driver,
                ..RunConfig::new(&scenario, 1)
            };
            let plain = run(&cfg).expect("the run").hash();
            watch(true);
            let watched = run(&cfg).expect("the run").hash();
            let reached = PROGRESS.load(Ordering::Relaxed);
            watch(false);
            assert_eq!(plain, watched, "{driver}");
            assert!(
                (1_900_000_000..=2_000_000_000).contains(&reached),
                "{driver}: reached {reached} ns of 2 s"
            );
            run(&cfg).expect("the run");
            assert_eq!(PROGRESS.load(Ordering::Relaxed), 0, "{driver}: unwatched");
        }
    }

    unit_tests![
        a_trace_hash_is_over_every_entry_in_order,
        a_watched_run_reports_its_simulated_time,
    ];
}
