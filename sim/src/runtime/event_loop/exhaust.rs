//! Exhaustive exploration: every schedule of a small scenario, not a
//! sample. The same event loop, engines, jobs and protocols as a seeded
//! run; only the choice of what happens next is the explorer's.
//!
//! **Choice points.** Time moves as in a seeded run (each event at its due
//! time), and the network is fixed: a packet takes the latency range's
//! lower bound (and a delay fault's), so timers and failure detection keep
//! their meaning. What the explorer chooses:
//!
//! - within one instant, the order of the events due: packets arriving,
//!   timers, local steps ending, and the scenario's faults, tasks and fault
//!   ends, those of one instant striking together, in their order, as one
//!   option (faults the explorer adds strike alone; what an event sets off on its
//!   node runs at once, in order, as in a seeded run; with `threads`, the
//!   actors of a node, its engine, each job's main thread and each work
//!   thread, interleave too, each keeping its own queue's order);
//! - within its [`Budget`]: that a packet is lost, arrives twice (the
//!   copy one latency later), or arrives `late_by` late (the latency
//!   range's width by default: the slowest packet a seeded run draws);
//!   and, between two instants, that a node crashes (restarting after
//!   `restart_after`, if given), pauses for `pause_for`, or is cut off
//!   from all others (healing after `heal_after`, if given).
//!
//! The scenario's own faults strike as written; its loss and duplication
//! rates are not drawn (the budget stands for them).
//!
//! **Reductions** (each can be switched off):
//!
//! - *one node at a time* (`por`): within an instant, the nodes' moves are
//!   independent (a packet takes at least one latency, and the latency's
//!   lower bound is above zero), so only the lowest node with something
//!   due is chosen from; all of them when a fault or task is due;
//! - *visited states* (`visited`): at each choice point the run's state is
//!   fingerprinted (every machine, every pending event as a multiset,
//!   the network, what each node recorded so far as its own sequence), and
//!   a state seen before with no more deviations is not explored again.
//!   What each node recorded is part of the state, so two schedules that
//!   merge have the same per-node history, and every check gives them the
//!   same verdict.
//!
//! **Order.** Iterative deepening on deviations (choices other than the
//! first option at a point; an added fault is one): every schedule with
//! no deviation, then with at most one, and so on, so the first failure
//! found has the fewest deviations of any. A level that cut off no option
//! for its bound explored everything: the search is complete.

use super::super::faults;
use super::super::net::packet_kind;
use super::super::node::{Local, Node};
use super::{Agenda, Scheduled, Sim, What};
use crate::runtime::RunConfig;
use crate::scenario::faults::{FaultKind, NodeOut, NodePause, Partition};
use crate::scenario::Fault;
use crate::trace::{DropCause, NodeStatus, Trace, TraceEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use vigil_engine::{NodeId, Time};

/// A fast hasher with fixed keys, for fingerprints: the same state hashes
/// alike in every run of the process.
fn hasher() -> ahash::AHasher {
    ahash::RandomState::with_seeds(
        0x5851_f42d_4c95_7f2d,
        0x1405_7b7e_f767_814f,
        0x9e37_79b9_7f4a_7c15,
        0xbf58_476d_1ce4_e5b9,
    )
    .build_hasher()
}

/// The explorer's agenda: every pending event by time and scheduling
/// order; the explorer chooses among those due.
#[derive(Clone, Default)]
pub struct Pending {
    events: BTreeMap<(Time, u64), Scheduled>,
}

impl Agenda for Pending {
    fn push(&mut self, event: Scheduled) {
        self.events.insert((event.at, event.seq), event);
    }
    fn pop(&mut self) -> Option<Scheduled> {
        self.events.pop_first().map(|(_, e)| e)
    }
    fn pop_timeline(&mut self, at: Time) -> Option<Scheduled> {
        let key = first_on_timeline(&self.events, at)?;
        self.events.remove(&key)
    }
}

/// Whether `e` would still do something: not a timer set again since, a
/// main thread's timer that is gone, or what was due in a life of its node
/// that ended.
fn stands(nodes: &[Node], e: &Scheduled) -> bool {
    match &e.what {
        What::Node { node, life, local } => {
            let n = &nodes[usize::from(*node)];
            if life.is_some_and(|l| l != n.life) {
                return false;
            }
            match local {
                Local::Timer { generation } => *generation == n.generation,
                Local::MainTimer { id } => n.timers.contains_key(id),
                _ => true,
            }
        }
        What::Boot(_) | What::Fault(_) | What::Task(_) | What::Later(_) => true,
    }
}

/// The key of the first event on the timeline due at `at`.
fn first_on_timeline(events: &BTreeMap<(Time, u64), Scheduled>, at: Time) -> Option<(Time, u64)> {
    (events.range((at, 0)..=(at, u64::MAX)))
        .find(|(_, e)| e.on_timeline())
        .map(|(k, _)| *k)
}

/// Faults the explorer may add to a schedule, at most this many of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default)]
    pub drops: u32,
    #[serde(default)]
    pub duplicates: u32,
    /// Packets the explorer may deliver late, by [`Search::late_by`].
    #[serde(default)]
    pub delays: u32,
    #[serde(default)]
    pub crashes: u32,
    #[serde(default)]
    pub pauses: u32,
    #[serde(default)]
    pub partitions: u32,
}

