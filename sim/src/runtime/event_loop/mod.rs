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
//! [`super::faults`]'s, as for madsim; this file only carries out the
//! primitives ([`faults::Plant`]).
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
mod job;

use super::clock::NodeClock;
use super::faults::{self, Later};
use super::net::{packet_kind, Net};
use super::threads;
use super::{new_trace, RunConfig};
use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::scenario::Scenario;
use crate::trace::{DropCause, NodeStatus, PacketKind, RunEnd, Trace, TraceEvent};
use job::{Job, MainMsg};
use rand::{Rng, SeedableRng};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use vigil_engine::job::{FaultKind, JobMsg, StepEnd};
use vigil_engine::{Dur, Durable, Engine, Input, LocalKey, MemberId, NodeId, Output, Packet, Time};

/// The shortest wait between two ticks of an engine that stays due.
const TIMER_GRANULARITY: Dur = Dur::from_millis(1);

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

/// Something that happens on one node.
#[derive(Clone, Debug, Hash)]
enum Local {
    /// The packets the engine sent as it booted: they leave once the
    /// instant's timeline has struck, as madsim's sender task sends them
    /// when it first runs.
    Booted(Vec<Output<JobMsg>>),
    /// (Boxed, as are the other large variants: an event moves several
    /// times on its way through the agenda and the ready queue, and a
    /// small one moves in a few words.)
    Packet {
        from: NodeId,
        packet: Box<Packet<JobMsg>>,
        detail: Option<(u64, PacketKind)>,
    },
    /// An input for the engine from a job on this node.
    Engine(Box<Input<JobMsg>>),
    /// The engine's timer, if it is still the current one.
    Timer { generation: u64 },
    /// Into a main thread's inbox.
    Main { key: LocalKey, msg: Box<MainMsg> },
    /// A main thread runs for the first time (it registers).
    StartMain { key: LocalKey },
    /// A main thread takes what its inbox holds.
    RunMain { key: LocalKey },
    /// A slow node's engine takes the next input it holds.
    Serve,
    /// A main thread's timer, if it is still set (a clock change sets it
    /// again under a new number).
    MainTimer { id: u64 },
    /// A main thread is back from its (broken variant's) wait.
    MainWake { key: LocalKey },
    /// A work thread takes what was routed to it.
    RunWorker { key: LocalKey, thread: u16 },
    StepEnded {
        key: LocalKey,
        thread: u16,
        step: u64,
        end: StepEnd,
    },
    /// An unregister the broken variant `late-unregister` held back.
    Late(Box<(Input<JobMsg>, Option<Recorded>)>),
}

/// A trace event an event carries, to record when it happens (hashed by
/// its encoding: some of its fields are floating point).
#[derive(Clone, Debug)]
struct Recorded(TraceEvent);

impl std::hash::Hash for Recorded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        bincode::serialize(&self.0)
            .expect("a trace event encodes")
            .hash(state);
    }
}

/// One node: what it keeps across lives, and its current one.
#[derive(Clone)]
struct Node {
    status: NodeStatus,
    /// Which life this is: a crash ends one, and its events with it.
    life: u32,
    /// What its disk holds (`None`: it was lost).
    disk: Option<Durable>,
    /// The jobs that run here, and start again after a restart.
    wanted: BTreeSet<String>,
    engine: Option<Engine<JobMsg>>,
    /// The engine's timer, and its generation (older timers are void).
    deadline: Option<Time>,
    generation: u64,
    /// When the engine's timer last fired.
    ticked_at: Option<Time>,
    jobs: BTreeMap<LocalKey, Job>,
    /// The running jobs by name.
    names: BTreeMap<String, LocalKey>,
    /// The registrations the engine delivers to.
    registered: BTreeSet<LocalKey>,
    next_key: u64,
    /// Work-thread faults that struck before their job started.
    armed: BTreeMap<(String, u16), (FaultKind, usize)>,
    /// What happened while it was paused, in order.
    parked: Vec<Local>,
    /// Its clock (the machine's: it runs on across crashes).
    clock: NodeClock,
    /// Its main threads' timers, by number: when each falls on the
    /// node's clock, whose it is and what it brings.
    timers: BTreeMap<u64, (Time, LocalKey, vigil_engine::job::MainInput)>,
    next_timer: u64,
    /// How much slower it runs, in thousandths (the host's: it stays
    /// across crashes), and the fault that made it so.
    slow: u32,
    /// A slow node's engine: busy until then, with these inputs waiting
    /// (a `Serve` is on the agenda while `serving`).
    busy_until: Time,
    backlog: VecDeque<Input<JobMsg>>,
    serving: bool,
}

