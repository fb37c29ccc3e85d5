//! The checkers: what must hold in every run, whatever the scenario says,
//! and the scenario's own expectations. They read only the trace.
//!
//! Always checked, each reported by its name:
//! - `notified`: whenever a member leaves a group, every member that stays
//!   receives a membership change naming it in `left`, within
//!   [`vigil_engine::Config::notify_bound`] of the departure.
//! - `views-agree`: one view id, one member list; a member's view ids only
//!   grow; a member's view contains itself.
//! - `no-ghost-delivery`: no member takes a message from a member that is
//!   not in its current view (in particular, one it saw leave).
//! - `main-thread-responsive`: a main thread takes every engine event from
//!   its inbox within [`RESPONSIVE_BOUND`] of the engine queuing it (time
//!   its node spent paused excepted), also while its work threads hang.
//! - `acks-complete`: every ACK round of a member that is alive at the end
//!   completes: all ACKs arrive or the missing senders leave. A round still
//!   open at the end that began (or outlived the last disruption) more than
//!   [`round_bound`] before the end is a violation.
//! - `converged`: when every fault has ended at least [`settle_time`] before
//!   the end, all live members of a group end in one view that holds exactly
//!   the live members.

use crate::runtime::RunOutput;
use crate::scenario::{Expectation, FaultKind as SFault, MemberName, Reason, Scenario};
use crate::trace::{Entry, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use vigil_engine::{
    Config, Dur, LeaveReason, MemberId, MembershipChange, Name, NodeId, Time, ViewId,
};

/// The longest a main thread may leave an engine event in its inbox.
pub const RESPONSIVE_BOUND: Dur = Dur::from_millis(5);

/// How long after the last disruption every open ACK round must have ended:
/// a departure's notification, plus one local step and one round trip.
pub fn round_bound(cfg: &Config, scenario: &Scenario) -> Dur {
    let step_max = scenario
        .jobs
        .iter()
        .map(|j| Dur::from_std(j.step_time))
        .max()
        .unwrap_or_default();
    let deadline_max = scenario
        .jobs
        .iter()
        .map(|j| Dur::from_std(j.work_deadline))
        .max()
        .unwrap_or_default();
    cfg.notify_bound() + deadline_max + step_max * 2 + cfg.retransmit_timeout() * 2
}

/// How long before the end every fault must have ended for `converged` to apply:
/// two notification bounds (a departure and the merge that may follow it)
/// plus two probe intervals for views to meet again.
pub fn settle_time(cfg: &Config) -> Dur {
    cfg.notify_bound() * 2 + cfg.probe_interval() * 2
}

/// The names of the checks that always run, in report order.
pub const ALWAYS: &[&str] = &[
    "notified",
    "views-agree",
    "no-ghost-delivery",
    "main-thread-responsive",
    "acks-complete",
    "converged",
];

/// One failed check.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub check: String,
    pub message: String,
    pub at: Option<Time>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(t) => write!(
                f,
                "[{}] at {:.3}ms: {}",
                self.check,
                t.as_millis_f64(),
                self.message
            ),
            None => write!(f, "[{}] {}", self.check, self.message),
        }
    }
}

/// How one check fared.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    pub name: String,
    /// `None`: passed. `Some(reason)`: not applicable to this run.
    pub skipped: Option<String>,
    pub violations: Vec<Violation>,
}

/// A member leaving, as the ground truth of the run knows it.
#[derive(Clone, Debug)]
struct Departure {
    member: MemberId,
    reason: LeaveReason,
    at: Time,
    /// When the scenario fault that caused it was applied.
    fault_at: Time,
    /// That fault's index in the scenario, when a node fault caused it.
    fault: Option<usize>,
    /// Only observers on these nodes are concerned (a partition's other side).
    observers_on: Option<BTreeSet<NodeId>>,
    /// A pause or partition longer than the failure timeout but shorter than
    /// the notification bound: the survivors may or may not have seen it as a
    /// departure. Not judged by `notified`; an expectation may still ask.
    maybe: bool,
}