/// How a search runs: what it may add, how it reduces, where it stops. A
/// schedule file keeps it, since a schedule's choices are numbered in its
/// terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub budget: Budget,
    /// A node the explorer crashes restarts after this long (never if
    /// `None`), from its disk.
    #[serde(default, with = "opt_duration")]
    pub restart_after: Option<Duration>,
    /// How long a node the explorer pauses stays paused.
    #[serde(with = "duration")]
    pub pause_for: Duration,
    /// A node the explorer cuts off is healed after this long (never if
    /// `None`).
    #[serde(default, with = "opt_duration")]
    pub heal_after: Option<Duration>,
    /// How much later than the latency's lower bound a packet the explorer
    /// delays arrives: later packets on its link may overtake it.
    #[serde(default, with = "duration")]
    pub late_by: Duration,
    /// Also interleave the actors of one node (its engine, each job's main
    /// thread, each work thread) within an instant. Without it, what an
    /// event sets off on its node runs at once, in order, as in a seeded
    /// run on the event loop, and the choices are among the events due.
    #[serde(default)]
    pub threads: bool,
    /// Reduction: within an instant, choose among one node's moves.
    pub por: bool,
    /// Reduction: do not explore a state seen before.
    pub visited: bool,
}

mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_nanos() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(d)?))
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_nanos() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_nanos))
    }
}

/// Where a search stops, besides completion.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Deviations at most (`None`: deepen until complete).
    pub max_deviations: Option<u32>,
    /// Distinct states at most.
    pub max_states: Option<u64>,
    /// One level, no bound on deviations: a plain depth-first search
    /// (faster to complete; its first failure may not be the shortest).
    pub no_deepening: bool,
}

/// One choice of a schedule that was not the first option: at choice
/// point `point` (counted from the start, every point with more than one
/// option), option `take`, which was `what`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub point: u64,
    pub take: u32,
    /// Simulated time of the choice, in nanoseconds.
    pub at_ns: u64,
    /// What the option did, for people (checked on replay).
    pub what: String,
    /// What the first option would have done.
    pub instead: String,
}

/// A failing schedule and what its run broke.
#[derive(Clone, Debug)]
pub struct Failure<V> {
    pub choices: Vec<Choice>,
    pub violations: V,
}

/// The deviation bound of a depth-first pass (`no_deepening`): none.
pub const DEPTH_FIRST: u32 = u32::MAX;

/// What a search did, so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Distinct states fingerprinted at choice points.
    pub states: u64,
    /// Choice points reached again in a state seen before (not explored).
    pub revisits: u64,
    /// Complete schedules run to the end and checked.
    pub schedules: u64,
    /// Events and steps carried out.
    pub moves: u64,
    /// The most choice points on one schedule.
    pub depth: u64,
    /// The most forks waiting on the search's stack at once.
    pub frontier: u64,
    /// Choice points whose other options the deviation bound cut off.
    pub cut: u64,
    /// The deviation bound of the level under way ([`DEPTH_FIRST`] in a
    /// depth-first pass).
    pub level: u32,
    /// Set for one call of `control`, as a level ends: its bound, states
    /// and schedules (for an account that prints each level as it ends).
    #[serde(skip)]
    pub finished: Option<(u32, u64, u64)>,
    /// Wall time so far (the caller's clock: see [`exhaust`]'s `control`).
    pub elapsed_ms: u64,
}

/// Why a search ended before it was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stopped {
    /// A failure was found (the search stops at the first).
    Failed,
    Interrupted,
    StateLimit,
    TimeLimit,
    DeviationLimit,
}

/// How a search ended.
#[derive(Clone, Debug)]
pub struct Outcome<V> {
    pub stats: Stats,
    /// Each level's states and schedules: (bound, states, schedules).
    pub levels: Vec<(u32, u64, u64)>,
    /// Every schedule within the bounds was explored.
    pub complete: bool,
    pub stopped: Option<Stopped>,
    pub failures: Vec<Failure<V>>,
    /// The search began: the plain schedule ran to its end first (a
    /// scenario too long to explore stops before).
    pub began: bool,
}

/// One step of a replayed schedule, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub point: u64,
    pub at_ns: u64,
    pub what: String,
    /// What the first option would have been, for a deviation.
    pub instead: Option<String>,
}

/// A fault the explorer may add: its kind and its index among the run's
/// scenario's faults (added past the scenario's own, never scheduled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Added {
    Crash,
    Pause,
    Partition,
}

/// What one search shares across its runs.
struct Ctx {
    /// The run's configuration, its scenario with the faults it may add.
    cfg: RunConfig,
    search: Search,
    /// The faults it may add: (kind, node, fault index).
    added: Vec<(Added, u16, usize)>,
    /// Whether the nodes' moves within an instant are independent.
    independent: bool,
    nodes: usize,
}

impl Ctx {
    fn new(cfg: &RunConfig, search: &Search) -> Ctx {
        let mut cfg = cfg.clone();
        let scenario = &mut cfg.scenario;
        let never = scenario.duration;
        let nodes = scenario.cluster.nodes;
        let mut added = Vec::new();
        let mut add = |kind: Added, node: u16, fault: FaultKind, faults: &mut Vec<Fault>| {
            added.push((kind, node, faults.len()));
            faults.push(Fault {
                at: never,
                kind: fault,
                line: 0,
            });
        };
        for node in 0..nodes {
            let b = search.budget;
            if b.crashes > 0 {
                let crash = FaultKind::NodeCrash(NodeOut {
                    node,
                    restart_after: search.restart_after,
                    lose_disk: false,
                });
                add(Added::Crash, node, crash, &mut scenario.faults);
            }
            if b.pauses > 0 {
                let pause = FaultKind::NodePause(NodePause {
                    node,
                    duration: search.pause_for,
                });
                add(Added::Pause, node, pause, &mut scenario.faults);
            }
            if b.partitions > 0 && nodes > 1 {
                let others = (0..nodes).filter(|n| *n != node).collect();
                let cut = FaultKind::Partition(Partition {
                    sides: vec![vec![node], others],
                    heal_after: search.heal_after,
                });
                add(Added::Partition, node, cut, &mut scenario.faults);
            }
        }
        let independent = search.por && scenario.cluster.latency.0 > Duration::ZERO;
        Ctx {
            cfg,
            search: search.clone(),
            added,
            independent,
            nodes: usize::from(nodes),
        }
    }

