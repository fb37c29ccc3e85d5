//! The trace as readable lines: one line per entry, the unit of the trace
//! hash and of `vigil run --trace`.

use super::{Carried, Effect, Entry, PacketKind, TraceEvent};
use std::fmt;
use std::fmt::Write as _;
use vigil_engine::{LeaveReason, MemberId};

fn list<T: fmt::Display>(items: &[T]) -> String {
    let mut s = String::from("[");
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{x}");
    }
    s.push(']');
    s
}

/// `db@n2 (fault)` for each member that left.
pub fn left_list(left: &[(MemberId, LeaveReason)]) -> String {
    let items: Vec<String> = left.iter().map(|(m, r)| format!("{m} ({r})")).collect();
    list(&items)
}

/// A fault's line: its description, and a word on its effect when it did
/// not simply strike.
pub fn fault_text(description: &str, effect: &Effect) -> String {
    let note = match effect {
        Effect::None(why) => format!(" (no effect: {})", why.as_str()),
        Effect::Armed { starting: true, .. } => " (armed: the job is starting)".into(),
        Effect::JobKilled { running: false, .. } => {
            " (the job was not running: it stays down)".into()
        }
        Effect::JobStarts { later: true, .. } => {
            " (starts later: when its node is back, or once it has left)".into()
        }
        Effect::Armed { .. }
        | Effect::JobKilled { .. }
        | Effect::LeaveAsked { .. }
        | Effect::JobStarts { .. }
        | Effect::NodeDown { .. }
        | Effect::NodeStopping { .. }
        | Effect::NodeStopped { .. }
        | Effect::NodeUp { .. }
        | Effect::EngineDown { .. }
        | Effect::EngineUp { .. }
        | Effect::NodePaused { .. }
        | Effect::NodeResumed { .. }
        | Effect::LinksCut { .. }
        | Effect::LinksCutOneWay { .. }
        | Effect::LinksRestored { .. }
        | Effect::NetworkDegraded { .. }
        | Effect::NetworkRestored { .. }
        | Effect::Clock { .. }
        | Effect::NodeSlowed { .. } => String::new(),
    };
    format!("{description}{note}")
}

/// The line of a fault's end: `n2 restarts`, `partition heals`, ...
pub fn end_text(kind: &str, effect: &Effect) -> String {
    match effect {
        Effect::NodeUp { node } => format!("{node} restarts"),
        Effect::EngineUp { node } => format!("{node}'s engine restarts"),
        Effect::NodeStopped { node } => format!("{node} stopped: down"),
        Effect::NodeResumed { node } => format!("{node} resumes"),
        Effect::None(why) => format!("{kind} ends (no effect: {})", why.as_str()),
        Effect::LinksRestored { .. } => format!("{kind} heals"),
        Effect::NetworkRestored { .. } => format!("{kind} ends"),
        Effect::NodeSlowed { node, factor_milli } => {
            format!(
                "{kind} of {node} ends: it runs at {}x",
                f64::from(*factor_milli) / 1e3
            )
        }
        Effect::Clock { node, rate_ppm, .. } => {
            format!(
                "{kind} of {node} ends: it runs at {}x",
                f64::from(*rate_ppm) / 1e6
            )
        }
        other => format!("{kind} ends: {other:?}"),
    }
}

