//! The madsim driver: one run of one scenario under one seed. It builds a
//! madsim runtime from the seed, a madsim node per cluster node (`host`:
//! a task stepping the node's state machine, its packets through madsim's
//! network), and the controller that applies the scenario's faults on
//! schedule (`plant`: the primitives [`super::faults`] asks of a driver).
//! It translates between madsim and the node state machines of
//! [`super::node`] and decides nothing itself.
//!
//! Layers, without a circle: `world` (shared state) at the bottom, `host`
//! above it, `plant` and this module on top.

pub(super) mod host;
mod plant;
mod world;

pub use world::live_worlds;

use super::net::Net;
use super::node::{Kit, Node, Protocols};
use super::{faults, new_trace, RunConfig};
use crate::trace::{NodeStatus, RunEnd, Trace};
use madsim::runtime::{Handle, Runtime};
use madsim::time::Instant;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_engine::{LocalKey, NodeId, Time};
use world::World;

/// Runs `cfg` in a madsim runtime seeded by its seed.
pub(super) fn run(cfg: &RunConfig) -> Trace {
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
        driver: _,
    } = cfg;
    let handle = Handle::current();
    // World::now reads the clock through this while the run lasts; it
    // goes when the run ends or unwinds.
    let _clock = world::RunClock::set();
    let kit = Kit::new(
        Protocols {
            registry,
            scenario: scenario.clone(),
            mutation,
        },
        detail,
    );
    let nodes = (0..scenario.cluster.nodes)
        .map(|k| {
            let mut node = Node::new(k);
            for job in scenario.jobs.iter().filter(|j| j.nodes.contains(&k)) {
                node.wanted.insert(job.name.clone());
            }
            Mutex::new(host::Hosted::new(node, kit.clone()))
        })
        .collect();
    let trace = Mutex::new(new_trace(&scenario, seed, super::Driver::Madsim));
    let net = Mutex::new(Net::new(scenario.cluster.loss));
    let world = Arc::new(World {
        down: (0..scenario.cluster.nodes)
            .map(|_| AtomicBool::new(false))
            .collect(),
        scenario,
        start: Instant::now(),
        clock_at_start: madsim::time::TimeHandle::current().elapsed(),
        trace,
        nodes,
        net,
        layers: Mutex::new(Default::default()),
        madsim_ids: Mutex::new(Vec::new()),
        detail,
        packets: std::sync::atomic::AtomicU64::new(0),
        sent: std::sync::atomic::AtomicU64::new(0),
        delivered: std::sync::atomic::AtomicU64::new(0),
        laters: Mutex::new(Default::default()),
        _live: world::Live::new(),
    });
    for k in 0..world.scenario.cluster.nodes {
        let w = world.clone();
        let node = handle
            .create_node()
            .name(format!("n{k}"))
            .ip(host::node_ip(NodeId(k)))
            .init(move || host::node_main(w.clone(), NodeId(k)))
            .build();
        world.madsim_ids.lock().expect("ids").push(node.id());
        host::install_receiver(&world, NodeId(k));
    }
    // Every node boots at time 0, before anything the scenario does at 0
    // (as on the event loop): a fault at 0 s strikes a booted cluster
    // whose nodes have not acted on their boots yet.
    for k in 0..world.scenario.cluster.nodes {
        let now = world.now();
        world.node(k).on(&world, now).boot();
    }
    // Faults and task submissions in time order; at one time, faults
    // first, each in file order, then what earlier faults set for then
    // (ends, restarts) in the order they were set: as the event loop takes
    // them.
    let mut timeline: Vec<(std::time::Duration, bool, usize)> = (world.scenario.faults.iter())
        .enumerate()
        .map(|(i, f)| (f.at, false, i))
        .chain(
            (world.scenario.tasks.iter())
                .enumerate()
                .map(|(i, t)| (t.at, true, i)),
        )
        .collect();
    timeline.sort();
    let mut timeline = timeline.into_iter().peekable();
    let end = Time(world.scenario.duration.as_nanos() as u64);
    loop {
        let next_later = (world.laters.lock().expect("laters").due.keys().next()).map(|k| k.0);
        let next_fault = timeline.peek().map(|(at, _, _)| Time(at.as_nanos() as u64));
        let (at, fault) = match (next_fault, next_later) {
            (Some(f), Some(l)) if f <= l => (f, true),
            (Some(f), None) => (f, true),
            (_, Some(l)) => (l, false),
            (None, None) => break,
        };
        if at >= end {
            break;
        }
        // madsim sleeps at least 1 ms, and a sleep ends once the tasks due at
        // the same moment have run, each moving the clock on by 50–100 ns.
        // What is due now (at time 0, or with the previous one) must not wait
        // for the first. What is due less than 1 ms after the previous one,
        // and a time written off the millisecond (in µs or ns) or in the
        // run's last millisecond, must not wait for either (it could be up
        // to 1 ms late, or land after the run's end): the controller sleeps
        // to `LEAD` before it, or yields until then (every task runs
        // meanwhile), and steps the rest itself (a timer due in that last
        // stretch fires at its end). Other faults keep the plain sleep: the
        // extra polls would move madsim's schedule.
        const LEAD: u64 = 20_000;
        let previous = world.laters.lock().expect("laters").now;
        let exact = at.0 % 1_000_000 != 0 || end.0 - at.0 <= 1_000_000;
        if world.now() < at && at.0 - previous.0 >= 1_000_000 && !exact {
            madsim::time::sleep_until(world.instant(at)).await;
        } else {
            if world.now().0 + 1_000_000 + LEAD <= at.0 {
                madsim::time::sleep_until(world.instant(Time(at.0 - LEAD))).await;
            }
            while world.now().0 + LEAD < at.0 {
                madsim::task::yield_now().await;
            }
            let now = world.now();
            if now < at {
                madsim::time::advance(Duration::from_nanos(at.0 - now.0));
            }
        }
        world.laters.lock().expect("laters").now = at;
        if !fault {
            let later = world.laters.lock().expect("laters").due.pop_first();
            let (_, later) = later.expect("a later is due");
            faults::follow(&mut plant::Plant(&world), later);
            continue;
        }
        let (_, is_task, index) = timeline.next().expect("a fault is due");
        if is_task {
            let task = world.scenario.tasks[index].clone();
            faults::submit_task(&mut plant::Plant(&world), index, &task);
        } else {
            let kind = world.scenario.faults[index].kind.clone();
            faults::apply(&mut plant::Plant(&world), index, &kind);
        }
    }
    madsim::time::sleep_until(world.instant(end)).await;

    let mut live_members = BTreeSet::new();
    let mut nodes = Vec::new();
    for k in 0..world.scenario.cluster.nodes {
        let mut h = world.node(k);
        nodes.push(h.node.status);
        if h.node.status != NodeStatus::Up {
            continue;
        }
        let keys: Vec<LocalKey> = h.node.names.values().copied().collect();
        for key in keys {
            let member = h.node.jobs.get(&key).and_then(|j| j.member.clone());
            if let Some(m) = member {
                // At madsim's time: the nodes may have acted in the
                // last millisecond past `end` (madsim's shortest sleep).
                h.on(&world, world.now()).record_unread(key);
                live_members.insert(m);
            }
        }
    }
    let mut trace = std::mem::replace(
        &mut *world.trace.lock().expect("trace"),
        new_trace(&world.scenario, seed, super::Driver::Madsim),
    );
    trace.net.sent += world.sent.load(std::sync::atomic::Ordering::Relaxed);
    trace.net.delivered += (world.delivered).load(std::sync::atomic::Ordering::Relaxed);
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