    /// The run's start, before its first move.
    fn root(&self) -> World {
        let mut sim = Sim::new(&self.cfg, Pending::default());
        sim.stage.draws = false;
        World {
            sim,
            used: Budget::default(),
            digests: vec![History::default(); self.nodes + 1],
            digested: 0,
            deviations: 0,
            points: 0,
            choices: Vec::new(),
            added: false,
            before: None,
        }
    }
}

/// A run part-way, as the explorer forks it.
#[derive(Clone)]
struct World {
    sim: Sim<Pending>,
    /// The budget spent so far.
    used: Budget,
    /// What each node's moves recorded, as a running digest (the last:
    /// the cluster's, for faults and tasks).
    digests: Vec<History>,
    /// Trace entries digested so far.
    digested: usize,
    deviations: u32,
    /// Choice points passed.
    points: u64,
    choices: Vec<Choice>,
    /// Whether the explorer added a fault (the scenario's expectations
    /// then need not hold).
    added: bool,
    /// What the run recorded before its last fork, shared with the forks
    /// (the trace itself holds only what came after).
    before: Option<Arc<Segment>>,
}

/// Trace entries of a run before one of its forks.
struct Segment {
    parent: Option<Arc<Segment>>,
    entries: crate::trace::Entries,
}

/// What one node recorded, as a digest for the fingerprint: in order,
/// but for the messages its members took (and the probes it hit) within
/// one instant between two other entries, which count as a set: each
/// check judges a message by the view it was taken in, and two messages
/// taken at one instant in either order are one history to them (the
/// ordered messages of a group, whose order is checked, are kept in
/// order).
#[derive(Clone, Default, Hash)]
struct History {
    /// Everything before the open block.
    chain: u64,
    /// The open block: its instant, a sum of its entries' hashes, their
    /// number.
    block: Option<(Time, u64, u32)>,
}

impl History {
    fn add(&mut self, e: &crate::trace::Entry) {
        let mut h = hasher();
        bincode::serialize(e)
            .expect("a trace entry encodes")
            .hash(&mut h);
        let one = h.finish();
        let unordered = matches!(
            e.event,
            TraceEvent::Message { .. } | TraceEvent::Probe { .. }
        );
        if let Some((at, _, _)) = self.block {
            if !unordered || at != e.at {
                self.close();
            }
        }
        if unordered {
            let (_, sum, n) = self.block.get_or_insert((e.at, 0, 0));
            *sum = sum.wrapping_add(one);
            *n += 1;
        } else {
            let mut h = hasher();
            (self.chain, one).hash(&mut h);
            self.chain = h.finish();
        }
    }

    fn close(&mut self) {
        if let Some(block) = self.block.take() {
            let mut h = hasher();
            (self.chain, block).hash(&mut h);
            self.chain = h.finish();
        }
    }
}

/// One option at a choice point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// The `i`th item of the ready queue (an actor's next step).
    Ready(usize),
    /// The agenda's event with this key.
    Event((Time, u64)),
    /// That event, a packet, is lost.
    Drop((Time, u64)),
    /// That event, a packet, arrives, and a copy one latency later.
    Twice((Time, u64)),
    /// That event, a packet, arrives `late_by` later.
    Late((Time, u64)),
    /// Time moves on to the next event.
    Advance,
    /// The explorer adds fault `added[i]`, as time moves on.
    Add(usize),
}

/// Which actor of a node takes a ready item: each keeps its own order.
fn actor(local: &Local) -> (u8, u64, u16) {
    match local {
        Local::Booted(_)
        | Local::Packet { .. }
        | Local::Engine(_)
        | Local::Timer { .. }
        | Local::Serve
        | Local::Late(_) => (0, 0, 0),
        Local::Main { key, .. }
        | Local::StartMain { key }
        | Local::RunMain { key }
        | Local::MainWake { key } => (1, key.0, 0),
        Local::MainTimer { .. } => (1, u64::MAX, 0),
        Local::RunWorker { key, thread } | Local::StepEnded { key, thread, .. } => {
            (2, key.0, *thread)
        }
    }
}

impl World {
    fn next_due(&self) -> Option<Time> {
        self.sim
            .stage
            .agenda
            .events
            .keys()
            .next()
            .map(|(at, _)| *at)
            .filter(|at| *at < self.sim.stage.end)
    }

    /// Whether the run is mid-instant: something is due now.
    fn busy(&self) -> bool {
        !self.sim.stage.ready.is_empty()
            || self.next_due().is_some_and(|at| at <= self.sim.stage.now)
    }

    /// The options here, first the one a plain run would take (empty: the
    /// run is over). Each with its node (`None`: the cluster's).
    fn options(&self, ctx: &Ctx) -> Vec<Move> {
        let mut moves: Vec<(Move, Option<u16>)> = Vec::new();
        if !self.busy() {
            let Some(next) = self.next_due() else {
                return Vec::new();
            };
            let mut out = vec![Move::Advance];
            let b = ctx.search.budget;
            for (i, (kind, node, _)) in ctx.added.iter().enumerate() {
                let (used, of) = match kind {
                    Added::Crash => (self.used.crashes, b.crashes),
                    Added::Pause => (self.used.pauses, b.pauses),
                    Added::Partition => (self.used.partitions, b.partitions),
                };
                let up = self.sim.nodes[usize::from(*node)].status == NodeStatus::Up;
                if used < of && up && next < self.sim.stage.end {
                    out.push(Move::Add(i));
                }
            }
            return out;
        }
        if !ctx.search.threads && !self.sim.stage.ready.is_empty() {
            return vec![Move::Ready(0)];
        }
        let mut seen = BTreeSet::new();
        for (i, (node, local)) in self.sim.stage.ready.iter().enumerate() {
            if seen.insert((*node, actor(local))) {
                moves.push((Move::Ready(i), Some(*node)));
            }
        }
        let now = self.sim.stage.now;
        // The timeline's events due now strike together, from the first.
        let timeline = first_on_timeline(&self.sim.stage.agenda.events, now);
        for (key, e) in self.sim.stage.agenda.events.range(..=(now, u64::MAX)) {
            if !e.on_timeline() || Some(*key) == timeline {
                moves.push((Move::Event(*key), e.node().map(|n| n.0)));
            }
        }
        if ctx.independent && moves.iter().all(|(_, n)| n.is_some()) {
            let lowest = moves.iter().filter_map(|(_, n)| *n).min();
            moves.retain(|(_, n)| *n == lowest);
        }
        let mut out: Vec<Move> = moves.iter().map(|(m, _)| *m).collect();
        let packets: Vec<(Time, u64)> = moves
            .iter()
            .filter_map(|(m, _)| match m {
                Move::Event(key) if self.is_packet(*key) => Some(*key),
                _ => None,
            })
            .collect();
        let b = ctx.search.budget;
        if self.used.drops < b.drops {
            out.extend(packets.iter().map(|k| Move::Drop(*k)));
        }
        if self.used.duplicates < b.duplicates {
            out.extend(packets.iter().map(|k| Move::Twice(*k)));
        }
        if self.used.delays < b.delays && !ctx.search.late_by.is_zero() {
            out.extend(packets.iter().map(|k| Move::Late(*k)));
        }
        out
    }

