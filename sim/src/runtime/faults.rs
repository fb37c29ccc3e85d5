//! The controller: applies the scenario's faults on schedule, through
//! madsim (kill, restart, pause, resume, clogged links) and the shared
//! world (network conditions, armed work-thread faults, jobs).

use super::job;
use super::wires::MainMsg;
use super::world::{NetFault, NodeStatus, World};
use crate::scenario::describe;
use crate::scenario::FaultKind as ScenarioFault;
use crate::trace::TraceEvent;
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

pub(super) fn apply(world: &Arc<World>, index: usize, fault: &ScenarioFault) {
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
                        .unbounded_send(MainMsg::Signal(vigil_engine::job::MainInput::Leave));
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
