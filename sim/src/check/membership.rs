//! The membership checks: `notified` (every survivor hears of every
//! departure, with its true reason, in time), `views-agree`,
//! `no-ghost-delivery` and `converged`.

use super::truth::{Departure, Truth};
use super::{bounds, holds, ms, names, violation, Violation};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;
use vigil_engine::{Dur, LeaveReason, MemberId, MembershipChange, Name, NodeId, Time, ViewId};

/// A departure `notified` judges: the observers owed a notice within
/// `window` of it, and what each was told by then (when, with what reason).
pub(super) struct Judged<'a> {
    pub d: &'a Departure,
    pub window: Dur,
    pub told: Vec<(MemberId, Option<(Time, LeaveReason)>)>,
}

/// Every departure that is sure to be one and whose deadline falls within
/// the run, with what its observers were told. `notified` judges these and
/// [`super::Notice`]s measure them.
pub(super) fn judged<'a>(t: &'a Truth<'_>) -> Vec<Judged<'a>> {
    let mut out = Vec::new();
    for d in t.departures.iter().filter(|d| !d.maybe) {
        let deadline = t.notify_deadline(d);
        if deadline > t.end() {
            continue; // too close to the end to judge
        }
        let window = deadline.saturating_sub(d.at);
        let told = t
            .observers(d, window)
            .into_iter()
            .map(|o| {
                let told = t.told(&o, &d.member, d.at, deadline);
                (o, told)
            })
            .collect();
        out.push(Judged { d, window, told });
    }
    out
}

