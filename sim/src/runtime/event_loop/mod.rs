//! The event-loop driver: the same state machines as the madsim driver,
//! stepped by a plain loop with no async, no tasks and no runtime.
//!
//! A run is an [`Agenda`] of timed events (a packet arriving, an engine's
//! timer, a watchdog, a local step ending, a fault) and a loop that takes
//! the next one, carries it out, and then everything it set off at that
//! same instant (the `ready` queue: a main thread taking what its engine
//! handed it, a work thread taking what was routed to it). Its network is
//! its own, seeded by the run's seed: each packet is lost with the
//! conditions' rate, or arrives after a latency drawn from the scenario's
//! range plus any extra delay a fault adds. What faults do is
//! [`super::faults`]'s, as for madsim, and what a node does with an event
//! is [`super::node`]'s; this file only hosts the nodes (their [`Host`])
//! and carries out the primitives ([`faults::Plant`]).
//!
//! Which event comes next is the agenda's choice: [`TimeOrder`] takes them
//! by time, and in the order they were scheduled among equals. An
//! exhaustive explorer would bring its own agenda and choose.
//!
//! Invariants: time never goes back (an agenda may only hand out events
//! due at or after the last one); a node that is paused takes nothing (its
//! events wait, in order, until it resumes); a crashed node's events are
//! dropped, and its next life starts from its disk alone.

pub mod exhaust;

use super::clock::NodeClock;
use super::faults::{self, Later};
use super::net::{packet_kind, Net};
use super::node::{Host, Kit, Local, Node, Protocols, Stepper};
use super::{new_trace, RunConfig};
use crate::trace::{DropCause, NodeStatus, PacketKind, RunEnd, Trace, TraceEvent};
use rand::{Rng, SeedableRng};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::Duration;
use vigil_engine::job::{FaultKind, JobMsg};
use vigil_engine::{Dur, LocalKey, MemberId, NodeId, Packet, Time};

/// One event waiting on the agenda.
#[derive(Clone)]
pub struct Scheduled {
    /// When it is due.
    pub at: Time,
    /// The order it was scheduled in (unique within a run).
    pub seq: u64,
    what: What,
}

impl Scheduled {
    /// The node it happens on, if any (faults happen to the cluster).
    pub fn node(&self) -> Option<NodeId> {
        match &self.what {
            What::Node { node, .. } => Some(NodeId(*node)),
            What::Boot(_) | What::Fault(_) | What::Later(_) | What::Task(_) => None,
        }
    }

    /// Whether it is on the scenario's timeline: a node's first boot, a
    /// fault, a task, or a fault's later half (an end, a restart), rather
    /// than something a node does.
    pub fn on_timeline(&self) -> bool {
        self.node().is_none()
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The events of a run not yet taken, and the choice of which comes next.
/// The loop hands every event it schedules to [`Agenda::push`] and takes
/// the next from [`Agenda::pop`], which may choose any event due no later
/// than every other (the events due at one instant are the choice an
/// explorer of interleavings makes).
pub trait Agenda {
    fn push(&mut self, event: Scheduled);
    fn pop(&mut self) -> Option<Scheduled>;
    /// The first event [on the timeline](Scheduled::on_timeline) due at
    /// `at`, in the order scheduled, if any. Once the loop has taken one,
    /// it takes the rest this way before anything else: what the scenario
    /// does at one instant (its faults in file order, its tasks, then the
    /// ends due) all happens before any node acts on the first of it, as
    /// on madsim, where one task strikes them one after another.
    fn pop_timeline(&mut self, at: Time) -> Option<Scheduled>;
}

/// The default agenda: by time, then in the order scheduled. The heaps
/// hold only keys (the timeline's apart, to find the rest of an instant's
/// at once); the events wait in a slab, so sifting moves 24 bytes, not an
/// event.
#[derive(Default)]
pub struct TimeOrder {
    heap: BinaryHeap<Reverse<(Time, u64, u32)>>,
    timeline: BinaryHeap<Reverse<(Time, u64, u32)>>,
    slab: Vec<Option<Scheduled>>,
    free: Vec<u32>,
}

impl TimeOrder {
    fn take(&mut self, slot: u32) -> Option<Scheduled> {
        self.free.push(slot);
        self.slab[slot as usize].take()
    }
}

impl Agenda for TimeOrder {
    fn push(&mut self, event: Scheduled) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 events wait")
            }
        };
        let e = self.slab[slot as usize].as_ref().expect("just put");
        let key = Reverse((e.at, e.seq, slot));
        if e.on_timeline() {
            self.timeline.push(key);
        } else {
            self.heap.push(key);
        }
    }
    fn pop(&mut self) -> Option<Scheduled> {
        // The earlier of the two heads (each heap's head is its least key).
        let first = match (self.heap.peek(), self.timeline.peek()) {
            (Some(Reverse(node)), Some(Reverse(timeline))) if node < timeline => &mut self.heap,
            (Some(_), None) => &mut self.heap,
            (_, Some(_)) => &mut self.timeline,
            (None, None) => return None,
        };
        let Reverse((_, _, slot)) = first.pop().expect("peeked");
        self.take(slot)
    }
    fn pop_timeline(&mut self, at: Time) -> Option<Scheduled> {
        let &Reverse((due, _, slot)) = self.timeline.peek()?;
        if due != at {
            return None;
        }
        self.timeline.pop();
        self.take(slot)
    }
}

