//! The trace of one run: the only record of it. Checks, reports and
//! pictures read it and nothing else: not the runtime, not the scenario's
//! faults, not the fault draw.
//!
//! It holds what the run was ([`RunInfo`]: the settings the checks' bounds
//! need), everything that happened in simulation order ([`Entry`]), and how
//! the run ended ([`RunEnd`]). Two kinds of event live side by side:
//! - **the truth**, written by the driver about what it did: each fault
//!   with its [`Effect`] (which links it cut, which nodes went down, paused
//!   or came back, that it did nothing and why), each fault it injected
//!   into a work thread's step ([`TraceEvent::StepFault`]), every engine
//!   event a main thread left unread ([`TraceEvent::InboxUnread`]);
//! - **what the system did and saw**: views installed and taken, messages
//!   taken, rounds, decisions, votes, unregistrations.
//!
//! The checks judge the second by the first.
//!
//! Invariant: the trace is built in simulation order, so the same scenario
//! and seed give the same trace, line for line, and the same
//! [`Trace::hash`].

pub(crate) mod entries;
mod json;
mod text;

pub use entries::Entries;

pub use text::{end_text, fault_text, left_list};

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use vigil_engine::job::{FaultKind, Proposal, TaskEvent};
use vigil_engine::{
    Config, Dur, LeaveReason, MemberId, MembershipChange, Name, NodeId, Time, ViewId,
};

/// One thing that happened, at one simulated time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: Time,
    pub event: TraceEvent,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraceEvent {
    /// The controller applied fault number `index` of the scenario: a
    /// fault of kind `kind` (`node-crash`), described by `text`, which did
    /// what `effect` says.
    Fault {
        index: usize,
        #[serde(deserialize_with = "interned")]
        kind: StaticName,
        text: String,
        effect: Effect,
    },
    /// The effect of fault number `index` (of kind `kind`) ended
    /// (restart, resume, heal, expiry), doing what `effect` says.
    FaultEnd {
        index: usize,
        #[serde(deserialize_with = "interned")]
        kind: StaticName,
        effect: Effect,
    },
    /// The driver made local step `step` of a work thread fault, as fault
    /// number `fault` armed it.
    StepFault {
        member: MemberId,
        thread: u16,
        step: u64,
        kind: FaultKind,
        fault: usize,
    },
    NodeBoot {
        node: NodeId,
    },
    NodeView {
        node: NodeId,
        view: ViewId,
        members: Vec<NodeId>,
    },
    Registered {
        member: MemberId,
        group: Name,
    },
    /// A main thread unregistered its job, with the reason it gave.
    Unregistered {
        member: MemberId,
        reason: LeaveReason,
        fault: Option<(u16, FaultKind)>,
    },
    /// A main thread took a membership change from its inbox. (Boxed, as
    /// are the other large and rare events, so that an entry stays small:
    /// a run holds one for everything that happened.)
    View {
        change: Box<MembershipChange>,
    },
    /// A main thread took a member message from its inbox.
    Message {
        to: MemberId,
        from: MemberId,
        /// The sending engine's number for the send (`delivered-once`).
        #[serde(default)]
        n: u64,
        thread: u16,
        round: u64,
    },
    /// A main thread took an engine event `lag` after the engine queued it.
    InboxLag {
        member: MemberId,
        lag_ns: u64,
    },
    /// A job ended (it left, was killed, its node crashed, or the run
    /// ended) with `count` engine events never taken from its main
    /// thread's inbox, the oldest queued at `oldest`.
    InboxUnread {
        member: MemberId,
        count: u64,
        oldest: Time,
    },
    /// A main thread whose engine was gone (it had no membership to leave)
    /// ended its job, for `reason`.
    JobEnded {
        node: NodeId,
        job: Name,
        reason: LeaveReason,
        fault: Option<(u16, FaultKind)>,
    },
    /// A work thread took word that its node's engine is gone and dropped
    /// its protocol instance; `round`: the round it was waiting in.
    Detached {
        member: MemberId,
        thread: u16,
        round: Option<u64>,
    },
    /// A work thread sent its ACK for `round`, in `view` (its protocol's).
    RoundStarted {
        member: MemberId,
        thread: u16,
        round: u64,
        view: ViewId,
    },
    /// A work thread completed `round` in `view`; `state` is the digest of
    /// its group state after the step that read the round's ACKs.
    RoundCompleted {
        member: MemberId,
        thread: u16,
        round: u64,
        view: ViewId,
        state: Option<String>,
    },
    /// A protocol decided one of its instances (boxed: it is large and rare).
    ProtocolOutcome(Box<Outcome>),
    /// A member voted on an instance of its protocol.
    Vote {
        member: MemberId,
        thread: u16,
        instance: u64,
        proposal: Proposal,
        yes: bool,
    },
    ProtocolDone {
        member: MemberId,
        thread: u16,
        outcome: String,
    },
    /// An engine sent packet `id` (recorded in detailed runs only, as are
    /// `Deliver` and `Drop`).
    Send {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: PacketKind,
    },
    /// Packet `id` reached its node's engine.
    Deliver {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: PacketKind,
    },
    /// Packet `id` was lost.
    Drop {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: PacketKind,
        cause: DropCause,
    },
    /// A work thread sent its ACK of an earlier `round` again, to one
    /// member that was behind or missed it (detailed runs only).
    Answer {
        from: MemberId,
        to: MemberId,
        thread: u16,
        round: u64,
    },
    /// A check failed here (added to a replay's trace after the run).
    CheckFailed {
        check: String,
        message: String,
    },
    /// A main thread took an ordered message of its group: number `seq` of
    /// view `view`, its sender's message number `n`.
    Ordered {
        to: MemberId,
        from: MemberId,
        view: ViewId,
        seq: u64,
        n: u64,
    },
    /// The scenario's `[[task]]` number `task` was handed to `by`'s main
    /// thread to submit (`member`: the member it was, `None` if the job was
    /// not running or not registered, so the task went nowhere).
    TaskSubmitted {
        task: u32,
        by: String,
        member: Option<MemberId>,
        priority: bool,
    },
    /// A work thread's task runner reported what happened to a task.
    Task {
        member: MemberId,
        thread: u16,
        event: TaskEvent,
    },
    /// A state machine on `node` took the rare path `name`: a coverage
    /// probe (`vigil_engine::probe`, or a protocol's own).
    Probe {
        node: NodeId,
        #[serde(deserialize_with = "interned")]
        name: StaticName,
    },
}

