//! Pictures of a run: what the drawings share.
//!
//! [`Story::of`] reads a detailed run's trace once (see
//! [`crate::run::Request::detail`]) and pairs what the trace records
//! separately: a packet's send with its delivery or drop, an ACK's send
//! (its round's start) with the moment each main thread took it, a fault
//! with its end. The drawings only lay the story out:
//!
//! - [`svg`]: a space-time diagram (`vigil replay --svg`);
//! - [`perfetto`]: the Trace Event Format (`vigil replay --perfetto`);
//! - [`html`]: the report of a sweep (`vigil explore --html`).

pub mod html;
pub mod perfetto;
pub mod svg;

use crate::trace::{left_list, Effect, PacketKind, Trace, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::job::TaskEvent;
use vigil_engine::{MemberId, Name, NodeId, Time};

/// A drawing's title: `<scenario name> — <file> seed <seed>`.
pub fn title(scenario: &str, file: &str, seed: u64) -> String {
    format!("{scenario} — {file} seed {seed}")
}

/// A member's lane: one per job on a node, through all its registrations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobLane {
    pub node: NodeId,
    pub job: Name,
}

impl JobLane {
    pub fn of(m: &MemberId) -> JobLane {
        JobLane {
            node: m.node,
            job: m.job.clone(),
        }
    }
}

impl std::fmt::Display for JobLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.job, self.node)
    }
}

/// Where a mark goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A node's engine.
    Engine(NodeId),
    Job(JobLane),
    /// The whole cluster (a check failure, a cluster-wide fault).
    All,
}

/// What became of a packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fate {
    Delivered(Time),
    Dropped(&'static str),
    /// Still on its way when the run ended.
    InFlight,
}

/// What a packet carries, as far as drawing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carries {
    Heartbeat,
    /// A link-layer acknowledgement (transport chatter, drawn with heartbeats).
    LinkAck,
    /// Only member messages: drawn as [`Ack`]s between members instead.
    Members,
    /// The engine's membership protocol: probes, gathers, installs, state.
    Engine,
}

/// One packet between two engines.
#[derive(Clone, Debug)]
pub struct Packet {
    pub id: u64,
    pub from: NodeId,
    pub to: NodeId,
    pub what: PacketKind,
    pub sent: Time,
    pub fate: Fate,
}

impl Packet {
    pub fn carries(&self) -> Carries {
        match &self.what {
            PacketKind::Heartbeat => Carries::Heartbeat,
            PacketKind::LinkAck => Carries::LinkAck,
            PacketKind::Data(c)
                if !c.is_empty()
                    && c.iter()
                        .all(|c| matches!(c, crate::trace::Carried::Member { .. })) =>
            {
                Carries::Members
            }
            PacketKind::NotMember
            | PacketKind::Probe
            | PacketKind::ProbeReply
            | PacketKind::Gather
            | PacketKind::GatherReply
            | PacketKind::Install(_)
            | PacketKind::InstallAck
            | PacketKind::Leaving
            | PacketKind::Data(_) => Carries::Engine,
        }
    }

    /// Heartbeats and link acks: what `--no-heartbeats` leaves out.
    pub fn is_chatter(&self) -> bool {
        matches!(self.carries(), Carries::Heartbeat | Carries::LinkAck)
    }
}

/// A member's ACK of a round, from the moment its work thread sent it to
/// the moment another member's main thread took it.
#[derive(Clone, Debug)]
pub struct Ack {
    pub from: MemberId,
    pub to: MemberId,
    pub thread: u16,
    pub round: u64,
    pub sent: Time,
    pub taken: Time,
    /// Sent again, to this member alone: it was behind, or missed it.
    pub again: bool,
}

impl Ack {
    pub fn label(&self) -> String {
        let again = if self.again { " again" } else { "" };
        if self.thread == 0 {
            format!("ack r{}{again}", self.round)
        } else {
            format!("ack r{} t{}{again}", self.round, self.thread)
        }
    }
}

/// What a band over lanes stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandKind {
    Crash,
    /// A graceful stop, until the node goes down.
    Stop,
    Pause,
    Partition,
    /// Over the nodes that stop hearing the other side.
    OneWayCut,
    Delay,
    Loss,
    Duplicate,
    /// A node's clock runs fast or slow.
    Clock,
    /// A node runs slow.
    Slow,
    /// A node's engine is down; its jobs live on.
    EngineDown,
}

