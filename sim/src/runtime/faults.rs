//! The controller: applies the scenario's faults on schedule, through
//! madsim (kill, restart, pause, resume, clogged links) and the shared
//! world (network conditions, armed work-thread faults, jobs), and records
//! in the trace what each one did ([`Effect`]): the truth the checks judge
//! by. It decides nothing about membership.

use super::job;
use super::wires::MainMsg;
use super::world::{NetFault, NodeStatus, World};
use crate::scenario::{FaultKind as ScenarioFault, JobAction, WorkThreadFault};
use crate::trace::{Effect, NoEffect, TraceEvent};
use madsim::runtime::Handle;
use std::sync::Arc;
use std::time::Duration;
use vigil_engine::job::FaultKind;
use vigil_engine::{Dur, Name, NodeId};

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

fn link(a: u16, b: u16) -> (NodeId, NodeId) {
    (NodeId(a), NodeId(b))
}

/// Restores every cut link; returns them.
fn heal_all(world: &World) -> Vec<(NodeId, NodeId)> {
    let net = madsim::net::NetSim::current();
    let clogged = std::mem::take(&mut *world.clogged.lock().expect("clogged"));
    let mut restored = Vec::new();
    for (a, b) in clogged.into_keys() {
        net.unclog_link(world.madsim_id(a), world.madsim_id(b));
        restored.push(link(a, b));
    }
    restored
}

/// Ends one partition: restores its links that no other partition cuts;
/// returns them.
fn heal_links(world: &World, links: &[(u16, u16)]) -> Vec<(NodeId, NodeId)> {
    let net = madsim::net::NetSim::current();
    let mut clogged = world.clogged.lock().expect("clogged");
    let mut restored = Vec::new();
    for l in links {
        if let Some(count) = clogged.get_mut(l) {
            *count -= 1;
            if *count == 0 {
                clogged.remove(l);
                net.unclog_link(world.madsim_id(l.0), world.madsim_id(l.1));
                restored.push(link(l.0, l.1));
            }
        }
    }
    restored
}

/// Applies fault number `index` now and records what it did.
pub(super) fn apply(world: &Arc<World>, index: usize, fault: &ScenarioFault) {
    let effect = strike(world, index, fault);
    world.record(TraceEvent::Fault {
        index,
        kind: fault.name(),
        text: fault.describe(),
        effect,
    });
}

/// Records that fault number `index` ended, doing `effect`.
fn ended(world: &World, index: usize, kind: &'static str, effect: Effect) {
    world.record(TraceEvent::FaultEnd {
        index,
        kind,
        effect,
    });
}

/// Carries out fault number `index`: one arm per kind, no catch-all, so a
/// new kind is listed here by the compiler.
fn strike(world: &Arc<World>, index: usize, fault: &ScenarioFault) -> Effect {
    let kind = fault.name();
    match fault {
        ScenarioFault::WorkThread(w) => {
            let (node, job, thread) = (&w.node, &w.job, &w.thread);
            let fault_kind = match w.fault {
                WorkThreadFault::Panic => FaultKind::Panic,
                WorkThreadFault::Error => FaultKind::Error,
                WorkThreadFault::Hang => FaultKind::Hang,
            };
            let shared = &world.nodes[usize::from(*node)];
            let mut live = shared.live.lock().expect("live");
            let up = *shared.status.lock().expect("status") == NodeStatus::Up;
            let wanted = shared.wanted.lock().expect("wanted").contains(job);
            let armed = |starting| Effect::Armed {
                node: NodeId(*node),
                job: Name::new(job),
                thread: *thread,
                kind: fault_kind,
                starting,
            };
            match live.jobs.get(job) {
                Some(h) => {
                    *h.faults[usize::from(*thread)].lock().expect("flag") =
                        Some((fault_kind, index));
                    armed(false)
                }
                // The node is booting (as at time 0): the job's first step faults.
                None if up && wanted => {
                    live.armed
                        .insert((job.clone(), *thread), (fault_kind, index));
                    armed(true)
                }
                None => Effect::None(NoEffect::JobNotRunning),
            }
        }
        ScenarioFault::Job(f) => {
            let (node, job) = (&f.node, &f.job);
            match f.action {
                JobAction::Kill => kill(world, *node, job),
                JobAction::Leave => leave(world, *node, job),
                JobAction::Join => join(world, &Handle::current(), *node, job),
            }
        }
        ScenarioFault::NodeCrash(c) => crash(world, index, kind, c.node, c.restart_after),
        ScenarioFault::NodePause(p) => pause(world, index, kind, p.node, p.duration),
        ScenarioFault::Partition(p) => partition(world, index, kind, &p.sides, p.heal_after),
        ScenarioFault::Heal(_) => Effect::LinksRestored {
            links: heal_all(world),
        },
        ScenarioFault::Delay(d) => {
            let delay = (Dur::from_std(d.latency.0), Dur::from_std(d.latency.1));
            degrade(world, index, kind, &d.nodes, 0.0, Some(delay), d.duration)
        }
        ScenarioFault::Loss(l) => degrade(world, index, kind, &l.nodes, l.rate, None, l.duration),
    }
}

