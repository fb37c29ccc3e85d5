//! One node as a synchronous state machine: its engine, its jobs' main and
//! work threads (`job`), their timers, its disk and its clock, stepped one
//! [`Local`] event at a time by a driver that hosts it ([`Host`]: the time,
//! the network, the node's later events, the trace). What the node does
//! with an event is decided here alone; a driver only says when.
//!
//! Invariants: a node acts only while it is up (a paused node's events
//! wait in `parked`, a crashed node's are dropped by its host, which ends
//! them with its life); its engine takes one input at a time, and a slow
//! node's engine takes each after the ones before it are served.

mod job;

pub(in crate::runtime) use job::{Job, MainMsg};

use super::clock::NodeClock;
use super::threads;
use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::scenario::Scenario;
use crate::trace::{NodeStatus, PacketKind, TraceEvent};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use vigil_engine::job::{FaultKind, JobMsg, StepEnd};
use vigil_engine::{Dur, Durable, Engine, Input, LocalKey, NodeId, Output, Packet, Time};

/// The shortest wait between two ticks of an engine that stays due.
const TIMER_GRANULARITY: Dur = Dur::from_millis(1);

/// Something that happens on one node.
#[derive(Clone, Debug, Hash)]
pub(in crate::runtime) enum Local {
    /// The packets the engine sent as it booted: they leave once the
    /// instant's timeline has struck (on madsim, once the node's port is
    /// bound).
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
pub(in crate::runtime) struct Recorded(pub(in crate::runtime) TraceEvent);

impl std::hash::Hash for Recorded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        bincode::serialize(&self.0)
            .expect("a trace event encodes")
            .hash(state);
    }
}

/// One node: what it keeps across lives, and its current one.
#[derive(Clone)]
pub(in crate::runtime) struct Node {
    /// Its number in the cluster.
    pub(in crate::runtime) id: u16,
    pub(in crate::runtime) status: NodeStatus,
    /// Which life this is: a crash ends one, and its events with it.
    pub(in crate::runtime) life: u32,
    /// What its disk holds (`None`: it was lost).
    pub(in crate::runtime) disk: Option<Durable>,
    /// The jobs that run here, and start again after a restart.
    pub(in crate::runtime) wanted: BTreeSet<String>,
    pub(in crate::runtime) engine: Option<Engine<JobMsg>>,
    /// The engine's timer, and its generation (older timers are void).
    pub(in crate::runtime) deadline: Option<Time>,
    pub(in crate::runtime) generation: u64,
    /// When the engine's timer last fired.
    pub(in crate::runtime) ticked_at: Option<Time>,
    pub(in crate::runtime) jobs: BTreeMap<LocalKey, Job>,
    /// The running jobs by name.
    pub(in crate::runtime) names: BTreeMap<String, LocalKey>,
    /// The registrations the engine delivers to.
    pub(in crate::runtime) registered: BTreeSet<LocalKey>,
    pub(in crate::runtime) next_key: u64,
    /// Work-thread faults that struck before their job started.
    pub(in crate::runtime) armed: BTreeMap<(String, u16), (FaultKind, usize)>,
    /// What happened while it was paused, in order.
    pub(in crate::runtime) parked: Vec<Local>,
    /// Its clock (the machine's: it runs on across crashes).
    pub(in crate::runtime) clock: NodeClock,
    /// Its main threads' timers, by number: when each falls on the
    /// node's clock, whose it is and what it brings.
    pub(in crate::runtime) timers: BTreeMap<u64, (Time, LocalKey, vigil_engine::job::MainInput)>,
    pub(in crate::runtime) next_timer: u64,
    /// How much slower it runs, in thousandths (the host's: it stays
    /// across crashes), and the fault that made it so.
    pub(in crate::runtime) slow: u32,
    /// A slow node's engine: busy until then, with these inputs waiting
    /// (a `Serve` is on the agenda while `serving`).
    pub(in crate::runtime) busy_until: Time,
    pub(in crate::runtime) backlog: VecDeque<Input<JobMsg>>,
    pub(in crate::runtime) serving: bool,
}