    fn is_packet(&self, key: (Time, u64)) -> bool {
        matches!(
            self.sim.stage.agenda.events.get(&key).map(|e| &e.what),
            Some(What::Node {
                local: Local::Packet { .. },
                ..
            })
        )
    }

    /// Carries out `mv`, and digests what it recorded.
    fn take(&mut self, ctx: &Ctx, mv: Move) {
        let channel = match mv {
            Move::Ready(i) => Some(self.sim.stage.ready[i].0),
            Move::Event(k) | Move::Drop(k) | Move::Twice(k) | Move::Late(k) => {
                self.sim.stage.agenda.events[&k].node().map(|n| n.0)
            }
            Move::Advance | Move::Add(_) => None,
        };
        let next = self.next_due();
        let stamp = self.stamp();
        let sim = &mut self.sim;
        match mv {
            Move::Ready(i) => {
                let (node, local) = sim.stage.ready.remove(i).expect("an option");
                if let Some(local) = sim.nodes[usize::from(node)].due(None, local) {
                    sim.on(node).local(local);
                }
            }
            Move::Event(k) => {
                let event = sim.stage.agenda.events.remove(&k).expect("an option");
                sim.take(event);
            }
            Move::Drop(k) => {
                let event = sim.stage.agenda.events.remove(&k).expect("an option");
                sim.stage.now = event.at;
                self.used.drops += 1;
                if let What::Node {
                    node,
                    local:
                        Local::Packet {
                            from,
                            detail: Some((id, what)),
                            ..
                        },
                    ..
                } = event.what
                {
                    sim.stage.record(TraceEvent::Drop {
                        from,
                        to: NodeId(node),
                        id,
                        what,
                        cause: DropCause::Loss,
                    });
                }
            }
            Move::Twice(k) => {
                let event = sim.stage.agenda.events.remove(&k).expect("an option");
                self.used.duplicates += 1;
                sim.stage.trace.net.duplicated += 1;
                let again = Time(event.at.0 + sim.stage.latency.0);
                sim.stage.schedule(again, event.what.clone());
                sim.take(event);
            }
            Move::Late(k) => {
                let event = sim.stage.agenda.events.remove(&k).expect("an option");
                self.used.delays += 1;
                let late_by = u64::try_from(ctx.search.late_by.as_nanos()).unwrap_or(u64::MAX);
                sim.stage
                    .schedule(Time(event.at.0.saturating_add(late_by)), event.what);
            }
            Move::Advance => {
                sim.stage.now = next.expect("an option");
            }
            Move::Add(i) => {
                sim.stage.now = next.expect("an option");
                let (kind, _, index) = ctx.added[i];
                match kind {
                    Added::Crash => self.used.crashes += 1,
                    Added::Pause => self.used.pauses += 1,
                    Added::Partition => self.used.partitions += 1,
                }
                self.added = true;
                let fault = self.sim.kit.protocols.scenario.faults[index].kind.clone();
                faults::apply(&mut self.sim, index, &fault);
            }
        }
        if self.stamp() != stamp {
            self.purge();
        }
        let channel = channel.map_or(ctx.nodes, usize::from);
        for e in self.sim.stage.trace.entries.iter_from(self.digested) {
            self.digests[channel].add(e);
        }
        self.digested = self.sim.stage.trace.entries.len();
    }

    /// Before a fork: what the trace holds moves to a segment the forks
    /// share, so that a fork copies no entries.
    fn share_trace(&mut self) {
        let entries = std::mem::take(&mut self.sim.stage.trace.entries);
        if !entries.is_empty() {
            debug_assert_eq!(self.digested, entries.len(), "digested before a fork");
            self.before = Some(Arc::new(Segment {
                parent: self.before.take(),
                entries,
            }));
        }
        self.digested = 0;
    }

    /// The run's trace, ended, with every entry.
    fn finish(self) -> Trace {
        let before = self.before;
        whole(before.as_deref(), self.sim.finish())
    }

    /// The trace up to a panic inside the last move, with every entry.
    fn cut_short(self) -> Trace {
        let before = self.before;
        whole(before.as_deref(), self.sim.cut_short())
    }

    /// What an event on the agenda can fall void by: the nodes' lives,
    /// their engine timers' generations and their main threads' timers.
    /// Lives, generations and timer numbers only grow, and a main thread's
    /// timer goes without a new one only if the count of timers falls: so
    /// the sums change whenever any of them does. A move that leaves the
    /// stamp as it was leaves nothing to [purge](World::purge) (what it
    /// scheduled was current when scheduled, and still is).
    fn stamp(&self) -> (u64, usize) {
        self.sim.nodes.iter().fold((0, 0), |(grown, timers), n| {
            let grown = grown + u64::from(n.life) + n.generation + n.next_timer;
            (grown, timers + n.timers.len())
        })
    }

