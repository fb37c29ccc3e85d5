//! One run of one scenario under one seed: the madsim runtime, the nodes,
//! and the controller that applies the scenario's faults on schedule.
//!
//! Invariant: everything random in a run comes from madsim's generator,
//! seeded by the run's seed, and every collection whose order can reach the
//! trace is ordered; so a scenario and a seed always give the same trace.

use crate::job::{self, JobHandle};
use crate::node::{self, EngineIn};
use crate::protocols::{Registry, Setup};
use crate::scenario::{FaultKind as ScenarioFault, Scenario};
use crate::trace::{Trace, TraceEvent};
use futures::channel::mpsc::UnboundedSender;
use madsim::runtime::{Handle, Runtime};
use madsim::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use vigil_engine::job::FaultKind;
use vigil_engine::job::Rounds;
use vigil_engine::{Dur, Durable, LocalKey, MemberId, Name, NodeId, Time};

pub use crate::mutation::Mutation;

/// Whether a node is running at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    Up,
    Crashed,
    Paused,
}

/// What a node keeps across its restarts, and the controller's view of it.
pub struct NodeShared {
    /// The engine's stable storage.
    pub disk: Mutex<Durable>,
    /// The jobs that run here, and start again after a restart.
    pub wanted: Mutex<BTreeSet<String>>,
    pub live: Mutex<LiveNode>,
    pub status: Mutex<NodeStatus>,
}

/// The node's current life: its engine's inbox and its running jobs.
#[derive(Default)]
pub struct LiveNode {
    pub engine_tx: Option<UnboundedSender<EngineIn>>,
    pub jobs: BTreeMap<String, JobHandle>,
    pub next_key: u64,
    /// Work-thread faults that struck before their job started: the job's
    /// thread takes them at its first local step.
    pub armed: BTreeMap<(String, u16), FaultKind>,
}

/// Loss or extra delay on the links that touch `nodes` (all if `None`).
#[derive(Clone, Debug)]
struct NetFault {
    nodes: Option<BTreeSet<NodeId>>,
    loss: f64,
    delay_ns: Option<(u64, u64)>,
    until: Option<Time>,
}

/// Everything the tasks of one run share.
pub struct World {
    pub scenario: Scenario,
    pub registry: Registry,
    pub mutation: Option<Mutation>,
    pub engine_config: vigil_engine::Config,
    start: Instant,
    pub trace: Mutex<Trace>,
    pub nodes: Vec<NodeShared>,
    net_faults: Mutex<Vec<NetFault>>,
    /// Links cut by partitions, with how many partitions cut each: a
    /// partition's heal restores only the links no other partition cuts.
    clogged: Mutex<BTreeMap<(u16, u16), u32>>,
    madsim_ids: Mutex<Vec<madsim::task::NodeId>>,
    /// Record every packet sent, delivered and dropped (`vigil replay`).
    pub detail: bool,
    packets: std::sync::atomic::AtomicU64,
}

