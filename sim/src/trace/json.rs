//! The trace as JSON lines: one object per entry, the contract of
//! `vigil replay --trace`.

use super::{Effect, Entry, TraceEvent};
use serde_json::{json, Value};
use vigil_engine::MemberId;

/// A fault's effect as JSON: `{"kind": ..., ...}`.
fn effect_json(effect: &Effect) -> Value {
    let nodes = |ns: &[vigil_engine::NodeId]| ns.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let links = |ls: &[(vigil_engine::NodeId, vigil_engine::NodeId)]| {
        ls.iter()
            .map(|(a, b)| json!([a.to_string(), b.to_string()]))
            .collect::<Vec<_>>()
    };
    match effect {
        Effect::None(why) => json!({"kind": "none", "why": why.as_str()}),
        Effect::Armed {
            node,
            job,
            thread,
            kind,
            starting,
        } => {
            json!({"kind": "armed", "node": node.to_string(), "job": job.as_str(), "thread": thread, "fault": kind.as_str(), "starting": starting})
        }
        Effect::JobKilled {
            node,
            job,
            running,
            member,
        } => {
            json!({"kind": "job-killed", "node": node.to_string(), "job": job.as_str(), "running": running, "member": member.as_ref().map(|m| m.to_string())})
        }
        Effect::LeaveAsked { node, job, member } => {
            json!({"kind": "leave-asked", "node": node.to_string(), "job": job.as_str(), "member": member.as_ref().map(|m| m.to_string())})
        }
        Effect::JobStarts { node, job, later } => {
            json!({"kind": "job-starts", "node": node.to_string(), "job": job.as_str(), "later": later})
        }
        Effect::NodeDown { node, disk_lost } => {
            json!({"kind": "node-down", "node": node.to_string(), "disk_lost": disk_lost})
        }
        Effect::NodeStopping { node, members } => json!({
            "kind": "node-stopping",
            "node": node.to_string(),
            "members": members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        }),
        Effect::NodeStopped { node } => json!({"kind": "node-stopped", "node": node.to_string()}),
        Effect::NodeUp { node } => json!({"kind": "node-up", "node": node.to_string()}),
        Effect::EngineDown { node, members } => json!({
            "kind": "engine-down",
            "node": node.to_string(),
            "members": members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        }),
        Effect::EngineUp { node } => json!({"kind": "engine-up", "node": node.to_string()}),
        Effect::NodePaused { node } => json!({"kind": "node-paused", "node": node.to_string()}),
        Effect::NodeResumed { node } => json!({"kind": "node-resumed", "node": node.to_string()}),
        Effect::LinksCut { sides, links: cut } => {
            json!({"kind": "links-cut", "sides": sides.iter().map(|s| nodes(s)).collect::<Vec<_>>(), "links": links(cut)})
        }
        Effect::LinksCutOneWay { from, to } => {
            let cut = Effect::one_way_links(from, to);
            json!({"kind": "links-cut-one-way", "from": nodes(from), "to": nodes(to), "links": links(&cut)})
        }
        Effect::LinksRestored { links: restored } => {
            json!({"kind": "links-restored", "links": links(restored)})
        }
        Effect::NetworkDegraded {
            nodes: on,
            loss,
            delay,
            duplicate,
        } => {
            json!({"kind": "network-degraded", "nodes": on.as_ref().map(|n| nodes(n)), "loss": loss, "delay_ms": delay.map(|(a, b)| [a.as_millis_f64(), b.as_millis_f64()]), "duplicate": duplicate})
        }
        Effect::NetworkRestored { nodes: on } => {
            json!({"kind": "network-restored", "nodes": on.as_ref().map(|n| nodes(n))})
        }
        Effect::NodeSlowed { node, factor_milli } => {
            json!({"kind": "node-slowed", "node": node.to_string(), "factor": f64::from(*factor_milli) / 1e3})
        }
        Effect::Clock {
            node,
            offset,
            rate_ppm,
        } => {
            json!({"kind": "clock", "node": node.to_string(), "offset_ms": offset.as_millis_f64(), "rate": f64::from(*rate_ppm) / 1e6})
        }
    }
}

