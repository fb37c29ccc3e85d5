//! `engine-lost` (skipped in a run where no engine crashed alone): what
//! the jobs on a node see when its engine dies and they live on
//! (`engine-crash`). The survivors' side is `notified`'s: the node's
//! members leave, `node-down`.
//!
//! - **Nobody waits for a membership that is gone.** Every work thread of
//!   every member the dead engine served lets go of its protocol instance
//!   (`Detached`, with the round it was waiting in) within one local step
//!   of the crash: the step under way ends, then the thread takes the word
//!   its main thread routed ([`detach_bound`]). Its job may end first
//!   instead (a fault, a kill, a leave, its node's crash).
//! - **A job still running when its engine is back registers with it**, a
//!   new member of the same job on the same node, within the node bound of
//!   the engine's restart.
//!
//! A step slowed past its `work_deadline` is a hang as far as its watchdog
//! can tell, and ends its job; a member on such a node is not judged.

use super::truth::Truth;
use super::{bounds, ms, violation, Violation};
use crate::mutation::{mutated, Mutation};
use crate::trace::{Effect, TraceEvent};
use vigil_engine::job::FaultKind;
use vigil_engine::{Dur, MemberId, NodeId, Time};

const CHECK: &str = "engine-lost";

/// How long a work thread of `member` may take to let go of its round
/// after its engine died: a local step of its job (as slow as its node
/// ever ran) and the main thread's turn, twice over.
fn detach_bound(t: &Truth<'_>, member: &MemberId) -> Option<Dur> {
    let job = t.trace.info.job(&member.job)?;
    let step = t.slowed(member.node, job.step_time);
    if step >= job.work_deadline {
        return None; // its watchdog may read the step as a hang
    }
    Some(step + bounds::responsive(&t.trace.info) * 2)
}

/// Whether `member`'s job ended by `by`, the engine having died at trace
/// entry `crash` (at `since`): a step of the job faulted and the job has
/// not run on since, or `member` unregistered (before its main thread
/// heard the engine go), or after the crash the job ended with no engine
/// to unregister from (its watchdog, say, read a step as hung), was killed
/// or asked to leave, or its node crashed.
///
/// A step fault counts under any id of the job on the node: a node that
/// comes back under a new incarnation renames its members without a new
/// registration (pause-then-hang swarm seed 632 on the event loop: a hang
/// struck under the old id, and the watchdog read it only after the
/// engine died). A panic or an error stands until the job registers
/// again; a hang until the job ends, since its main thread registers
/// anew with an engine that comes back while the thread stays hung.
fn job_ended(
    t: &Truth<'_>,
    member: &MemberId,
    crash: usize,
    since: Time,
    by: Time,
    mutation: Option<Mutation>,
) -> bool {
    let job = &member.job;
    let ours = |m: &MemberId| m.job == *job && m.node == member.node;
    let exact = mutated!(mutation, FaultByExactId);
    // Before the crash: a hang of the job's present life, and a panic or
    // an error since its last registration.
    let (mut hung, mut failed) = (false, false);
    for (i, e) in t.trace.entries.iter().enumerate() {
        if e.at > by {
            break;
        }
        let after = i > crash;
        match &e.event {
            TraceEvent::StepFault { member: m, .. } if exact && m == member => return true,
            TraceEvent::StepFault {
                member: m, kind, ..
            } if !exact && ours(m) => {
                if after {
                    return true;
                }
                match kind {
                    FaultKind::Hang => hung = true,
                    FaultKind::Panic | FaultKind::Error => failed = true,
                }
            }
            TraceEvent::Registered { member: m, .. } if ours(m) && !after => failed = false,
            TraceEvent::Unregistered { member: m, .. } if m == member => return true,
            TraceEvent::JobEnded { node, job: j, .. } if *node == member.node && j == job => {
                if e.at >= since {
                    return true;
                }
                (hung, failed) = (false, false);
            }
            TraceEvent::Fault { effect, .. } => {
                // Whether it strikes this job, and whether it ends the
                // job's life (a leave asked for does not by itself).
                let (strikes, ends) = match effect {
                    Effect::JobKilled { node, job: j, .. } => {
                        (*node == member.node && j == job, true)
                    }
                    Effect::LeaveAsked { node, job: j, .. } => {
                        (*node == member.node && j == job, false)
                    }
                    Effect::NodeDown { node, .. } => (*node == member.node, true),
                    _ => (false, false),
                };
                if strikes && e.at >= since {
                    return true;
                }
                if strikes && ends {
                    (hung, failed) = (false, false);
                }
            }
            _ => {}
        }
        if i == crash && (hung || failed) {
            return true;
        }
    }
    false
}