/// What an event is.
#[derive(Clone, Debug, Hash)]
enum What {
    /// The node boots, at 0 s: before the faults due then strike, and
    /// before any node acts on its boot.
    Boot(u16),
    /// The scenario's fault number `index` strikes.
    Fault(usize),
    /// The scenario's task number `index` is submitted.
    Task(usize),
    /// A fault's later half (a restart, a resume, a heal).
    Later(Later),
    /// Something happens on `node`: in its life `life` only, if given.
    Node {
        node: u16,
        life: Option<u32>,
        local: Local,
    },
}

/// One run on the event loop: its nodes, and the stage they act on.
#[derive(Clone)]
struct Sim<A> {
    stage: Stage<A>,
    nodes: Vec<Node>,
    kit: Kit,
}

/// What the nodes of a run act on: the time, what is to come, the network
/// and the trace.
#[derive(Clone)]
struct Stage<A> {
    now: Time,
    end: Time,
    agenda: A,
    seq: u64,
    /// What happens at this instant, after the event that set it off.
    ready: VecDeque<(u16, Local)>,
    net: Net,
    /// Which nodes are down (the network drops what is sent to them).
    down: Vec<bool>,
    latency: (u64, u64),
    /// Whether the network draws loss, duplication and latency from `rng`.
    /// An exhaustive explorer's run does not: a packet takes the latency
    /// range's lower bound (and a delay fault's), and is lost or
    /// duplicated only as the explorer chooses.
    draws: bool,
    rng: rand_chacha::ChaCha8Rng,
    trace: Trace,
    detail: bool,
    packets: u64,
    /// The clock rates and slowness that overlapping faults set.
    layers: faults::Layers,
}

/// A node's view of the stage: its host while it steps.
struct At<'a, A> {
    stage: &'a mut Stage<A>,
    node: u16,
    life: u32,
}

impl<A: Agenda> Host for At<'_, A> {
    fn now(&self) -> Time {
        self.stage.now
    }
    fn record(&mut self, event: TraceEvent) {
        self.stage.record(event);
    }
    fn later(&mut self, at: Time, local: Local) {
        let (node, life) = (self.node, Some(self.life));
        self.stage.schedule(at, What::Node { node, life, local });
    }
    fn soon(&mut self, local: Local) {
        self.stage.ready.push_back((self.node, local));
    }
    fn send(&mut self, to: NodeId, packet: Packet<JobMsg>) {
        self.stage.send(NodeId(self.node), to, packet);
    }
    fn delivered(&mut self) {
        self.stage.trace.net.delivered += 1;
    }
}

/// Runs `cfg` to its end on the event loop, taking events as `agenda`
/// chooses.
pub(super) fn run<A: Agenda>(cfg: &RunConfig, agenda: A) -> Trace {
    let mut sim = Sim::new(cfg, agenda);
    sim.run();
    sim.finish()
}

