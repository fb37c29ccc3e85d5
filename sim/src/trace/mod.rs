//! The trace of one run: every fault applied, every view installed, every
//! event a main thread took from its inbox, every ACK round begun and ended,
//! each stamped with simulated time.
//!
//! Invariant: the trace is the only thing the checkers and reports read, and
//! it is built in simulation order, so the same scenario and seed give the
//! same trace, line for line, and the same [`Trace::hash`].

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use vigil_engine::job::FaultKind;
use vigil_engine::{LeaveReason, MemberId, MembershipChange, Name, NodeId, Time, ViewId};

/// One thing that happened, at one simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub at: Time,
    pub event: TraceEvent,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TraceEvent {
    /// The controller applied fault number `index` of the scenario.
    Fault {
        index: usize,
        text: String,
    },
    /// The effect of fault number `index` ended (resume, restart, heal,
    /// expiry). The index is not part of the line, nor of the hash.
    FaultEnd {
        index: usize,
        text: String,
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
    /// A main thread unregistered its job.
    Unregistered {
        member: MemberId,
        reason: LeaveReason,
        fault: Option<(u16, FaultKind)>,
    },
    /// A job was killed without unregistering.
    JobKilled {
        member: Option<MemberId>,
        node: NodeId,
        job: Name,
    },
    /// A main thread took a membership change from its inbox.
    View {
        change: MembershipChange,
    },
    /// A main thread took a member message from its inbox.
    Message {
        to: MemberId,
        from: MemberId,
        thread: u16,
        round: u64,
    },
    /// A main thread took an engine event `lag` after the engine queued it.
    InboxLag {
        member: MemberId,
        lag_ns: u64,
    },
    /// A work thread sent its ACK for `round`, in `view` (its driver's).
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
    /// A protocol decided one of its instances.
    ProtocolOutcome {
        member: MemberId,
        thread: u16,
        protocol: &'static str,
        instance: u64,
        outcome: String,
        rounds: u64,
        proposal: Option<vigil_protocols::Proposal>,
        /// The check that decisions of one instance must pass (`atomic-commit`).
        agreement: Option<&'static str>,
        /// Whether the agreement check holds the member to it.
        binding: bool,
    },
    ProtocolDone {
        member: MemberId,
        thread: u16,
        outcome: String,
    },
    /// An engine sent packet `id` (recorded in detailed runs only, as are
    /// `Deliver` and `Drop`). `what` names the packet's kind.
    Send {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: String,
    },
    /// Packet `id` reached its node's engine.
    Deliver {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: String,
    },
    /// Packet `id` was lost (`cause`: `loss`, `partition` or `node-down`).
    Drop {
        from: NodeId,
        to: NodeId,
        id: u64,
        what: String,
        cause: &'static str,
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

/// How a packet's `what` names a member message: thread `thread`'s ACK
/// of `round` (`member r46 t0`). [`member_messages`] reads it back.
pub fn member_label(round: u64, thread: u16) -> String {
    format!("member r{round} t{thread}")
}

/// The (thread, round) of each member message a packet's `what` names
/// (`member r46 t0, member r47 t0`), as [`member_label`] wrote them.
pub fn member_messages(what: &str) -> impl Iterator<Item = (u16, u64)> + '_ {
    what.split(", ").filter_map(|part| {
        let rest = part.strip_prefix("member r")?;
        let (round, thread) = rest.split_once(" t")?;
        Some((thread.parse().ok()?, round.parse().ok()?))
    })
}

/// Message counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
}

/// Everything one run recorded.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub entries: Vec<Entry>,
    pub net: NetStats,
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
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

impl Entry {
    /// One readable line, also the unit of the trace hash.
    pub fn line(&self) -> String {
        let t = format!("{:>10.3}ms", self.at.as_millis_f64());
        let what = match &self.event {
            TraceEvent::Fault { text, .. } => format!("fault      {text}"),
            TraceEvent::FaultEnd { text, .. } => format!("fault-end  {text}"),
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
            TraceEvent::JobKilled { member, node, job } => match member {
                Some(m) => format!("killed     {m:?}"),
                None => format!("killed     {job}@{node} (not running)"),
            },
            TraceEvent::View { change } => format!(
                "view       {:?} group {} view {} members {} joined {} left {}",
                change.me,
                change.group,
                change.view,
                list(&change.members),
                list(&change.joined),
                left_list(&change.left)
            ),
            TraceEvent::Message {
                to,
                from,
                thread,
                round,
            } => {
                format!("message    {to:?} <- {from:?} thread {thread} round {round}")
            }
            TraceEvent::InboxLag { member, lag_ns } => format!("inbox-lag  {member:?} {lag_ns}ns"),
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => {
                format!("round      {member:?} thread {thread} starts {round} in view {view}")
            }
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
            TraceEvent::ProtocolOutcome {
                member,
                thread,
                protocol,
                instance,
                outcome,
                rounds,
                proposal,
                ..
            } => {
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
            } => format!("drop       {from} -> {to} #{id} {what} ({cause})"),
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

impl Trace {
    pub fn push(&mut self, at: Time, event: TraceEvent) {
        if let Some(last) = self.entries.last() {
            assert!(last.at <= at, "the trace is written in time order");
        }
        self.entries.push(Entry { at, event });
    }

    /// SHA-256 over every line, in hex: equal hashes, equal runs.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for e in self.entries.iter().filter(|e| !e.event.is_detail()) {
            h.update(e.line().as_bytes());
            h.update(b"\n");
        }
        h.update(format!("sent {} delivered {}", self.net.sent, self.net.delivered).as_bytes());
        let digest = h.finalize();
        let mut s = String::with_capacity(64);
        for b in digest.iter() {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Every fault as it struck or ended (`true`: struck), with its text.
    pub fn faults(&self) -> impl Iterator<Item = (Time, &str, bool)> {
        self.entries.iter().filter_map(|e| match &e.event {
            TraceEvent::Fault { text, .. } => Some((e.at, text.as_str(), true)),
            TraceEvent::FaultEnd { text, .. } => Some((e.at, text.as_str(), false)),
            _ => None,
        })
    }

    /// Every membership change, in the order main threads took them.
    pub fn views(&self) -> impl Iterator<Item = (Time, &MembershipChange)> {
        self.entries.iter().filter_map(|e| match &e.event {
            TraceEvent::View { change } => Some((e.at, change)),
            _ => None,
        })
    }
}

impl Entry {
    /// The entry as one JSON object: `t_ns`, `t_ms`, `kind`, `node` (where
    /// it happened), `member` (whose event it is, if a member's) and the
    /// event's own fields. The contract of `vigil replay --trace`.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let m = |m: &MemberId| m.to_string();
        let ms: Vec<String>;
        let (kind, node, member, fields) = match &self.event {
            TraceEvent::Fault { index, text } => {
                ("fault", None, None, json!({"index": index, "text": text}))
            }
            TraceEvent::FaultEnd { index, text } => (
                "fault-end",
                None,
                None,
                json!({"index": index, "text": text}),
            ),
            TraceEvent::NodeBoot { node } => ("boot", Some(*node), None, json!({})),
            TraceEvent::NodeView {
                node,
                view,
                members,
            } => {
                ms = members.iter().map(|n| n.to_string()).collect();
                (
                    "node-view",
                    Some(*node),
                    None,
                    json!({"view": view.0, "members": ms}),
                )
            }
            TraceEvent::Registered { member, group } => (
                "register",
                Some(member.node),
                Some(m(member)),
                json!({"group": group.as_str()}),
            ),
            TraceEvent::Unregistered {
                member,
                reason,
                fault,
            } => (
                "unregister",
                Some(member.node),
                Some(m(member)),
                json!({"reason": reason.as_str(), "thread": fault.map(|f| f.0), "fault": fault.map(|f| f.1.as_str())}),
            ),
            TraceEvent::JobKilled { member, node, job } => (
                "job-killed",
                Some(*node),
                member.as_ref().map(m),
                json!({"job": job.as_str()}),
            ),
            TraceEvent::View { change } => (
                "view",
                Some(change.me.node),
                Some(m(&change.me)),
                json!({
                    "group": change.group.as_str(),
                    "view": change.view.0,
                    "members": change.members.iter().map(m).collect::<Vec<_>>(),
                    "joined": change.joined.iter().map(m).collect::<Vec<_>>(),
                    "left": change.left.iter().map(|(x, r)| json!({"member": m(x), "reason": r.as_str()})).collect::<Vec<_>>(),
                }),
            ),
            TraceEvent::Message {
                to,
                from,
                thread,
                round,
            } => (
                "message",
                Some(to.node),
                Some(m(to)),
                json!({"from": m(from), "thread": thread, "round": round}),
            ),
            TraceEvent::InboxLag { member, lag_ns } => (
                "inbox-lag",
                Some(member.node),
                Some(m(member)),
                json!({"lag_ns": lag_ns}),
            ),
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => (
                "round-start",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "round": round, "view": view.0}),
            ),
            TraceEvent::RoundCompleted {
                member,
                thread,
                round,
                view,
                state,
            } => (
                "round-end",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "round": round, "view": view.0, "state": state}),
            ),
            TraceEvent::ProtocolOutcome {
                member,
                thread,
                protocol,
                instance,
                outcome,
                rounds,
                proposal,
                binding,
                ..
            } => (
                "outcome",
                Some(member.node),
                Some(m(member)),
                json!({
                    "thread": thread, "protocol": protocol, "instance": instance,
                    "outcome": outcome, "rounds": rounds, "binding": binding,
                    "proposer": proposal.as_ref().map(|p| m(&p.by)),
                    "proposal_view": proposal.as_ref().map(|p| p.view.0),
                }),
            ),
            TraceEvent::ProtocolDone {
                member,
                thread,
                outcome,
            } => (
                "done",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "outcome": outcome}),
            ),
            TraceEvent::Send { from, to, id, what } => (
                "send",
                Some(*from),
                None,
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what}),
            ),
            TraceEvent::Deliver { from, to, id, what } => (
                "deliver",
                Some(*to),
                None,
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what}),
            ),
            TraceEvent::Drop {
                from,
                to,
                id,
                what,
                cause,
            } => (
                "drop",
                Some(*from),
                None,
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what, "cause": cause}),
            ),
            TraceEvent::Answer {
                from,
                to,
                thread,
                round,
            } => (
                "answer",
                Some(from.node),
                Some(m(from)),
                json!({"to": m(to), "thread": thread, "round": round}),
            ),
            TraceEvent::CheckFailed { check, message } => (
                "check-failed",
                None,
                None,
                json!({"check": check, "message": message}),
            ),
        };
        let mut v = json!({
            "t_ns": self.at.0,
            "t_ms": (self.at.as_millis_f64() * 1000.0).round() / 1000.0,
            "kind": kind,
            "node": node.map(|n| n.to_string()),
            "member": member,
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
            obj.extend(extra);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_labels_read_back() {
        let what = format!("state, {}, {}", member_label(46, 0), member_label(7, 3));
        let read: Vec<(u16, u64)> = member_messages(&what).collect();
        assert_eq!(read, vec![(0, 46), (3, 7)]);
        assert_eq!(member_messages("heartbeat").count(), 0);
    }
}