    /// Takes off the agenda the events that would do nothing: a timer
    /// set again since, a main thread's timer that is gone, what was due
    /// in a life of a node that ended. They are no choice.
    fn purge(&mut self) {
        let nodes = &self.sim.nodes;
        self.sim.stage.agenda.events.retain(|_, e| stands(nodes, e));
    }

    /// The state's fingerprint: every machine, every pending event (as a
    /// multiset: the order they were scheduled in is not state), the
    /// network, the budget spent, and each node's history as a digest.
    /// Counters that only name things (timer generations and numbers) are
    /// left out: two runs that set their timers in another order are in
    /// one state.
    fn fingerprint(&self) -> u64 {
        let sim = &self.sim;
        let mut h = hasher();
        sim.stage.now.hash(&mut h);
        for n in &sim.nodes {
            n.hash_state(sim.stage.now, &mut h);
        }
        let mut pending: Vec<u64> = sim
            .stage
            .agenda
            .events
            .values()
            .map(|e| {
                let mut h = hasher();
                e.at.hash(&mut h);
                match &e.what {
                    What::Node {
                        node,
                        life,
                        local: Local::Timer { .. },
                    } => ("timer", node, life).hash(&mut h),
                    What::Node {
                        node,
                        life,
                        local: Local::MainTimer { id },
                    } => (
                        "main timer",
                        node,
                        life,
                        &sim.nodes[usize::from(*node)].timers[id],
                    )
                        .hash(&mut h),
                    what => what.hash(&mut h),
                }
                h.finish()
            })
            .collect();
        pending.sort_unstable();
        pending.hash(&mut h);
        sim.stage.net.hash_state(&mut h);
        self.used.hash(&mut h);
        sim.stage.ready.hash(&mut h);
        sim.stage.layers.hash(&mut h);
        sim.stage.trace.net.hash(&mut h);
        if !crate::mutation::mutated!(sim.kit.protocols.mutation, FingerprintWithoutHistory) {
            self.digests.hash(&mut h);
        }
        h.finish()
    }

    /// What `mv` does, for people.
    fn describe(&self, ctx: &Ctx, mv: Move) -> String {
        let node_name = |n: u16| format!("n{n}");
        let event = |k: &(Time, u64)| &self.sim.stage.agenda.events[k].what;
        match mv {
            Move::Ready(i) => {
                let (node, local) = &self.sim.stage.ready[i];
                describe_local(&self.sim, *node, local)
            }
            Move::Event(k) => match event(&k) {
                What::Fault(i) => format!(
                    "fault: {}",
                    self.sim.kit.protocols.scenario.faults[*i].kind.describe()
                ),
                What::Boot(n) => format!("n{n} boots"),
                What::Task(i) => format!("task {i} is submitted"),
                What::Later(l) => format!("a fault's later half: {l:?}"),
                What::Node { node, local, .. } => describe_local(&self.sim, *node, local),
            },
            Move::Drop(k) => format!("lose this packet: {}", describe_event(&self.sim, event(&k))),
            Move::Twice(k) => format!(
                "duplicate this packet: {}",
                describe_event(&self.sim, event(&k))
            ),
            Move::Late(k) => format!(
                "deliver this packet {:?} late: {}",
                ctx.search.late_by,
                describe_event(&self.sim, event(&k))
            ),
            Move::Advance => "time moves on".to_string(),
            Move::Add(i) => {
                let (kind, node, index) = ctx.added[i];
                let what = match kind {
                    Added::Crash => "crash",
                    Added::Pause => "pause",
                    Added::Partition => "cut off",
                };
                format!(
                    "add: {what} {} ({})",
                    node_name(node),
                    self.sim.kit.protocols.scenario.faults[index]
                        .kind
                        .describe()
                )
            }
        }
    }
}

/// `trace` with the entries of the segments before it put back in front.
fn whole(before: Option<&Segment>, mut trace: Trace) -> Trace {
    let mut segments = Vec::new();
    let mut at = before;
    while let Some(s) = at {
        segments.push(s);
        at = s.parent.as_deref();
    }
    if !segments.is_empty() {
        let tail = std::mem::take(&mut trace.entries);
        for s in segments.iter().rev() {
            trace.entries.extend(s.entries.iter().cloned());
        }
        trace.entries.extend(tail);
    }
    trace
}

/// Carries out `mv` on `w`; a panic inside the run (a bug in vigil or in
/// a protocol) is caught and returned as its message: it ends the schedule
/// as a failure, not the search.
fn attempt(w: &mut World, ctx: &Ctx, mv: Move) -> Result<(), String> {
    crate::runtime::catch(|| w.take(ctx, mv))
}

fn describe_event<A: Agenda>(sim: &Sim<A>, what: &What) -> String {
    match what {
        What::Node { node, local, .. } => describe_local(sim, *node, local),
        What::Boot(n) => format!("n{n} boots"),
        What::Fault(i) => format!("fault {i}"),
        What::Task(i) => format!("task {i}"),
        What::Later(l) => format!("{l:?}"),
    }
}

fn describe_local<A: Agenda>(sim: &Sim<A>, node: u16, local: &Local) -> String {
    let job = |key: &vigil_engine::LocalKey| {
        sim.nodes[usize::from(node)]
            .jobs
            .get(key)
            .map_or_else(|| format!("job {}", key.0), |j| j.name().to_string())
    };
    match local {
        Local::Booted(_) => format!("n{node}'s engine sends what it sent as it booted"),
        Local::Packet { from, packet, .. } => {
            format!(
                "n{node} takes a {} from n{}",
                packet_kind(&packet.body),
                from.0
            )
        }
        Local::Engine(input) => format!("n{node}'s engine takes {}", input_name(input)),
        Local::Timer { .. } => format!("n{node}'s engine timer fires"),
        Local::Main { key, .. } | Local::RunMain { key } => {
            format!("n{node}: {}'s main thread takes its inbox", job(key))
        }
        Local::StartMain { key } => format!("n{node}: {}'s main thread starts", job(key)),
        Local::MainTimer { .. } => format!("n{node}: a main thread's timer fires"),
        Local::MainWake { key } => format!("n{node}: {}'s main thread wakes", job(key)),
        Local::Serve => format!("n{node}'s slow engine takes its next input"),
        Local::RunWorker { key, thread } => {
            format!(
                "n{node}: {} work thread {thread} takes its queues",
                job(key)
            )
        }
        Local::StepEnded { key, thread, .. } => {
            format!("n{node}: {} work thread {thread}'s step ends", job(key))
        }
        Local::Late(_) => format!("n{node}'s engine takes a late unregister"),
    }
}