impl<A: Agenda> Sim<A> {
    /// A run of `cfg` about to start: its nodes' boots, its faults and its
    /// tasks on `agenda`.
    fn new(cfg: &RunConfig, agenda: A) -> Sim<A> {
        let scenario = &cfg.scenario;
        let (lo, hi) = scenario.cluster.latency;
        let mut sim = Sim {
            stage: Stage {
                now: Time(0),
                end: Time(scenario.duration.as_nanos() as u64),
                agenda,
                seq: 0,
                ready: VecDeque::new(),
                net: Net::new(scenario.cluster.loss),
                down: vec![false; usize::from(scenario.cluster.nodes)],
                latency: (lo.as_nanos() as u64, hi.max(lo).as_nanos() as u64),
                draws: true,
                rng: rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed),
                trace: new_trace(scenario, cfg.seed, super::Driver::EventLoop),
                detail: cfg.detail,
                packets: 0,
                layers: faults::Layers::default(),
            },
            nodes: (0..scenario.cluster.nodes).map(Node::new).collect(),
            kit: Kit::new(
                Protocols {
                    registry: cfg.registry.clone(),
                    scenario: scenario.clone(),
                    mutation: cfg.mutation,
                },
                cfg.detail,
            ),
        };
        for job in &scenario.jobs {
            for n in &job.nodes {
                sim.nodes[usize::from(*n)].wanted.insert(job.name.clone());
            }
        }
        // Every node boots at time 0, on the timeline before anything the
        // scenario does at 0 (as under madsim): a fault at 0 s strikes a
        // booted cluster whose nodes have not acted on their boots yet.
        let stage = &mut sim.stage;
        for node in 0..scenario.cluster.nodes {
            stage.schedule(Time(0), What::Boot(node));
        }
        for (index, fault) in scenario.faults.iter().enumerate() {
            stage.schedule(Time(fault.at.as_nanos() as u64), What::Fault(index));
        }
        for (index, task) in scenario.tasks.iter().enumerate() {
            stage.schedule(Time(task.at.as_nanos() as u64), What::Task(index));
        }
        sim
    }

    /// Node `node`, ready to step.
    fn on(&mut self, node: u16) -> Stepper<'_, At<'_, A>> {
        let n = &mut self.nodes[usize::from(node)];
        let life = n.life;
        Stepper {
            node: n,
            kit: &mut self.kit,
            host: At {
                stage: &mut self.stage,
                node,
                life,
            },
        }
    }

    fn run(&mut self) {
        loop {
            while let Some((node, local)) = self.stage.ready.pop_front() {
                self.on(node).local(local);
            }
            let Some(event) = self.stage.agenda.pop() else {
                return;
            };
            if event.at >= self.stage.end {
                return;
            }
            self.take(event);
        }
    }

    /// `event` happens now (time moves on to it).
    fn take(&mut self, event: Scheduled) {
        assert!(
            event.at >= self.stage.now,
            "an agenda handed out an event from the past"
        );
        self.stage.now = event.at;
        super::reached(event.at);
        match event.what {
            What::Boot(_) | What::Fault(_) | What::Task(_) | What::Later(_) => {
                // The rest of the instant's timeline strikes with it.
                self.strike(event.what);
                let now = self.stage.now;
                while let Some(next) = self.stage.agenda.pop_timeline(now) {
                    assert_eq!(next.at, now, "an agenda handed out a later timeline event");
                    self.strike(next.what);
                }
            }
            What::Node { node, life, local } => {
                if let Some(local) = self.nodes[usize::from(node)].due(life, local) {
                    self.on(node).local(local);
                }
            }
        }
    }

    /// What the scenario does: one of its faults or tasks, or a fault's
    /// later half.
    fn strike(&mut self, what: What) {
        match what {
            What::Boot(node) => self.on(node).boot(),
            What::Fault(index) => {
                let kind = self.kit.protocols.scenario.faults[index].kind.clone();
                faults::apply(self, index, &kind);
            }
            What::Later(later) => faults::follow(self, later),
            What::Task(index) => {
                let task = self.kit.protocols.scenario.tasks[index].clone();
                faults::submit_task(self, index, &task);
            }
            What::Node { .. } => unreachable!("on a node, not on the timeline"),
        }
    }

    /// The trace of the run, ended.
    fn finish(mut self) -> Trace {
        self.stage.now = self.stage.end;
        let mut live_members = BTreeSet::new();
        for k in 0..self.nodes.len() {
            if self.nodes[k].status != NodeStatus::Up {
                continue;
            }
            let names: Vec<LocalKey> = self.nodes[k].names.values().copied().collect();
            for key in names {
                let member = self.nodes[k].jobs.get(&key).and_then(|j| j.member.clone());
                if let Some(m) = member {
                    self.on(k as u16).record_unread(key);
                    live_members.insert(m);
                }
            }
        }
        self.ended(live_members)
    }

    /// The trace so far, ended now, without asking the nodes anything
    /// more: what is left of a run that panicked.
    fn cut_short(self) -> Trace {
        self.ended(BTreeSet::new())
    }

    /// The trace, ended now with each node's status.
    fn ended(mut self, live_members: BTreeSet<MemberId>) -> Trace {
        let nodes = self.nodes.iter().map(|n| n.status).collect();
        self.stage.trace.end = RunEnd {
            at: self.stage.now,
            nodes,
            live_members,
        };
        self.stage.trace
    }
}