pub(super) fn check(t: &Truth<'_>, mutation: Option<Mutation>) -> Result<Vec<Violation>, String> {
    let trace = t.trace;
    // Each crash: its fault's index, its trace entry, when, where, whom.
    let crashes: Vec<(usize, usize, Time, NodeId, &[MemberId])> = trace
        .entries
        .iter()
        .enumerate()
        .filter_map(|(entry, e)| match &e.event {
            TraceEvent::Fault {
                index,
                effect: Effect::EngineDown { node, members },
                ..
            } => Some((*index, entry, e.at, *node, members.as_slice())),
            _ => None,
        })
        .collect();
    if crashes.is_empty() {
        return Err("no engine crashed alone".into());
    }
    let end = t.end();
    let mut v = Vec::new();
    for (index, entry, at, node, members) in crashes {
        for member in members {
            // Every thread lets go of the membership that is gone.
            let threads = trace.info.job(&member.job).map_or(0, |j| j.work_threads);
            if let Some(bound) = detach_bound(t, member) {
                let by = at + bound;
                if by <= end && !job_ended(t, member, entry, at, by, mutation) {
                    for thread in 0..threads {
                        let detached = trace.entries.iter().any(|e| {
                            e.at >= at
                                && e.at <= by
                                && matches!(&e.event, TraceEvent::Detached { member: m, thread: th, .. }
                                    if m == member && *th == thread)
                        });
                        if !detached {
                            v.push(violation(
                                CHECK,
                                Some(at),
                                format!(
                                    "{node}'s engine died, and thread {thread} of {member:?} did not let go of its membership within {} (it may wait for ACKs that cannot come)",
                                    ms(bound)
                                ),
                            ));
                        }
                    }
                }
            }
            // A job still running when the engine is back registers again.
            let back = trace.entries.iter().find(|e| {
                e.at >= at
                    && matches!(&e.event, TraceEvent::FaultEnd { index: i, effect: Effect::EngineUp { .. }, .. } if *i == index)
            });
            let Some(back) = back.map(|e| e.at) else {
                continue;
            };
            // Time its node spent paused meanwhile does not count (only
            // pauses that begin before the deadline they move).
            let mut away: Vec<(Time, Time)> = t
                .outages
                .iter()
                .filter(|(n, from, _)| *n == node && *from >= back)
                .map(|(_, from, to)| (*from, *to))
                .collect();
            away.sort();
            let mut by = back + t.node_bound();
            for (from, to) in away {
                if from <= by {
                    by = by + to.saturating_sub(from);
                }
            }
            if by > end || job_ended(t, member, entry, at, by, mutation) {
                continue;
            }
            let registered = trace.entries.iter().any(|e| {
                e.at >= back
                    && e.at <= by
                    && matches!(&e.event, TraceEvent::Registered { member: m, .. }
                        if m.node == node && m.job == member.job)
            });
            if !registered {
                v.push(violation(
                    CHECK,
                    Some(back),
                    format!(
                        "{node}'s engine came back, and {}@{node} (member {member:?} before) did not register with it within {}",
                        member.job,
                        ms(t.node_bound())
                    ),
                ));
            }
        }
    }
    Ok(v)
}