pub(super) fn notified(t: &Truth<'_>, judged: &[Judged<'_>]) -> Vec<Violation> {
    let mut v = Vec::new();
    for Judged { d, window, told } in judged {
        for (o, told) in told {
            match told {
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
                Some((at, reason))
                    if *reason != d.reason
                        && !t.lost_sight(o, &d.member, d.at, *at, *reason)
                        && !t.decided_before(o, &d.member, *at, *reason, d.at)
                        && !told_right_at_last(t, d, o, *window) =>
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

/// Whether `observer`'s last word on `d` in its window, which no later view
/// undid, gives the true reason: the first one it took may belong to an
/// older view that reached it late (see [`Truth::told_which`]).
fn told_right_at_last(t: &Truth<'_>, d: &Departure, observer: &MemberId, window: Dur) -> bool {
    t.told_which(observer, &d.member, d.at, d.at + window, true)
        .is_some_and(|(_, reason)| reason == d.reason)
}

pub(super) fn views_agree(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut by_id: BTreeMap<(Name, ViewId), (&MemberId, &Vec<MemberId>)> = BTreeMap::new();
    for (observer, views) in &t.views {
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
                        "view {} of group {}: {first:?} has {} but {observer:?} has {}",
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

/// `epochs-grow`: the view ids a node's members see grow across the node's
/// restarts, not only within one member's life, so a user may keep the
/// last view id as a fencing epoch. One group at a time: each group's
/// views are a sequence of their own. And a node's incarnations grow: a
/// member id (job, node, incarnation, registration) names one member in
/// all of a run, also after a node lost its disk.
pub(super) fn epochs_grow(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut seen: Vec<(Time, &MembershipChange)> = t.views.values().flatten().copied().collect();
    seen.sort_by_key(|(at, c)| (*at, c.me.node_incarnation, c.view));
    let mut last: BTreeMap<(NodeId, &Name), (Time, &MembershipChange)> = BTreeMap::new();
    for (at, c) in seen {
        match last.get(&(c.me.node, &c.group)).copied() {
            // After a lost disk, the view-id floor comes from the node's
            // own clock, and then from its peers; one that another node's
            // clock ran ahead of may fall below the ids that node issued,
            // if no node of its view knew them when it installed that
            // view: not judged then.
            Some((prev_at, prev))
                if prev.me.node_incarnation < c.me.node_incarnation
                    && c.view <= prev.view
                    && t.floor_unsure(c.me.node, prev_at, at)
                    && t.floor_unlearnable(c.me.node, prev.view, at) => {}
            Some((_, prev))
                if prev.me.node_incarnation < c.me.node_incarnation && c.view <= prev.view =>
            {
                v.push(violation(
                    "epochs-grow",
                    Some(at),
                    format!(
                        "{} saw view {} of group {} in incarnation {} after view {} in incarnation {}: \
                         a restarted node's view ids must keep growing",
                        c.me.node,
                        c.view,
                        c.group,
                        c.me.node_incarnation.0,
                        prev.view,
                        prev.me.node_incarnation.0
                    ),
                ));
            }
            Some((_, prev)) if c.me.node_incarnation < prev.me.node_incarnation => {
                v.push(violation(
                    "epochs-grow",
                    Some(at),
                    format!(
                        "{} was in incarnation {} after incarnation {}: a restarted node's \
                         incarnation must grow, or its new members take its old members' ids",
                        c.me.node, c.me.node_incarnation.0, prev.me.node_incarnation.0
                    ),
                ));
                last.insert((c.me.node, &c.group), (at, c));
            }
            Some((_, prev)) if prev.view >= c.view => continue,
            _ => {}
        }
        last.insert((c.me.node, &c.group), (at, c));
    }
    v
}

/// `one-primary`, or why it does not apply (the cluster keeps no quorum):
/// no two primary views of a group with disjoint members are held at the
/// same time. A view is held from the first moment one of its members
/// installs it until the last one moves on, leaves or ends with the run.
pub(super) fn one_primary(t: &Truth<'_>) -> Result<Vec<Violation>, String> {
    if t.trace.info.engine.quorum.is_none() {
        return Err("the cluster keeps no quorum".to_string());
    }
    // Where a member's life ended (its job left or died, its node
    // crashed); a partition's far side only lost sight of it.
    let mut ended: BTreeMap<&MemberId, Time> = BTreeMap::new();
    for d in t.departures.iter().filter(|d| d.observers_on.is_none()) {
        let at = ended.entry(&d.member).or_insert(d.at);
        *at = (*at).min(d.at);
    }
    // A job on a node holds one view at a time, also across its identities
    // (a node that learns it was excluded renames its members): the next
    // view any of them takes ends the hold of the one before.
    let mut by_job: BTreeMap<(&Name, NodeId), Vec<(Time, &MembershipChange)>> = BTreeMap::new();
    for views in t.views.values() {
        for (at, c) in views {
            by_job
                .entry((&c.me.job, c.me.node))
                .or_default()
                .push((*at, c));
        }
    }
    // (group, view) -> (first held, last held, members)
    let mut held: BTreeMap<(&Name, ViewId), (Time, Time, &Vec<MemberId>)> = BTreeMap::new();
    for views in by_job.values_mut() {
        views.sort_by_key(|(at, c)| (*at, c.view));
        for (i, (at, c)) in views.iter().enumerate() {
            if c.primary != Some(true) {
                continue;
            }
            let end = ended.get(&c.me).copied().unwrap_or(t.end());
            let until = views
                .get(i + 1)
                .map_or(end, |(next, _)| (*next).min(end))
                .max(*at);
            let h = held
                .entry((&c.group, c.view))
                .or_insert((*at, until, &c.members));
            h.0 = h.0.min(*at);
            h.1 = h.1.max(until);
        }
    }
    let mut v = Vec::new();
    let list: Vec<_> = held.iter().collect();
    for (i, ((group, a), (a_from, a_to, a_members))) in list.iter().enumerate() {
        for ((g2, b), (b_from, b_to, b_members)) in &list[i + 1..] {
            if group != g2 || b_from >= a_to || a_from >= b_to {
                continue;
            }
            if a_members.iter().any(|m| b_members.binary_search(m).is_ok()) {
                continue;
            }
            v.push(violation(
                "one-primary",
                Some(*a_from.max(b_from)),
                format!(
                    "group {group} had two primary views at once with no member in common: \
                     view {a} {} and view {b} {}",
                    names(a_members),
                    names(b_members)
                ),
            ));
        }
    }
    Ok(v)
}

/// `delivered-once`: a member takes each message another member's engine
/// sent it at most once (a link delivers every message of a session at
/// most once, whatever the network duplicates or the link retransmits).
/// A message is its sender and the sending engine's number for the send;
/// the numbers grow, and one sender's messages to one member travel one
/// FIFO link, so each must be above the last one taken from that sender
/// (which keeps the check's memory to one number per pair of members).
pub(super) fn delivered_once(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut last: BTreeMap<(&MemberId, &MemberId), u64> = BTreeMap::new();
    for e in &t.trace.entries {
        if let TraceEvent::Message {
            to,
            from,
            n,
            thread,
            round,
        } = &e.event
        {
            let before = last.insert((to, from), *n);
            if let Some(m) = before.filter(|m| *m >= *n) {
                let what = if m == *n {
                    "a second time".to_string()
                } else {
                    format!("after its message {m}: once more, or out of order")
                };
                v.push(violation(
                    "delivered-once",
                    Some(e.at),
                    format!(
                        "{to} took message {n} from {from} (thread {thread}, round {round}) {what}"
                    ),
                ));
                last.insert((to, from), m);
            }
        }
    }
    v
}

pub(super) fn no_ghost(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut current: BTreeMap<&MemberId, &MembershipChange> = BTreeMap::new();
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::View { change } => {
                current.insert(&change.me, change);
            }
            TraceEvent::Message { to, from, .. } => {
                let knows = current.get(to).is_some_and(|c| holds(&c.members, from));
                if !knows {
                    let saw_leave = t.views.get(to).is_some_and(|views| {
                        views
                            .iter()
                            .any(|(at, c)| *at <= e.at && c.left.iter().any(|(m, _)| m == from))
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

/// `converged`, or why it does not apply to this run.
pub(super) fn converged(t: &Truth<'_>) -> Result<Vec<Violation>, String> {
    if !t.unhealed.is_empty() {
        return Err(format!(
            "not every fault has ended: {}",
            t.unhealed.join("; ")
        ));
    }
    let settle = t.stretched(bounds::settle(&t.trace.info.engine));
    if t.last_disruption + settle > t.end() {
        return Err(if t.last_disruption == Time(0) {
            format!(
                "the run is shorter than {}: the cluster may still be forming its views",
                ms(settle)
            )
        } else {
            format!(
                "the last fault struck or ended less than {} before the end",
                ms(settle)
            )
        });
    }
    let mut by_group: BTreeMap<&Name, Vec<&MemberId>> = BTreeMap::new();
    for m in &t.trace.end.live_members {
        if let Some(g) = t.group_of.get(m) {
            by_group.entry(g).or_default().push(m);
        }
    }
    let mut v = Vec::new();
    for (group, members) in by_group {
        let live: Vec<MemberId> = members.iter().map(|m| (*m).clone()).collect();
        for m in &members {
            match t.last_view(m) {
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