/// Everything the checks need, indexed once.
struct Index<'a> {
    out: &'a RunOutput,
    scenario: &'a Scenario,
    cfg: &'a Config,
    group_of: BTreeMap<MemberId, Name>,
    registered_at: BTreeMap<MemberId, Time>,
    /// Views each observer took, in order.
    views: BTreeMap<MemberId, Vec<(Time, &'a MembershipChange)>>,
    departures: Vec<Departure>,
    /// Node outages (crash to restart, pause to resume), for excusing observers.
    outages: Vec<(NodeId, Time, Time)>,
    /// The last moment anything was disrupted (a fault applied or ended).
    last_disruption: Time,
    /// Whether a fault is still in effect at the end.
    unhealed: Vec<String>,
    /// Members that first appeared in a view, not by registering: the same
    /// job on a node that was excluded, back under a new id.
    renamed: BTreeSet<MemberId>,
    /// The node views each node installed, in order.
    node_views: BTreeMap<NodeId, Vec<(Time, &'a [NodeId])>>,
    /// When node and network faults struck or ended (crash, restart, pause,
    /// resume, partition, heal, the start and end of loss or delay), with the
    /// scenario index of each fault; see [`Index::notify_deadline`].
    disruptions: Vec<(Time, usize)>,
    /// When each loss or delay fault that ends starts and ends.
    network_faults: Vec<(Time, Time)>,
}

fn t(d: std::time::Duration) -> Time {
    Time(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl<'a> Index<'a> {
    fn new(out: &'a RunOutput, scenario: &'a Scenario, cfg: &'a Config) -> Index<'a> {
        let mut ix = Index {
            out,
            scenario,
            cfg,
            group_of: BTreeMap::new(),
            registered_at: BTreeMap::new(),
            views: BTreeMap::new(),
            departures: Vec::new(),
            outages: Vec::new(),
            last_disruption: Time(0),
            unhealed: Vec::new(),
            node_views: BTreeMap::new(),
            renamed: BTreeSet::new(),
            disruptions: Vec::new(),
            network_faults: Vec::new(),
        };
        ix.index_trace();
        ix.index_faults();
        ix
    }

    fn index_trace(&mut self) {
        let mut gone: BTreeSet<MemberId> = BTreeSet::new();
        let entries: &'a [Entry] = &self.out.trace.entries;
        for e in entries {
            match &e.event {
                TraceEvent::Registered { member, group } => {
                    self.group_of.insert(member.clone(), group.clone());
                    self.registered_at.insert(member.clone(), e.at);
                }
                TraceEvent::View { change } => {
                    // An excluded node's members come back under new ids
                    // without registering again: they first show up here.
                    if !self.registered_at.contains_key(&change.me) {
                        self.registered_at.insert(change.me.clone(), e.at);
                        self.renamed.insert(change.me.clone());
                    }
                    self.group_of
                        .entry(change.me.clone())
                        .or_insert_with(|| change.group.clone());
                    self.views
                        .entry(change.me.clone())
                        .or_default()
                        .push((e.at, change));
                }
                TraceEvent::Unregistered {
                    member,
                    reason,
                    fault,
                } if gone.insert(member.clone()) => {
                    let fault_at = self.fault_time_for(member, *reason, fault.is_some(), e.at);
                    self.departures.push(Departure {
                        member: member.clone(),
                        reason: *reason,
                        at: e.at,
                        fault_at,
                        fault: None,
                        observers_on: None,
                        maybe: false,
                    });
                }
                TraceEvent::JobKilled {
                    member: Some(member),
                    ..
                } if gone.insert(member.clone()) => {
                    self.departures.push(Departure {
                        member: member.clone(),
                        reason: LeaveReason::JobLost,
                        at: e.at,
                        fault_at: e.at,
                        fault: None,
                        observers_on: None,
                        maybe: false,
                    });
                }
                TraceEvent::Fault { .. } | TraceEvent::FaultEnd { .. } => {
                    self.last_disruption = e.at
                }
                TraceEvent::NodeView { node, members, .. } => {
                    self.node_views
                        .entry(*node)
                        .or_default()
                        .push((e.at, members));
                }
                _ => {}
            }
        }
    }

    /// When the scenario fault behind an unregister was applied.
    fn fault_time_for(
        &self,
        member: &MemberId,
        reason: LeaveReason,
        faulted: bool,
        at: Time,
    ) -> Time {
        let node = member.node.0;
        let job = member.job.as_str();
        let found = self.scenario.faults.iter().rev().find(|f| {
            t(f.at) <= at
                && match &f.kind {
                    SFault::WorkThreadPanic {
                        node: n, job: j, ..
                    }
                    | SFault::WorkThreadError {
                        node: n, job: j, ..
                    }
                    | SFault::WorkThreadHang {
                        node: n, job: j, ..
                    } => faulted && *n == node && j == job,
                    SFault::JobLeave { node: n, job: j } => {
                        reason == LeaveReason::Leave && *n == node && j == job
                    }
                    _ => false,
                }
        });
        found.map_or(at, |f| t(f.at))
    }

    /// Members alive on `node` at time `at`: registered, not departed, and
    /// not since renamed (a newer id of the same job on the same node).
    fn members_on(&self, node: NodeId, at: Time) -> Vec<MemberId> {
        let mut latest: BTreeMap<&Name, (&MemberId, Time)> = BTreeMap::new();
        for (m, r) in &self.registered_at {
            if m.node == node && *r <= at && latest.get(&m.job).is_none_or(|(_, t)| *t <= *r) {
                latest.insert(&m.job, (m, *r));
            }
        }
        latest
            .into_values()
            .map(|(m, _)| m)
            .filter(|m| {
                !self
                    .departures
                    .iter()
                    // A partition only hides a member from the far side; it
                    // lives on for its own (and can crash later).
                    .any(|d| d.member == **m && d.at <= at && !d.maybe && d.observers_on.is_none())
            })
            .cloned()
            .collect()
    }

    /// Every member on `node` leaves at `at`, its node gone for everyone.
    fn node_down(&mut self, node: NodeId, at: Time, maybe: bool, fault: usize) {
        for member in self.members_on(node, at) {
            let reason = LeaveReason::NodeDown;
            self.departures.push(Departure {
                member,
                reason,
                at,
                fault_at: at,
                fault: Some(fault),
                observers_on: None,
                maybe,
            });
        }
    }

    fn index_faults(&mut self) {
        let end = self.out.end;
        let bound = self.cfg.notify_bound();
        let faults = self.scenario.faults.clone();
        for (i, f) in faults.iter().enumerate() {
            let at = t(f.at);
            let ends = match &f.kind {
                SFault::NodeCrash { restart_after, .. } => Some(*restart_after),
                SFault::NodePause { duration, .. } => Some(Some(*duration)),
                SFault::Partition { heal_after, .. } => Some(*heal_after),
                // A loss or delay counts when it starts and when it ends:
                // while it lasts the bound is not guaranteed (a 50% loss can
                // drop every retry), so a departure during it is owed its
                // notice within the bound after it ends.
                SFault::Delay { duration, .. } | SFault::Loss { duration, .. } => Some(*duration),
                SFault::Heal => Some(None),
                _ => None, // a job's or a work thread's fault: not the nodes'
            };
            // Only a loss or delay that ends excuses a late notice: under
            // one that lasts to the end, departures keep the plain bound
            // (or none would ever be judged).
            if let SFault::Delay {
                duration: Some(d), ..
            }
            | SFault::Loss {
                duration: Some(d), ..
            } = &f.kind
            {
                self.network_faults.push((at, at + Dur::from_std(*d)));
            }
            if let Some(ends) = ends {
                self.disruptions.push((at, i));
                if let Some(d) = ends {
                    self.disruptions.push((at + Dur::from_std(d), i));
                }
            }
            match &f.kind {
                SFault::NodeCrash {
                    node,
                    restart_after,
                } => {
                    let node = NodeId(*node);
                    let back = restart_after
                        .map_or(end, |d| at + Dur::from_std(d))
                        .min(end);
                    self.outages.push((node, at, back));
                    if restart_after.is_none_or(|d| at + Dur::from_std(d) > end) {
                        self.unhealed.push(format!("{node} is down"));
                    }
                    self.node_down(node, at, false, i);
                }
                SFault::NodePause { node, duration } => {
                    let node = NodeId(*node);
                    let back = at + Dur::from_std(*duration);
                    self.outages.push((node, at, back.min(end)));
                    if back > end {
                        self.unhealed.push(format!("{node} is paused"));
                    }
                    // Only a pause that outlasts the notification bound must
                    // be reported; one shorter than the failure timeout must
                    // not; in between, either is right.
                    let lasts = Dur::from_std(*duration);
                    if lasts > self.cfg.failure_timeout {
                        self.node_down(node, at, lasts < bound, i);
                    }
                }
                SFault::Partition { sides, heal_after } => {
                    // A partition lasts until its own heal or a `heal`
                    // fault; another partition cuts more links but heals
                    // only its own (see `world::heal_links`).
                    let next_change = faults[i + 1..]
                        .iter()
                        .find(|g| matches!(g.kind, SFault::Heal))
                        .map(|g| t(g.at));
                    let heal = heal_after.map(|d| at + Dur::from_std(d));
                    let until = [next_change, heal].into_iter().flatten().min();
                    if until.is_none_or(|u| u > end) {
                        self.unhealed.push("a partition is in effect".into());
                    }
                    let lasts = until.map_or(Dur(u64::MAX), |u| u.saturating_sub(at));
                    if lasts <= self.cfg.failure_timeout {
                        continue;
                    }
                    let maybe = lasts < bound;
                    for (si, side) in sides.iter().enumerate() {
                        let others: BTreeSet<NodeId> = sides
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != si)
                            .flat_map(|(_, s)| s.iter().map(|n| NodeId(*n)))
                            .collect();
                        for n in side {
                            for m in self.members_on(NodeId(*n), at) {
                                self.departures.push(Departure {
                                    member: m,
                                    reason: LeaveReason::NodeDown,
                                    at,
                                    fault_at: at,
                                    fault: Some(i),
                                    observers_on: Some(others.clone()),
                                    maybe,
                                });
                            }
                        }
                    }
                }
                SFault::Delay { duration, .. } | SFault::Loss { duration, .. }
                    if duration.is_none_or(|d| at + Dur::from_std(d) > end) =>
                {
                    self.unhealed
                        .push(format!("the {} fault is in effect", f.kind.name()));
                }
                _ => {}
            }
        }
        self.departures.sort_by_key(|d| d.at);
        self.disruptions.sort();
    }

    /// By when every observer must have been told of departure `d`.
    ///
    /// [`Config::notify_bound`] holds when at most one leader (or one
    /// member of an install) is lost while the departure is reported. A
    /// node or network fault that strikes (or ends: a restart, a resume or
    /// a heal makes views merge) while the report is still due can cost
    /// the membership protocol that much again: a detection, a gather and
    /// an install that has to start over. No node can tell a crash it must
    /// wait out from one it need not, so the report is owed within one
    /// bound of the last such fault instead, the way `acks-complete`
    /// judges rounds from the last disruption. The departure's own fault
    /// (a crashed node's restart, say) is covered by the bound itself.
    ///
    /// Loss and delay are judged the same way, for as long as they last: a
    /// loss burst in effect when the member leaves (a 50% loss can drop
    /// every retry of a gather) owes the report within one bound of its
    /// end.
    fn notify_deadline(&self, d: &Departure) -> Time {
        let bound = self.cfg.notify_bound();
        let mut deadline = d.at + bound;
        for (start, end) in &self.network_faults {
            if *start <= d.at && d.at < *end {
                deadline = deadline.max(*end + bound);
            }
        }
        for (at, fault) in &self.disruptions {
            if *at > deadline {
                break;
            }
            if *at > d.at && Some(*fault) != d.fault {
                deadline = deadline.max(*at + bound);
            }
        }
        deadline
    }

    /// The view `observer` held at `at` (the last one it took by then).
    fn view_at(&self, observer: &MemberId, at: Time) -> Option<&'a MembershipChange> {
        let views = self.views.get(observer)?;
        views
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map(|(_, c)| *c)
    }

    fn last_view(&self, observer: &MemberId) -> Option<&'a MembershipChange> {
        self.views
            .get(observer)
            .and_then(|v| v.last())
            .map(|(_, c)| *c)
    }

    /// Whether `observer` itself was gone or its node out during [from, to].
    fn disrupted(&self, observer: &MemberId, from: Time, to: Time) -> bool {
        let left = self
            .departures
            .iter()
            .any(|d| d.member == *observer && d.observers_on.is_none() && !d.maybe && d.at <= to);
        let out = self
            .outages
            .iter()
            .any(|(n, a, b)| *n == observer.node && *a <= to && *b >= from);
        left || out
    }

    /// Whether `id`'s node was excluded by `at` and its job goes on under a
    /// newer id (whose views speak for it from then on).
    fn superseded(&self, id: &MemberId, at: Time) -> bool {
        let since = self.registered_at.get(id).copied().unwrap_or_default();
        self.renamed.iter().any(|r| {
            r.job == id.job
                && r.node == id.node
                && r != id
                && self
                    .registered_at
                    .get(r)
                    .is_some_and(|t| *t >= since && *t <= at)
        })
    }

    /// The observers a departure concerns: they held the member in their
    /// view when it left, and stayed themselves for the bound.
    fn observers(&self, d: &Departure, window: Dur) -> Vec<MemberId> {
        let group = self.group_of.get(&d.member);
        self.views
            .keys()
            .filter(|o| **o != d.member && self.group_of.get(*o) == group)
            .filter(|o| {
                d.observers_on
                    .as_ref()
                    .is_none_or(|nodes| nodes.contains(&o.node))
            })
            .filter(|o| {
                self.view_at(o, d.at)
                    .is_some_and(|v| v.members.contains(&d.member))
            })
            .filter(|o| !self.disrupted(o, d.at, d.at + window) && !self.superseded(o, d.at))
            .cloned()
            .collect()
    }

    /// Whether `observer`'s node lost sight of `member`'s node (a node view
    /// without it) between the departure and the change that reported it:
    /// then `node-down` is the truth as the observer's side knew it, even
    /// when the member really left for another reason.
    fn lost_sight(
        &self,
        observer: &MemberId,
        member: &MemberId,
        from: Time,
        to: Time,
        reported: LeaveReason,
    ) -> bool {
        if reported != LeaveReason::NodeDown {
            return false;
        }
        let Some(views) = self.node_views.get(&observer.node) else {
            return false;
        };
        let held_at_start = views.iter().take_while(|(t, _)| *t <= from).last();
        let during = views.iter().filter(|(t, _)| *t > from && *t <= to);
        held_at_start
            .into_iter()
            .chain(during)
            .any(|(_, members)| !members.contains(&member.node))
    }

    /// When `observer` took a change listing `member` in `left`, in [from, to].
    fn told(
        &self,
        observer: &MemberId,
        member: &MemberId,
        from: Time,
        to: Time,
    ) -> Option<(Time, LeaveReason)> {
        // An observer whose node was excluded goes on under a new id; what
        // that id is told counts for it.
        let later = self
            .registered_at
            .get(observer)
            .copied()
            .unwrap_or_default();
        let lives = self.views.iter().filter(|(id, _)| {
            *id == observer
                || (self.renamed.contains(*id)
                    && id.job == observer.job
                    && id.node == observer.node
                    && self.registered_at.get(*id).is_some_and(|t| *t >= later))
        });
        let mut changes: Vec<&(Time, &MembershipChange)> =
            lives.flat_map(|(_, v)| v.iter()).collect();
        changes.sort_by_key(|(t, _)| *t);
        changes.into_iter().find_map(|(t, c)| {
            if *t < from || *t > to {
                return None;
            }
            c.left
                .iter()
                .find(|(m, _)| m == member)
                .map(|(_, r)| (*t, *r))
        })
    }
}

fn violation(check: &str, at: Option<Time>, message: String) -> Violation {
    Violation {
        check: check.to_string(),
        message,
        at,
    }
}

fn ms(d: Dur) -> String {
    format!("{:.0}ms", d.as_millis_f64())
}

/// A departure `notified` judges: the observers owed a notice within
/// `window` of it, and what each was told by then (when, with what reason).
struct Judged<'a> {
    d: &'a Departure,
    window: Dur,
    told: Vec<(MemberId, Option<(Time, LeaveReason)>)>,
}