/// What [`TraceEvent::ProtocolOutcome`] says: a member's decision of one
/// instance of its protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub member: MemberId,
    pub thread: u16,
    #[serde(deserialize_with = "interned")]
    pub protocol: StaticName,
    pub instance: u64,
    pub outcome: String,
    pub rounds: u64,
    pub proposal: Option<Proposal>,
    /// The check that decisions of one instance must pass (`atomic-commit`).
    #[serde(deserialize_with = "interned_opt")]
    pub agreement: Option<StaticName>,
    /// Whether the agreement check holds the member to it.
    pub binding: bool,
    /// Whether it needs a yes vote from every member of its proposal's
    /// view (a commit).
    pub unanimous: bool,
}

/// A name from a fixed set (a fault kind, a protocol). An alias, so that
/// serde's derive does not take the field for one borrowed from its input.
type StaticName = &'static str;

/// A name read back from a trace file (a real node's), as the
/// `&'static str` a trace holds: each distinct name is kept once, for the
/// life of the process.
fn interned<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    Ok(intern(String::deserialize(d)?))
}

fn intern(name: String) -> &'static str {
    use std::sync::Mutex;
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

fn interned_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(intern))
}

impl TraceEvent {
    /// Network events, which only detailed runs record; the trace hash
    /// leaves them out so that it is the same with and without detail.
    pub fn is_detail(&self) -> bool {
        matches!(
            self,
            TraceEvent::Send { .. }
                | TraceEvent::Deliver { .. }
                | TraceEvent::Drop { .. }
                | TraceEvent::Answer { .. }
                | TraceEvent::CheckFailed { .. }
        )
    }
}