impl Entry {
    /// The entry as one JSON object: `t_ns`, `t_ms`, `kind`, `node` (where
    /// it happened), `member` (whose event it is, if a member's) and the
    /// event's own fields. The contract of `vigil replay --trace`.
    pub fn json(&self) -> serde_json::Value {
        let m = |m: &MemberId| m.to_string();
        let ms: Vec<String>;
        let (kind, node, member, fields) = match &self.event {
            TraceEvent::Fault {
                index,
                kind,
                text,
                effect,
            } => (
                "fault",
                None,
                None,
                json!({"index": index, "fault": kind, "text": super::text::fault_text(text, effect), "effect": effect_json(effect)}),
            ),
            TraceEvent::FaultEnd {
                index,
                kind,
                effect,
            } => (
                "fault-end",
                None,
                None,
                json!({"index": index, "fault": kind, "text": super::text::end_text(kind, effect), "effect": effect_json(effect)}),
            ),
            TraceEvent::StepFault {
                member,
                thread,
                step,
                kind,
                fault,
            } => (
                "step-fault",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "step": step, "fault": kind.as_str(), "index": fault}),
            ),
            TraceEvent::InboxUnread {
                member,
                count,
                oldest,
            } => (
                "inbox-unread",
                Some(member.node),
                Some(m(member)),
                json!({"count": count, "oldest_ns": oldest.0}),
            ),
            TraceEvent::Vote {
                member,
                thread,
                instance,
                proposal,
                yes,
            } => (
                "vote",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "instance": instance, "proposer": m(&proposal.by), "proposal_view": proposal.view.0, "yes": yes}),
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
            TraceEvent::JobEnded {
                node,
                job,
                reason,
                fault,
            } => (
                "job-ended",
                Some(*node),
                None,
                json!({"job": job.as_str(), "reason": reason.as_str(), "thread": fault.map(|f| f.0), "fault": fault.map(|f| f.1.as_str())}),
            ),
            TraceEvent::View { change } => (
                "view",
                Some(change.me.node),
                Some(m(&change.me)),
                json!({
                    "group": change.group.as_str(),
                    "incarnation": change.me.node_incarnation.0,
                    "view": change.view.0,
                    "members": change.members.iter().map(m).collect::<Vec<_>>(),
                    "joined": change.joined.iter().map(m).collect::<Vec<_>>(),
                    "left": change.left.iter().map(|(x, r)| json!({"member": m(x), "reason": r.as_str()})).collect::<Vec<_>>(),
                    "rejoined": change.rejoined.iter().map(m).collect::<Vec<_>>(),
                    "primary": change.primary,
                }),
            ),
            TraceEvent::Message {
                to,
                from,
                n,
                thread,
                round,
            } => (
                "message",
                Some(to.node),
                Some(m(to)),
                json!({"from": m(from), "n": n, "thread": thread, "round": round}),
            ),
            TraceEvent::Ordered {
                to,
                from,
                view,
                seq,
                n,
            } => (
                "ordered",
                Some(to.node),
                Some(m(to)),
                json!({"from": m(from), "n": n, "view": view.0, "seq": seq}),
            ),
            TraceEvent::TaskSubmitted {
                task,
                by,
                member,
                priority,
            } => (
                "task-submitted",
                member.as_ref().map(|m| m.node),
                member.as_ref().map(m),
                json!({"task": task, "by": by, "priority": priority}),
            ),
            TraceEvent::Task {
                member,
                thread,
                event,
            } => (
                "task",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "event": event}),
            ),
            TraceEvent::Probe { node, name } => {
                ("probe", Some(*node), None, json!({"probe": name}))
            }
            TraceEvent::InboxLag { member, lag_ns } => (
                "inbox-lag",
                Some(member.node),
                Some(m(member)),
                json!({"lag_ns": lag_ns}),
            ),
            TraceEvent::Detached {
                member,
                thread,
                round,
            } => (
                "detached",
                Some(member.node),
                Some(m(member)),
                json!({"thread": thread, "round": round}),
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
            TraceEvent::ProtocolOutcome(o) => {
                let super::Outcome {
                    member,
                    thread,
                    protocol,
                    instance,
                    outcome,
                    rounds,
                    proposal,
                    binding,
                    unanimous,
                    ..
                } = &**o;
                (
                    "outcome",
                    Some(member.node),
                    Some(m(member)),
                    json!({
                        "thread": thread, "protocol": protocol, "instance": instance,
                        "outcome": outcome, "rounds": rounds, "binding": binding, "unanimous": unanimous,
                        "proposer": proposal.as_ref().map(|p| m(&p.by)),
                        "proposal_view": proposal.as_ref().map(|p| p.view.0),
                    }),
                )
            }
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
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what.to_string()}),
            ),
            TraceEvent::Deliver { from, to, id, what } => (
                "deliver",
                Some(*to),
                None,
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what.to_string()}),
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
                json!({"from": from.to_string(), "to": to.to_string(), "id": id, "what": what.to_string(), "cause": cause.as_str()}),
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
