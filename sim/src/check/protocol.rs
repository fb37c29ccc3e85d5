//! The protocols' checks: `state-agrees` (members that complete a round in
//! one view hold one group state) and each protocol's agreement check
//! (`atomic-commit` for two-phase commit): decisions of one instance agree,
//! and a unanimous one (a commit) has every vote it needs.

use super::truth::Truth;
use super::{violation, Violation};
use crate::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::job::Proposal;
use vigil_engine::{MemberId, Name, ViewId};

/// `state-agrees`: members that completed a round in the same view hold
/// identical group state after it. `Err`: no protocol in the run keeps
/// group state.
pub(super) fn state_agrees(t: &Truth<'_>) -> Result<Vec<Violation>, String> {
    type Key<'a> = (&'a Name, u16, u64, ViewId);
    let mut first: BTreeMap<Key<'_>, (&MemberId, &str)> = BTreeMap::new();
    let mut v = Vec::new();
    let mut keeps_state = false;
    for e in &t.trace.entries {
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
        keeps_state = true;
        let Some(group) = t.group_of.get(member) else {
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
    if !keeps_state {
        return Err("no protocol in this run keeps group state".into());
    }
    Ok(v)
}

/// The protocols' agreement checks, each by its name:
/// - **agreement**: no two members decide one instance (of one proposal)
///   differently. Outcomes the protocol marks as not binding (two-phase
///   commit's `in-doubt`) are not decisions;
/// - **validity** of a unanimous outcome (a commit): every member of the
///   view its proposal began in voted yes on it, and the proposer decided
///   it while its view was still that one (a member that left during the
///   vote took its vote with it).
pub(super) fn agreement(t: &Truth<'_>) -> BTreeMap<&'static str, Vec<Violation>> {
    type Key<'a> = (&'a Name, u16, u64, Option<&'a Proposal>);
    let mut first: BTreeMap<Key<'_>, (&MemberId, &str)> = BTreeMap::new();
    let mut v: BTreeMap<&'static str, Vec<Violation>> = BTreeMap::new();
    let quorum = t.trace.info.engine.quorum.is_some();
    // Yes votes cast, by (group, thread, instance, proposal).
    let mut yes: BTreeMap<(&Name, u16, u64, &Proposal), BTreeSet<&MemberId>> = BTreeMap::new();
    // Unanimous outcomes already judged for validity.
    let mut judged: BTreeSet<(&Name, u16, u64, &Proposal)> = BTreeSet::new();
    // The members of each view of each group.
    let mut members_of: BTreeMap<(&Name, ViewId), &[MemberId]> = BTreeMap::new();
    for (_, change) in t.trace.views() {
        members_of
            .entry((&change.group, change.view))
            .or_insert(&change.members);
    }
    // The view each member is in, as of the entry at hand: a view taken
    // at the same instant as a decision but after it does not count.
    let mut current: BTreeMap<&MemberId, &vigil_engine::MembershipChange> = BTreeMap::new();
    for e in &t.trace.entries {
        if let TraceEvent::View { change } = &e.event {
            current.insert(&change.me, change);
            continue;
        }
        if let TraceEvent::Vote {
            member,
            thread,
            instance,
            proposal,
            yes: true,
        } = &e.event
        {
            if let Some(group) = t.group_of.get(member) {
                yes.entry((group, *thread, *instance, proposal))
                    .or_default()
                    .insert(member);
            }
            continue;
        }
        let TraceEvent::ProtocolOutcome(o) = &e.event else {
            continue;
        };
        let crate::trace::Outcome {
            member,
            thread,
            instance,
            outcome,
            proposal,
            agreement: Some(check),
            binding,
            unanimous,
            ..
        } = &**o
        else {
            continue;
        };
        let found = v.entry(check).or_default();
        if !binding {
            continue;
        }
        let Some(group) = t.group_of.get(member) else {
            continue;
        };
        let by = proposal
            .as_ref()
            .map_or(String::new(), |p| format!(" (proposed by {p})"));
        // Under a quorum only a primary view decides, so one number is one
        // transaction, whatever view proposed it.
        let key = (
            group,
            *thread,
            *instance,
            proposal.as_ref().filter(|_| !quorum),
        );
        match first.get(&key) {
            Some((who, theirs)) if *theirs != outcome.as_str() => {
                found.push(violation(
                    check,
                    Some(e.at),
                    format!(
                        "instance {instance}{by} of group {group}: {who} decided {theirs} but {member} decided {outcome}{}",
                        if quorum { " (under a quorum only a primary view decides, so one number is one transaction)" } else { "" }
                    ),
                ));
            }
            Some(_) => {}
            None => {
                first.insert(key, (member, outcome.as_str()));
            }
        }
        let (true, Some(p)) = (*unanimous, proposal.as_ref()) else {
            continue;
        };
        if !judged.insert((group, *thread, *instance, p)) {
            continue;
        }
        // A proposal names a view of the group; without it, there is no
        // telling who had to vote.
        let Some(view) = members_of.get(&(group, p.view)).copied() else {
            continue;
        };
        // Every member of the proposal's view voted yes.
        let voters = yes.get(&(group, *thread, *instance, p));
        let missing: Vec<String> = view
            .iter()
            .filter(|m| !voters.is_some_and(|v| v.contains(m)))
            .map(|m| m.to_string())
            .collect();
        if !missing.is_empty() {
            found.push(violation(
                check,
                Some(e.at),
                format!(
                    "instance {instance}{by} of group {group}: {member} decided {outcome} without a yes vote from {}",
                    missing.join(", ")
                ),
            ));
        }
        // The proposer decided it in the view the vote began in.
        if *member == p.by {
            if let Some(now) = current.get(member) {
                if now.view != p.view {
                    let gone: Vec<String> = view
                        .iter()
                        .filter(|m| !now.members.contains(m))
                        .map(|m| m.to_string())
                        .collect();
                    let why = if gone.is_empty() {
                        format!("its view changed to {} during the vote", now.view)
                    } else {
                        format!(
                            "{} left during the vote (its view is {})",
                            gone.join(", "),
                            now.view
                        )
                    };
                    found.push(violation(
                        check,
                        Some(e.at),
                        format!("instance {instance}{by} of group {group}: {member} decided {outcome} but {why}"),
                    ));
                }
            }
        }
    }
    v
}