/// What a fault did, as the driver carried it out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Nothing: there was nothing to act on.
    None(NoEffect),
    /// Work thread `thread` of `job` on `node` will fault at its next local
    /// step (`starting`: the job is starting, so at its first).
    Armed {
        node: NodeId,
        job: Name,
        thread: u16,
        kind: FaultKind,
        starting: bool,
    },
    /// The job was killed (it stays down); `running`: it was running,
    /// as `member` once it had registered.
    JobKilled {
        node: NodeId,
        job: Name,
        running: bool,
        member: Option<MemberId>,
    },
    /// The running job was asked to leave its group.
    LeaveAsked {
        node: NodeId,
        job: Name,
        member: Option<MemberId>,
    },
    /// The job starts on its node now, or (`later`) when its node is back.
    JobStarts {
        node: NodeId,
        job: Name,
        later: bool,
    },
    /// The node crashed: it and its jobs are gone (`disk_lost`: and its
    /// disk, so it restarts from a blank one).
    NodeDown {
        node: NodeId,
        #[serde(default)]
        disk_lost: bool,
    },
    /// The node restarted (its jobs start again).
    NodeUp { node: NodeId },
    /// The node's engine died; its jobs live on. `members`: its jobs'
    /// members then (each job's main thread hears its engine is gone).
    EngineDown {
        node: NodeId,
        members: Vec<MemberId>,
    },
    /// The node's engine is back; its jobs still running register again.
    EngineUp { node: NodeId },
    /// Every task on the node froze.
    NodePaused { node: NodeId },
    /// The node's tasks run again.
    NodeResumed { node: NodeId },
    /// Every link between two of `sides` was cut, each direction: `links`.
    LinksCut {
        sides: Vec<Vec<NodeId>>,
        links: Vec<(NodeId, NodeId)>,
    },
    /// The links from every node of `from` to every node of `to` were cut,
    /// that direction only (see [`Effect::one_way_links`]).
    LinksCutOneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// A graceful stop began: these members of the node's jobs were asked
    /// to leave, and its engine goes once their leaves are through.
    NodeStopping {
        node: NodeId,
        members: Vec<MemberId>,
    },
    /// The stopping node went down.
    NodeStopped { node: NodeId },
    /// These links carry packets again (no partition cuts them any more).
    LinksRestored { links: Vec<(NodeId, NodeId)> },
    /// Packets on the links that touch `nodes` (every link: `None`) are
    /// lost with probability `loss`, delayed by `delay`, and arrive twice
    /// with probability `duplicate`.
    NetworkDegraded {
        nodes: Option<Vec<NodeId>>,
        loss: f64,
        delay: Option<(Dur, Dur)>,
        #[serde(default)]
        duplicate: f64,
    },
    /// That degradation ended.
    NetworkRestored { nodes: Option<Vec<NodeId>> },
    /// The node runs `factor_milli` thousandths slower from now on (at a
    /// fault's end: the factor it is back to, 1000 for full speed).
    NodeSlowed { node: NodeId, factor_milli: u32 },
    /// The node's clock stepped `offset` ahead and runs at `rate_ppm`
    /// millionths of true time from now on (at a fault's end: offset 0
    /// and the rate it is back to).
    Clock {
        node: NodeId,
        offset: Dur,
        rate_ppm: u32,
    },
}

impl Effect {
    /// A network fault that only duplicates packets: it loses and delays
    /// none, so no departure is late or false for it.
    pub fn only_duplicates(&self) -> bool {
        matches!(self, Effect::NetworkDegraded { loss, delay: None, duplicate, .. }
            if *loss == 0.0 && *duplicate > 0.0)
    }

    /// The links a one-way cut from `from` to `to` cuts, `from` first.
    pub fn one_way_links(from: &[NodeId], to: &[NodeId]) -> Vec<(NodeId, NodeId)> {
        from.iter()
            .flat_map(|a| to.iter().map(move |b| (*a, *b)))
            .collect()
    }
}

/// Why a fault did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoEffect {
    /// The job it names is not running.
    JobNotRunning,
    /// The job it starts is running already.
    JobRunning,
    /// The node it names is down.
    NodeDown,
    /// The node it pauses is paused already.
    NodePaused,
    /// The node's engine is down (its jobs live on, detached).
    EngineDown,
    /// The node it stops is stopping already.
    NodeStopping,
    /// A newer fault of its kind rules what this end would give back.
    Superseded,
    /// The node crashed while it lasted: the crash ended it.
    CrashedMeanwhile,
}