impl World {
    pub fn now(&self) -> Time {
        Time(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn instant(&self, t: Time) -> Instant {
        self.start + Duration::from_nanos(t.0)
    }

    pub fn record(&self, event: TraceEvent) {
        let now = self.now();
        self.trace.lock().expect("trace").push(now, event);
    }

    /// Loss probability and extra delay range (ns) for a packet `from -> to` now.
    pub fn link_conditions(&self, from: NodeId, to: NodeId) -> (f64, Option<(u64, u64)>) {
        let now = self.now();
        let mut keep = 1.0 - self.scenario.cluster.loss;
        let mut delay = None;
        for f in self.net_faults.lock().expect("net").iter() {
            if f.until.is_some_and(|u| now >= u) {
                continue;
            }
            if f.nodes
                .as_ref()
                .is_some_and(|n| !n.contains(&from) && !n.contains(&to))
            {
                continue;
            }
            keep *= 1.0 - f.loss;
            if f.delay_ns.is_some() {
                delay = f.delay_ns;
            }
        }
        (1.0 - keep, delay)
    }

    /// The main thread of `job` on `node` (registration `key`) unregistered.
    pub fn job_gone(&self, node: NodeId, job: &str, key: LocalKey) {
        let shared = &self.nodes[usize::from(node.0)];
        let mut live = shared.live.lock().expect("live");
        if live.jobs.get(job).is_some_and(|h| h.key == key) {
            live.jobs.remove(job);
            shared.wanted.lock().expect("wanted").remove(job);
        }
    }

    /// A new protocol instance for work thread `thread` of `job`.
    pub fn protocol_driver(&self, job: &Name, thread: u16, me: MemberId) -> Box<dyn Rounds> {
        let spec = self.scenario.job(job.as_str()).expect("a scenario job");
        let def = self
            .registry
            .get(&spec.protocol)
            .expect("scenarios name registered protocols");
        let setup = Setup {
            options: &spec.options,
            job: &spec.name,
            thread,
            mutation: self.mutation,
        };
        def.driver(&setup, me)
    }

    /// A fresh packet number, in detailed runs.
    pub(crate) fn next_packet_id(&self) -> u64 {
        self.packets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a partition cuts the link `from -> to` now.
    pub(crate) fn is_clogged(&self, from: u16, to: u16) -> bool {
        self.clogged
            .lock()
            .expect("clogged")
            .contains_key(&(from, to))
    }

    pub(crate) fn node_status(&self, node: u16) -> NodeStatus {
        *self.nodes[usize::from(node)].status.lock().expect("status")
    }

    pub(crate) fn madsim_id(&self, node: u16) -> madsim::task::NodeId {
        self.madsim_ids.lock().expect("ids")[usize::from(node)]
    }
}

/// The engine settings a scenario's cluster implies.
pub fn engine_config(scenario: &Scenario) -> vigil_engine::Config {
    vigil_engine::Config {
        nodes: scenario.cluster.nodes,
        heartbeat_interval: Dur::from_std(scenario.cluster.heartbeat_interval),
        failure_timeout: Dur::from_std(scenario.cluster.failure_timeout),
        latency_max: Dur::from_std(scenario.cluster.latency.1),
    }
}

/// What a run leaves behind for the checkers and reports.
#[derive(Clone, Debug)]
pub struct RunOutput {
    pub seed: u64,
    pub trace: Trace,
    pub end: Time,
    pub node_status: Vec<NodeStatus>,
    /// Members whose job still runs at the end, on a node that is up.
    pub live_members: BTreeSet<MemberId>,
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

/// [`run_with`], with a panic inside the simulation (a bug in vigil or in a
/// protocol's code outside its steps) caught and returned as its message,
/// so that one bad seed cannot take a sweep down.
pub fn run_caught(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> Result<RunOutput, String> {
    run_caught_detailed(registry, scenario, seed, mutation, false)
}

/// [`run_caught`], optionally with [`run_detailed`]'s network events.
pub fn run_caught_detailed(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
    detail: bool,
) -> Result<RunOutput, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_detailed(registry, scenario, seed, mutation, detail)
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Runs `scenario` under `seed` to its end.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutput {
    run_mutated(scenario, seed, None)
}

/// Runs `scenario` under `seed` with a deliberately broken variant.
pub fn run_mutated(scenario: &Scenario, seed: u64, mutation: Option<Mutation>) -> RunOutput {
    run_with(Registry::builtin_ref(), scenario, seed, mutation)
}

/// Runs `scenario` under `seed` with the protocols of `registry` (a user's
/// own among them), optionally with a deliberately broken variant.
pub fn run_with(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> RunOutput {
    run_detailed(registry, scenario, seed, mutation, false)
}

/// [`run_with`]; with `detail`, the trace also records every packet sent,
/// delivered and dropped. A scenario with a `[random]` section runs the
/// faults its seed draws ([`crate::draw::draw`]).
pub fn run_detailed(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
    detail: bool,
) -> RunOutput {
    quiet_injected_panics();
    let scenario = &*crate::draw::concrete(scenario, seed);
    let mut config = madsim::Config::default();
    let (lo, hi) = scenario.cluster.latency;
    let hi = if hi > lo {
        hi
    } else {
        lo + Duration::from_micros(1)
    };
    config.net.send_latency = lo..hi;
    config.net.packet_loss_rate = 0.0;
    let rt = Runtime::with_seed_and_config(seed, config);
    let scenario = scenario.clone();
    let registry = registry.clone();
    rt.block_on(async move { simulate_detailed(registry, scenario, seed, mutation, detail).await })
}

/// The body of a run, inside the madsim runtime. Public so that a test can
/// hand it to madsim's own determinism check.
pub async fn simulate(scenario: Scenario, seed: u64, mutation: Option<Mutation>) -> RunOutput {
    simulate_with(Registry::builtin_ref().clone(), scenario, seed, mutation).await
}

/// [`simulate`] with the protocols of `registry`.
pub async fn simulate_with(
    registry: Registry,
    scenario: Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> RunOutput {
    simulate_detailed(registry, scenario, seed, mutation, false).await
}

async fn simulate_detailed(
    registry: Registry,
    scenario: Scenario,
    seed: u64,
    mutation: Option<Mutation>,
    detail: bool,
) -> RunOutput {
    let handle = Handle::current();
    let nodes = (0..scenario.cluster.nodes)
        .map(|_| NodeShared {
            disk: Mutex::new(Durable::default()),
            wanted: Mutex::new(BTreeSet::new()),
            live: Mutex::new(LiveNode::default()),
            status: Mutex::new(NodeStatus::Up),
        })
        .collect();
    let engine_cfg = engine_config(&scenario);
    let world = Arc::new(World {
        engine_config: engine_cfg,
        scenario,
        registry,
        mutation,
        start: Instant::now(),
        trace: Mutex::new(Trace::default()),
        nodes,
        net_faults: Mutex::new(Vec::new()),
        clogged: Mutex::new(BTreeMap::new()),
        madsim_ids: Mutex::new(Vec::new()),
        detail,
        packets: std::sync::atomic::AtomicU64::new(0),
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
        apply(&world, index, &fault.kind);
    }
    let end = Time(world.scenario.duration.as_nanos() as u64);
    madsim::time::sleep_until(world.instant(end)).await;

    let node_status: Vec<NodeStatus> = world
        .nodes
        .iter()
        .map(|n| *n.status.lock().expect("status"))
        .collect();
    let mut live_members = BTreeSet::new();
    for (k, n) in world.nodes.iter().enumerate() {
        if node_status[k] != NodeStatus::Up {
            continue;
        }
        for h in n.live.lock().expect("live").jobs.values() {
            if let Some(m) = h.member.lock().expect("member").clone() {
                live_members.insert(m);
            }
        }
    }
    let trace = std::mem::take(&mut *world.trace.lock().expect("trace"));
    RunOutput {
        seed,
        trace,
        end,
        node_status,
        live_members,
    }
}

fn set_status(world: &World, node: u16, status: NodeStatus) {
    *world.nodes[usize::from(node)]
        .status
        .lock()
        .expect("status") = status;
}

/// Runs `f` after `delay`, in the controller's context.
fn after(delay: Duration, f: impl FnOnce() + Send + 'static) {
    madsim::task::spawn(async move {
        madsim::time::sleep(delay).await;
        f();
    });
}

fn heal_all(world: &World) {
    let net = madsim::net::NetSim::current();
    let clogged = std::mem::take(&mut *world.clogged.lock().expect("clogged"));
    for (a, b) in clogged.into_keys() {
        net.unclog_link(world.madsim_id(a), world.madsim_id(b));
    }
}

/// Ends one partition: restores its links that no other partition cuts.
fn heal_links(world: &World, links: &[(u16, u16)]) {
    let net = madsim::net::NetSim::current();
    let mut clogged = world.clogged.lock().expect("clogged");
    for link in links {
        if let Some(count) = clogged.get_mut(link) {
            *count -= 1;
            if *count == 0 {
                clogged.remove(link);
                net.unclog_link(world.madsim_id(link.0), world.madsim_id(link.1));
            }
        }
    }
}

fn node_name(n: u16) -> String {
    NodeId(n).to_string()
}

fn apply(world: &Arc<World>, index: usize, fault: &ScenarioFault) {
    let handle = Handle::current();
    let mut text = describe(fault);
    match fault {
        ScenarioFault::WorkThreadPanic { node, job, thread }
        | ScenarioFault::WorkThreadError { node, job, thread }
        | ScenarioFault::WorkThreadHang { node, job, thread } => {
            let kind = match fault {
                ScenarioFault::WorkThreadPanic { .. } => FaultKind::Panic,
                ScenarioFault::WorkThreadError { .. } => FaultKind::Error,
                _ => FaultKind::Hang,
            };
            let shared = &world.nodes[usize::from(*node)];
            let mut live = shared.live.lock().expect("live");
            let up = *shared.status.lock().expect("status") == NodeStatus::Up;
            let wanted = shared.wanted.lock().expect("wanted").contains(job);
            match live.jobs.get(job) {
                Some(h) => *h.faults[usize::from(*thread)].lock().expect("flag") = Some(kind),
                // The node is booting (as at time 0): the job's first step faults.
                None if up && wanted => {
                    live.armed.insert((job.clone(), *thread), kind);
                    text.push_str(" (armed: the job is starting)");
                }
                None => text.push_str(" (no effect: the job is not running)"),
            }
        }
        ScenarioFault::JobKill { node, job } => {
            let shared = &world.nodes[usize::from(*node)];
            shared.wanted.lock().expect("wanted").remove(job);
            let handle = shared.live.lock().expect("live").jobs.remove(job);
            let member = handle
                .as_ref()
                .and_then(|h| h.member.lock().expect("member").clone());
            match handle {
                Some(h) => h.main.abort(),
                None => text.push_str(" (the job was not running: it stays down)"),
            }
            world.record(TraceEvent::JobKilled {
                member,
                node: NodeId(*node),
                job: Name::new(job),
            });
        }
        ScenarioFault::JobLeave { node, job } => {
            let shared = &world.nodes[usize::from(*node)];
            shared.wanted.lock().expect("wanted").remove(job);
            match shared.live.lock().expect("live").jobs.get(job) {
                Some(h) => {
                    let _ = h
                        .inbox
                        .unbounded_send(job::MainMsg::Signal(vigil_engine::job::MainInput::Leave));
                }
                None => text.push_str(" (no effect: the job is not running)"),
            }
        }
        ScenarioFault::JobJoin { node, job } => {
            let shared = &world.nodes[usize::from(*node)];
            shared.wanted.lock().expect("wanted").insert(job.clone());
            let up = *shared.status.lock().expect("status") == NodeStatus::Up;
            let running = shared.live.lock().expect("live").jobs.contains_key(job);
            if running {
                text.push_str(" (no effect: the job is running)");
            } else if up {
                let (w, n, j) = (world.clone(), NodeId(*node), job.clone());
                if let Some(nh) = handle.get_node(world.madsim_id(*node)) {
                    nh.spawn(async move { job::start(&w, n, &j) });
                }
            } else {
                text.push_str(" (starts when the node is back)");
            }
        }
        ScenarioFault::NodeCrash { node, .. }
            if world.node_status(*node) == NodeStatus::Crashed =>
        {
            // A node that is down cannot crash again; its pending restart stands.
            text.push_str(" (no effect: the node is down)");
        }
        ScenarioFault::NodeCrash {
            node,
            restart_after,
        } => {
            set_status(world, *node, NodeStatus::Crashed);
            {
                let mut live = world.nodes[usize::from(*node)].live.lock().expect("live");
                live.engine_tx = None;
                live.jobs.clear();
            }
            handle.kill(world.madsim_id(*node));
            if let Some(d) = restart_after {
                let (w, n) = (world.clone(), *node);
                after(*d, move || {
                    if w.node_status(n) != NodeStatus::Crashed {
                        return; // restarted already
                    }
                    set_status(&w, n, NodeStatus::Up);
                    w.record(TraceEvent::FaultEnd {
                        index,
                        text: format!("{} restarts", node_name(n)),
                    });
                    Handle::current().restart(w.madsim_id(n));
                });
            }
        }
        ScenarioFault::NodePause { node, .. } if world.node_status(*node) != NodeStatus::Up => {
            text.push_str(match world.node_status(*node) {
                NodeStatus::Crashed => " (no effect: the node is down)",
                _ => " (no effect: the node is paused already)",
            });
        }
        ScenarioFault::NodePause { node, duration } => {
            set_status(world, *node, NodeStatus::Paused);
            handle.pause(world.madsim_id(*node));
            let (w, n) = (world.clone(), *node);
            after(*duration, move || {
                if *w.nodes[usize::from(n)].status.lock().expect("status") == NodeStatus::Paused {
                    set_status(&w, n, NodeStatus::Up);
                }
                w.record(TraceEvent::FaultEnd {
                    index,
                    text: format!("{} resumes", node_name(n)),
                });
                Handle::current().resume(w.madsim_id(n));
            });
        }
        ScenarioFault::Partition { sides, heal_after } => {
            let net = madsim::net::NetSim::current();
            let mut links = Vec::new();
            {
                let mut clogged = world.clogged.lock().expect("clogged");
                for (i, a) in sides.iter().enumerate() {
                    for (j, b) in sides.iter().enumerate() {
                        if i == j {
                            continue;
                        }
                        for x in a {
                            for y in b {
                                net.clog_link(world.madsim_id(*x), world.madsim_id(*y));
                                *clogged.entry((*x, *y)).or_insert(0) += 1;
                                links.push((*x, *y));
                            }
                        }
                    }
                }
            }
            if let Some(d) = heal_after {
                let w = world.clone();
                after(*d, move || {
                    heal_links(&w, &links);
                    w.record(TraceEvent::FaultEnd {
                        index,
                        text: "partition heals".into(),
                    });
                });
            }
        }
        ScenarioFault::Heal => heal_all(world),
        ScenarioFault::Delay {
            latency,
            nodes,
            duration,
        } => {
            let delay_ns = Some((latency.0.as_nanos() as u64, latency.1.as_nanos() as u64));
            add_net_fault(world, index, nodes, 0.0, delay_ns, *duration, "delay ends");
        }
        ScenarioFault::Loss {
            rate,
            nodes,
            duration,
        } => {
            add_net_fault(world, index, nodes, *rate, None, *duration, "loss ends");
        }
    }
    world.record(TraceEvent::Fault { index, text });
}

/// Loss and extra delay on the links touching `nodes` (all if `None`), for
/// `duration` (for good if `None`).
fn add_net_fault(
    world: &Arc<World>,
    index: usize,
    nodes: &Option<Vec<u16>>,
    loss: f64,
    delay_ns: Option<(u64, u64)>,
    duration: Option<Duration>,
    end_text: &'static str,
) {
    let until = duration.map(|d| world.now() + Dur::from_std(d));
    if let Some(d) = duration {
        let w = world.clone();
        after(d, move || {
            w.record(TraceEvent::FaultEnd {
                index,
                text: end_text.into(),
            })
        });
    }
    let nodes = nodes
        .as_ref()
        .map(|n| n.iter().map(|k| NodeId(*k)).collect());
    world.net_faults.lock().expect("net").push(NetFault {
        nodes,
        loss,
        delay_ns,
        until,
    });
}

fn nodes_text(nodes: &[u16]) -> String {
    nodes
        .iter()
        .map(|n| node_name(*n))
        .collect::<Vec<_>>()
        .join(",")
}

fn dur_text(d: Duration) -> String {
    format!("{d:?}")
}

/// One line for a fault, as the report shows it.
pub fn describe(fault: &ScenarioFault) -> String {
    match fault {
        ScenarioFault::WorkThreadPanic { node, job, thread } => {
            format!(
                "work-thread-panic {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::WorkThreadError { node, job, thread } => {
            format!(
                "work-thread-error {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::WorkThreadHang { node, job, thread } => {
            format!(
                "work-thread-hang {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::JobKill { node, job } => format!("job-kill {job}@{}", node_name(*node)),
        ScenarioFault::JobLeave { node, job } => format!("job-leave {job}@{}", node_name(*node)),
        ScenarioFault::JobJoin { node, job } => format!("job-join {job}@{}", node_name(*node)),
        ScenarioFault::NodeCrash {
            node,
            restart_after,
        } => match restart_after {
            Some(d) => format!(
                "node-crash {} (restart after {})",
                node_name(*node),
                dur_text(*d)
            ),
            None => format!("node-crash {}", node_name(*node)),
        },
        ScenarioFault::NodePause { node, duration } => {
            format!(
                "node-pause {} for {}",
                node_name(*node),
                dur_text(*duration)
            )
        }
        ScenarioFault::Partition { sides, heal_after } => {
            let sides: Vec<String> = sides
                .iter()
                .map(|s| format!("{{{}}}", nodes_text(s)))
                .collect();
            match heal_after {
                Some(d) => format!(
                    "partition {} (heal after {})",
                    sides.join(" | "),
                    dur_text(*d)
                ),
                None => format!("partition {}", sides.join(" | ")),
            }
        }
        ScenarioFault::Heal => "heal".into(),
        ScenarioFault::Delay {
            latency,
            nodes,
            duration,
        } => format!(
            "delay +{}..{} on {}{}",
            dur_text(latency.0),
            dur_text(latency.1),
            nodes.as_ref().map_or("every link".into(), |n| format!(
                "links of {}",
                nodes_text(n)
            )),
            duration.map_or(String::new(), |d| format!(" for {}", dur_text(d)))
        ),
        ScenarioFault::Loss {
            rate,
            nodes,
            duration,
        } => format!(
            "loss {rate} on {}{}",
            nodes.as_ref().map_or("every link".into(), |n| format!(
                "links of {}",
                nodes_text(n)
            )),
            duration.map_or(String::new(), |d| format!(" for {}", dur_text(d)))
        ),
    }
}