/// `job-kill`: the job dies without unregistering (and stays down).
fn kill(world: &World, node: u16, job: &str) -> Effect {
    let shared = &world.nodes[usize::from(node)];
    shared.wanted.lock().expect("wanted").remove(job);
    let handle = shared.live.lock().expect("live").jobs.remove(job);
    let member = handle
        .as_ref()
        .and_then(|h| h.member.lock().expect("member").clone());
    if let Some(h) = &handle {
        if let Some(m) = &member {
            world.record_unread(m, &h.pending);
        }
        h.main.abort();
    }
    Effect::JobKilled {
        node: NodeId(node),
        job: Name::new(job),
        running: handle.is_some(),
        member,
    }
}

/// `job-leave`: the job is asked to unregister.
fn leave(world: &World, node: u16, job: &str) -> Effect {
    let shared = &world.nodes[usize::from(node)];
    shared.wanted.lock().expect("wanted").remove(job);
    match shared.live.lock().expect("live").jobs.get(job) {
        Some(h) => {
            let _ = h
                .inbox
                .unbounded_send(MainMsg::Signal(vigil_engine::job::MainInput::Leave));
            Effect::LeaveAsked {
                node: NodeId(node),
                job: Name::new(job),
                member: h.member.lock().expect("member").clone(),
            }
        }
        None => Effect::None(NoEffect::JobNotRunning),
    }
}

/// `job-join`: the job starts again, now or when its node is back.
fn join(world: &Arc<World>, handle: &Handle, node: u16, job: &str) -> Effect {
    let shared = &world.nodes[usize::from(node)];
    shared
        .wanted
        .lock()
        .expect("wanted")
        .insert(job.to_string());
    let up = *shared.status.lock().expect("status") == NodeStatus::Up;
    let running = shared.live.lock().expect("live").jobs.contains_key(job);
    if running {
        return Effect::None(NoEffect::JobRunning);
    }
    if up {
        let (w, n, j) = (world.clone(), NodeId(node), job.to_string());
        if let Some(nh) = handle.get_node(world.madsim_id(node)) {
            nh.spawn(async move { job::start(&w, n, &j) });
        }
    }
    Effect::JobStarts {
        node: NodeId(node),
        job: Name::new(job),
        later: !up,
    }
}