impl BandKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BandKind::Crash => "crash",
            BandKind::Stop => "stop",
            BandKind::Pause => "pause",
            BandKind::Partition => "partition",
            BandKind::OneWayCut => "one-way-cut",
            BandKind::Delay => "delay",
            BandKind::Loss => "loss",
            BandKind::Duplicate => "duplicate",
            BandKind::Clock => "clock",
            BandKind::Slow => "slow",
            BandKind::EngineDown => "engine-down",
        }
    }
}

/// A fault that lasts: shaded over the lanes of `nodes` from `from` to `to`.
#[derive(Clone, Debug)]
pub struct Band {
    pub kind: BandKind,
    /// The nodes whose lanes it covers: the crashed or paused node, the
    /// side(s) a partition cuts off, the nodes a delay or loss touches.
    pub nodes: Vec<NodeId>,
    pub from: Time,
    pub to: Time,
    pub text: String,
}

/// What a mark stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// A fault was applied (its text says which).
    Fault,
    /// A main thread unregistered its job (after a work-thread fault, or a leave).
    Unregister,
    Killed,
    Register,
    /// A main thread took a membership change that changed nothing but the view id.
    View,
    /// A main thread took a membership change with members joining or leaving.
    Change,
    /// A node's engine installed a node view.
    NodeView,
    Boot,
    /// A check failed here.
    Check,
    /// A protocol decided.
    Outcome,
    /// A task was submitted, began or ended (a priority task's label
    /// says so).
    Task,
}

#[derive(Clone, Debug)]
pub struct Mark {
    pub at: Time,
    pub place: Place,
    pub kind: MarkKind,
    /// A few words, drawn.
    pub label: String,
    /// Everything, shown on hover.
    pub detail: String,
}

/// One ACK round of one work thread: from sending its ACK to having all.
#[derive(Clone, Debug)]
pub struct Round {
    pub member: MemberId,
    pub thread: u16,
    pub round: u64,
    pub start: Time,
    /// When it got every ACK, or its member left, was killed or its node
    /// crashed; `None`: still waiting when the run ended.
    pub end: Option<Time>,
    /// Whether it got every ACK.
    pub completed: bool,
    /// The task the member ran then, if its thread runs tasks.
    pub task: Option<u32>,
}

impl Round {
    /// The round as people read it: its number, or a task's round and the
    /// task (a task runner numbers rounds `n << 44 | task << 30 | r`).
    pub fn label(&self) -> String {
        match self.task {
            Some(t) => format!("r{} (task {t})", vigil_protocols::round_in_task(self.round)),
            None => format!("r{}", self.round),
        }
    }
}

/// A run, paired up for drawing.
#[derive(Clone, Debug, Default)]
pub struct Story {
    pub title: String,
    /// Every node, in order.
    pub nodes: Vec<NodeId>,
    /// Every job lane, by node, in order.
    pub jobs: BTreeMap<NodeId, Vec<JobLane>>,
    /// Work thread numbers seen per job lane.
    pub threads: BTreeMap<JobLane, Vec<u16>>,
    pub packets: Vec<Packet>,
    pub acks: Vec<Ack>,
    pub bands: Vec<Band>,
    pub marks: Vec<Mark>,
    pub rounds: Vec<Round>,
    pub end: Time,
}

impl Story {
    /// The story of a detailed run (see [`crate::run::Request::detail`]),
    /// with each check failure marked where it was detected; of a run
    /// that panicked, what the driver kept of it, with the panic marked
    /// where it ends (none when it kept nothing).
    pub fn of_execution(title: &str, e: &crate::run::Execution) -> Option<Story> {
        let out = e.kept()?;
        let mut story = Story::of(title, out);
        // One mark per moment: checks that fail at the same time share it,
        // named in order, each once.
        let mut at: BTreeMap<Time, (Vec<&str>, Vec<String>)> = BTreeMap::new();
        for v in &e.violations {
            let (checks, details) = at.entry(v.at.unwrap_or(out.end.at)).or_default();
            if !checks.contains(&v.check.as_str()) {
                checks.push(&v.check);
            }
            details.push(format!("{} failed: {}", v.check, v.message));
        }
        for (t, (checks, details)) in at {
            story.marks.push(Mark {
                at: t,
                place: Place::All,
                kind: MarkKind::Check,
                label: checks.join(" · "),
                detail: details.join("\n"),
            });
        }
        story.marks.sort_by_key(|m| m.at);
        Some(story)
    }