impl<A: Agenda> Stage<A> {
    fn record(&mut self, event: TraceEvent) {
        self.trace.push(self.now, event);
    }

    /// Puts `what` on the agenda for `at` (nothing at or past the end).
    fn schedule(&mut self, at: Time, what: What) {
        if at >= self.end {
            return;
        }
        self.seq += 1;
        self.agenda.push(Scheduled {
            at,
            seq: self.seq,
            what,
        });
    }

    /// A packet leaves `from`: lost, cut off, or on its way to `to`.
    fn send(&mut self, from: NodeId, to: NodeId, packet: Packet<JobMsg>) {
        self.trace.net.sent += 1;
        let detail = self.detail.then(|| {
            self.packets += 1;
            let what = packet_kind(&packet.body);
            self.record(TraceEvent::Send {
                from,
                to,
                id: self.packets,
                what: what.clone(),
            });
            (self.packets, what)
        });
        let net = self.net.conditions(self.now, from, to);
        let cause = if self.draws && net.loss > 0.0 && self.rng.gen_bool(net.loss.min(1.0)) {
            Some(DropCause::Loss)
        } else if self.net.is_clogged(from.0, to.0) {
            Some(DropCause::Partition)
        } else if self.down[usize::from(to.0)] {
            Some(DropCause::NodeDown)
        } else {
            None
        };
        if let Some(cause) = cause {
            if let Some((id, what)) = detail {
                self.record(TraceEvent::Drop {
                    from,
                    to,
                    id,
                    what,
                    cause,
                });
            }
            return;
        }
        // A duplicate travels on its own latency: it may come first.
        let twice = self.draws && net.duplicate > 0.0 && self.rng.gen_bool(net.duplicate.min(1.0));
        if twice {
            self.trace.net.duplicated += 1;
            self.deliver_later(from, to, packet.clone(), detail.clone(), net.delay);
        }
        self.deliver_later(from, to, packet, detail, net.delay);
    }

    /// Schedules `packet`'s arrival at `to` after the cluster's latency and
    /// the extra `delay` (ns) a fault adds.
    fn deliver_later(
        &mut self,
        from: NodeId,
        to: NodeId,
        packet: Packet<JobMsg>,
        detail: Option<(u64, PacketKind)>,
        delay: Option<(u64, u64)>,
    ) {
        let (lo, hi) = self.latency;
        let mut at = self.now.0
            + if self.draws && hi > lo {
                self.rng.gen_range(lo..=hi)
            } else {
                lo
            };
        at += match delay {
            Some((lo, hi)) if self.draws && hi > lo => self.rng.gen_range(lo..=hi),
            Some((lo, _)) => lo,
            None => 0,
        };
        let local = Local::Packet {
            from,
            packet: Box::new(packet),
            detail,
        };
        // Whichever life the node is in when the packet arrives takes it.
        let node = to.0;
        self.schedule(
            Time(at),
            What::Node {
                node,
                life: None,
                local,
            },
        );
    }
}

impl<A: Agenda> faults::Plant for Sim<A> {
    fn now(&self) -> Time {
        self.stage.now
    }