/// `node-crash`: the node and its jobs die; it restarts after
/// `restart_after`, if given. A node that is down cannot crash again; its
/// pending restart stands.
fn crash(
    world: &Arc<World>,
    index: usize,
    kind: &'static str,
    node: u16,
    restart_after: Option<Duration>,
) -> Effect {
    if world.node_status(node) == NodeStatus::Crashed {
        return Effect::None(NoEffect::NodeDown);
    }
    set_status(world, node, NodeStatus::Crashed);
    {
        let mut live = world.nodes[usize::from(node)].live.lock().expect("live");
        live.engine_tx = None;
        for h in std::mem::take(&mut live.jobs).into_values() {
            if let Some(m) = h.member.lock().expect("member").clone() {
                world.record_unread(&m, &h.pending);
            }
        }
    }
    Handle::current().kill(world.madsim_id(node));
    if let Some(d) = restart_after {
        let w = world.clone();
        after(d, move || {
            if w.node_status(node) != NodeStatus::Crashed {
                return; // restarted already
            }
            set_status(&w, node, NodeStatus::Up);
            ended(&w, index, kind, Effect::NodeUp { node: NodeId(node) });
            Handle::current().restart(w.madsim_id(node));
        });
    }
    Effect::NodeDown { node: NodeId(node) }
}

/// `node-pause`: every task on the node freezes for `duration`. No effect
/// on a node that is down or paused.
fn pause(
    world: &Arc<World>,
    index: usize,
    kind: &'static str,
    node: u16,
    duration: Duration,
) -> Effect {
    match world.node_status(node) {
        NodeStatus::Up => {}
        NodeStatus::Crashed => return Effect::None(NoEffect::NodeDown),
        NodeStatus::Paused => return Effect::None(NoEffect::NodePaused),
    }
    set_status(world, node, NodeStatus::Paused);
    Handle::current().pause(world.madsim_id(node));
    let w = world.clone();
    after(duration, move || {
        if *w.nodes[usize::from(node)].status.lock().expect("status") == NodeStatus::Paused {
            set_status(&w, node, NodeStatus::Up);
        }
        ended(&w, index, kind, Effect::NodeResumed { node: NodeId(node) });
        Handle::current().resume(w.madsim_id(node));
    });
    Effect::NodePaused { node: NodeId(node) }
}

/// `partition`: cuts every link between two sides, both ways, healing its
/// own links (those no other partition cuts) after `heal_after`.
fn partition(
    world: &Arc<World>,
    index: usize,
    kind: &'static str,
    sides: &[Vec<u16>],
    heal_after: Option<Duration>,
) -> Effect {
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
    let cut = links.iter().map(|(a, b)| link(*a, *b)).collect();
    if let Some(d) = heal_after {
        let w = world.clone();
        after(d, move || {
            let restored = heal_links(&w, &links);
            ended(&w, index, kind, Effect::LinksRestored { links: restored });
        });
    }
    Effect::LinksCut {
        sides: sides
            .iter()
            .map(|s| s.iter().map(|n| NodeId(*n)).collect())
            .collect(),
        links: cut,
    }
}

/// Loss and extra delay on the links touching `nodes` (all if `None`), for
/// `duration` (for good if `None`).
fn degrade(
    world: &Arc<World>,
    index: usize,
    kind: &'static str,
    nodes: &Option<Vec<u16>>,
    loss: f64,
    delay: Option<(Dur, Dur)>,
    duration: Option<Duration>,
) -> Effect {
    let until = duration.map(|d| world.now() + Dur::from_std(d));
    let ids: Option<Vec<NodeId>> = nodes
        .as_ref()
        .map(|n| n.iter().map(|k| NodeId(*k)).collect());
    if let Some(d) = duration {
        let (w, on) = (world.clone(), ids.clone());
        after(d, move || {
            ended(&w, index, kind, Effect::NetworkRestored { nodes: on });
        });
    }
    world.net_faults.lock().expect("net").push(NetFault {
        nodes: ids.as_ref().map(|n| n.iter().copied().collect()),
        loss,
        delay_ns: delay.map(|(lo, hi)| (lo.0, hi.0)),
        until,
    });
    Effect::NetworkDegraded {
        nodes: ids,
        loss,
        delay,
    }
}