    /// Reads a detailed trace (see [`crate::run::Request::detail`]).
    pub fn of(title: &str, trace: &Trace) -> Story {
        let end = trace.end.at;
        let mut s = Story {
            title: title.to_string(),
            nodes: (0..trace.info.engine.nodes).map(NodeId).collect(),
            end,
            ..Story::default()
        };
        let mut sending: BTreeMap<u64, usize> = BTreeMap::new();
        let mut acks_sent: BTreeMap<(MemberId, u16, u64), Time> = BTreeMap::new();
        // An ACK sent again, to one member: (from, to, thread, round).
        let mut answers: BTreeMap<(MemberId, MemberId, u16, u64), Time> = BTreeMap::new();
        // The tasks that are priority messages, as members queued them.
        let mut priority_of: BTreeSet<u32> = BTreeSet::new();
        // The task each member runs now.
        let mut running_task: BTreeMap<MemberId, u32> = BTreeMap::new();
        // The send time of the last delivered packet that carried a member
        // message: (from node, to node, thread, round).
        let mut carried: BTreeMap<(NodeId, NodeId, u16, u64), Time> = BTreeMap::new();
        let mut open_rounds: BTreeMap<(MemberId, u16), usize> = BTreeMap::new();
        // Fault index -> (band index): ended by its own end or a `heal`.
        let mut open_bands: BTreeMap<usize, usize> = BTreeMap::new();
        let mut lanes: BTreeMap<JobLane, BTreeSet<u16>> = BTreeMap::new();
        for e in &trace.entries {
            let at = e.at;
            // A member that leaves, is killed or whose node crashes stops
            // waiting: its open rounds end here, not completed.
            let gone = match &e.event {
                TraceEvent::Unregistered { member, .. }
                | TraceEvent::Detached { member, .. }
                | TraceEvent::Fault {
                    effect:
                        Effect::JobKilled {
                            member: Some(member),
                            ..
                        },
                    ..
                } => Some((member.node, Some(member))),
                TraceEvent::Fault {
                    effect: Effect::NodeDown { node, .. },
                    ..
                }
                | TraceEvent::FaultEnd {
                    effect: Effect::NodeStopped { node },
                    ..
                } => Some((*node, None)),
                _ => None,
            };
            if let Some((node, member)) = gone {
                open_rounds.retain(|(m, _), i| {
                    let ends = m.node == node && member.is_none_or(|x| x == m);
                    if ends {
                        s.rounds[*i].end = Some(at);
                    }
                    !ends
                });
            }
            match &e.event {
                TraceEvent::Send { from, to, id, what } => {
                    sending.insert(*id, s.packets.len());
                    s.packets.push(Packet {
                        id: *id,
                        from: *from,
                        to: *to,
                        what: what.clone(),
                        sent: at,
                        fate: Fate::InFlight,
                    });
                }
                TraceEvent::Deliver { id, .. } => {
                    if let Some(i) = sending.remove(id) {
                        let p = &mut s.packets[i];
                        p.fate = Fate::Delivered(at);
                        for (thread, round) in p.what.member_messages() {
                            carried.insert((p.from, p.to, thread, round), p.sent);
                        }
                    }
                }
                TraceEvent::Drop { id, cause, .. } => {
                    if let Some(i) = sending.remove(id) {
                        s.packets[i].fate = Fate::Dropped(cause.as_str());
                    }
                }
                TraceEvent::RoundStarted {
                    member,
                    thread,
                    round,
                    ..
                } => {
                    lanes
                        .entry(JobLane::of(member))
                        .or_default()
                        .insert(*thread);
                    acks_sent.insert((member.clone(), *thread, *round), at);
                    open_rounds.insert((member.clone(), *thread), s.rounds.len());
                    s.rounds.push(Round {
                        member: member.clone(),
                        thread: *thread,
                        round: *round,
                        start: at,
                        end: None,
                        completed: false,
                        task: running_task.get(member).copied(),
                    });
                }
                TraceEvent::RoundCompleted { member, thread, .. } => {
                    if let Some(i) = open_rounds.remove(&(member.clone(), *thread)) {
                        s.rounds[i].end = Some(at);
                        s.rounds[i].completed = true;
                    }
                }
                TraceEvent::Message {
                    to,
                    from,
                    thread,
                    round,
                    ..
                } => {
                    if to != from {
                        let first = acks_sent.get(&(from.clone(), *thread, *round)).copied();
                        let answer = answers
                            .get(&(from.clone(), to.clone(), *thread, *round))
                            .copied();
                        // Sent when the packet that brought it was: an
                        // engine resends a member message after a loss or
                        // a view change, a work thread answers one that
                        // was behind. Members of one node share no packet.
                        let packet = carried
                            .get(&(from.node, to.node, *thread, *round))
                            .copied()
                            .filter(|p| first.is_none_or(|f| *p >= f));
                        let sent = packet.or(first.max(answer));
                        if let Some(sent) = sent {
                            // Not the round's first sending (a packet leaves
                            // its node within microseconds of the round's start).
                            let again = first.is_none_or(|f| sent.0 > f.0 + 1_000_000);
                            s.acks.push(Ack {
                                from: from.clone(),
                                to: to.clone(),
                                thread: *thread,
                                round: *round,
                                sent,
                                taken: at,
                                again,
                            });
                        }
                    }
                }
                TraceEvent::Fault {
                    index,
                    kind,
                    text,
                    effect,
                } => {
                    let line = crate::trace::fault_text(text, effect);
                    let (place, band) = placed(kind, effect, &s.nodes);
                    s.marks.push(Mark {
                        at,
                        place,
                        kind: MarkKind::Fault,
                        label: kind.to_string(),
                        detail: format!("fault {}: {line}", index + 1),
                    });
                    if let Effect::JobKilled {
                        node, job, member, ..
                    } = effect
                    {
                        s.marks.push(Mark {
                            at,
                            place: Place::Job(JobLane {
                                node: *node,
                                job: job.clone(),
                            }),
                            kind: MarkKind::Killed,
                            label: "killed".into(),
                            detail: match member {
                                Some(m) => format!("{m:?} is killed"),
                                None => format!("{job}@{node} is killed (not running)"),
                            },
                        });
                    }
                    if matches!(effect, Effect::LinksRestored { .. }) {
                        // A `heal`: every partition ends.
                        for (i, b) in std::mem::take(&mut open_bands) {
                            if matches!(s.bands[b].kind, BandKind::Partition | BandKind::OneWayCut)
                            {
                                s.bands[b].to = at;
                            } else {
                                open_bands.insert(i, b);
                            }
                        }
                    }
                    if let Some((kind, nodes)) = band {
                        open_bands.insert(*index, s.bands.len());
                        s.bands.push(Band {
                            kind,
                            nodes,
                            from: at,
                            to: end,
                            text: line,
                        });
                    }
                }
                TraceEvent::FaultEnd { index, effect, .. } => {
                    if let Some(b) = open_bands.remove(index) {
                        s.bands[b].to = at;
                    }
                    if let Effect::NodeStopped { node } = effect {
                        // Down from here until it restarts, as after a crash.
                        open_bands.insert(*index, s.bands.len());
                        s.bands.push(Band {
                            kind: BandKind::Crash,
                            nodes: vec![*node],
                            from: at,
                            to: end,
                            text: format!("{node} stopped"),
                        });
                    }
                }
                TraceEvent::NodeBoot { node } => s.marks.push(Mark {
                    at,
                    place: Place::Engine(*node),
                    kind: MarkKind::Boot,
                    label: "boot".into(),
                    detail: format!("{node} boots"),
                }),
                TraceEvent::NodeView {
                    node,
                    view,
                    members,
                } => s.marks.push(Mark {
                    at,
                    place: Place::Engine(*node),
                    kind: MarkKind::NodeView,
                    label: format!("view {view}"),
                    detail: format!(
                        "{node} installs node view {view}: {}",
                        members
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
                TraceEvent::Registered { member, group } => {
                    lanes.entry(JobLane::of(member)).or_default();
                    s.marks.push(Mark {
                        at,
                        place: Place::Job(JobLane::of(member)),
                        kind: MarkKind::Register,
                        label: "register".into(),
                        detail: format!("{member:?} registers in group {group}"),
                    });
                }
                TraceEvent::Unregistered {
                    member,
                    reason,
                    fault,
                } => s.marks.push(Mark {
                    at,
                    place: Place::Job(JobLane::of(member)),
                    kind: MarkKind::Unregister,
                    label: match fault {
                        Some((t, k)) => format!("{} in thread {t}", k.as_str()),
                        None => format!("unregister ({reason})"),
                    },
                    detail: e.line().trim_start().to_string(),
                }),
                // A thread that dropped its round when its engine went.
                TraceEvent::Detached { member, thread, .. } => s.marks.push(Mark {
                    at,
                    place: Place::Job(JobLane::of(member)),
                    kind: MarkKind::Unregister,
                    label: format!("no engine: thread {thread} detached"),
                    detail: e.line().trim_start().to_string(),
                }),
                TraceEvent::View { change } => {
                    let lane = JobLane::of(&change.me);
                    lanes.entry(lane.clone()).or_default();
                    let changed =
                        !change.left.is_empty() || change.joined.iter().any(|m| *m != change.me);
                    let mut label = format!("v{}", change.view);
                    for (m, r) in &change.left {
                        label.push_str(&format!(" −{m} ({r})"));
                    }
                    for m in change.joined.iter().filter(|m| **m != change.me) {
                        label.push_str(&format!(" +{m}"));
                    }
                    s.marks.push(Mark {
                        at,
                        place: Place::Job(lane),
                        kind: if changed {
                            MarkKind::Change
                        } else {
                            MarkKind::View
                        },
                        label,
                        detail: format!(
                            "{:?} takes view {} of group {}: members {}; joined {}; left {}",
                            change.me,
                            change.view,
                            change.group,
                            change
                                .members
                                .iter()
                                .map(|m| m.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            change
                                .joined
                                .iter()
                                .map(|m| m.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            left_list(&change.left)
                        ),
                    });
                }
                TraceEvent::ProtocolOutcome(o) => s.marks.push(Mark {
                    at,
                    place: Place::Job(JobLane::of(&o.member)),
                    kind: MarkKind::Outcome,
                    label: o.outcome.to_string(),
                    detail: format!(
                        "{:?}: {} instance {}: {}",
                        o.member, o.protocol, o.instance, o.outcome
                    ),
                }),
                TraceEvent::CheckFailed { check, message } => s.marks.push(Mark {
                    at,
                    place: Place::All,
                    kind: MarkKind::Check,
                    label: check.clone(),
                    detail: format!("{check} failed: {message}"),
                }),
                TraceEvent::Answer {
                    from,
                    to,
                    thread,
                    round,
                } => {
                    answers.insert((from.clone(), to.clone(), *thread, *round), at);
                }
                TraceEvent::TaskSubmitted {
                    task,
                    by,
                    member,
                    priority,
                } => {
                    if let Some(member) = member {
                        s.marks.push(Mark {
                            at,
                            place: Place::Job(JobLane::of(member)),
                            kind: MarkKind::Task,
                            label: format!("submit t{task}{}", if *priority { " ‼" } else { "" }),
                            detail: format!(
                                "{by} submits task {task}{} to its group",
                                if *priority { " (priority)" } else { "" }
                            ),
                        });
                    }
                }
                TraceEvent::Task { member, event, .. } => {
                    let lane = Place::Job(JobLane::of(member));
                    let bang = |p: bool| if p { " ‼" } else { "" };
                    if let TaskEvent::Started { task } = event {
                        running_task.insert(member.clone(), *task);
                    }
                    let drawn = match event {
                        TaskEvent::Started { task } => Some((
                            format!("▶ t{task}{}", bang(priority_of.contains(task))),
                            format!("{member:?} begins task {task}"),
                        )),
                        TaskEvent::Finished { task, outcome } => Some((
                            format!("■ t{task}"),
                            format!("{member:?} ends task {task}: {outcome}"),
                        )),
                        TaskEvent::Queued { task, priority } => {
                            if *priority {
                                priority_of.insert(*task);
                            }
                            None
                        }
                        TaskEvent::Chosen { .. }
                        | TaskEvent::Skipped { .. }
                        | TaskEvent::Excused { .. }
                        | TaskEvent::Adopted { .. } => None,
                    };
                    if let Some((label, detail)) = drawn {
                        s.marks.push(Mark {
                            at,
                            place: lane,
                            kind: MarkKind::Task,
                            label,
                            detail,
                        });
                    }
                }
                TraceEvent::JobEnded { node, job, .. } => s.marks.push(Mark {
                    at,
                    place: Place::Job(JobLane {
                        node: *node,
                        job: job.clone(),
                    }),
                    kind: MarkKind::Unregister,
                    label: "ended (no engine)".into(),
                    detail: e.line().trim_start().to_string(),
                }),
                TraceEvent::ProtocolDone { .. }
                | TraceEvent::InboxLag { .. }
                | TraceEvent::Probe { .. }
                | TraceEvent::Ordered { .. }
                | TraceEvent::InboxUnread { .. }
                | TraceEvent::StepFault { .. }
                | TraceEvent::Vote { .. } => {}
            }
        }
        for (lane, threads) in lanes {
            s.jobs.entry(lane.node).or_default().push(lane.clone());
            s.threads.insert(lane, threads.into_iter().collect());
        }
        s
    }

    /// Every job lane, in drawing order.
    pub fn job_lanes(&self) -> impl Iterator<Item = &JobLane> {
        self.jobs.values().flatten()
    }
}

/// Where a fault of kind `kind` that did `effect` is marked, and the band
/// it lays over lanes, if it lasts.
fn placed(
    kind: &str,
    effect: &Effect,
    nodes: &[NodeId],
) -> (Place, Option<(BandKind, Vec<NodeId>)>) {
    let job = |node: &NodeId, job: &Name| {
        Place::Job(JobLane {
            node: *node,
            job: job.clone(),
        })
    };
    match effect {
        Effect::Armed { node, job: j, .. }
        | Effect::JobKilled { node, job: j, .. }
        | Effect::LeaveAsked { node, job: j, .. }
        | Effect::JobStarts { node, job: j, .. } => (job(node, j), None),
        Effect::NodeDown { node, .. } => {
            (Place::Engine(*node), Some((BandKind::Crash, vec![*node])))
        }
        Effect::NodePaused { node } => (Place::Engine(*node), Some((BandKind::Pause, vec![*node]))),
        Effect::NodeStopping { node, .. } => {
            (Place::Engine(*node), Some((BandKind::Stop, vec![*node])))
        }
        Effect::NodeStopped { node } => (Place::Engine(*node), None),
        Effect::EngineDown { node, .. } => (
            Place::Engine(*node),
            Some((BandKind::EngineDown, vec![*node])),
        ),
        Effect::EngineUp { node } => (Place::Engine(*node), None),
        Effect::NodeUp { node } | Effect::NodeResumed { node } => (Place::Engine(*node), None),
        Effect::LinksCut { sides, .. } => {
            // Shade every side but the largest: the part that is cut off.
            let largest = sides
                .iter()
                .enumerate()
                .max_by_key(|(i, s)| (s.len(), std::cmp::Reverse(*i)))
                .map_or(0, |(i, _)| i);
            let cut = sides
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != largest)
                .flat_map(|(_, s)| s.iter().copied())
                .collect();
            (Place::All, Some((BandKind::Partition, cut)))
        }
        Effect::LinksCutOneWay { to, .. } => (Place::All, Some((BandKind::OneWayCut, to.clone()))),
        Effect::NetworkDegraded {
            nodes: on,
            loss,
            delay,
            ..
        } => {
            let k = if *loss > 0.0 {
                BandKind::Loss
            } else if delay.is_some() {
                BandKind::Delay
            } else {
                BandKind::Duplicate
            };
            let on = on.clone().unwrap_or_else(|| nodes.to_vec());
            (Place::All, Some((k, on)))
        }
        // A clock that runs off true time is a band over its node; a step
        // alone is the fault's mark.
        Effect::NodeSlowed { node, factor_milli } => {
            let band = (*factor_milli > 1000).then(|| (BandKind::Slow, vec![*node]));
            (Place::Engine(*node), band)
        }
        Effect::Clock { node, rate_ppm, .. } => {
            let band = (*rate_ppm != 1_000_000).then(|| (BandKind::Clock, vec![*node]));
            (Place::Engine(*node), band)
        }
        Effect::None(_) | Effect::LinksRestored { .. } | Effect::NetworkRestored { .. } => {
            let _ = kind;
            (Place::All, None)
        }
    }
}

/// `&`, `<`, `>` and `"` as XML entities; control characters, which XML
/// 1.0 allows in no form (not even as a character reference), as their
/// visible pictures (`U+0007` as `␇`), and the two non-characters
/// `U+FFFE` and `U+FFFF` as `U+FFFD`. Tab, line feed and carriage return
/// stay: they are XML's white space. (A scenario's name is any TOML
/// string: a user's `\u0007` must not make the picture unreadable.)
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + c as u32).expect("a control picture"))
            }
            '\u{7f}' => out.push('\u{2421}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}
