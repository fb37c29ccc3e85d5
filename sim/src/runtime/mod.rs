//! The madsim driver: one run of one scenario under one seed. It builds a
//! madsim runtime from the seed, a node per cluster node (`node`: the
//! engine task and the network; `job`: the main and work threads), and
//! the controller that applies the scenario's faults on schedule
//! (`faults`). It translates between madsim and the state machines of
//! `vigil-engine` and `vigil-protocols` and decides nothing itself.
//!
//! Invariant: everything random in a run comes from madsim's generator,
//! seeded by the run's seed, and every collection whose order can reach the
//! trace is ordered; so a scenario and a seed always give the same trace.
//!
//! Layers, without a circle: `world` (shared state) and `wires` (what
//! tasks send each other) at the bottom; `job` above them; `node` above
//! `job` (it starts a node's jobs); `faults` and this module on top.

mod faults;
mod job;
mod node;
mod wires;
mod world;

pub use crate::trace::NodeStatus;
pub use job::INJECTED_PANIC;
pub use world::live_worlds;

use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::scenario::Scenario;
use crate::trace::{JobInfo, RunEnd, RunInfo, Trace};
use madsim::runtime::{Handle, Runtime};
use madsim::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use vigil_engine::{Dur, Durable, Name, NodeId, Time};
use world::{LiveNode, NodeShared, World};

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
}

impl RunConfig {
    /// `scenario` under `seed`, with the built-in protocols, no mutation and
    /// no packet detail.
    pub fn new(scenario: &Scenario, seed: u64) -> RunConfig {
        RunConfig {
            registry: Registry::builtin_ref().clone(),
            scenario: scenario.clone(),
            seed,
            mutation: None,
            detail: false,
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
}

/// Keeps injected panics out of the terminal; real ones still print.
fn quiet_injected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&job::INJECTED_PANIC) {
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
    quiet_injected_panics();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut config = madsim::Config::default();
        let (lo, hi) = cfg.scenario.cluster.latency;
        let hi = if hi > lo {
            hi
        } else {
            lo + Duration::from_micros(1)
        };
        config.net.send_latency = lo..hi;
        config.net.packet_loss_rate = 0.0;
        let rt = Runtime::with_seed_and_config(cfg.seed, config);
        rt.block_on(simulate(cfg.clone()))
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// The body of a run, inside a madsim runtime (public so that a test can
/// hand it to madsim's own determinism check).
pub async fn simulate(cfg: RunConfig) -> Trace {
    let RunConfig {
        registry,
        scenario,
        seed,
        mutation,
        detail,
    } = cfg;
    let handle = Handle::current();
    let nodes = (0..scenario.cluster.nodes)
        .map(|_| NodeShared {
            disk: Mutex::new(Durable::default()),
            wanted: Mutex::new(BTreeSet::new()),
            live: Mutex::new(LiveNode::default()),
            status: Mutex::new(NodeStatus::Up),
        })
        .collect();
    let engine_cfg = scenario.engine_config();
    let info = run_info(&scenario, seed);
    let world = Arc::new(World {
        engine_config: engine_cfg,
        scenario,
        registry,
        mutation,
        start: Instant::now(),
        trace: Mutex::new(Trace::new(info)),
        nodes,
        net_faults: Mutex::new(Vec::new()),
        clogged: Mutex::new(BTreeMap::new()),
        madsim_ids: Mutex::new(Vec::new()),
        detail,
        packets: std::sync::atomic::AtomicU64::new(0),
        _live: world::Live::new(),
    });
    for job in &world.scenario.jobs {
        for n in &job.nodes {
            world.nodes[usize::from(*n)]
                .wanted
                .lock()
                .expect("wanted")
                .insert(job.name.clone());
        }
    }
    for k in 0..world.scenario.cluster.nodes {
        let w = world.clone();
        let node = handle
            .create_node()
            .name(format!("n{k}"))
            .ip(node::node_ip(NodeId(k)))
            .init(move || node::node_main(w.clone(), NodeId(k)))
            .build();
        world.madsim_ids.lock().expect("ids").push(node.id());
    }
    let faults = world.scenario.faults.clone();
    for (index, fault) in faults.iter().enumerate() {
        // madsim sleeps at least 1 ms: faults due now (at time 0, or at the
        // same time as the previous one) must not wait for that.
        let at = Time(fault.at.as_nanos() as u64);
        if world.now() < at {
            madsim::time::sleep_until(world.instant(at)).await;
        }
        faults::apply(&world, index, &fault.kind);
    }
    let end = Time(world.scenario.duration.as_nanos() as u64);
    madsim::time::sleep_until(world.instant(end)).await;

    let nodes: Vec<NodeStatus> = world
        .nodes
        .iter()
        .map(|n| *n.status.lock().expect("status"))
        .collect();
    let mut live_members = BTreeSet::new();
    for (k, n) in world.nodes.iter().enumerate() {
        if nodes[k] != NodeStatus::Up {
            continue;
        }
        for h in n.live.lock().expect("live").jobs.values() {
            if let Some(m) = h.member.lock().expect("member").clone() {
                world.record_unread(&m, &h.pending);
                live_members.insert(m);
            }
        }
    }
    let mut trace = std::mem::replace(
        &mut *world.trace.lock().expect("trace"),
        Trace::new(run_info(&world.scenario, seed)),
    );
    trace.end = RunEnd {
        at: end,
        nodes,
        live_members,
    };
    // Tasks still pending at the end would outlive the runtime: a madsim
    // task holds its own waker, so nothing frees it. Killing every node
    // wakes them all, and yielding lets the executor drop them, so a sweep
    // runs in constant memory.
    for id in world.madsim_ids.lock().expect("ids").iter() {
        handle.kill(*id);
    }
    madsim::task::yield_now().await;
    trace
}

/// What the trace says of the run before it starts: the settings the
/// checks' bounds need.
fn run_info(scenario: &Scenario, seed: u64) -> RunInfo {
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
    }
}
