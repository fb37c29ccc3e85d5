//! The ground truth of a run, indexed once from its trace for every check:
//! who was in which group, which views each member took, and who left,
//! when and why, as the driver made it happen.
//!
//! Departures come from what the driver did, never from what the system
//! said about itself: a work-thread fault the driver injected is a `fault`
//! (whatever reason the job unregistered with, if it did), a job it killed
//! is `job-lost`, a job it asked to leave is `leave`, a node it crashed,
//! or paused or cut off for longer than the failure detector allows, is
//! `node-down`. Only an unregistration nothing the driver did explains (a
//! protocol's own error) counts with the reason it gave.

use super::bounds;
use crate::mutation::{mutated, Mutation};
use crate::trace::{Effect, Trace, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::{Dur, LeaveReason, MemberId, MembershipChange, Name, NodeId, Time, ViewId};

/// A member leaving, as the driver caused it.
#[derive(Clone, Debug)]
pub(super) struct Departure {
    pub member: MemberId,
    /// Why it really left.
    pub reason: LeaveReason,
    /// When it left: from then on, its notice is owed.
    pub at: Time,
    /// When its cause struck (a faulty step's start; else `at`).
    pub caused: Time,
    /// When the scenario fault that caused it struck (for an
    /// expectation's `within`).
    pub fault_at: Time,
    /// That fault's number, when a node or network fault caused it.
    pub fault: Option<usize>,
    /// Only observers on these nodes are concerned (a partition's far side).
    pub observers_on: Option<BTreeSet<NodeId>>,
    /// A pause or partition longer than the failure timeout but shorter than
    /// the notification bound: the survivors may or may not see it as a
    /// departure. Not judged by `notified`; an expectation may still ask.
    pub maybe: bool,
}

impl Departure {
    /// Whether its own node's engine learns of it at once.
    pub fn local(&self) -> bool {
        self.reason != LeaveReason::NodeDown
    }
}

/// Everything the checks need, indexed once.
pub(super) struct Truth<'a> {
    pub trace: &'a Trace,
    pub mutation: Option<Mutation>,
    pub group_of: BTreeMap<MemberId, Name>,
    pub registered_at: BTreeMap<MemberId, Time>,
    /// Views each observer took, in order.
    pub views: BTreeMap<MemberId, Vec<(Time, &'a MembershipChange)>>,
    pub departures: Vec<Departure>,
    /// Node outages (crash to restart, pause to resume), for excusing observers.
    pub outages: Vec<(NodeId, Time, Time)>,
    /// The last moment anything was disrupted (a fault struck or ended).
    pub last_disruption: Time,
    /// What is still in effect at the end.
    pub unhealed: Vec<String>,
    /// Members that first appeared in a view, not by registering: the same
    /// job on a node that was excluded, back under a new id.
    pub renamed: BTreeSet<MemberId>,
    /// The node views each node installed, in order.
    pub node_views: BTreeMap<NodeId, Vec<(Time, &'a [NodeId])>>,
    /// When node and network faults struck or ended (crash, restart,
    /// pause, resume, cut, restore, degradation), with the fault's number;
    /// and every node's boot. See [`Truth::notify_deadline`].
    pub disruptions: Vec<(Time, Option<usize>)>,
    /// When each loss or delay that ends starts and ends.
    pub network_faults: Vec<(Time, Time)>,
    /// When each one-way cut starts and heals (the run's end if it never
    /// does): while one lasts, views can keep changing (the side that
    /// still hears the other keeps trying to merge), so no departure is
    /// owed within the local bound.
    pub one_way_cuts: Vec<(Time, Time)>,
    /// Each graceful stop: the node, when it began and when the node went
    /// down (the run's end if it did not). Until it is down, its engine is
    /// to get its jobs' leaves through first: an observer that stopped
    /// seeing the node meanwhile is no excuse for reading `node-down`.
    pub stops: Vec<(NodeId, Time, Time, usize)>,
    /// The slowest rate each node's clock ran at during the run, in
    /// millionths of true time (only nodes a clock fault slowed).
    pub slowest: BTreeMap<NodeId, u32>,
    /// The most each node was slowed (`node-slow`), in thousandths.
    pub slowed: BTreeMap<NodeId, u32>,
    /// How slow each slowed node ran from when, in order.
    pub slow_changes: BTreeMap<NodeId, Vec<(Time, u32)>>,
    /// When a node's clock was first set ahead of true time (a step, or a
    /// rate above 1), by node.
    pub ahead_since: BTreeMap<NodeId, Time>,
    /// Each crash that lost its node's disk: the node and when.
    pub disks_lost: Vec<(NodeId, Time)>,
}

impl<'a> Truth<'a> {
    pub fn new(trace: &'a Trace, mutation: Option<Mutation>) -> Truth<'a> {
        let mut t = Truth {
            trace,
            mutation,
            group_of: BTreeMap::new(),
            registered_at: BTreeMap::new(),
            views: BTreeMap::new(),
            departures: Vec::new(),
            outages: Vec::new(),
            last_disruption: Time(0),
            unhealed: Vec::new(),
            renamed: BTreeSet::new(),
            node_views: BTreeMap::new(),
            disruptions: Vec::new(),
            network_faults: Vec::new(),
            one_way_cuts: Vec::new(),
            stops: Vec::new(),
            slowest: BTreeMap::new(),
            slowed: BTreeMap::new(),
            slow_changes: BTreeMap::new(),
            ahead_since: BTreeMap::new(),
            disks_lost: Vec::new(),
        };
        t.index_clocks();
        t.index_members();
        t.index_local_departures();
        t.index_node_faults();
        t.drop_overtaken_by_crashes();
        t.departures.sort_by_key(|d| d.at);
        t.disruptions.sort();
        t
    }

    pub fn end(&self) -> Time {
        self.trace.end.at
    }

    /// [`bounds::node`], on the slowest clock of the run.
    pub fn node_bound(&self) -> Dur {
        self.stretched(bounds::node(&self.trace.info.engine))
    }

    /// [`bounds::local`], on the slowest clock of the run.
    pub fn local_bound(&self) -> Dur {
        self.stretched(bounds::local(&self.trace.info.engine, self.trace.info.loss))
    }

    /// `d` counted on the slowest clock of the run: see
    /// [`bounds::stretched`].
    pub fn stretched(&self, d: Dur) -> Dur {
        let slowest = self.slowest.values().copied().min().unwrap_or(1_000_000);
        bounds::stretched(d, slowest)
    }

    /// How slow `node` ran at `at`, in thousandths (1000: full speed).
    pub fn slow_at(&self, node: NodeId, at: Time) -> u32 {
        self.slow_changes
            .get(&node)
            .and_then(|c| c.iter().take_while(|(t, _)| *t <= at).last())
            .map_or(1000, |(_, f)| *f)
    }

    /// `d`, a span of local work on `node`, as slow as the node ever ran.
    pub fn slowed(&self, node: NodeId, d: Dur) -> Dur {
        let f = self.slowed.get(&node).copied().unwrap_or(1000).max(1000);
        Dur(u64::try_from(u128::from(d.0) * u128::from(f) / 1000).unwrap_or(u64::MAX))
    }

    /// Whether `node` lost its disk in `(from, to]` while another node's
    /// clock had been set ahead: then a view-id floor from its own clock
    /// may fall below ids the other issued (see `Durable::boot`), unless
    /// it learned them from its peers (see `floor_unlearnable`).
    pub fn floor_unsure(&self, node: NodeId, from: Time, to: Time) -> bool {
        self.disks_lost.iter().any(|(n, at)| {
            *n == node
                && *at > from
                && *at <= to
                && self
                    .ahead_since
                    .iter()
                    .any(|(o, since)| *o != node && *since <= *at)
        })
    }

    /// Whether `node`, booted from a blank disk, could not have learned a
    /// view id as high as `id` from its peers before its member took a
    /// view at `at`: none of the nodes of its node view at `at` knew one
    /// (by what the trace shows of them) when `node` installed that view,
    /// or it was alone, and no peer had answered for a failure timeout
    /// since its boot (the engine holds its members' views that long).
    /// What the nodes of a view knew at its install is what its leader
    /// gathered before it issued group views in it; what one learned after
    /// may reach the leader too late (`lost-disk-hold-crash.toml --swarm`
    /// seed 1003: the view's other node issued a higher id itself after
    /// the group view, before the slow member took it).
    pub fn floor_unlearnable(&self, node: NodeId, id: ViewId, at: Time) -> bool {
        let entries = &self.trace.entries;
        let upto = entries.partition_point(|e| e.at <= at);
        let boot = entries
            .rev_before(upto)
            .find(|e| matches!(&e.event, TraceEvent::NodeBoot { node: n } if *n == node))
            .map_or(Time(0), |e| e.at);
        let view = entries.rev_before(upto).find_map(|e| match &e.event {
            TraceEvent::NodeView {
                node: n, members, ..
            } if *n == node && e.at >= boot => Some((e.at, members)),
            _ => None,
        });
        let Some((installed, members)) = view else {
            return true;
        };
        if members.iter().all(|m| *m == node) {
            let ft = self.trace.info.engine.failure_timeout;
            // A clock set ahead ends the hold early in true time.
            let clock_ahead = self.ahead_since.get(&node).is_some_and(|t| *t <= at);
            return clock_ahead || at >= boot + ft;
        }
        members
            .iter()
            .filter(|m| **m != node)
            .all(|k| !self.knew(*k, id, installed))
    }

    /// Whether the trace shows `node` knowing a view id of at least `id`
    /// by `at`, since it last lost its disk: it installed such a node
    /// view, or one of its members saw such a group view.
    fn knew(&self, node: NodeId, id: ViewId, at: Time) -> bool {
        let since = self
            .disks_lost
            .iter()
            .filter(|(n, t)| *n == node && *t <= at)
            .map(|(_, t)| *t)
            .max();
        self.trace.entries.iter().any(|e| {
            e.at <= at
                && since.is_none_or(|s| e.at > s)
                && match &e.event {
                    TraceEvent::NodeView { node: n, view, .. } => *n == node && *view >= id,
                    TraceEvent::View { change } => change.me.node == node && change.view >= id,
                    _ => false,
                }
        })
    }

    /// The slowest rate each node's clock ran at (a fault that set a rate
    /// ran it so until the end, or until a fault's end set it back).
    fn index_clocks(&mut self) {
        for e in &self.trace.entries {
            let effect = match &e.event {
                TraceEvent::Fault { effect, .. } | TraceEvent::FaultEnd { effect, .. } => effect,
                _ => continue,
            };
            match effect {
                Effect::Clock {
                    node,
                    rate_ppm,
                    offset,
                } => {
                    if *rate_ppm < 1_000_000 {
                        let slowest = self.slowest.entry(*node).or_insert(*rate_ppm);
                        *slowest = (*slowest).min(*rate_ppm);
                    }
                    if *rate_ppm > 1_000_000 || offset.0 > 0 {
                        self.ahead_since.entry(*node).or_insert(e.at);
                    }
                }
                Effect::NodeSlowed { node, factor_milli } => {
                    let most = self.slowed.entry(*node).or_insert(*factor_milli);
                    *most = (*most).max(*factor_milli);
                    self.slow_changes
                        .entry(*node)
                        .or_default()
                        .push((e.at, *factor_milli));
                }
                Effect::NodeDown {
                    node,
                    disk_lost: true,
                } => self.disks_lost.push((*node, e.at)),
                _ => {}
            }
        }
    }

    fn index_members(&mut self) {
        let trace = self.trace;
        for e in &trace.entries {
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
                TraceEvent::Fault { .. } | TraceEvent::FaultEnd { .. } => {
                    self.last_disruption = e.at
                }
                TraceEvent::NodeBoot { .. } => self.disruptions.push((e.at, None)),
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

    /// When fault number `index` struck.
    fn fault_time(&self, index: usize) -> Option<Time> {
        self.trace.entries.iter().find_map(|e| match &e.event {
            TraceEvent::Fault { index: i, .. } if *i == index => Some(e.at),
            _ => None,
        })
    }

    /// Departures a member's own engine learns of at once: a work-thread
    /// fault the driver injected, a job it killed or asked to leave, and an
    /// unregistration nothing it did explains.
    fn index_local_departures(&mut self) {
        let trace = self.trace;
        // Each member's departure, by where it is in `departures`: the
        // first to take effect stands (a hang shows only when the watchdog
        // confirms it; a leave asked meanwhile, by a node stop say, comes
        // first: random-faults swarm seed 2876).
        let mut gone: BTreeMap<&MemberId, usize> = BTreeMap::new();
        // The members each graceful stop asked to leave: when, until the
        // node went down, and the stop's number.
        let mut stopping: BTreeMap<&MemberId, (Time, Time, usize)> = BTreeMap::new();
        for e in &trace.entries {
            if let TraceEvent::Fault {
                index,
                effect: Effect::NodeStopping { members, .. },
                ..
            } = &e.event
            {
                let down = trace
                    .entries
                    .iter()
                    .find(|x| {
                        x.at >= e.at
                            && matches!(&x.event, TraceEvent::FaultEnd { index: i, .. } if i == index)
                    })
                    .map_or(Time(u64::MAX), |x| x.at);
                for m in members {
                    stopping.insert(m, (e.at, down, *index));
                }
            }
        }
        // Members whose unregistration was recorded so far: a leave asked
        // of a member takes effect only then.
        let mut unregistered: BTreeSet<&MemberId> = BTreeSet::new();
        for e in &trace.entries {
            if let TraceEvent::Unregistered { member, .. } = &e.event {
                unregistered.insert(member);
            }
            let (member, reason, at, fault_at) = match &e.event {
                TraceEvent::StepFault {
                    member,
                    kind,
                    fault,
                    ..
                } => {
                    // The step's fault shows when the step would have ended
                    // (a panic or an error), or when the main thread's
                    // watchdog confirms it (a hang).
                    let job = trace.info.job(&member.job);
                    // A watchdog counts on its node's clock.
                    let rate = self.slowest.get(&member.node).copied().unwrap_or(1_000_000);
                    let allowance = match kind {
                        vigil_engine::job::FaultKind::Hang => job.map_or(Dur(0), |j| {
                            bounds::stretched(
                                j.work_deadline + vigil_engine::job::HANG_CONFIRM,
                                rate,
                            )
                        }),
                        // A slow node's step ends later (the driver slows a
                        // step by how slow its node runs when it starts).
                        vigil_engine::job::FaultKind::Panic
                        | vigil_engine::job::FaultKind::Error => {
                            let f = u128::from(self.slow_at(member.node, e.at).max(1000));
                            job.map_or(Dur(0), |j| {
                                Dur((u128::from(j.step_time.0) * f / 1000) as u64)
                            })
                        }
                    };
                    let fault_at = self.fault_time(*fault).unwrap_or(e.at);
                    (member, LeaveReason::Fault, e.at + allowance, fault_at)
                }
                TraceEvent::Fault {
                    effect:
                        Effect::LeaveAsked {
                            member: Some(member),
                            ..
                        },
                    ..
                } => (member, LeaveReason::Leave, e.at, e.at),
                TraceEvent::Fault {
                    effect:
                        Effect::JobKilled {
                            member: Some(member),
                            ..
                        },
                    ..
                } => (member, LeaveReason::JobLost, e.at, e.at),
                TraceEvent::Unregistered { member, reason, .. } => (member, *reason, e.at, e.at),
                _ => continue,
            };
            // A leave its node's graceful stop asked for is that stop's.
            let stop = (reason == LeaveReason::Leave)
                .then(|| stopping.get(member))
                .flatten()
                .filter(|(from, to, _)| *from <= e.at && e.at <= *to)
                .map(|(_, _, index)| *index);
            let departure = Departure {
                member: member.clone(),
                reason,
                at,
                caused: e.at,
                fault_at,
                fault: stop,
                observers_on: None,
                maybe: false,
            };
            match gone.get(member) {
                None => {
                    gone.insert(member, self.departures.len());
                    self.departures.push(departure);
                }
                // Another cause, sooner: the member's own unregistration
                // for the same cause only confirms the first.
                Some(&i) if at < self.departures[i].at && reason != self.departures[i].reason => {
                    self.departures[i] = departure
                }
                // A leave asked of a job that is killed before its main
                // thread unregistered (the two at one instant, the word to
                // leave still in its inbox): the kill is what happened.
                Some(&i)
                    if reason == LeaveReason::JobLost
                        && self.departures[i].reason == LeaveReason::Leave
                        && !unregistered.contains(member) =>
                {
                    self.departures[i] = departure
                }
                Some(_) => {}
            }
        }
    }

    /// Members alive on `node` at time `at`: registered, not departed, and
    /// not since renamed (a newer id of the same job on the same node).
    pub fn members_on(&self, node: NodeId, at: Time) -> Vec<MemberId> {
        let mut latest: BTreeMap<&Name, (&MemberId, Time)> = BTreeMap::new();
        for (m, r) in &self.registered_at {
            if m.node == node && *r <= at && latest.get(&m.job).is_none_or(|(_, t)| *t <= *r) {
                latest.insert(&m.job, (m, *r));
            }
        }
        let hidden_ends_life = mutated!(self.mutation, PartitionEndsLives);
        latest
            .into_values()
            .map(|(m, _)| m)
            .filter(|m| {
                !self.departures.iter().any(|d| {
                    // A partition only hides a member from the far side; it
                    // lives on for its own (and can crash later).
                    d.member == **m
                        && d.at <= at
                        && !d.maybe
                        && (d.observers_on.is_none() || hidden_ends_life)
                })
            })
            .cloned()
            .collect()
    }

    /// Every member on `node` leaves at `at`, its node gone for everyone.
    fn node_down(&mut self, node: NodeId, at: Time, maybe: bool, fault: usize) {
        for member in self.members_on(node, at) {
            self.departures.push(Departure {
                member,
                reason: LeaveReason::NodeDown,
                at,
                caused: at,
                fault_at: at,
                fault: Some(fault),
                observers_on: None,
                maybe,
            });
        }
    }

    /// Departures the failure detector must find, and the disruptions,
    /// outages and degradations that move deadlines: all from the effects
    /// the driver recorded.
    fn index_node_faults(&mut self) {
        let trace = self.trace;
        let end = self.end();
        let bound = self.node_bound();
        let failure_timeout = trace.info.engine.failure_timeout;
        // When every partition was healed at once (a `heal` fault).
        let heals: Vec<Time> = trace
            .entries
            .iter()
            .filter_map(|e| match &e.event {
                TraceEvent::Fault {
                    effect: Effect::LinksRestored { .. },
                    ..
                } => Some(e.at),
                _ => None,
            })
            .collect();
        // The end of each fault that lasts, by its number.
        let mut ends: BTreeMap<usize, Time> = BTreeMap::new();
        for e in &trace.entries {
            if let TraceEvent::FaultEnd { index, .. } = &e.event {
                ends.entry(*index).or_insert(e.at);
            }
        }
        let mut down: BTreeSet<NodeId> = BTreeSet::new();
        // Faults that only duplicate packets: no bound moves for them.
        let mut duplicates: BTreeSet<usize> = BTreeSet::new();
        for e in &trace.entries {
            let (index, effect, struck) = match &e.event {
                TraceEvent::Fault { index, effect, .. } => (*index, effect, true),
                TraceEvent::FaultEnd { index, effect, .. } => (*index, effect, false),
                _ => continue,
            };
            let at = e.at;
            match effect {
                Effect::NodeDown { node, .. } => {
                    self.disruptions.push((at, Some(index)));
                    let back = ends.get(&index).copied().unwrap_or(end).min(end);
                    self.outages.push((*node, at, back));
                    down.insert(*node);
                    self.node_down(*node, at, false, index);
                }
                Effect::NodeUp { node } => {
                    self.disruptions.push((at, Some(index)));
                    down.remove(node);
                }
                // To the survivors an engine that dies is its node gone:
                // its members leave (`node-down`, the failure detector's
                // to find). Its jobs live on, detached (`engine-lost`).
                Effect::EngineDown { node, .. } => {
                    self.disruptions.push((at, Some(index)));
                    // Back with a new engine, or with the node's next boot.
                    let crashed = trace.entries.iter().find(|x| {
                        x.at > at
                            && matches!(&x.event, TraceEvent::Fault { effect: Effect::NodeDown { node: n, .. }, .. } if n == node)
                    });
                    let back = ends.get(&index).copied().unwrap_or(end).min(end);
                    let back = crashed.map_or(back, |x| back.min(x.at));
                    self.outages.push((*node, at, back));
                    self.node_down(*node, at, false, index);
                }
                Effect::EngineUp { .. } => self.disruptions.push((at, Some(index))),
                // A graceful stop: its jobs' leaves are departures of their
                // own (`Unregistered`), owed within the local bound.
                Effect::NodeStopping { node, .. } => {
                    // A disruption for everyone else (the node's view
                    // changes at once), not for its own jobs' leaves.
                    self.disruptions.push((at, Some(index)));
                    let down = trace
                        .entries
                        .iter()
                        .find(|x| {
                            x.at >= at
                                && matches!(&x.event, TraceEvent::FaultEnd { index: i, effect: Effect::NodeStopped { .. }, .. } if *i == index)
                        })
                        .map_or(end, |x| x.at);
                    self.stops.push((*node, at, down, index));
                }
                Effect::NodeStopped { node } => {
                    self.disruptions.push((at, Some(index)));
                    let back = trace
                        .entries
                        .iter()
                        .find(|x| {
                            x.at >= at
                                && matches!(&x.event, TraceEvent::FaultEnd { index: i, effect: Effect::NodeUp { .. }, .. } if *i == index)
                        })
                        .map_or(end, |x| x.at)
                        .min(end);
                    self.outages.push((*node, at, back));
                    down.insert(*node);
                    // Members its jobs did not get out in time go with it.
                    self.node_down(*node, at, false, index);
                }
                Effect::NodePaused { node } => {
                    self.disruptions.push((at, Some(index)));
                    let back = ends.get(&index).copied().unwrap_or(end);
                    self.outages.push((*node, at, back.min(end)));
                    // Only a pause that outlasts the notification bound must
                    // be reported; one shorter than the failure timeout must
                    // not; in between, either is right.
                    let lasts = back.saturating_sub(at);
                    if lasts > failure_timeout {
                        self.node_down(*node, at, lasts < bound, index);
                    }
                }
                Effect::NodeResumed { .. } => self.disruptions.push((at, Some(index))),
                Effect::LinksCut { sides, .. } if struck => {
                    self.disruptions.push((at, Some(index)));
                    // A partition lasts until its own heal or a `heal`;
                    // another partition may cut more links, but it is
                    // judged on its own (it heals only its own).
                    let own = ends.get(&index).copied();
                    let healed = heals.iter().find(|h| **h > at).copied();
                    let until = [own, healed].into_iter().flatten().min();
                    let lasts = until.map_or(Dur(u64::MAX), |u| u.saturating_sub(at));
                    if lasts <= failure_timeout {
                        continue;
                    }
                    let maybe = lasts < bound;
                    for (si, side) in sides.iter().enumerate() {
                        let others: BTreeSet<NodeId> = sides
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != si)
                            .flat_map(|(_, s)| s.iter().copied())
                            .collect();
                        for n in side {
                            for m in self.members_on(*n, at) {
                                self.departures.push(Departure {
                                    member: m,
                                    reason: LeaveReason::NodeDown,
                                    at,
                                    caused: at,
                                    fault_at: at,
                                    fault: Some(index),
                                    observers_on: Some(others.clone()),
                                    maybe,
                                });
                            }
                        }
                    }
                }
                // A one-way cut owes no particular departure: either side
                // may drop the other (or a leader drop either), so only
                // what every cut owes is judged: no ACK awaited for ever
                // (`acks-complete`), one view after it heals (`converged`).
                Effect::LinksCutOneWay { .. } if struck => {
                    self.disruptions.push((at, Some(index)));
                    let heal = heals.iter().copied().find(|h| *h >= at);
                    let healed = ends.get(&index).copied().into_iter().chain(heal).min();
                    self.one_way_cuts.push((at, healed.unwrap_or(end)));
                }
                Effect::LinksCut { .. }
                | Effect::LinksCutOneWay { .. }
                | Effect::LinksRestored { .. } => {
                    self.disruptions.push((at, Some(index)));
                }
                Effect::NetworkDegraded { .. } if effect.only_duplicates() => {
                    // Links drop the second copy; nothing is slower.
                    duplicates.insert(index);
                }
                Effect::NetworkDegraded { .. } => {
                    // A loss or delay counts when it starts and when it
                    // ends: while it lasts the bound is not guaranteed (a
                    // 50% loss can drop every retry), so a departure during
                    // it is owed its notice within the bound after it ends.
                    // Only one that ends excuses a late notice: under one
                    // that lasts to the end, departures keep the plain bound
                    // (or none would ever be judged).
                    self.disruptions.push((at, Some(index)));
                    if let Some(until) = ends.get(&index) {
                        self.network_faults.push((at, *until));
                    }
                }
                Effect::NetworkRestored { .. } if duplicates.contains(&index) => {}
                Effect::NetworkRestored { .. } => self.disruptions.push((at, Some(index))),
                // A clock that steps ahead: its node's timers all fall due
                // at once, as after a pause (the engine and the watchdogs
                // tell it from silence, at the cost of a later deadline).
                // A rate alone moves the bounds instead (`stretched`).
                Effect::Clock { offset, .. } if offset.0 > 0 => {
                    self.disruptions.push((at, Some(index)))
                }
                Effect::Clock { .. } => {}
                // A slow node is judged as loss and delay are: while it is
                // slow its engine's queue may hold a notice back, so a
                // departure meanwhile is owed within a bound of its end.
                Effect::NodeSlowed { .. } => {
                    self.disruptions.push((at, Some(index)));
                    if struck {
                        if let Some(until) = ends.get(&index) {
                            self.network_faults.push((at, *until));
                        }
                    }
                }
                Effect::None(_)
                | Effect::Armed { .. }
                | Effect::JobKilled { .. }
                | Effect::LeaveAsked { .. }
                | Effect::JobStarts { .. } => {}
            }
        }
        self.unhealed = self.still_in_effect();
    }

    /// A faulty step whose node crashed before the fault could show: the
    /// crash, not the fault, is how the member left.
    fn drop_overtaken_by_crashes(&mut self) {
        let crashes: Vec<(NodeId, Time)> = self
            .trace
            .entries
            .iter()
            .filter_map(|e| match &e.event {
                TraceEvent::Fault {
                    effect: Effect::NodeDown { node, .. } | Effect::EngineDown { node, .. },
                    ..
                } => Some((*node, e.at)),
                _ => None,
            })
            .collect();
        self.departures.retain(|d| {
            !(d.local()
                && crashes
                    .iter()
                    .any(|(n, t)| *n == d.member.node && d.caused <= *t && *t < d.at))
        });
    }

    /// What is still in effect at the end of the run.
    fn still_in_effect(&self) -> Vec<String> {
        let trace = self.trace;
        let mut unhealed = Vec::new();
        for (k, status) in trace.end.nodes.iter().enumerate() {
            match status {
                crate::trace::NodeStatus::Up => {}
                crate::trace::NodeStatus::Crashed => unhealed.push(format!("n{k} is down")),
                crate::trace::NodeStatus::Paused => unhealed.push(format!("n{k} is paused")),
            }
        }
        let mut cut: BTreeSet<(NodeId, NodeId)> = BTreeSet::new();
        let mut degraded: BTreeMap<usize, &'static str> = BTreeMap::new();
        for e in &trace.entries {
            match &e.event {
                TraceEvent::Fault {
                    effect: Effect::LinksCut { links, .. },
                    ..
                } => cut.extend(links.iter().copied()),
                TraceEvent::Fault {
                    effect: Effect::LinksCutOneWay { from, to },
                    ..
                } => cut.extend(Effect::one_way_links(from, to)),
                TraceEvent::Fault {
                    effect: Effect::LinksRestored { links },
                    ..
                }
                | TraceEvent::FaultEnd {
                    effect: Effect::LinksRestored { links },
                    ..
                } => {
                    for l in links {
                        cut.remove(l);
                    }
                }
                TraceEvent::Fault {
                    index,
                    kind,
                    effect: effect @ Effect::NetworkDegraded { .. },
                    ..
                } if !effect.only_duplicates() => {
                    degraded.insert(*index, kind);
                }
                TraceEvent::FaultEnd {
                    index,
                    effect: Effect::NetworkRestored { .. },
                    ..
                } => {
                    degraded.remove(index);
                }
                _ => {}
            }
        }
        if !cut.is_empty() {
            unhealed.push("a partition is in effect".into());
        }
        for kind in degraded.values() {
            unhealed.push(format!("the {kind} fault is in effect"));
        }
        unhealed
    }

    /// By when every observer must have been told of departure `d`.
    ///
    /// A local departure (`fault`, `leave`, `job-lost`) is owed within the
    /// local bound, unless the cluster itself was in flux shortly before
    /// (a node fault, a boot, a heal within one node bound): then a view
    /// change may be under way that the notice has to wait for, and the
    /// node bound applies. A `node-down` departure is owed within the node
    /// bound.
    ///
    /// Either bound holds when at most one leader (or one member of an
    /// install) is lost while the departure is reported. A node or network
    /// fault that strikes (or ends: a restart, a resume or a heal makes
    /// views merge) while the report is still due can cost the membership
    /// protocol that much again: a detection, a gather and an install that
    /// has to start over. No node can tell a crash it must wait out from
    /// one it need not, so the report is owed within one node bound of the
    /// last such fault instead, the way `acks-complete` judges rounds from
    /// the last disruption. The departure's own fault (a crashed node's
    /// restart, say) is covered by the bound itself.
    ///
    /// Loss and delay are judged the same way, for as long as they last: a
    /// loss burst in effect when the member leaves owes the report within
    /// one bound of its end.
    pub fn notify_deadline(&self, d: &Departure) -> Time {
        let node_bound = self.node_bound();
        let settled = !self.disruptions.iter().any(|(t, f)| {
            *t <= d.at && d.at.saturating_sub(*t) < node_bound && (f.is_none() || *f != d.fault)
        }) && !self
            .one_way_cuts
            .iter()
            .any(|(from, to)| *from <= d.at && d.at.saturating_sub(*to) < node_bound);
        let bound = if d.local() && settled {
            self.local_bound()
        } else {
            node_bound
        };
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
            if *at > d.at && (fault.is_none() || *fault != d.fault) {
                deadline = deadline.max(*at + node_bound);
            }
        }
        deadline
    }

    /// The view `observer` held at `at` (the last one it took by then).
    pub fn view_at(&self, observer: &MemberId, at: Time) -> Option<&'a MembershipChange> {
        let views = self.views.get(observer)?;
        views
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map(|(_, c)| *c)
    }

    pub fn last_view(&self, observer: &MemberId) -> Option<&'a MembershipChange> {
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
    /// view when it left, and stayed themselves for `window`.
    pub fn observers(&self, d: &Departure, window: Dur) -> Vec<MemberId> {
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
    /// Whether nothing but fault `own` disrupted the cluster in `[from,
    /// to)` or one notification bound before it: no other node or network
    /// fault struck or ended, no loss, delay or one-way cut lasted into it.
    fn calm(&self, from: Time, to: Time, own: usize) -> bool {
        let since = Time(from.0.saturating_sub(self.node_bound().0));
        let overlaps = |(a, b): &(Time, Time)| *a < to && *b > since;
        !self
            .disruptions
            .iter()
            .any(|(t, f)| *t >= since && *t < to && *f != Some(own))
            && !self.network_faults.iter().any(overlaps)
            && !self.one_way_cuts.iter().any(overlaps)
    }

    pub fn lost_sight(
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
        // During a calm graceful stop, only once the node is down (under
        // other faults its leaves may not get through in time).
        let from = self
            .stops
            .iter()
            .find(|(n, start, down, index)| {
                *n == member.node
                    && *start <= from
                    && from < *down
                    && self.calm(*start, *down, *index)
            })
            .map_or(from, |(_, _, down, _)| *down);
        if from > to {
            return false;
        }
        // The member's node came back as a new incarnation before the
        // observer was told: its old one is gone as if down, and a view
        // may swap the two without ever lacking the node (a stop whose
        // leave a one-way cut held back, then a quick restart).
        let rebooted = self.trace.entries.iter().any(|e| {
            e.at > from
                && e.at <= to
                && matches!(&e.event, TraceEvent::NodeBoot { node } if *node == member.node)
        });
        if rebooted {
            return true;
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
    pub fn told(
        &self,
        observer: &MemberId,
        member: &MemberId,
        from: Time,
        to: Time,
    ) -> Option<(Time, LeaveReason)> {
        self.told_which(observer, member, from, to, false)
    }

    /// The first departure of `member` told to `observer` in `[from, to]`,
    /// or with `last` the last one no later view of the window undid: the
    /// one whose reason `notified` judges when the first one's differs.
    pub fn told_which(
        &self,
        observer: &MemberId,
        member: &MemberId,
        from: Time,
        to: Time,
        last: bool,
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
        let first = changes.iter().find_map(|(t, c)| {
            if *t < from || *t > to {
                return None;
            }
            c.left
                .iter()
                .find(|(m, _)| m == member)
                .map(|(_, r)| (*t, *r))
        });
        if !last {
            return first;
        }
        // The departure after which the member does not come back in the
        // window: one that a later view undoes (the member in it again,
        // under the same id) may be an older view's that reached the
        // observer late (random-faults swarm seed 1378: a view of a
        // partition from before a job-kill, then the heal, then the kill).
        let mut told = None;
        for (t, c) in changes {
            if *t < from || *t > to {
                continue;
            }
            if let Some((_, r)) = c.left.iter().find(|(m, _)| m == member) {
                told = Some((*t, *r));
            } else if told.is_some() && c.members.contains(member) {
                told = None;
            }
        }
        told
    }

    /// Whether the change that told `observer`, at `at`, that `member` left
    /// for `reason` was decided before `by`: some member took a view of the
    /// same id naming that departure by then. A leader that dropped a node
    /// (a pause past the failure timeout) issued `node-down` for its member
    /// before the member's own fault (a hang the watchdog confirms later)
    /// took effect; an observer that took the view late was told the truth
    /// as it stood when it was decided (random-faults with a quorum, seed
    /// 1086).
    pub fn decided_before(
        &self,
        observer: &MemberId,
        member: &MemberId,
        at: Time,
        reason: LeaveReason,
        by: Time,
    ) -> bool {
        let Some((group, view)) = self.views.values().flatten().find_map(|(t, c)| {
            (*t == at
                && c.me.job == observer.job
                && c.me.node == observer.node
                && c.left.iter().any(|(m, r)| m == member && *r == reason))
            .then(|| (c.group.clone(), c.view))
        }) else {
            return false;
        };
        self.views.values().flatten().any(|(t, c)| {
            *t <= by
                && c.group == group
                && c.view == view
                && c.left.iter().any(|(m, r)| m == member && *r == reason)
        })
    }
}
