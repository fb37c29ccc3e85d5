//! The ACK-round checks: `acks-complete` (every round of a live member
//! ends), `barrier-order` (nobody passes a round before every member of its
//! view reached it) and `round-views` (rounds run in the member's current
//! view).

use super::truth::Truth;
use super::{bounds, ms, names, violation, Violation};
use crate::mutation::{mutated, Mutation};
use crate::trace::{Effect, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::job::{TaskEvent, HANG_CONFIRM};
use vigil_engine::{Dur, MemberId, MembershipChange, Name, NodeId, Time, ViewId};
use vigil_protocols::instance_of;

/// `acks-complete`: every ACK round of a member alive at the end
/// completes: all ACKs arrive or the missing senders leave. A round still
/// open at the end that began (or outlived the last disruption) more than
/// [`bounds::round`] before the end is a violation.
pub(super) fn acks_complete(t: &Truth<'_>) -> Vec<Violation> {
    let bound = t.stretched(bounds::round(&t.trace.info));
    let mut open: BTreeMap<(&MemberId, u16), (u64, Time, ViewId)> = BTreeMap::new();
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => {
                open.insert((member, *thread), (*round, e.at, *view));
            }
            TraceEvent::RoundCompleted {
                member,
                thread,
                round,
                ..
            } if open
                .get(&(member, *thread))
                .is_some_and(|(r, _, _)| r == round) =>
            {
                open.remove(&(member, *thread));
            }
            TraceEvent::ProtocolDone { member, thread, .. }
            | TraceEvent::Task {
                member,
                thread,
                event: TaskEvent::Finished { .. },
            } => {
                open.remove(&(member, *thread));
            }
            _ => {}
        }
    }
    let mut v = Vec::new();
    // The latest round each member heard from each other, read only when
    // some member waited too long (most runs: none).
    let mut acked: Option<Heard<'_>> = None;
    for ((member, thread), (round, since, view)) in open {
        if !t.trace.end.live_members.contains(member) {
            continue;
        }
        let waiting_since = since.max(t.last_disruption);
        if t.end().saturating_sub(waiting_since) <= bound {
            continue;
        }
        let acked = acked.get_or_insert_with(|| latest_heard(t));
        // Whom it waits for: the members of the view its round began in
        // (its protocol's, which may be older than the last the member
        // took) it has not heard in this round, else those of its last
        // view (a round that began in one view can wait on the members a
        // later one brought: every member of the first was heard).
        let unheard = |view: &vigil_engine::MembershipChange| -> Vec<MemberId> {
            (view.members.iter())
                .filter(|m| {
                    acked
                        .get(&(member, thread))
                        .and_then(|a| a.get(m))
                        .is_none_or(|r| *r < round)
                })
                .cloned()
                .collect()
        };
        let round_view = t
            .views
            .get(member)
            .and_then(|views| views.iter().rev().find(|(_, c)| c.view == view))
            .map(|(_, c)| *c);
        let mut missing = (round_view.or_else(|| t.last_view(member)))
            .map(unheard)
            .unwrap_or_default();
        let mut of_last = String::new();
        if missing.is_empty() && round_view.is_some() {
            if let Some(last) = t.last_view(member).filter(|c| c.view != view) {
                missing = unheard(last);
                of_last = format!(
                    " (of its last view {}: every member of view {view} was heard in this round)",
                    last.view
                );
            }
        }
        v.push(violation(
            "acks-complete",
            Some(since),
            format!(
                "{member} thread {thread} waited in round {round} from {:.3}ms to the end for {}{of_last}",
                since.as_millis_f64(),
                names(&missing)
            ),
        ));
    }
    v
}

/// For each member and thread, the latest round it took a message of from
/// each other member.
type Heard<'a> = BTreeMap<(&'a MemberId, u16), BTreeMap<&'a MemberId, u64>>;

/// [`Heard`], read from the whole trace.
fn latest_heard<'a>(t: &Truth<'a>) -> Heard<'a> {
    let mut acked: Heard<'a> = BTreeMap::new();
    for e in &t.trace.entries {
        if let TraceEvent::Message {
            to,
            from,
            thread,
            round,
            ..
        } = &e.event
        {
            let e = acked
                .entry((to, *thread))
                .or_default()
                .entry(from)
                .or_insert(0);
            *e = (*e).max(*round);
        }
    }
    acked
}