impl NoEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            NoEffect::JobNotRunning => "the job is not running",
            NoEffect::JobRunning => "the job is running",
            NoEffect::NodeDown => "the node is down",
            NoEffect::EngineDown => "the node's engine is down",
            NoEffect::NodePaused => "the node is paused already",
            NoEffect::NodeStopping => "the node is stopping already",
            NoEffect::Superseded => "a newer fault of its kind rules",
            NoEffect::CrashedMeanwhile => "the node crashed during it",
        }
    }
}

/// What kind of packet crossed the network.
#[derive(Clone, Debug, PartialEq, Hash, Eq, Serialize, Deserialize)]
pub enum PacketKind {
    Heartbeat,
    NotMember,
    Probe,
    ProbeReply,
    Gather,
    GatherReply,
    Install(ViewId),
    InstallAck,
    LinkAck,
    /// "I am stopping."
    Leaving,
    /// Link data: what each of its messages was.
    Data(Vec<Carried>),
}

/// One message a packet's link data carried.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Carried {
    State,
    GroupView(Name),
    /// A member message: thread `thread`'s ACK of `round`.
    Member {
        thread: u16,
        round: u64,
    },
    /// An ordered message on its way to the sequencer (the leader).
    Submit(Name),
    /// An ordered message, numbered `seq` of its group's view.
    Ordered {
        group: Name,
        seq: u64,
    },
    /// How far a node delivered a group's ordered messages.
    Delivered(Name),
    /// "Your ordered message was numbered already."
    Numbered,
}

impl PacketKind {
    /// The (thread, round) of each member message the packet carried.
    pub fn member_messages(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let carried: &[Carried] = match self {
            PacketKind::Data(c) => c,
            _ => &[],
        };
        carried.iter().filter_map(|c| match c {
            Carried::Member { thread, round } => Some((*thread, *round)),
            _ => None,
        })
    }
}

/// Why a packet never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropCause {
    /// Lost at random (the cluster's loss or a loss fault).
    Loss,
    /// A partition cut its link.
    Partition,
    /// Its destination was down.
    NodeDown,
}

impl DropCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DropCause::Loss => "loss",
            DropCause::Partition => "partition",
            DropCause::NodeDown => "node-down",
        }
    }
}

/// Which driver runs the state machines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// madsim's runtime and network: a task per node (the default).
    #[default]
    Madsim,
    /// A plain event loop with its own seeded network: no async, and
    /// faster (about twice on small clusters, four to six times on large).
    EventLoop,
    /// Not a simulation: one `vigil node` process per node on a real
    /// network and clock (`vigil run --real`). Not deterministic.
    Real,
}

impl Driver {
    /// The simulators (`--driver` takes these).
    pub const ALL: [Driver; 2] = [Driver::Madsim, Driver::EventLoop];

    /// The name the command line and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Madsim => "madsim",
            Driver::EventLoop => "event-loop",
            Driver::Real => "real",
        }
    }

    pub fn parse(name: &str) -> Option<Driver> {
        Driver::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What ran: the settings the checks' bounds need, nothing of the faults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// The scenario's name.
    pub scenario: String,
    pub seed: u64,
    /// The engine settings every node ran with.
    pub engine: Config,
    /// The network's own loss probability, outside any loss fault.
    pub loss: f64,
    /// Each job, as it was placed.
    pub jobs: Vec<JobInfo>,
    /// How long the run lasted, in simulated time.
    pub duration: Dur,
    /// Which driver ran it.
    pub driver: Driver,
}

/// One job of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobInfo {
    pub name: Name,
    pub group: Name,
    pub nodes: Vec<NodeId>,
    pub work_threads: u16,
    pub step_time: Dur,
    pub work_deadline: Dur,
}

impl RunInfo {
    /// The job called `name`.
    pub fn job(&self, name: &Name) -> Option<&JobInfo> {
        self.jobs.iter().find(|j| j.name == *name)
    }
}