    fn fault_name(&self, index: usize) -> &'static str {
        self.kit.protocols.scenario.faults[index].kind.name()
    }

    fn record(&mut self, event: TraceEvent) {
        self.stage.record(event);
    }

    fn status(&self, node: u16) -> NodeStatus {
        self.nodes[usize::from(node)].status
    }

    fn set_status(&mut self, node: u16, status: NodeStatus) {
        self.nodes[usize::from(node)].status = status;
        self.stage.down[usize::from(node)] = status == NodeStatus::Crashed;
    }

    fn net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R {
        f(&mut self.stage.net)
    }

    // The network asks `net` about every packet it sends.
    fn links_cut(&mut self, _links: &[(u16, u16)]) {}
    fn links_restored(&mut self, _links: &[(u16, u16)]) {}

    fn is_wanted(&self, node: u16, job: &str) -> bool {
        self.nodes[usize::from(node)].wanted.contains(job)
    }

    fn wanted(&self, node: u16) -> Vec<String> {
        self.nodes[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect()
    }

    fn failure_timeout(&self) -> Dur {
        Dur::from_std(self.kit.protocols.scenario.cluster.failure_timeout)
    }

    fn stop_engine(&mut self, node: u16, by: Time) {
        self.on(node).stop_engine(by);
    }

    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool) {
        self.nodes[usize::from(node)].set_wanted(job, wanted);
    }

    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>> {
        self.nodes[usize::from(node)].running(job)
    }

    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        self.nodes[usize::from(node)].arm(job, thread, kind, index);
    }

    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        self.nodes[usize::from(node)].arm_at_start(job, thread, kind, index);
    }

    fn kill_job(&mut self, node: u16, job: &str) {
        self.on(node).kill_job(job);
    }

    fn submit(&mut self, node: u16, job: &str, msg: vigil_engine::job::JobMsg) {
        self.on(node).submit(job, msg);
    }

    fn ask_leave(&mut self, node: u16, job: &str, for_good: bool) {
        self.on(node).ask_leave(job, for_good);
    }

    fn start_job(&mut self, node: u16, job: &str) {
        self.on(node).start_job(job);
    }

    fn crash(&mut self, node: u16) {
        self.on(node).crash();
        // What it set off at this instant dies with it (a fault at the
        // same instant may have set it off).
        self.stage.ready.retain(|(on, _)| *on != node);
    }

    fn lose_disk(&mut self, node: u16) {
        self.nodes[usize::from(node)].disk = None;
    }

    fn engine_down(&self, node: u16) -> bool {
        self.nodes[usize::from(node)].engine_down()
    }

    fn crash_engine(&mut self, node: u16) -> Vec<MemberId> {
        self.on(node).crash_engine()
    }

    fn restart_engine(&mut self, node: u16) {
        self.on(node).restart_engine();
    }

    fn restart(&mut self, node: u16) {
        self.on(node).boot();
    }

    // A paused node's events wait in `parked` (see `run`).
    fn pause(&mut self, node: u16) {
        // What a fault at the same instant set off on it waits too, first.
        let (parked, ready): (VecDeque<_>, _) = std::mem::take(&mut self.stage.ready)
            .into_iter()
            .partition(|(on, _)| *on == node);
        self.stage.ready = ready;
        let n = &mut self.nodes[usize::from(node)];
        n.parked.extend(parked.into_iter().map(|(_, local)| local));
    }

    fn resume(&mut self, node: u16) {
        let n = &mut self.nodes[usize::from(node)];
        if n.status == NodeStatus::Up {
            for local in std::mem::take(&mut n.parked) {
                self.stage.ready.push_back((node, local));
            }
        }
    }

    fn layers<R>(&mut self, f: impl FnOnce(&mut faults::Layers) -> R) -> R {
        f(&mut self.stage.layers)
    }

    fn set_slowness(&mut self, node: u16, factor_milli: u32) {
        self.nodes[usize::from(node)].slow = factor_milli;
    }

    fn clock(&self, node: u16) -> NodeClock {
        self.nodes[usize::from(node)].clock
    }

    fn set_clock(&mut self, node: u16, clock: NodeClock) {
        self.on(node).set_clock(clock);
    }

    fn after(&mut self, delay: Duration, then: Later) {
        let at = self.stage.now + Dur::from_std(delay);
        self.stage.schedule(at, What::Later(then));
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    /// An event moves several times on its way through the agenda and the
    /// ready queue: its large variants are boxed, so that it moves in a
    /// few words (it was 360 bytes).
    fn an_event_stays_small() {
        assert!(std::mem::size_of::<super::Scheduled>() <= 96);
        assert!(std::mem::size_of::<super::Local>() <= 64);
    }

    unit_tests![an_event_stays_small,];
}
