//! `task-order`: the tasks of a group (`[[task]]`, run by jobs whose
//! protocol is `tasks`) run in one order, and a priority task runs at the
//! next task boundary ahead of every older task that had not begun
//! (US 6,823,512). Skipped in a run with no task reports.
//!
//! What it holds each member to, from its own reports in the trace:
//! - **one order**: members that choose in the same view after the same
//!   task choose the same next one, and no member runs a task twice. With
//!   a quorum (`quorum = "majority"`), where only a primary view begins a
//!   task, any two members run the tasks both ran in the same relative
//!   order. Without one, the two sides of a partition each run their own
//!   tasks, as each keeps its own views: one order holds within a view;
//! - **priority first**: replaying the member's queue (the tasks it
//!   queued, in the order it queued them, and the queue it adopted after
//!   a join or a merge) every choice at a task boundary is the oldest
//!   waiting priority task, or else the oldest waiting task. Whether a task
//!   is a priority one comes from its submission, not from the member;
//! - **no idle wait**: a member alive at the end is not idle with tasks
//!   waiting for longer than an ACK round's bound ([`bounds::round`]).

use super::rounds::Lineages;
use super::truth::Truth;
use super::{bounds, violation, Violation};
use crate::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::job::TaskEvent;
use vigil_engine::{MemberId, Name, Time, ViewId};

/// Where a choice was made: the group, the view, and the task chosen
/// before it.
type ChoiceAt<'a> = (Option<&'a Name>, ViewId, Option<u32>);

/// One member's account, as the check replays it.
#[derive(Default)]
struct Member<'a> {
    /// Tasks begun, in order.
    ran: Vec<u32>,
    /// Tasks waiting, in the order the member queued them.
    waiting: Vec<u32>,
    running: Option<u32>,
    /// The member's latest id.
    id: Option<&'a MemberId>,
    /// The task the member saw chosen last.
    chosen: Option<u32>,
    /// When the member last did anything with its tasks.
    last: Time,
}

/// `task-order`, or why it does not apply.
pub(super) fn check(t: &Truth<'_>) -> Result<Vec<Violation>, String> {
    let mut v = Vec::new();
    let mut priority: BTreeMap<u32, bool> = BTreeMap::new();
    // By lineage: a member renamed when its node came back under a new
    // incarnation runs on with the same task runner.
    let mut lineages = Lineages::default();
    let mut members: BTreeMap<usize, Member> = BTreeMap::new();
    // (group, view, the task chosen before) -> the first member to choose
    // after it in that view, and its choice.
    let mut after: BTreeMap<ChoiceAt<'_>, (&MemberId, u32)> = BTreeMap::new();
    let mut any = false;
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::TaskSubmitted {
                task, priority: p, ..
            } => {
                priority.insert(*task, *p);
            }
            TraceEvent::Registered { member, .. } => {
                lineages.register(member);
            }
            TraceEvent::Task { member, event, .. } => {
                any = true;
                let m = members.entry(lineages.of(member)).or_default();
                m.last = e.at;
                m.id = Some(member);
                let is_priority = |task: &u32| priority.get(task).copied().unwrap_or(false);
                match event {
                    TaskEvent::Queued { task, .. } => {
                        if !m.waiting.contains(task) {
                            m.waiting.push(*task);
                        }
                    }
                    TaskEvent::Adopted { queue, current, .. } => {
                        m.waiting = queue.clone();
                        m.chosen = *current;
                    }
                    TaskEvent::Chosen { task, view, .. } => {
                        let key = (t.group_of.get(member), *view, m.chosen);
                        match after.get(&key) {
                            Some((other, theirs)) if theirs != task => v.push(violation(
                                "task-order",
                                Some(e.at),
                                format!(
                                    "in view {view}, after task {}, {other} chose task {theirs} but {member} chose task {task}",
                                    m.chosen.map_or("none".to_string(), |c| c.to_string())
                                ),
                            )),
                            Some(_) => {}
                            None => {
                                after.insert(key, (member, *task));
                            }
                        }
                        m.chosen = Some(*task);
                        let expected = m
                            .waiting
                            .iter()
                            .find(|w| is_priority(w))
                            .or(m.waiting.first())
                            .copied();
                        if expected != Some(*task) {
                            let why = match expected {
                                Some(x) if is_priority(&x) => {
                                    format!("priority task {x} was waiting")
                                }
                                Some(x) => format!("task {x} was waiting longer"),
                                None => "it was not waiting".to_string(),
                            };
                            v.push(violation(
                                "task-order",
                                Some(e.at),
                                format!("{member} chose task {task} at a task boundary, but {why}"),
                            ));
                        }
                        m.waiting.retain(|w| w != task);
                    }
                    TaskEvent::Started { task } => {
                        if m.ran.contains(task) {
                            v.push(violation(
                                "task-order",
                                Some(e.at),
                                format!("{member} began task {task} a second time"),
                            ));
                        }
                        m.ran.push(*task);
                        m.running = Some(*task);
                        m.waiting.retain(|w| w != task);
                    }
                    TaskEvent::Finished { task, .. } => {
                        if m.running == Some(*task) {
                            m.running = None;
                        }
                    }
                    TaskEvent::Skipped { task } => m.waiting.retain(|w| w != task),
                    TaskEvent::Excused { .. } => {}
                }
            }
            _ => {}
        }
    }
    if !any {
        return Err("the run has no tasks".into());
    }
    if t.trace.info.engine.quorum.is_some() {
        one_order(&members, &mut v);
    }
    let bound = t.stretched(bounds::round(&t.trace.info));
    for m in members.values() {
        let Some(member) = m.id else { continue };
        if !t.trace.end.live_members.contains(member) || m.running.is_some() {
            continue;
        }
        let Some(first) = m.waiting.first() else {
            continue;
        };
        let since = m.last.max(t.last_disruption);
        if t.end().saturating_sub(since) > bound {
            v.push(violation(
                "task-order",
                Some(since),
                format!(
                    "{member} sat idle from {:.3}ms to the end with task {first} waiting ({} waiting in all)",
                    since.as_millis_f64(),
                    m.waiting.len()
                ),
            ));
        }
    }
    Ok(v)
}

/// Any two members ran the tasks both ran in one order.
fn one_order(members: &BTreeMap<usize, Member<'_>>, v: &mut Vec<Violation>) {
    let all: Vec<(&MemberId, &Member)> = members
        .values()
        .filter(|m| !m.ran.is_empty())
        .filter_map(|m| Some((m.id?, m)))
        .collect();
    let mut reported: BTreeSet<(u32, u32)> = BTreeSet::new();
    for (i, (a, ma)) in all.iter().enumerate() {
        let index: BTreeMap<u32, usize> = ma.ran.iter().enumerate().map(|(k, t)| (*t, k)).collect();
        for (b, mb) in &all[i + 1..] {
            let mut last: Option<(u32, usize)> = None;
            for task in &mb.ran {
                let Some(&k) = index.get(task) else { continue };
                if let Some((before, kb)) = last {
                    if k < kb && reported.insert((before, *task)) {
                        v.push(violation(
                            "task-order",
                            None,
                            format!(
                                "{b} ran task {before} before task {task}, but {a} ran task {task} before task {before}"
                            ),
                        ));
                    }
                }
                last = Some((*task, k));
            }
        }
    }
}