impl fmt::Display for PacketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketKind::Heartbeat => f.write_str("heartbeat"),
            PacketKind::NotMember => f.write_str("not-member"),
            PacketKind::Probe => f.write_str("probe"),
            PacketKind::ProbeReply => f.write_str("probe-reply"),
            PacketKind::Gather => f.write_str("gather"),
            PacketKind::GatherReply => f.write_str("gather-reply"),
            PacketKind::Install(view) => write!(f, "install {view}"),
            PacketKind::InstallAck => f.write_str("install-ack"),
            PacketKind::LinkAck => f.write_str("link-ack"),
            PacketKind::Leaving => f.write_str("leaving"),
            PacketKind::Data(carried) if carried.is_empty() => f.write_str("data"),
            PacketKind::Data(carried) => {
                for (i, c) in carried.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match c {
                        Carried::State => f.write_str("state")?,
                        Carried::GroupView(g) => write!(f, "group-view {g}")?,
                        Carried::Member { thread, round } => {
                            write!(f, "member r{round} t{thread}")?
                        }
                        Carried::Submit(g) => write!(f, "submit {g}")?,
                        Carried::Ordered { group, seq } => write!(f, "ordered {group} #{seq}")?,
                        Carried::Delivered(g) => write!(f, "delivered {g}")?,
                        Carried::Numbered => f.write_str("numbered")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl Entry {
    /// One readable line, also the unit of the trace hash.
    pub fn line(&self) -> String {
        let t = format!("{:>10.3}ms", self.at.as_millis_f64());
        let what = match &self.event {
            TraceEvent::Fault { text, effect, .. } => {
                format!("fault      {}", fault_text(text, effect))
            }
            TraceEvent::FaultEnd { kind, effect, .. } => {
                format!("fault-end  {}", end_text(kind, effect))
            }
            TraceEvent::StepFault {
                member,
                thread,
                step,
                kind,
                ..
            } => format!(
                "step-fault {member:?} thread {thread} step {step}: {}",
                kind.as_str()
            ),
            TraceEvent::InboxUnread {
                member,
                count,
                oldest,
            } => format!(
                "unread     {member:?} {count} event(s), the oldest queued at {:.3}ms",
                oldest.as_millis_f64()
            ),
            TraceEvent::Vote {
                member,
                thread,
                instance,
                proposal,
                yes,
            } => format!(
                "vote       {member:?} thread {thread} instance {instance} proposed by {:?} in view {}: {}",
                proposal.by,
                proposal.view,
                if *yes { "yes" } else { "no" }
            ),
            TraceEvent::NodeBoot { node } => format!("boot       {node}"),
            TraceEvent::NodeView {
                node,
                view,
                members,
            } => format!("node-view  {node} view {view} {}", list(members)),
            TraceEvent::Registered { member, group } => {
                format!("register   {member:?} group {group}")
            }
            TraceEvent::Unregistered {
                member,
                reason,
                fault,
            } => match fault {
                Some((t, k)) => {
                    format!("unregister {member:?} {reason} (thread {t} {})", k.as_str())
                }
                None => format!("unregister {member:?} {reason}"),
            },
            TraceEvent::JobEnded {
                node,
                job,
                reason,
                fault,
            } => match fault {
                Some((t, k)) => {
                    format!("job-ended  {job}@{node} {reason}, no engine (thread {t} {})", k.as_str())
                }
                None => format!("job-ended  {job}@{node} {reason}, no engine"),
            },
            TraceEvent::View { change } => format!(
                "view       {:?} group {} view {} members {} joined {} left {}{}{}",
                change.me,
                change.group,
                change.view,
                list(&change.members),
                list(&change.joined),
                left_list(&change.left),
                if change.rejoined.is_empty() {
                    String::new()
                } else {
                    format!(" rejoined {}", list(&change.rejoined))
                },
                match change.primary {
                    None => "",
                    Some(true) => " primary",
                    Some(false) => " not-primary",
                }
            ),
            TraceEvent::Message {
                to,
                from,
                thread,
                round,
                ..
            } => {
                format!("message    {to:?} <- {from:?} thread {thread} round {round}")
            }
            TraceEvent::Ordered {
                to,
                from,
                view,
                seq,
                n,
            } => format!("ordered    {to:?} <- {from:?} n{n} view {view} #{seq}"),
            TraceEvent::TaskSubmitted {
                task,
                by,
                member,
                priority,
            } => format!(
                "submit     task {task}{} by {}",
                if *priority { " (priority)" } else { "" },
                match member {
                    Some(m) => format!("{m:?}"),
                    None => format!("{by} (not running: the task goes nowhere)"),
                }
            ),
            TraceEvent::Task {
                member,
                thread,
                event,
            } => format!("task       {member:?} t{thread} {}", task_text(event)),
            TraceEvent::InboxLag { member, lag_ns } => format!("inbox-lag  {member:?} {lag_ns}ns"),
            TraceEvent::Probe { node, name } => format!("probe      {node} {name}"),
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => {
                format!("round      {member:?} thread {thread} starts {round} in view {view}")
            }
            TraceEvent::Detached {
                member,
                thread,
                round,
            } => match round {
                Some(r) => format!("detached   {member:?} thread {thread} left round {r}: no engine"),
                None => format!("detached   {member:?} thread {thread}: no engine"),
            },
            TraceEvent::RoundCompleted {
                member,
                thread,
                round,
                view,
                state,
            } => match state {
                Some(state) => format!(
                    "round      {member:?} thread {thread} ends {round} in view {view} state {state}"
                ),
                None => format!("round      {member:?} thread {thread} ends {round} in view {view}"),
            },
            TraceEvent::ProtocolOutcome(o) => {
                let super::Outcome {
                    member,
                    thread,
                    protocol,
                    instance,
                    outcome,
                    rounds,
                    proposal,
                    ..
                } = &**o;
                let by = proposal.as_ref().map_or(String::new(), |p| {
                    format!(" proposed by {:?} in view {}", p.by, p.view)
                });
                format!(
                    "outcome    {member:?} thread {thread} {protocol} instance {instance}{by}: {outcome} after {rounds} rounds"
                )
            }
            TraceEvent::ProtocolDone {
                member,
                thread,
                outcome,
            } => {
                format!("done       {member:?} thread {thread}: {outcome}")
            }
            TraceEvent::Send { from, to, id, what } => {
                format!("send       {from} -> {to} #{id} {what}")
            }
            TraceEvent::Deliver { from, to, id, what } => {
                format!("deliver    {from} -> {to} #{id} {what}")
            }
            TraceEvent::Drop {
                from,
                to,
                id,
                what,
                cause,
            } => format!("drop       {from} -> {to} #{id} {what} ({})", cause.as_str()),
            TraceEvent::Answer {
                from,
                to,
                thread,
                round,
            } => format!("answer     {from:?} -> {to:?} thread {thread} round {round}"),
            TraceEvent::CheckFailed { check, message } => {
                format!("check      {check} failed: {message}")
            }
        };
        format!("{t} {what}")
    }
}

/// A task runner's report, as the trace's text says it.
pub(super) fn task_text(event: &vigil_engine::job::TaskEvent) -> String {
    use vigil_engine::job::TaskEvent as T;
    let bang = |p: bool| if p { " (priority)" } else { "" };
    match event {
        T::Queued { task, priority } => format!("queued {task}{}", bang(*priority)),
        T::Chosen {
            task,
            priority,
            view,
        } => format!("chosen {task}{} in view {view}", bang(*priority)),
        T::Started { task } => format!("started {task}"),
        T::Skipped { task } => format!("skipped {task} (ran before, or finished without it)"),
        T::Excused { task, number } => {
            format!("excused from {task} (the group's task {number}): no further part in it")
        }
        T::Finished { task, outcome } => format!("finished {task}: {outcome}"),
        T::Adopted {
            current,
            open,
            queue,
        } => format!(
            "adopted the group's tasks: current {}{}, queue [{}]",
            current.map_or("none".to_string(), |c| c.to_string()),
            if *open { " (running)" } else { "" },
            queue
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