impl Node {
    /// Feeds its state to `state`, for an exhaustive explorer's
    /// fingerprint: all but the counters that only name its timers (the
    /// agenda's timers are hashed by what they do), and of when its engine
    /// last ticked and until when it is busy, only what they mean at `now`.
    pub(in crate::runtime) fn hash_state(&self, now: Time, state: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let Node {
            id: _,
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
pub(in crate::runtime) struct Protocols {
    pub(in crate::runtime) registry: Registry,
    pub(in crate::runtime) scenario: Scenario,
    pub(in crate::runtime) mutation: Option<Mutation>,
}

/// What a node needs of the driver that hosts it.
pub(in crate::runtime) trait Host {
    /// The run's time now.
    fn now(&self) -> Time;
    fn record(&mut self, event: TraceEvent);
    /// `local` happens on the node at `at`, in this life of it.
    fn later(&mut self, at: Time, local: Local);
    /// `local` happens on the node at this instant, after what is under way.
    fn soon(&mut self, local: Local);
    /// The engine sends `packet` to `to`.
    fn send(&mut self, to: NodeId, packet: Packet<JobMsg>);
    /// The node took a packet off the network.
    fn delivered(&mut self);
}

/// What every node of a run shares: what its protocols are made from, and
/// buffers reused from one step to the next.
#[derive(Clone)]
pub(in crate::runtime) struct Kit {
    pub(in crate::runtime) protocols: Arc<Protocols>,
    pub(in crate::runtime) engine_config: vigil_engine::Config,
    /// Record every packet sent, delivered and dropped, and every step.
    pub(in crate::runtime) detail: bool,
    /// Reused output buffers: an engine's, a main thread's, and what a
    /// work thread did before the step it starts.
    out: Vec<Output<JobMsg>>,
    main_out: Vec<vigil_engine::job::MainOutput>,
    work_done: Vec<vigil_engine::job::WorkOutput>,
}

impl Kit {
    pub(in crate::runtime) fn new(protocols: Protocols, detail: bool) -> Kit {
        Kit {
            engine_config: protocols.scenario.engine_config(),
            protocols: Arc::new(protocols),
            detail,
            out: Vec::new(),
            main_out: Vec::new(),
            work_done: Vec::new(),
        }
    }
}

impl Node {
    /// Node `id` before its first boot: up, with a blank disk.
    pub(in crate::runtime) fn new(id: u16) -> Node {
        Node {
            id,
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
        }
    }

    /// Whether `job` runs here (again after a restart, or on a join).
    pub(in crate::runtime) fn set_wanted(&mut self, job: &str, wanted: bool) {
        if wanted {
            self.wanted.insert(job.to_string());
        } else {
            self.wanted.remove(job);
        }
    }

    /// `Some(member)` if `job` runs here now (`member` once registered).
    pub(in crate::runtime) fn running(&self, job: &str) -> Option<Option<vigil_engine::MemberId>> {
        let job = self.names.get(job).and_then(|key| self.jobs.get(key))?;
        Some(job.member.clone())
    }

    /// Arms a fault on a work thread of a running job: its next local step.
    pub(in crate::runtime) fn arm(
        &mut self,
        job: &str,
        thread: u16,
        kind: FaultKind,
        index: usize,
    ) {
        if let Some(key) = self.names.get(job) {
            let job = self.jobs.get_mut(key).expect("named jobs run");
            job.workers[usize::from(thread)].fault = Some((kind, index));
        }
    }

    /// Arms a fault on a work thread of a job that starts with the node:
    /// the thread takes it when the job starts.
    pub(in crate::runtime) fn arm_at_start(
        &mut self,
        job: &str,
        thread: u16,
        kind: FaultKind,
        index: usize,
    ) {
        self.armed.insert((job.to_string(), thread), (kind, index));
    }

    /// An event of the node falls due (in its life `life` only, if
    /// given): the node takes it now if it is up, and the event is given
    /// back; a paused node keeps it for its resume; a crashed node, or a
    /// later life, drops it. Both simulated drivers ask this alike.
    pub(in crate::runtime) fn due(&mut self, life: Option<u32>, local: Local) -> Option<Local> {
        if life.is_some_and(|l| l != self.life) {
            return None;
        }
        match self.status {
            NodeStatus::Crashed => None,
            NodeStatus::Paused => {
                self.parked.push(local);
                None
            }
            NodeStatus::Up => Some(local),
        }
    }

    /// Whether its engine is down while it is up.
    pub(in crate::runtime) fn engine_down(&self) -> bool {
        self.status == NodeStatus::Up && self.engine.is_none()
    }
}

/// A node being stepped: the node, what the run's nodes share, and its host.
pub(in crate::runtime) struct Stepper<'a, H> {
    pub(in crate::runtime) node: &'a mut Node,
    pub(in crate::runtime) kit: &'a mut Kit,
    pub(in crate::runtime) host: H,
}

impl<H: Host> Stepper<'_, H> {
    /// `local` happens on the node now, or when it resumes.
    pub(in crate::runtime) fn post(&mut self, local: Local) {
        match self.node.status {
            NodeStatus::Up => self.host.soon(local),
            NodeStatus::Paused => self.node.parked.push(local),
            NodeStatus::Crashed => {}
        }
    }

    /// Hands the engine [`Input::Stop`], to stop by `by` on the run's clock.
    pub(in crate::runtime) fn stop_engine(&mut self, by: Time) {
        // `by` on the node's clock.
        let now = self.host.now();
        let by = self.node.clock.local(now) + by.saturating_sub(now);
        self.post(Local::Engine(Box::new(Input::Stop { by })));
    }

    /// Ends a running job at once, without unregistering.
    pub(in crate::runtime) fn kill_job(&mut self, job: &str) {
        let Some(key) = self.node.names.remove(job) else {
            return;
        };
        self.record_unread(key);
        let job = self.node.jobs.remove(&key);
        // Its connection closes, as a process's would (one that never ran
        // never opened it).
        if job.is_some_and(|j| j.started) {
            self.post(Local::Engine(Box::new(Input::Closed { key })));
        }
    }

    /// Hands a running job's main thread an ordered message to submit.
    pub(in crate::runtime) fn submit(&mut self, job: &str, msg: JobMsg) {
        if let Some(key) = self.node.names.get(job).copied() {
            self.signal(key, vigil_engine::job::MainInput::Submit(msg));
        }
    }

    /// Asks a running job's main thread to leave (`for_good`: it is no
    /// longer wanted once it has).
    pub(in crate::runtime) fn ask_leave(&mut self, job: &str, for_good: bool) {
        if let Some(key) = self.node.names.get(job).copied() {
            let job = self.node.jobs.get_mut(&key).expect("named jobs run");
            job.leaving |= for_good;
            self.signal(key, vigil_engine::job::MainInput::Leave);
        }
    }

    /// The node stops, and everything on it: what its jobs left unread
    /// goes to the trace; its next life starts from its disk alone.
    pub(in crate::runtime) fn crash(&mut self) {
        let keys: Vec<LocalKey> = self.node.names.values().copied().collect();
        for key in keys {
            self.record_unread(key);
        }
        let n = &mut *self.node;
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
    }

    /// The engine dies and the jobs live on: each hears its connection
    /// close. The members its jobs were, by then.
    pub(in crate::runtime) fn crash_engine(&mut self) -> Vec<vigil_engine::MemberId> {
        let n = &mut *self.node;
        n.engine = None;
        n.deadline = None;
        n.generation += 1;
        n.registered.clear();
        n.backlog.clear();
        n.serving = false;
        n.busy_until = Time(0);
        let mut members = Vec::new();
        let keys: Vec<LocalKey> = n.jobs.keys().copied().collect();
        for key in keys {
            let job = self.node.jobs.get_mut(&key).expect("listed");
            members.extend(job.member.take());
            self.signal(key, vigil_engine::job::MainInput::EngineLost);
        }
        members
    }

    /// A new engine boots from the disk; each job still running hears it
    /// is back, and wanted jobs not running start.
    pub(in crate::runtime) fn restart_engine(&mut self) {
        self.new_engine();
        self.booted_outputs();
        let keys: Vec<LocalKey> = self.node.jobs.keys().copied().collect();
        for key in keys {
            self.signal(key, vigil_engine::job::MainInput::EngineBack);
        }
        // Jobs that joined while it was down start now.
        self.start_wanted();
    }

    /// The node's clock reads `clock` from now on: every deadline on it
    /// falls anew.
    pub(in crate::runtime) fn set_clock(&mut self, clock: NodeClock) {
        self.node.clock = clock;
        let timers = std::mem::take(&mut self.node.timers);
        for (_, (at, key, input)) in timers {
            self.main_timer(key, at, input);
        }
        self.engine_outputs();
    }

    pub(in crate::runtime) fn local(&mut self, local: Local) {
        match local {
            Local::Booted(out) => {
                self.kit.out.extend(out);
                self.engine_outputs();
            }
            Local::Packet {
                from,
                packet,
                detail,
            } => {
                self.host.delivered();
                if let Some((id, what)) = detail {
                    self.host.record(TraceEvent::Deliver {
                        from,
                        to: NodeId(self.node.id),
                        id,
                        what,
                    });
                }
                self.engine_step(Input::Packet {
                    from,
                    packet: *packet,
                });
            }
            Local::Engine(input) => self.engine_step(*input),
            Local::Timer { generation } => {
                let n = &mut *self.node;
                if n.generation == generation {
                    n.deadline = None;
                    n.ticked_at = Some(self.host.now());
                    self.engine_step(Input::Tick);
                }
            }
            Local::Main { key, msg } => {
                if let Some(job) = self.node.jobs.get_mut(&key) {
                    job.inbox.push_back(*msg);
                    self.run_main(key);
                }
            }
            Local::StartMain { key } => self.start_main(key),
            Local::RunMain { key } => self.run_main(key),
            Local::Serve => self.serve(),
            Local::MainTimer { id } => {
                if let Some((_, key, input)) = self.node.timers.remove(&id) {
                    let msg = MainMsg::Signal(input);
                    if let Some(job) = self.node.jobs.get_mut(&key) {
                        job.inbox.push_back(msg);
                        self.run_main(key);
                    }
                }
            }
            Local::MainWake { key } => self.main_wake(key),
            Local::RunWorker { key, thread } => self.run_worker(key, thread),
            Local::StepEnded {
                key,
                thread,
                step,
                end,
            } => self.step_ended(key, thread, step, end),
            Local::Late(late) => {
                let (input, record) = *late;
                self.engine_step(input);
                if let Some(Recorded(record)) = record {
                    self.host.record(record);
                }
            }
        }
    }

    /// The node boots (again): an engine from its disk, its wanted jobs.
    /// Neither acts before the rest of the instant's timeline has struck:
    /// the engine's first outputs and the jobs' registrations wait in the
    /// ready queue (so a crash at the same instant lets none of it out).
    pub(in crate::runtime) fn boot(&mut self) {
        let n = &mut *self.node;
        n.timers.clear();
        n.jobs.clear();
        n.names.clear();
        self.new_engine();
        self.booted_outputs();
        self.start_wanted();
    }

    /// What a new engine asked for: its disk and view are its at once; its
    /// packets leave with the node's first act (`Local::Booted`).
    pub(in crate::runtime) fn booted_outputs(&mut self) {
        let (sends, now): (Vec<_>, Vec<_>) = std::mem::take(&mut self.kit.out)
            .into_iter()
            .partition(|o| matches!(o, Output::Send { .. }));
        self.kit.out = now;
        self.engine_outputs();
        self.post(Local::Booted(sends));
    }

    /// Starts the node's wanted jobs that do not run.
    pub(in crate::runtime) fn start_wanted(&mut self) {
        let wanted: Vec<String> = self.node.wanted.iter().cloned().collect();
        for job in wanted {
            self.start_job(&job);
        }
    }

    /// The node's engine boots from its disk (its outputs wait in `out`).
    pub(in crate::runtime) fn new_engine(&mut self) {
        self.host.record(TraceEvent::NodeBoot {
            node: NodeId(self.node.id),
        });
        let cfg = self.kit.engine_config.clone();
        let n = &mut *self.node;
        let now = n.clock.local(self.host.now());
        #[cfg(feature = "mutations")]
        let engine = match self.kit.protocols.mutation.and_then(|m| m.engine()) {
            Some(m) => Engine::new_mutated(cfg, NodeId(n.id), n.disk, now, &mut self.kit.out, m),
            None => Engine::new(cfg, NodeId(n.id), n.disk, now, &mut self.kit.out),
        };
        #[cfg(not(feature = "mutations"))]
        let engine = Engine::new(cfg, NodeId(n.id), n.disk, now, &mut self.kit.out);
        n.engine = Some(engine);
        n.deadline = None;
        n.registered.clear();
    }

    /// The engine takes `input` now, or, on a slow node, once it is done
    /// with the inputs before it (`factor - 1` ms each).
    pub(in crate::runtime) fn engine_step(&mut self, input: Input<JobMsg>) {
        let n = &mut *self.node;
        if n.engine.is_none() {
            return;
        }
        // What waits goes first, also once the node is at full speed again.
        if n.slow > 1000 || n.serving {
            if n.serving || self.host.now() < n.busy_until {
                n.backlog.push_back(input);
                if !n.serving {
                    n.serving = true;
                    let at = n.busy_until;
                    self.host.later(at, Local::Serve);
                }
                return;
            }
            n.busy_until = self.host.now() + Dur::from_std(threads::engine_cost(n.slow));
        }
        self.engine_take(input);
    }

    /// A slow node's engine takes the next input it holds.
    pub(in crate::runtime) fn serve(&mut self) {
        let n = &mut *self.node;
        n.serving = false;
        let Some(input) = n.backlog.pop_front() else {
            return;
        };
        n.busy_until = self.host.now() + Dur::from_std(threads::engine_cost(n.slow));
        if !n.backlog.is_empty() {
            n.serving = true;
            let at = n.busy_until;
            self.host.later(at, Local::Serve);
        }
        self.engine_take(input);
    }

    pub(in crate::runtime) fn engine_take(&mut self, input: Input<JobMsg>) {
        let n = &mut *self.node;
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
        engine.step(n.clock.local(self.host.now()), input, &mut self.kit.out);
        self.engine_outputs();
    }

    /// Carries out what the engine asked, and sets its timer.
    pub(in crate::runtime) fn engine_outputs(&mut self) {
        let mut out = std::mem::take(&mut self.kit.out);
        for o in out.drain(..) {
            match o {
                Output::Send { to, packet } => self.host.send(to, packet),
                Output::Deliver { key, event } => self.deliver(key, event),
                Output::Persist(d) => self.node.disk = Some(d),
                Output::NodeView { view, members } => self.host.record(TraceEvent::NodeView {
                    node: NodeId(self.node.id),
                    view,
                    members,
                }),
                Output::Probe(name) => self.host.record(TraceEvent::Probe {
                    node: NodeId(self.node.id),
                    name,
                }),
            }
        }
        self.kit.out = out;
        let n = &mut *self.node;
        let Some(engine) = &n.engine else {
            return;
        };
        // A tick that leaves the engine due at once again makes the next
        // one wait a millisecond (madsim's timer granularity), so an
        // engine that keeps asking to be woken now cannot stop the clock.
        let floor = if n.ticked_at == Some(self.host.now()) {
            self.host.now() + TIMER_GRANULARITY
        } else {
            self.host.now()
        };
        let next = n
            .clock
            .global(engine.poll_timeout(), self.host.now())
            .max(floor);
        if n.deadline != Some(next) {
            n.deadline = Some(next);
            n.generation += 1;
            let generation = n.generation;
            self.host.later(next, Local::Timer { generation });
        }
    }
}