fn input_name(input: &vigil_engine::Input<vigil_engine::job::JobMsg>) -> &'static str {
    use vigil_engine::Input;
    match input {
        Input::Packet { .. } => "a packet",
        Input::Tick => "a tick",
        Input::Register { .. } => "a registration",
        Input::Unregister { .. } => "an unregistration",
        Input::Closed { .. } => "a closed connection",
        Input::Send { .. } => "a message to send",
        _ => "an input",
    }
}

/// How many moves pass between two calls of [`exhaust`]'s `control`.
const CONTROL_EVERY: u64 = 4096;

/// Explores every schedule of `cfg`'s scenario under `search`, within
/// `limits`; `judge` checks each complete run (and whether the explorer
/// added a fault to it) and returns its violations (`None`: it passed).
/// `control` sees the figures every few thousand moves and at the end, and
/// may stop the search (a time limit, an interrupt): the explorer keeps no
/// clock of its own.
pub fn exhaust<V>(
    cfg: &RunConfig,
    search: &Search,
    limits: &Limits,
    mut judge: impl FnMut(Result<Trace, String>, bool) -> Option<V>,
    mut control: impl FnMut(&mut Stats) -> Option<Stopped>,
) -> Outcome<V> {
    // Injected panics (a scenario's work-thread faults) stay quiet.
    crate::runtime::quiet_injected_panics();
    let ctx = Ctx::new(cfg, search);
    let root = ctx.root();
    let mut out = Outcome {
        stats: Stats::default(),
        levels: Vec::new(),
        complete: false,
        stopped: None,
        failures: Vec::new(),
        began: true,
    };
    // The first control is at the first move: a budget already spent (a
    // `--time-budget` of 0, a Ctrl-C during the plain runs) stops the
    // search before it starts.
    let mut next_control = 0;
    let mut bound = if limits.no_deepening { DEPTH_FIRST } else { 0 };
    loop {
        out.stats.level = bound;
        let before = (out.stats.states, out.stats.schedules);
        let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
        let mut cut = false;
        // A schedule ended (run to its end, or a panic): judged; a failure
        // stops the search.
        macro_rules! ended {
            ($search:lifetime, $w:expr, $run:expr) => {
                out.stats.schedules += 1;
                let added = $w.added;
                let choices = std::mem::take(&mut $w.choices);
                if let Some(violations) = judge($run, added) {
                    out.failures.push(Failure {
                        choices,
                        violations,
                    });
                    out.stopped = Some(Stopped::Failed);
                    break $search;
                }
            };
        }
        // Forks: a world at a choice point, its options, the next to take.
        let mut stack: Vec<(World, Vec<Move>, usize)> = Vec::new();
        let mut current = Some(root.clone());
        'search: loop {
            let mut w = match current.take() {
                Some(w) => w,
                None => {
                    let Some((top, options, next)) = stack.last_mut() else {
                        break 'search;
                    };
                    if *next >= options.len() {
                        stack.pop();
                        continue;
                    }
                    if top.deviations >= bound {
                        cut = true;
                        out.stats.cut += 1;
                        stack.pop();
                        continue;
                    }
                    let i = *next;
                    *next += 1;
                    let mv = options[i];
                    let first = options[0];
                    let mut w = if *next == options.len() {
                        let (w, _, _) = stack.pop().expect("the top");
                        w
                    } else {
                        top.clone()
                    };
                    w.choices.push(Choice {
                        point: w.points,
                        take: i as u32,
                        at_ns: w
                            .next_due()
                            .map_or(w.sim.stage.now, |t| t.max(w.sim.stage.now))
                            .0,
                        what: w.describe(&ctx, mv),
                        instead: w.describe(&ctx, first),
                    });
                    w.deviations += 1;
                    out.stats.moves += 1;
                    if let Err(panic) = attempt(&mut w, &ctx, mv) {
                        ended!('search, w, Err(panic));
                        continue 'search;
                    }
                    w
                }
            };
            // Run forward to the next choice point, or the end.
            loop {
                if out.stats.moves >= next_control {
                    next_control = out.stats.moves + CONTROL_EVERY;
                    if let Some(why) = control(&mut out.stats) {
                        out.stopped = Some(why);
                        break 'search;
                    }
                }
                let options = w.options(&ctx);
                if options.is_empty() {
                    ended!('search, w, Ok(w.finish()));
                    break;
                }
                if options.len() == 1 {
                    out.stats.moves += 1;
                    if let Err(panic) = attempt(&mut w, &ctx, options[0]) {
                        ended!('search, w, Err(panic));
                        break;
                    }
                    continue;
                }
                w.points += 1;
                out.stats.depth = out.stats.depth.max(w.points);
                if search.visited {
                    let print = w.fingerprint();
                    match seen.get(&print) {
                        Some(d) if *d <= w.deviations => {
                            out.stats.revisits += 1;
                            break;
                        }
                        _ => {
                            seen.insert(print, w.deviations);
                        }
                    }
                }
                out.stats.states += 1;
                if limits.max_states.is_some_and(|m| out.stats.states >= m) {
                    out.stopped = Some(Stopped::StateLimit);
                    break 'search;
                }
                if w.deviations >= bound {
                    // No room for another deviation: the other options
                    // are cut here, without a fork to hold them.
                    cut = true;
                    out.stats.cut += 1;
                } else {
                    w.share_trace();
                    stack.push((w.clone(), options.clone(), 1));
                    out.stats.frontier = out.stats.frontier.max(stack.len() as u64);
                }
                out.stats.moves += 1;
                if let Err(panic) = attempt(&mut w, &ctx, options[0]) {
                    ended!('search, w, Err(panic));
                    break;
                }
            }
        }
        let level = (
            bound,
            out.stats.states - before.0,
            out.stats.schedules - before.1,
        );
        out.levels.push(level);
        // Heard at once; a stop asked for now is taken at the next check.
        out.stats.finished = Some(level);
        let _ = control(&mut out.stats);
        out.stats.finished = None;
        if out.stopped.is_some() {
            break;
        }
        if !cut {
            out.complete = true;
            break;
        }
        if limits.max_deviations.is_some_and(|m| bound >= m) {
            out.stopped = Some(Stopped::DeviationLimit);
            break;
        }
        bound += 1;
    }
    control(&mut out.stats);
    out
}

/// How often a replay asks whether to stop, in moves.
pub const POLL_MOVES: u64 = 1024;

/// A replayed schedule.
pub struct Replayed {
    /// The run, or the message of the panic that ended it.
    pub run: Result<Trace, String>,
    /// After a panic: the trace up to it, ended at its instant.
    pub cut_short: Option<Trace>,
    /// Every step, each deviation with the plain order's alternative.
    pub steps: Vec<Step>,
    /// Whether the schedule added a fault.
    pub added: bool,
}

/// Runs `cfg`'s scenario along a schedule found under `search`: the first
/// option at every choice point but those `choices` name. Every step,
/// with each deviation's alternative, for the report; an error if the
/// schedule does not fit (another scenario, or another build of vigil).
/// Also whether the schedule added a fault.
pub fn replay(cfg: &RunConfig, search: &Search, choices: &[Choice]) -> Result<Replayed, String> {
    replay_until(cfg, search, choices, true, &mut || false).map(|r| r.expect("never stopped"))
}

/// [`replay`], asking `stop` every [`POLL_MOVES`] moves whether to give up
/// (then `None`); with `keep_steps` false, the steps are not kept (a long run
/// would hold a line for every move).
pub fn replay_until(
    cfg: &RunConfig,
    search: &Search,
    choices: &[Choice],
    keep_steps: bool,
    stop: &mut dyn FnMut() -> bool,
) -> Result<Option<Replayed>, String> {
    // Injected panics (a scenario's work-thread faults) stay quiet.
    crate::runtime::quiet_injected_panics();
    let ctx = Ctx::new(cfg, search);
    let mut w = ctx.root();
    let mut steps = Vec::new();
    let mut wanted = choices.iter().peekable();
    let mut moves = 0u64;
    loop {
        moves += 1;
        if moves.is_multiple_of(POLL_MOVES) && stop() {
            return Ok(None);
        }
        let options = w.options(&ctx);
        if options.is_empty() {
            break;
        }
        let mut take = 0;
        if options.len() > 1 {
            w.points += 1;
            if let Some(c) = wanted.next_if(|c| c.point == w.points) {
                take = c.take as usize;
                let Some(mv) = options.get(take) else {
                    return Err(format!(
                        "choice point {} has options 0 to {}, the schedule takes option {}: it was found on another scenario or another build, or edited",
                        c.point,
                        options.len() - 1,
                        take
                    ));
                };
                let what = w.describe(&ctx, *mv);
                if what != c.what {
                    return Err(format!(
                        "choice point {}: option {} is `{what}`, the schedule says `{}`: it was found on another scenario or another build",
                        c.point, c.take, c.what
                    ));
                }
            }
        }
        let mv = options[take];
        let at = if matches!(mv, Move::Advance | Move::Add(_)) {
            w.next_due().unwrap_or(w.sim.stage.now)
        } else {
            w.sim.stage.now
        };
        if keep_steps {
            steps.push(Step {
                point: if options.len() > 1 { w.points } else { 0 },
                at_ns: at.0,
                what: w.describe(&ctx, mv),
                instead: (take > 0).then(|| w.describe(&ctx, options[0])),
            });
        }
        if let Err(panic) = attempt(&mut w, &ctx, mv) {
            let added = w.added;
            return Ok(Some(Replayed {
                run: Err(panic),
                cut_short: Some(w.cut_short()),
                steps,
                added,
            }));
        }
    }
    if let Some(c) = wanted.next() {
        return Err(format!(
            "the run ended before choice point {}: the schedule was found on another scenario or another build",
            c.point
        ));
    }
    let added = w.added;
    Ok(Some(Replayed {
        run: Ok(w.finish()),
        cut_short: None,
        steps,
        added,
    }))
}

/// The scenario as the explorer runs it: its own faults, then those the
/// explorer may add (never scheduled, struck by choice).
pub fn explored_scenario(cfg: &RunConfig, search: &Search) -> crate::scenario::Scenario {
    Ctx::new(cfg, search).cfg.scenario
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    /// Three nodes running `db` (with `job`'s further keys) for
    /// `duration`, on a fixed latency, with `faults`.
    fn three_nodes(duration: &str, job: &str, faults: &str) -> crate::scenario::Scenario {
        let text = format!(
            r#"
name = "t"
duration = "{duration}"
[cluster]
nodes = 3
heartbeat_interval = "50ms"
failure_timeout = "200ms"
latency = ["5ms", "5ms"]
[[job]]
name = "db"
group = "g"
{job}
{faults}"#
        );
        crate::scenario::parse("t.toml", &text).expect("a scenario")
    }

    fn world(por: bool) -> (Ctx, World) {
        let scenario = three_nodes("1s", "rounds = 2", "");
        let cfg = RunConfig::new(&scenario, 0).driver(crate::runtime::Driver::EventLoop);
        let search = Search {
            budget: Budget::default(),
            restart_after: None,
            pause_for: Duration::from_millis(200),
            heal_after: None,
            late_by: Duration::ZERO,
            threads: false,
            por,
            visited: true,
        };
        let ctx = Ctx::new(&cfg, &search);
        let root = ctx.root();
        (ctx, root)
    }

    /// Takes forced moves until the next choice point.
    fn forward(ctx: &Ctx, w: &mut World) -> Vec<Move> {
        loop {
            let o = w.options(ctx);
            if o.len() != 1 {
                return o;
            }
            w.take(ctx, o[0]);
        }
    }

    /// Two packets that reach one node at one instant, taken in either
    /// order, leave the run in one state when they commute (heartbeats
    /// from two members at their leader): the visited-state reduction
    /// merges them. And the order does matter somewhere in the run, or
    /// exploring it would be pointless.
    fn commuting_orders_reach_one_fingerprint_and_others_do_not() {
        let (ctx, mut w) = world(true);
        let (mut merged, mut apart) = (0, 0);
        loop {
            let o = forward(&ctx, &mut w);
            if o.is_empty() {
                break;
            }
            if o.len() == 2 && matches!((o[0], o[1]), (Move::Event(_), Move::Event(_))) {
                let (d0, d1) = (w.describe(&ctx, o[0]), w.describe(&ctx, o[1]));
                let both = |first: Move, second: &str| {
                    let mut x = w.clone();
                    x.take(&ctx, first);
                    // What the first set off on its node runs first.
                    let o = loop {
                        let o = x.options(&ctx);
                        match o[..] {
                            [Move::Ready(_)] => x.take(&ctx, o[0]),
                            _ => break o,
                        }
                    };
                    let then = o.iter().find(|m| x.describe(&ctx, **m) == second).copied();
                    then.map(|m| {
                        x.take(&ctx, m);
                        forward(&ctx, &mut x);
                        x.fingerprint()
                    })
                };
                if let (Some(a), Some(b)) = (both(o[0], &d1), both(o[1], &d0)) {
                    if a == b {
                        merged += 1;
                    } else {
                        apart += 1;
                    }
                }
            }
            w.take(&ctx, o[0]);
        }
        assert!(merged > 5, "{merged} commuting pairs merged");
        assert!(apart > 0, "no order mattered");
    }

    /// Within an instant, the nodes' moves are independent: with the
    /// reduction, a choice point offers one node's events only.
    fn one_node_at_a_time_offers_one_nodes_events() {
        for por in [true, false] {
            let (ctx, mut w) = world(por);
            let mut widest = 0;
            loop {
                let o = forward(&ctx, &mut w);
                if o.is_empty() {
                    break;
                }
                let nodes: BTreeSet<Option<NodeId>> = o
                    .iter()
                    .filter_map(|m| match m {
                        Move::Event(k) => Some(w.sim.stage.agenda.events[k].node()),
                        _ => None,
                    })
                    .collect();
                widest = widest.max(nodes.len());
                w.take(&ctx, o[0]);
            }
            if por {
                assert_eq!(widest, 1);
            } else {
                assert!(widest > 1, "without the reduction, nodes interleave");
            }
        }
    }

    /// A move purges the agenda only when the stamp changed: after every
    /// move of runs that crash and restart nodes and engines, pause them,
    /// move their clocks and lose, repeat and delay packets (moves drawn
    /// at random among the options), nothing void is left on the agenda.
    fn no_void_event_outlives_a_move() {
        let scenario = three_nodes(
            "3s",
            r#"step_time = "30ms""#,
            r#"
[[fault]]
at = "300ms"
kind = "clock"
node = "n0"
offset = "1s"
[[fault]]
at = "500ms"
kind = "clock"
node = "n1"
rate = 2.0
for = "400ms"
[[fault]]
at = "1s"
kind = "node-crash"
node = "n2"
restart_after = "300ms"
[[fault]]
at = "1.8s"
kind = "engine-crash"
node = "n0"
restart_after = "200ms"
[[fault]]
at = "2.3s"
kind = "node-pause"
node = "n1"
for = "300ms"
"#,
        );
        let cfg = RunConfig::new(&scenario, 0).driver(crate::runtime::Driver::EventLoop);
        let search = Search {
            budget: Budget {
                drops: 20,
                duplicates: 20,
                delays: 20,
                crashes: 1,
                pauses: 1,
                partitions: 0,
            },
            restart_after: Some(Duration::from_millis(100)),
            pause_for: Duration::from_millis(200),
            heal_after: None,
            late_by: Duration::from_millis(7),
            threads: true,
            por: false,
            visited: false,
        };
        let ctx = Ctx::new(&cfg, &search);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
        let (mut moves, mut skipped) = (0, 0);
        for _ in 0..4 {
            let mut w = ctx.root();
            loop {
                let o = w.options(&ctx);
                if o.is_empty() {
                    break;
                }
                let mv = o[rand::Rng::gen_range(&mut rng, 0..o.len())];
                let stamp = w.stamp();
                w.take(&ctx, mv);
                moves += 1;
                skipped += usize::from(w.stamp() == stamp);
                let nodes = &w.sim.nodes;
                let void = w
                    .sim
                    .stage
                    .agenda
                    .events
                    .values()
                    .find(|e| !stands(nodes, e));
                assert!(
                    void.is_none(),
                    "after move {moves} ({mv:?}): {:?} left on the agenda",
                    void.map(|e| &e.what)
                );
            }
        }
        assert!(moves > 2000, "{moves} moves");
        assert!(
            skipped * 4 > moves,
            "only {skipped} of {moves} moves skip the purge"
        );
    }

    unit_tests![
        commuting_orders_reach_one_fingerprint_and_others_do_not,
        one_node_at_a_time_offers_one_nodes_events,
        no_void_event_outlives_a_move,
    ];
}