/// `barrier-order`: a member passes round r (starts a later one) only once
/// every member of its view has reached r. The rounds a member reached
/// belong to its lineage: the work thread that started with a registration
/// and kept its rounds when its node came back under a new incarnation (a
/// new id, no new registration). A job that registers again starts a new
/// lineage.
pub(super) fn barrier_order(t: &Truth<'_>, mutation: Option<Mutation>) -> Vec<Violation> {
    // Views agree (checked by `views-agree`), so any observer's copy of a
    // view tells its members.
    let mut members_of: BTreeMap<(&Name, ViewId), &MembershipChange> = BTreeMap::new();
    for (_, change) in t.trace.views() {
        members_of
            .entry((&change.group, change.view))
            .or_insert(change);
    }
    let mut lineages = Lineages {
        by_job_and_node: mutated!(mutation, RoundsByJobAndNode),
        ..Lineages::default()
    };
    let mut reached: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    let mut own: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    // Task instances a member told the others it takes no part in.
    let mut excused: BTreeSet<(usize, u16, (u64, u32))> = BTreeSet::new();
    let mut v = Vec::new();
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::Registered { member, .. } => {
                lineages.register(member);
            }
            TraceEvent::Task {
                member,
                thread,
                event: TaskEvent::Excused { task, number },
            } => {
                let me = lineages.of(member);
                excused.insert((me, *thread, (*number, *task)));
            }
            TraceEvent::View { change } => {
                for m in change.members.iter().chain(std::iter::once(&change.me)) {
                    lineages.of(m);
                }
            }
            TraceEvent::Unregistered { member, .. }
            | TraceEvent::Fault {
                effect:
                    Effect::JobKilled {
                        member: Some(member),
                        ..
                    },
                ..
            } => {
                let l = lineages.of(member);
                gone.insert(l);
            }
            // A task is a protocol instance of its own: its first round
            // passes no round of the task before it, which a member that
            // joined in between never ran.
            TraceEvent::Task {
                member,
                thread,
                event: TaskEvent::Started { .. },
            } => {
                let me = lineages.of(member);
                own.insert((me, *thread), 0);
            }
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => {
                let me = lineages.of(member);
                let passed = own.insert((me, *thread), *round).unwrap_or(0);
                // The highest round it reached: a task runner whose node
                // came back under a new incarnation alone begins a history
                // of its own, numbered from 1 again, but it did reach the
                // rounds it ran before (tasks-random-faults seed 880 on the
                // event loop: its peers passed a round it had started, and
                // read as passing it before it got there).
                let r = reached.entry((me, *thread)).or_insert(0);
                *r = (*r).max(*round);
                if passed == 0 || *round <= passed {
                    continue;
                }
                let Some(view) = t
                    .group_of
                    .get(member)
                    .and_then(|g| members_of.get(&(g, *view)))
                else {
                    continue;
                };
                let mut behind = Vec::new();
                for m in view.members.iter().filter(|m| *m != member) {
                    let l = lineages.of(m);
                    let r = reached.get(&(l, *thread)).copied().unwrap_or(0);
                    // A task runner's member that answered "skipped" for
                    // the task instance is not part of it.
                    let out = excused.contains(&(l, *thread, instance_of(passed)));
                    if !gone.contains(&l) && r < passed && !out {
                        behind.push(format!("{m} (round {r})"));
                    }
                }
                if !behind.is_empty() {
                    v.push(violation(
                        "barrier-order",
                        Some(e.at),
                        format!(
                            "{member} thread {thread} passed round {passed} (started {round}) before {} of its view {} reached it",
                            behind.join(", "),
                            view.view
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    v
}

/// Which lineage (registration, followed through renames) each member id
/// belongs to; see [`barrier_order`].
#[derive(Default)]
pub(super) struct Lineages {
    of: BTreeMap<MemberId, usize>,
    /// The latest lineage of each job and node.
    current: BTreeMap<(Name, NodeId), usize>,
    next: usize,
    /// The checker's past bug (`rounds-by-job-and-node`): every id of a
    /// job and node is its latest registration's.
    by_job_and_node: bool,
}

impl Lineages {
    pub(super) fn register(&mut self, member: &MemberId) -> usize {
        self.next += 1;
        self.of.insert(member.clone(), self.next);
        self.current
            .insert((member.job.clone(), member.node), self.next);
        self.next
    }

    /// The lineage of `member`; a new id (a renamed member) joins the latest
    /// lineage of its job and node, and is remembered there.
    pub(super) fn of(&mut self, member: &MemberId) -> usize {
        let latest = self
            .current
            .get(&(member.job.clone(), member.node))
            .copied();
        if self.by_job_and_node {
            if let Some(l) = latest {
                return l;
            }
        }
        if let Some(l) = self.of.get(member) {
            return *l;
        }
        match latest {
            Some(l) => {
                self.of.insert(member.clone(), l);
                l
            }
            None => self.register(member),
        }
    }
}

/// `round-views`: every round a member starts runs in the view its main
/// thread last took, or in the one before while the step that opened the
/// round was still running when the newer view arrived (a work thread
/// takes nothing during a step; on a real machine, also while the OS had
/// not run it yet: [`bounds::scheduling`]). A member whose rounds run in
/// a view its main thread left behind longer ago than that is not waiting
/// for the members it should: a member stuck in its boot view completes
/// every round alone, and `barrier-order` cannot see it. Time the
/// member's node spent paused does not count.
pub(super) fn round_views(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    // On a real machine the work thread may be scheduled late.
    let late = bounds::scheduling(&t.trace.info);
    for e in &t.trace.entries {
        let TraceEvent::RoundStarted {
            member,
            thread,
            round,
            view,
        } = &e.event
        else {
            continue;
        };
        let Some(views) = t.views.get(member) else {
            continue;
        };
        let Some((taken, current)) = views.iter().take_while(|(at, _)| *at <= e.at).last() else {
            continue;
        };
        if current.view == *view {
            continue;
        }
        let step = t
            .trace
            .info
            .job(&member.job)
            .map_or(Dur(0), |j| j.step_time);
        // A slow node's step takes longer (as slow as it ever ran).
        let step = t.slowed(member.node, step);
        // Time its node spent paused or down does not count: nothing runs.
        let frozen: u64 = t
            .outages
            .iter()
            .filter(|(n, _, _)| *n == member.node)
            .map(|(_, a, b)| {
                let from = (*a).max(*taken);
                let to = (*b).min(e.at);
                to.saturating_sub(from).0
            })
            .sum();
        let lag = Dur(e.at.saturating_sub(*taken).0.saturating_sub(frozen));
        if lag > step + HANG_CONFIRM + late {
            v.push(violation(
                "round-views",
                Some(e.at),
                format!(
                    "{member} thread {thread} started round {round} in view {view}, {} after its main thread took view {} (a step takes {})",
                    ms(lag),
                    current.view,
                    ms(step)
                ),
            ));
        }
    }
    v
}