/// Whether a node is running at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Hash, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    Up,
    Crashed,
    Paused,
}

/// How the run ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunEnd {
    pub at: Time,
    /// Each node's status, by node number.
    pub nodes: Vec<NodeStatus>,
    /// Members whose job still runs at the end, on a node that is up.
    pub live_members: BTreeSet<MemberId>,
}

/// Message counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    /// Packets a `duplicate` fault sent a second copy of (each copy that
    /// arrives counts as delivered).
    #[serde(default)]
    pub duplicated: u64,
}

impl NetStats {
    /// Packets and copies the network lost.
    pub fn dropped(&self) -> u64 {
        (self.sent + self.duplicated).saturating_sub(self.delivered)
    }
}

/// Everything one run recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    pub info: RunInfo,
    pub entries: Entries,
    pub net: NetStats,
    pub end: RunEnd,
}

impl Trace {
    /// An empty trace of a run about to start.
    pub fn new(info: RunInfo) -> Trace {
        Trace {
            info,
            entries: Entries::new(),
            net: NetStats::default(),
            end: RunEnd::default(),
        }
    }

    pub fn push(&mut self, at: Time, event: TraceEvent) {
        if let Some(last) = self.entries.last() {
            assert!(last.at <= at, "the trace is written in time order");
        }
        self.entries.push(Entry { at, event });
    }

    /// SHA-256, in hex, over every entry but the packet events only
    /// detailed runs record (so `replay` and `run` agree) and the coverage
    /// probes (what the run did, not a part of it), each in a
    /// compact binary encoding (every field, times to the nanosecond), and
    /// the packet counts: equal hashes, equal runs.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        // Entries are encoded into one buffer and hashed a few KB at a
        // time: the same bytes in the same order as entry by entry.
        const CHUNK: usize = 8 << 10;
        let mut buf = Vec::with_capacity(CHUNK + 512);
        let counted =
            |e: &&Entry| !e.event.is_detail() && !matches!(e.event, TraceEvent::Probe { .. });
        for e in self.entries.iter().filter(counted) {
            bincode::serialize_into(&mut buf, e).expect("a trace entry encodes");
            if buf.len() >= CHUNK {
                h.update(&buf);
                buf.clear();
            }
        }
        h.update(&buf);
        h.update(format!("sent {} delivered {}", self.net.sent, self.net.delivered).as_bytes());
        if self.net.duplicated > 0 {
            h.update(format!(" duplicated {}", self.net.duplicated).as_bytes());
        }
        hex(&h.finalize())
    }

    /// Every fault as it struck or ended (`true`: struck), with its line.
    pub fn faults(&self) -> impl Iterator<Item = (Time, String, bool)> + '_ {
        self.entries.iter().filter_map(|e| match &e.event {
            TraceEvent::Fault { text, effect, .. } => {
                Some((e.at, text::fault_text(text, effect), true))
            }
            TraceEvent::FaultEnd { kind, effect, .. } => {
                Some((e.at, text::end_text(kind, effect), false))
            }
            _ => None,
        })
    }

    /// How often the run hit each coverage probe.
    pub fn probes(&self) -> BTreeMap<&'static str, u64> {
        let mut hits = BTreeMap::new();
        for e in &self.entries {
            if let TraceEvent::Probe { name, .. } = e.event {
                *hits.entry(name).or_insert(0) += 1;
            }
        }
        hits
    }

    /// Every membership change, in the order main threads took them.
    pub fn views(&self) -> impl Iterator<Item = (Time, &MembershipChange)> {
        self.entries.iter().filter_map(|e| match &e.event {
            TraceEvent::View { change } => Some((e.at, &**change)),
            _ => None,
        })
    }
}

/// `bytes` in lower-case hex (a digest as vigil prints it).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    /// A run holds an entry for everything that happened: large, rare
    /// events are boxed so that the common ones set the size.
    fn an_entry_stays_small() {
        assert!(
            std::mem::size_of::<Entry>() <= 120,
            "an Entry is {} bytes: box the large variant",
            std::mem::size_of::<Entry>()
        );
    }

    unit_tests![an_entry_stays_small,];
}