impl Node {
    /// Feeds its state to `state`, for an exhaustive explorer's
    /// fingerprint: all but the counters that only name its timers (the
    /// agenda's timers are hashed by what they do), and of when its engine
    /// last ticked and until when it is busy, only what they mean at `now`.
    fn hash_state(&self, now: Time, state: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let Node {
            status,
            life,
            disk,
            wanted,
            engine,
            deadline,
            generation: _,
            ticked_at,
            jobs,
            names,
            registered,
            next_key,
            armed,
            parked,
            clock,
            timers,
            next_timer: _,
            slow,
            busy_until,
            backlog,
            serving,
        } = self;
        let ticked_now = *ticked_at == Some(now);
        (status, life, disk, wanted, engine, deadline, ticked_now).hash(state);
        (jobs, names, registered, next_key, armed, parked, clock).hash(state);
        timers.values().for_each(|t| t.hash(state));
        (slow, (*busy_until).max(now), backlog, serving).hash(state);
    }
}

/// What a run's protocols are made from, shared with the work threads'
/// protocol factories.
struct Protocols {
    registry: Registry,
    scenario: Scenario,
    mutation: Option<Mutation>,
}

/// One run on the event loop.
#[derive(Clone)]
struct Sim<A> {
    now: Time,
    end: Time,
    agenda: A,
    seq: u64,
    /// What happens at this instant, after the event that set it off.
    ready: VecDeque<(u16, Local)>,
    nodes: Vec<Node>,
    net: Net,
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
    protocols: Arc<Protocols>,
    engine_config: vigil_engine::Config,
    /// Reused output buffers: an engine's, a main thread's, and what a
    /// work thread did before the step it starts.
    out: Vec<Output<JobMsg>>,
    main_out: Vec<vigil_engine::job::MainOutput>,
    work_done: Vec<vigil_engine::job::WorkOutput>,
    /// The clock rates and slowness that overlapping faults set.
    layers: faults::Layers,
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
            now: Time(0),
            end: Time(scenario.duration.as_nanos() as u64),
            agenda,
            seq: 0,
            ready: VecDeque::new(),
            nodes: (0..scenario.cluster.nodes)
                .map(|_| Node {
                    status: NodeStatus::Up,
                    life: 0,
                    disk: Some(Durable::default()),
                    wanted: BTreeSet::new(),
                    engine: None,
                    deadline: None,
                    generation: 0,
                    ticked_at: None,
                    jobs: BTreeMap::new(),
                    names: BTreeMap::new(),
                    registered: BTreeSet::new(),
                    next_key: 0,
                    armed: BTreeMap::new(),
                    parked: Vec::new(),
                    clock: NodeClock::TRUE,
                    timers: BTreeMap::new(),
                    next_timer: 0,
                    slow: 1000,
                    busy_until: Time(0),
                    backlog: VecDeque::new(),
                    serving: false,
                })
                .collect(),
            net: Net::new(scenario.cluster.loss),
            latency: (lo.as_nanos() as u64, hi.max(lo).as_nanos() as u64),
            draws: true,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed),
            trace: new_trace(scenario, cfg.seed, super::Driver::EventLoop),
            detail: cfg.detail,
            packets: 0,
            protocols: Arc::new(Protocols {
                registry: cfg.registry.clone(),
                scenario: scenario.clone(),
                mutation: cfg.mutation,
            }),
            engine_config: scenario.engine_config(),
            out: Vec::new(),
            main_out: Vec::new(),
            work_done: Vec::new(),
            layers: faults::Layers::default(),
        };
        for job in &scenario.jobs {
            for n in &job.nodes {
                sim.nodes[usize::from(*n)].wanted.insert(job.name.clone());
            }
        }
        // Every node boots at time 0, on the timeline before anything the
        // scenario does at 0 (as under madsim): a fault at 0 s strikes a
        // booted cluster whose nodes have not acted on their boots yet.
        for node in 0..scenario.cluster.nodes {
            sim.schedule(Time(0), What::Boot(node));
        }
        for (index, fault) in scenario.faults.iter().enumerate() {
            sim.schedule(Time(fault.at.as_nanos() as u64), What::Fault(index));
        }
        for (index, task) in scenario.tasks.iter().enumerate() {
            sim.schedule(Time(task.at.as_nanos() as u64), What::Task(index));
        }
        sim
    }

    fn run(&mut self) {
        loop {
            while let Some((node, local)) = self.ready.pop_front() {
                self.local(node, local);
            }
            let Some(event) = self.agenda.pop() else {
                return;
            };
            if event.at >= self.end {
                return;
            }
            self.take(event);
        }
    }

    /// `event` happens now (time moves on to it).
    fn take(&mut self, event: Scheduled) {
        assert!(
            event.at >= self.now,
            "an agenda handed out an event from the past"
        );
        self.now = event.at;
        match event.what {
            What::Boot(_) | What::Fault(_) | What::Task(_) | What::Later(_) => {
                // The rest of the instant's timeline strikes with it.
                self.strike(event.what);
                while let Some(next) = self.agenda.pop_timeline(self.now) {
                    assert_eq!(
                        next.at, self.now,
                        "an agenda handed out a later timeline event"
                    );
                    self.strike(next.what);
                }
            }
            What::Node { node, life, local } => {
                let n = &mut self.nodes[usize::from(node)];
                if life.is_some_and(|l| l != n.life) {
                    return;
                }
                match n.status {
                    NodeStatus::Crashed => {}
                    NodeStatus::Paused => n.parked.push(local),
                    NodeStatus::Up => self.local(node, local),
                }
            }
        }
    }

    /// What the scenario does: one of its faults or tasks, or a fault's
    /// later half.
    fn strike(&mut self, what: What) {
        match what {
            What::Boot(node) => self.boot(node),
            What::Fault(index) => {
                let kind = self.protocols.scenario.faults[index].kind.clone();
                faults::apply(self, index, &kind);
            }
            What::Later(later) => faults::follow(self, later),
            What::Task(index) => {
                let task = self.protocols.scenario.tasks[index].clone();
                faults::submit_task(self, index, &task);
            }
            What::Node { .. } => unreachable!("on a node, not on the timeline"),
        }
    }

    /// The trace of the run, ended.
    fn finish(mut self) -> Trace {
        self.now = self.end;
        let mut live_members = BTreeSet::new();
        for k in 0..self.nodes.len() {
            if self.nodes[k].status != NodeStatus::Up {
                continue;
            }
            let names: Vec<LocalKey> = self.nodes[k].names.values().copied().collect();
            for key in names {
                let member = self.nodes[k].jobs.get(&key).and_then(|j| j.member.clone());
                if let Some(m) = member {
                    self.record_unread(k as u16, key);
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
        self.trace.end = RunEnd {
            at: self.now,
            nodes,
            live_members,
        };
        self.trace
    }

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

    /// `local` happens on `node` later, in this life.
    fn later(&mut self, at: Time, node: u16, local: Local) {
        let life = Some(self.nodes[usize::from(node)].life);
        self.schedule(at, What::Node { node, life, local });
    }

    /// `local` happens on `node` now, or when it resumes.
    fn post(&mut self, node: u16, local: Local) {
        let n = &mut self.nodes[usize::from(node)];
        match n.status {
            NodeStatus::Up => self.ready.push_back((node, local)),
            NodeStatus::Paused => n.parked.push(local),
            NodeStatus::Crashed => {}
        }
    }

    fn local(&mut self, node: u16, local: Local) {
        match local {
            Local::Booted(out) => {
                self.out.extend(out);
                self.engine_outputs(node);
            }
            Local::Packet {
                from,
                packet,
                detail,
            } => {
                self.trace.net.delivered += 1;
                if let Some((id, what)) = detail {
                    self.record(TraceEvent::Deliver {
                        from,
                        to: NodeId(node),
                        id,
                        what,
                    });
                }
                self.engine_step(
                    node,
                    Input::Packet {
                        from,
                        packet: *packet,
                    },
                );
            }
            Local::Engine(input) => self.engine_step(node, *input),
            Local::Timer { generation } => {
                let n = &mut self.nodes[usize::from(node)];
                if n.generation == generation {
                    n.deadline = None;
                    n.ticked_at = Some(self.now);
                    self.engine_step(node, Input::Tick);
                }
            }
            Local::Main { key, msg } => {
                if let Some(job) = self.nodes[usize::from(node)].jobs.get_mut(&key) {
                    job.inbox.push_back(*msg);
                    self.run_main(node, key);
                }
            }
            Local::StartMain { key } => self.start_main(node, key),
            Local::RunMain { key } => self.run_main(node, key),
            Local::Serve => self.serve(node),
            Local::MainTimer { id } => {
                if let Some((_, key, input)) = self.nodes[usize::from(node)].timers.remove(&id) {
                    let msg = MainMsg::Signal(input);
                    if let Some(job) = self.nodes[usize::from(node)].jobs.get_mut(&key) {
                        job.inbox.push_back(msg);
                        self.run_main(node, key);
                    }
                }
            }
            Local::MainWake { key } => self.main_wake(node, key),
            Local::RunWorker { key, thread } => self.run_worker(node, key, thread),
            Local::StepEnded {
                key,
                thread,
                step,
                end,
            } => self.step_ended(node, key, thread, step, end),
            Local::Late(late) => {
                let (input, record) = *late;
                self.engine_step(node, input);
                if let Some(Recorded(record)) = record {
                    self.record(record);
                }
            }
        }
    }

    /// The node boots (again): an engine from its disk, its wanted jobs.
    /// Neither acts before the rest of the instant's timeline has struck:
    /// the engine's first outputs and the jobs' registrations wait in the
    /// ready queue (so a crash at the same instant lets none of it out).
    fn boot(&mut self, node: u16) {
        let n = &mut self.nodes[usize::from(node)];
        n.timers.clear();
        n.jobs.clear();
        n.names.clear();
        self.new_engine(node);
        self.booted_outputs(node);
        self.start_wanted(node);
    }

    /// What a new engine asked for: its disk and view are its at once; its
    /// packets leave with the node's first act (`Local::Booted`).
    fn booted_outputs(&mut self, node: u16) {
        let (sends, now): (Vec<_>, Vec<_>) = std::mem::take(&mut self.out)
            .into_iter()
            .partition(|o| matches!(o, Output::Send { .. }));
        self.out = now;
        self.engine_outputs(node);
        self.post(node, Local::Booted(sends));
    }

    /// Starts the node's wanted jobs that do not run.
    fn start_wanted(&mut self, node: u16) {
        let wanted: Vec<String> = self.nodes[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect();
        for job in wanted {
            self.start_job(node, &job);
        }
    }

    /// The node's engine boots from its disk (its outputs wait in `out`).
    fn new_engine(&mut self, node: u16) {
        self.record(TraceEvent::NodeBoot { node: NodeId(node) });
        let cfg = self.engine_config.clone();
        let n = &mut self.nodes[usize::from(node)];
        let now = n.clock.local(self.now);
        #[cfg(feature = "mutations")]
        let engine = match self.protocols.mutation.and_then(|m| m.engine()) {
            Some(m) => Engine::new_mutated(cfg, NodeId(node), n.disk, now, &mut self.out, m),
            None => Engine::new(cfg, NodeId(node), n.disk, now, &mut self.out),
        };
        #[cfg(not(feature = "mutations"))]
        let engine = Engine::new(cfg, NodeId(node), n.disk, now, &mut self.out);
        n.engine = Some(engine);
        n.deadline = None;
        n.registered.clear();
    }

    /// The engine takes `input` now, or, on a slow node, once it is done
    /// with the inputs before it (`factor - 1` ms each).
    fn engine_step(&mut self, node: u16, input: Input<JobMsg>) {
        let n = &mut self.nodes[usize::from(node)];
        if n.engine.is_none() {
            return;
        }
        // What waits goes first, also once the node is at full speed again.
        if n.slow > 1000 || n.serving {
            if n.serving || self.now < n.busy_until {
                n.backlog.push_back(input);
                if !n.serving {
                    n.serving = true;
                    let at = n.busy_until;
                    self.later(at, node, Local::Serve);
                }
                return;
            }
            n.busy_until = self.now + Dur::from_std(threads::engine_cost(n.slow));
        }
        self.engine_take(node, input);
    }

    /// A slow node's engine takes the next input it holds.
    fn serve(&mut self, node: u16) {
        let n = &mut self.nodes[usize::from(node)];
        n.serving = false;
        let Some(input) = n.backlog.pop_front() else {
            return;
        };
        n.busy_until = self.now + Dur::from_std(threads::engine_cost(n.slow));
        if !n.backlog.is_empty() {
            n.serving = true;
            let at = n.busy_until;
            self.later(at, node, Local::Serve);
        }
        self.engine_take(node, input);
    }

    fn engine_take(&mut self, node: u16, input: Input<JobMsg>) {
        let n = &mut self.nodes[usize::from(node)];
        let Some(engine) = n.engine.as_mut() else {
            return;
        };
        match &input {
            Input::Register { key, .. } => {
                n.registered.insert(*key);
            }
            Input::Unregister { key, .. } | Input::Closed { key } => {
                n.registered.remove(key);
            }
            _ => {}
        }
        engine.step(n.clock.local(self.now), input, &mut self.out);
        self.engine_outputs(node);
    }

    /// Carries out what the engine asked, and sets its timer.
    fn engine_outputs(&mut self, node: u16) {
        let mut out = std::mem::take(&mut self.out);
        for o in out.drain(..) {
            match o {
                Output::Send { to, packet } => self.send(NodeId(node), to, packet),
                Output::Deliver { key, event } => self.deliver(node, key, event),
                Output::Persist(d) => self.nodes[usize::from(node)].disk = Some(d),
                Output::NodeView { view, members } => self.record(TraceEvent::NodeView {
                    node: NodeId(node),
                    view,
                    members,
                }),
                Output::Probe(name) => self.record(TraceEvent::Probe {
                    node: NodeId(node),
                    name,
                }),
            }
        }
        self.out = out;
        let n = &mut self.nodes[usize::from(node)];
        let Some(engine) = &n.engine else {
            return;
        };
        // A tick that leaves the engine due at once again makes the next
        // one wait a millisecond (madsim's timer granularity), so an
        // engine that keeps asking to be woken now cannot stop the clock.
        let floor = if n.ticked_at == Some(self.now) {
            self.now + TIMER_GRANULARITY
        } else {
            self.now
        };
        let next = n.clock.global(engine.poll_timeout(), self.now).max(floor);
        if n.deadline != Some(next) {
            n.deadline = Some(next);
            n.generation += 1;
            let generation = n.generation;
            self.later(next, node, Local::Timer { generation });
        }
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
        } else if self.nodes[usize::from(to.0)].status == NodeStatus::Crashed {
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
        self.now
    }

    fn fault_name(&self, index: usize) -> &'static str {
        self.protocols.scenario.faults[index].kind.name()
    }

    fn record(&mut self, event: TraceEvent) {
        Sim::record(self, event);
    }

    fn status(&self, node: u16) -> NodeStatus {
        self.nodes[usize::from(node)].status
    }

    fn set_status(&mut self, node: u16, status: NodeStatus) {
        self.nodes[usize::from(node)].status = status;
    }

    fn net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R {
        f(&mut self.net)
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
        Dur::from_std(self.protocols.scenario.cluster.failure_timeout)
    }

    fn stop_engine(&mut self, node: u16, by: Time) {
        // `by` on the node's clock.
        let by = self.nodes[usize::from(node)].clock.local(self.now) + by.saturating_sub(self.now);
        self.post(node, Local::Engine(Box::new(Input::Stop { by })));
    }

    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool) {
        let set = &mut self.nodes[usize::from(node)].wanted;
        if wanted {
            set.insert(job.to_string());
        } else {
            set.remove(job);
        }
    }

    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>> {
        let n = &self.nodes[usize::from(node)];
        let job = n.names.get(job).and_then(|key| n.jobs.get(key))?;
        Some(job.member.clone())
    }

    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        let n = &mut self.nodes[usize::from(node)];
        if let Some(key) = n.names.get(job) {
            let job = n.jobs.get_mut(key).expect("named jobs run");
            job.workers[usize::from(thread)].fault = Some((kind, index));
        }
    }

    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        let n = &mut self.nodes[usize::from(node)];
        n.armed.insert((job.to_string(), thread), (kind, index));
    }

    fn kill_job(&mut self, node: u16, job: &str) {
        let Some(key) = self.nodes[usize::from(node)].names.remove(job) else {
            return;
        };
        self.record_unread(node, key);
        let job = self.nodes[usize::from(node)].jobs.remove(&key);
        // Its connection closes, as a process's would (one that never ran
        // never opened it).
        if job.is_some_and(|j| j.started) {
            self.post(node, Local::Engine(Box::new(Input::Closed { key })));
        }
    }

    fn submit(&mut self, node: u16, job: &str, msg: vigil_engine::job::JobMsg) {
        if let Some(key) = self.nodes[usize::from(node)].names.get(job).copied() {
            self.signal(node, key, vigil_engine::job::MainInput::Submit(msg));
        }
    }

    fn ask_leave(&mut self, node: u16, job: &str, for_good: bool) {
        let n = &mut self.nodes[usize::from(node)];
        if let Some(key) = n.names.get(job).copied() {
            n.jobs.get_mut(&key).expect("named jobs run").leaving |= for_good;
            self.signal(node, key, vigil_engine::job::MainInput::Leave);
        }
    }

    fn start_job(&mut self, node: u16, job: &str) {
        Sim::start_job(self, node, job);
    }

    fn crash(&mut self, node: u16) {
        let keys: Vec<LocalKey> = self.nodes[usize::from(node)]
            .names
            .values()
            .copied()
            .collect();
        for key in keys {
            self.record_unread(node, key);
        }
        let n = &mut self.nodes[usize::from(node)];
        n.life += 1;
        n.engine = None;
        n.deadline = None;
        n.jobs.clear();
        n.names.clear();
        n.registered.clear();
        n.parked.clear();
        n.timers.clear();
        n.backlog.clear();
        n.serving = false;
        n.busy_until = Time(0);
        // What it set off at this instant dies with it (a fault at the
        // same instant may have set it off).
        self.ready.retain(|(on, _)| *on != node);
    }

    fn lose_disk(&mut self, node: u16) {
        self.nodes[usize::from(node)].disk = None;
    }

    fn engine_down(&self, node: u16) -> bool {
        let n = &self.nodes[usize::from(node)];
        n.status == NodeStatus::Up && n.engine.is_none()
    }

    fn crash_engine(&mut self, node: u16) -> Vec<MemberId> {
        let n = &mut self.nodes[usize::from(node)];
        n.engine = None;
        n.deadline = None;
        n.generation += 1;
        n.registered.clear();
        n.backlog.clear();
        n.serving = false;
        n.busy_until = Time(0);
        // Each job hears its connection close.
        let mut members = Vec::new();
        let keys: Vec<LocalKey> = n.jobs.keys().copied().collect();
        for key in keys {
            let job = self.nodes[usize::from(node)]
                .jobs
                .get_mut(&key)
                .expect("listed");
            members.extend(job.member.take());
            self.signal(node, key, vigil_engine::job::MainInput::EngineLost);
        }
        members
    }

    fn restart_engine(&mut self, node: u16) {
        self.new_engine(node);
        self.booted_outputs(node);
        let keys: Vec<LocalKey> = self.nodes[usize::from(node)].jobs.keys().copied().collect();
        for key in keys {
            self.signal(node, key, vigil_engine::job::MainInput::EngineBack);
        }
        // Jobs that joined while it was down start now.
        self.start_wanted(node);
    }

    fn restart(&mut self, node: u16) {
        self.boot(node);
    }

    // A paused node's events wait in `parked` (see `run`).
    fn pause(&mut self, node: u16) {
        // What a fault at the same instant set off on it waits too, first.
        let (parked, ready): (VecDeque<_>, _) = std::mem::take(&mut self.ready)
            .into_iter()
            .partition(|(on, _)| *on == node);
        self.ready = ready;
        let n = &mut self.nodes[usize::from(node)];
        n.parked.extend(parked.into_iter().map(|(_, local)| local));
    }

    fn resume(&mut self, node: u16) {
        let n = &mut self.nodes[usize::from(node)];
        if n.status == NodeStatus::Up {
            for local in std::mem::take(&mut n.parked) {
                self.ready.push_back((node, local));
            }
        }
    }

    fn layers<R>(&mut self, f: impl FnOnce(&mut faults::Layers) -> R) -> R {
        f(&mut self.layers)
    }

    fn set_slowness(&mut self, node: u16, factor_milli: u32) {
        self.nodes[usize::from(node)].slow = factor_milli;
    }

    fn clock(&self, node: u16) -> NodeClock {
        self.nodes[usize::from(node)].clock
    }

    fn set_clock(&mut self, node: u16, clock: NodeClock) {
        let n = &mut self.nodes[usize::from(node)];
        n.clock = clock;
        // Every deadline on the node's clock falls anew.
        let timers = std::mem::take(&mut n.timers);
        for (_, (at, key, input)) in timers {
            self.main_timer(node, key, at, input);
        }
        self.engine_outputs(node);
    }

    fn after(&mut self, delay: Duration, then: Later) {
        let at = self.now + Dur::from_std(delay);
        self.schedule(at, What::Later(then));
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