/// Every departure that is sure to be one and whose deadline falls within
/// the run, with what its observers were told. `notified` judges these and
/// [`Notice`]s measure them.
fn judged<'a>(ix: &'a Index<'_>) -> Vec<Judged<'a>> {
    let mut out = Vec::new();
    for d in ix.departures.iter().filter(|d| !d.maybe) {
        let deadline = ix.notify_deadline(d);
        if deadline > ix.out.end {
            continue; // too close to the end to judge
        }
        let window = deadline.saturating_sub(d.at);
        let told = ix
            .observers(d, window)
            .into_iter()
            .map(|o| {
                let t = ix.told(&o, &d.member, d.at, deadline);
                (o, t)
            })
            .collect();
        out.push(Judged { d, window, told });
    }
    out
}

fn check_notified(ix: &Index<'_>, judged: &[Judged<'_>]) -> Vec<Violation> {
    let mut v = Vec::new();
    for Judged { d, window, told } in judged {
        for (o, t) in told {
            match t {
                None => v.push(violation(
                    "notified",
                    Some(d.at),
                    format!(
                        "{} left ({}) but {} got no membership change naming it within {}",
                        d.member,
                        d.reason,
                        o,
                        ms(*window)
                    ),
                )),
                Some((t, reason))
                    if *reason != d.reason && !ix.lost_sight(o, &d.member, d.at, *t, *reason) =>
                {
                    v.push(violation(
                        "notified",
                        Some(d.at),
                        format!(
                            "{} saw {} leave with reason {reason}, expected {}",
                            o, d.member, d.reason
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    v
}

fn check_views_agree(ix: &Index<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut by_id: BTreeMap<(Name, ViewId), (&MemberId, &Vec<MemberId>)> = BTreeMap::new();
    for (observer, views) in &ix.views {
        let mut last: Option<ViewId> = None;
        for (at, c) in views {
            if let Some(prev) = last {
                if c.view <= prev {
                    v.push(violation(
                        "views-agree",
                        Some(*at),
                        format!(
                            "{observer} installed view {} after view {prev}: view ids must grow",
                            c.view
                        ),
                    ));
                }
            }
            last = Some(c.view);
            if !c.members.contains(&c.me) {
                v.push(violation(
                    "views-agree",
                    Some(*at),
                    format!("{observer}'s view {} lacks itself", c.view),
                ));
            }
            match by_id.get(&(c.group.clone(), c.view)) {
                Some((first, members)) if **members != c.members => v.push(violation(
                    "views-agree",
                    Some(*at),
                    format!(
                        "view {} of group {}: {first} has {} but {observer} has {}",
                        c.view,
                        c.group,
                        names(members),
                        names(&c.members)
                    ),
                )),
                Some(_) => {}
                None => {
                    by_id.insert((c.group.clone(), c.view), (observer, &c.members));
                }
            }
        }
    }
    v
}

fn names(members: &[MemberId]) -> String {
    let n: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    format!("[{}]", n.join(", "))
}

fn check_no_ghost(ix: &Index<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut current: BTreeMap<&MemberId, &MembershipChange> = BTreeMap::new();
    for e in &ix.out.trace.entries {
        match &e.event {
            TraceEvent::View { change } => {
                current.insert(&change.me, change);
            }
            TraceEvent::Message { to, from, .. } => {
                let knows = current.get(to).is_some_and(|c| c.members.contains(from));
                if !knows {
                    let saw_leave = ix.views.get(to).is_some_and(|views| {
                        views
                            .iter()
                            .any(|(t, c)| *t <= e.at && c.left.iter().any(|(m, _)| m == from))
                    });
                    let what = if saw_leave {
                        "after it saw it leave"
                    } else {
                        "that is not in its view"
                    };
                    v.push(violation(
                        "no-ghost-delivery",
                        Some(e.at),
                        format!("{to} took a message from {from} {what}"),
                    ));
                }
            }
            _ => {}
        }
    }
    v
}

fn check_responsive(ix: &Index<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    for e in &ix.out.trace.entries {
        if let TraceEvent::InboxLag { member, lag_ns } = &e.event {
            let queued = Time(e.at.0.saturating_sub(*lag_ns));
            let paused = ix
                .outages
                .iter()
                .any(|(n, a, b)| *n == member.node && *a <= e.at && *b >= queued);
            if Dur(*lag_ns) > RESPONSIVE_BOUND && !paused {
                v.push(violation(
                    "main-thread-responsive",
                    Some(e.at),
                    format!(
                        "{member}'s main thread took an engine event {} after it was queued (bound {})",
                        ms(Dur(*lag_ns)),
                        ms(RESPONSIVE_BOUND)
                    ),
                ));
            }
        }
    }
    v
}

fn check_acks_complete(ix: &Index<'_>) -> Vec<Violation> {
    let bound = round_bound(ix.cfg, ix.scenario);
    let mut open: BTreeMap<(&MemberId, u16), (u64, Time)> = BTreeMap::new();
    let mut acked: BTreeMap<(&MemberId, u16), BTreeMap<&MemberId, u64>> = BTreeMap::new();
    for e in &ix.out.trace.entries {
        match &e.event {
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                ..
            } => {
                open.insert((member, *thread), (*round, e.at));
            }
            TraceEvent::RoundCompleted {
                member,
                thread,
                round,
                ..
            } if open
                .get(&(member, *thread))
                .is_some_and(|(r, _)| r == round) =>
            {
                open.remove(&(member, *thread));
            }
            TraceEvent::ProtocolDone { member, thread, .. } => {
                open.remove(&(member, *thread));
            }
            TraceEvent::Message {
                to,
                from,
                thread,
                round,
            } => {
                let e = acked
                    .entry((to, *thread))
                    .or_default()
                    .entry(from)
                    .or_insert(0);
                *e = (*e).max(*round);
            }
            _ => {}
        }
    }
    let mut v = Vec::new();
    for ((member, thread), (round, since)) in open {
        if !ix.out.live_members.contains(member) {
            continue;
        }
        let waiting_since = since.max(ix.last_disruption);
        if ix.out.end.saturating_sub(waiting_since) <= bound {
            continue;
        }
        let missing: Vec<MemberId> = ix
            .last_view(member)
            .map(|view| {
                view.members
                    .iter()
                    .filter(|m| {
                        acked
                            .get(&(member, thread))
                            .and_then(|a| a.get(m))
                            .is_none_or(|r| *r < round)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        v.push(violation(
            "acks-complete",
            Some(since),
            format!(
                "{member} thread {thread} waited in round {round} from {:.3}ms to the end for {}",
                since.as_millis_f64(),
                names(&missing)
            ),
        ));
    }
    v
}

/// `barrier-order`: a member passes round r (starts a later one) only once
/// every member of its view has reached r. The rounds a member reached are
/// followed by job and node (a member keeps its rounds when its node comes
/// back under a new incarnation) and start over when the job registers anew.
fn check_barrier_order(ix: &Index<'_>) -> Vec<Violation> {
    // Views agree (checked by `views-agree`), so any observer's copy of a
    // view tells its members.
    let mut members_of: BTreeMap<(&Name, ViewId), &MembershipChange> = BTreeMap::new();
    for (_, change) in ix.out.trace.views() {
        members_of
            .entry((&change.group, change.view))
            .or_insert(change);
    }
    // A member's rounds belong to its lineage: the work thread that started
    // with a registration and kept its rounds when its node came back under
    // a new incarnation (a new id, no new registration). A job that
    // registers again starts a new lineage.
    let mut lineages = Lineages::default();
    let mut reached: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    let mut own: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    let mut v = Vec::new();
    for e in &ix.out.trace.entries {
        match &e.event {
            TraceEvent::Registered { member, .. } => {
                lineages.register(member);
            }
            TraceEvent::View { change } => {
                for m in change.members.iter().chain(std::iter::once(&change.me)) {
                    lineages.of(m);
                }
            }
            TraceEvent::Unregistered { member, .. }
            | TraceEvent::JobKilled {
                member: Some(member),
                ..
            } => {
                let l = lineages.of(member);
                gone.insert(l);
            }
            TraceEvent::RoundStarted {
                member,
                thread,
                round,
                view,
            } => {
                let me = lineages.of(member);
                let passed = own.insert((me, *thread), *round).unwrap_or(0);
                reached.insert((me, *thread), *round);
                if passed == 0 || *round <= passed {
                    continue;
                }
                let Some(view) = ix
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
                    if !gone.contains(&l) && r < passed {
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
/// belongs to; see [`check_barrier_order`].
#[derive(Default)]
struct Lineages {
    of: BTreeMap<MemberId, usize>,
    /// The latest lineage of each job and node.
    current: BTreeMap<(Name, NodeId), usize>,
    next: usize,
}

impl Lineages {
    fn register(&mut self, member: &MemberId) -> usize {
        self.next += 1;
        self.of.insert(member.clone(), self.next);
        self.current
            .insert((member.job.clone(), member.node), self.next);
        self.next
    }

    /// The lineage of `member`; a new id (a renamed member) joins the latest
    /// lineage of its job and node, and is remembered there.
    fn of(&mut self, member: &MemberId) -> usize {
        if let Some(l) = self.of.get(member) {
            return *l;
        }
        match self.current.get(&(member.job.clone(), member.node)) {
            Some(l) => {
                let l = *l;
                self.of.insert(member.clone(), l);
                l
            }
            None => self.register(member),
        }
    }
}

/// `state-agrees`: members that completed a round in the same view hold
/// identical group state after it.
fn check_state_agrees(ix: &Index<'_>) -> Vec<Violation> {
    type Key<'a> = (&'a Name, u16, u64, ViewId);
    let mut first: BTreeMap<Key<'_>, (&MemberId, &str)> = BTreeMap::new();
    let mut v = Vec::new();
    for e in &ix.out.trace.entries {
        let TraceEvent::RoundCompleted {
            member,
            thread,
            round,
            view,
            state: Some(state),
        } = &e.event
        else {
            continue;
        };
        let Some(group) = ix.group_of.get(member) else {
            continue;
        };
        match first.get(&(group, *thread, *round, *view)) {
            Some((who, theirs)) if *theirs != state.as_str() => v.push(violation(
                "state-agrees",
                Some(e.at),
                format!(
                    "after round {round} of thread {thread} in view {view} of group {group}, {who} holds state {theirs} but {member} holds {state}"
                ),
            )),
            Some(_) => {}
            None => {
                first.insert((group, *thread, *round, *view), (member, state.as_str()));
            }
        }
    }
    v
}

/// The protocols' agreement checks (`atomic-commit` for two-phase commit):
/// no two members decide one instance differently. Outcomes the protocol
/// marks as not binding (two-phase commit's `in-doubt`) are not decisions.
fn check_agreement(ix: &Index<'_>) -> BTreeMap<&'static str, Vec<Violation>> {
    type Key<'a> = (&'a Name, u16, u64, Option<&'a vigil_protocols::Proposal>);
    let mut first: BTreeMap<Key<'_>, (&MemberId, &str)> = BTreeMap::new();
    let mut v: BTreeMap<&'static str, Vec<Violation>> = BTreeMap::new();
    for e in &ix.out.trace.entries {
        let TraceEvent::ProtocolOutcome {
            member,
            thread,
            instance,
            outcome,
            proposal,
            agreement: Some(check),
            binding,
            ..
        } = &e.event
        else {
            continue;
        };
        let found = v.entry(check).or_default();
        if !binding {
            continue;
        }
        let Some(group) = ix.group_of.get(member) else {
            continue;
        };
        let key = (group, *thread, *instance, proposal.as_ref());
        match first.get(&key) {
            Some((who, theirs)) if *theirs != outcome.as_str() => {
                let by = proposal
                    .as_ref()
                    .map_or(String::new(), |p| format!(" (proposed by {p})"));
                found.push(violation(
                    check,
                    Some(e.at),
                    format!(
                        "instance {instance}{by} of group {group}: {who} decided {theirs} but {member} decided {outcome}"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                first.insert(key, (member, outcome.as_str()));
            }
        }
    }
    v
}

fn check_converged(ix: &Index<'_>) -> Result<Vec<Violation>, String> {
    if !ix.unhealed.is_empty() {
        return Err(format!(
            "not every fault has ended: {}",
            ix.unhealed.join("; ")
        ));
    }
    let settle = settle_time(ix.cfg);
    if ix.last_disruption + settle > ix.out.end {
        return Err(format!(
            "the last fault ended less than {} before the end",
            ms(settle)
        ));
    }
    let mut by_group: BTreeMap<&Name, Vec<&MemberId>> = BTreeMap::new();
    for m in &ix.out.live_members {
        if let Some(g) = ix.group_of.get(m) {
            by_group.entry(g).or_default().push(m);
        }
    }
    let mut v = Vec::new();
    for (group, members) in by_group {
        let live: Vec<MemberId> = members.iter().map(|m| (*m).clone()).collect();
        for m in &members {
            match ix.last_view(m) {
                None => v.push(violation(
                    "converged",
                    None,
                    format!("{m} of group {group} never installed a view"),
                )),
                Some(view) if view.members != live => v.push(violation(
                    "converged",
                    None,
                    format!(
                        "{m} ends in view {} {} but the live members of {group} are {}",
                        view.view,
                        names(&view.members),
                        names(&live)
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    Ok(v)
}

fn member_named(m: &MemberId, name: &MemberName) -> bool {
    m.job.as_str() == name.job && m.node.0 == name.node
}

fn reason_of(r: Reason) -> LeaveReason {
    match r {
        Reason::Fault => LeaveReason::Fault,
        Reason::Leave => LeaveReason::Leave,
        Reason::JobLost => LeaveReason::JobLost,
        Reason::NodeDown => LeaveReason::NodeDown,
    }
}

fn check_expectation(ix: &Index<'_>, exp: &Expectation, check: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    match exp {
        Expectation::ProtocolOutcome {
            member,
            protocol,
            instance,
            outcome,
        } => {
            // The latest outcome each member (job@node, thread) recorded for
            // the instance.
            let mut latest: BTreeMap<(String, u16), &str> = BTreeMap::new();
            for e in &ix.out.trace.entries {
                if let TraceEvent::ProtocolOutcome {
                    member: m,
                    thread,
                    protocol: p,
                    instance: i,
                    outcome: o,
                    ..
                } = &e.event
                {
                    if p == protocol
                        && i == instance
                        && member.as_ref().is_none_or(|n| member_named(m, n))
                    {
                        latest.insert((m.to_string(), *thread), o.as_str());
                    }
                }
            }
            if latest.is_empty() {
                let who = member
                    .as_ref()
                    .map_or("no member".to_string(), |m| format!("{m} never"));
                v.push(violation(
                    check,
                    None,
                    format!("{who} decided instance {instance} of {protocol} (expected {outcome})"),
                ));
            }
            for ((m, thread), o) in latest {
                if o != outcome {
                    v.push(violation(
                        check,
                        None,
                        format!("{m} thread {thread} decided instance {instance} of {protocol}: {o}, expected {outcome}"),
                    ));
                }
            }
        }
        Expectation::MembershipChange {
            member,
            reason,
            within,
            group,
        } => {
            let within_given = within.is_some();
            let within = within.map_or(ix.cfg.notify_bound(), Dur::from_std);
            let candidates: Vec<&Departure> = ix
                .departures
                .iter()
                .filter(|d| {
                    member_named(&d.member, member)
                        && group.as_ref().is_none_or(|g| {
                            ix.group_of
                                .get(&d.member)
                                .is_some_and(|dg| dg.as_str() == g)
                        })
                })
                .collect();
            // With a reason, the departure of that kind (a member cut off by
            // a partition, then faulting, leaves twice); else the first.
            let departure = reason
                .and_then(|r| candidates.iter().find(|d| d.reason == reason_of(r)))
                .or(candidates.first())
                .copied();
            let Some(d) = departure else {
                v.push(violation(
                    check,
                    None,
                    format!("{member} never left its group"),
                ));
                return v;
            };
            let observers = ix.observers(d, within.max(ix.cfg.notify_bound()));
            if observers.is_empty() {
                v.push(violation(
                    check,
                    Some(d.at),
                    format!(
                        "no member held {member} in its view when it left ({}): it had already left every other \
                         member's view, or none stayed through its departure",
                        d.reason
                    ),
                ));
            }
            for o in observers {
                // `within` counts from the fault; without it, the bound counts
                // from the departure itself (a work-thread fault strikes at the
                // thread's next step, which a stalled round can delay).
                let since = if within_given { d.fault_at } else { d.at };
                match ix.told(&o, &d.member, since, since + within) {
                    None => v.push(violation(
                        check,
                        Some(d.fault_at),
                        format!(
                            "{o} got no membership change naming {member} within {} of the fault",
                            ms(within)
                        ),
                    )),
                    // The member must really have left for that reason; an
                    // observer that had lost sight of its node may say node-down.
                    Some((t, r))
                        if reason.is_some_and(|want| {
                            let want = reason_of(want);
                            d.reason != want
                                || (r != want && !ix.lost_sight(&o, &d.member, d.at, t, r))
                        }) =>
                    {
                        v.push(violation(
                            check,
                            Some(d.fault_at),
                            format!(
                                "{o} saw {member} leave with reason {r}, expected {}",
                                reason.map_or("", |x| x.name())
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Expectation::NoMembershipChange { group } => {
            for (observer, views) in &ix.views {
                for (at, c) in views {
                    if group.as_ref().is_some_and(|g| c.group.as_str() != g) || c.left.is_empty() {
                        continue;
                    }
                    v.push(violation(
                        check,
                        Some(*at),
                        format!(
                            "{observer} saw {} leave group {}",
                            crate::trace::left_list(&c.left),
                            c.group
                        ),
                    ));
                }
            }
        }
        Expectation::FinalView { group, members } => {
            let want: BTreeSet<String> = members.iter().map(|m| m.to_string()).collect();
            let live: Vec<&MemberId> = ix
                .out
                .live_members
                .iter()
                .filter(|m| ix.group_of.get(*m).is_some_and(|g| g.as_str() == group))
                .collect();
            if live.is_empty() && !want.is_empty() {
                v.push(violation(
                    check,
                    None,
                    format!("no live member of group {group} at the end"),
                ));
            }
            for m in live {
                let have: BTreeSet<String> = ix
                    .last_view(m)
                    .map(|c| c.members.iter().map(|x| x.to_string()).collect())
                    .unwrap_or_default();
                if have != want {
                    v.push(violation(
                        check,
                        None,
                        format!(
                            "{m} ends with [{}], expected [{}]",
                            have.into_iter().collect::<Vec<_>>().join(", "),
                            want.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
    }
    v
}

/// Runs every check and every expectation on a finished run. A scenario
/// with a `[random]` section is judged by the faults the run's seed drew
/// (a swarm run must pass the scenario it ran, as `runner` does).
/// How long one departure took to reach every survivor: from the fault
/// that caused it (or the departure itself, for a graceful leave) to the
/// moment the last concerned member took a change naming it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub member: MemberId,
    /// The reason the survivors were told.
    pub reason: LeaveReason,
    pub fault_at: Time,
    /// When the last survivor was told; `None`: some survivor was not told
    /// in time (a `notified` violation).
    pub last_told: Option<Time>,
    /// How many survivors were owed the notice.
    pub observers: usize,
}

impl Notice {
    pub fn latency(&self) -> Option<Dur> {
        self.last_told.map(|t| t.saturating_sub(self.fault_at))
    }
}

/// Every departure that `notified` judges, with its latency, or none when
/// some survivor was not told in time. Departures it does not judge (too
/// close to the end, or not sure to be departures) are left out.
fn notices(judged: &[Judged<'_>]) -> Vec<Notice> {
    judged
        .iter()
        .filter(|j| !j.told.is_empty())
        .map(|j| {
            let told: Option<Vec<(Time, LeaveReason)>> = j.told.iter().map(|(_, t)| *t).collect();
            let last = told.and_then(|t| t.into_iter().max_by_key(|(t, _)| *t));
            Notice {
                member: j.d.member.clone(),
                reason: last.map_or(j.d.reason, |(_, r)| r),
                fault_at: j.d.fault_at.min(j.d.at),
                last_told: last.map(|(t, _)| t),
                observers: j.told.len(),
            }
        })
        .collect()
}

pub fn check(out: &RunOutput, scenario: &Scenario, cfg: &Config) -> Vec<CheckResult> {
    check_with_notices(out, scenario, cfg).0
}

/// [`check`], and the run's [`Notice`]s.
pub fn check_with_notices(
    out: &RunOutput,
    scenario: &Scenario,
    cfg: &Config,
) -> (Vec<CheckResult>, Vec<Notice>) {
    let scenario = &*crate::scenario::draw::concrete(scenario, out.seed);
    let ix = Index::new(out, scenario, cfg);
    let judged = judged(&ix);
    let result = |name: &str, violations: Vec<Violation>| CheckResult {
        name: name.into(),
        skipped: None,
        violations,
    };
    let mut results = vec![
        result("notified", check_notified(&ix, &judged)),
        result("views-agree", check_views_agree(&ix)),
        result("no-ghost-delivery", check_no_ghost(&ix)),
        result("main-thread-responsive", check_responsive(&ix)),
        result("acks-complete", check_acks_complete(&ix)),
        result("barrier-order", check_barrier_order(&ix)),
    ];
    let keeps_state = out
        .trace
        .entries
        .iter()
        .any(|e| matches!(&e.event, TraceEvent::RoundCompleted { state: Some(_), .. }));
    results.push(if keeps_state {
        result("state-agrees", check_state_agrees(&ix))
    } else {
        CheckResult {
            name: "state-agrees".into(),
            skipped: Some("no protocol in this run keeps group state".into()),
            violations: vec![],
        }
    });
    for (name, violations) in check_agreement(&ix) {
        results.push(result(name, violations));
    }
    results.push(match check_converged(&ix) {
        Ok(v) => result("converged", v),
        Err(why) => CheckResult {
            name: "converged".into(),
            skipped: Some(why),
            violations: vec![],
        },
    });
    for exp in &scenario.expectations {
        let label = match exp {
            Expectation::MembershipChange { member, .. } => {
                format!("expect membership-change {member}")
            }
            Expectation::NoMembershipChange { group: Some(g) } => {
                format!("expect no-membership-change {g}")
            }
            Expectation::NoMembershipChange { group: None } => {
                "expect no-membership-change".to_string()
            }
            Expectation::FinalView { group, .. } => format!("expect final-view {group}"),
            Expectation::ProtocolOutcome {
                member,
                protocol,
                instance,
                outcome,
            } => match member {
                Some(m) => format!("expect protocol-outcome {m} {protocol} {instance} {outcome}"),
                None => format!("expect protocol-outcome {protocol} {instance} {outcome}"),
            },
        };
        let violations = check_expectation(&ix, exp, &label);
        results.push(result(&label, violations));
    }
    let notices = notices(&judged);
    (results, notices)
}
