//! The scenario's own expectations (`[[expect]]`), judged against the
//! ground truth like the checks.

use super::truth::Truth;
use super::{ms, violation, Violation};
use crate::scenario::{Expectation, MemberName, Reason};
use crate::trace::{left_list, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::{Dur, LeaveReason, MemberId, Time};

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

/// The name an expectation is reported under.
pub(super) fn label(exp: &Expectation) -> String {
    match exp {
        Expectation::MembershipChange {
            member, occurrence, ..
        } => match occurrence {
            Some(n) if *n > 1 => format!("expect membership-change {member} #{n}"),
            _ => format!("expect membership-change {member}"),
        },
        Expectation::NoMembershipChange { group: Some(g) } => {
            format!("expect no-membership-change {g}")
        }
        Expectation::NoMembershipChange { group: None } => {
            "expect no-membership-change".to_string()
        }
        Expectation::FinalView { group, .. } => format!("expect final-view {group}"),
        Expectation::Joined {
            member, occurrence, ..
        } => match occurrence {
            Some(n) if *n > 1 => format!("expect joined {member} #{n}"),
            _ => format!("expect joined {member}"),
        },
        Expectation::ProtocolOutcome {
            member,
            protocol,
            instance,
            outcome,
        } => match member {
            Some(m) => format!("expect protocol-outcome {m} {protocol} {instance} {outcome}"),
            None => format!("expect protocol-outcome {protocol} {instance} {outcome}"),
        },
    }
}

pub(super) fn check(ix: &Truth<'_>, exp: &Expectation, check: &str) -> Vec<Violation> {
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
            for e in &ix.trace.entries {
                if let TraceEvent::ProtocolOutcome(outcome) = &e.event {
                    let crate::trace::Outcome {
                        member: m,
                        thread,
                        protocol: p,
                        instance: i,
                        outcome: o,
                        ..
                    } = &**outcome;
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
            primary,
            occurrence,
        } => {
            let within_given = within.is_some();
            let within = within.map_or(ix.node_bound(), Dur::from_std);
            let mut candidates: Vec<&super::truth::Departure> = ix
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
            candidates.sort_by_key(|d| d.at);
            // With a reason, the departures of that kind (a member cut off
            // by a partition, then faulting, leaves twice); else all; of
            // them the `occurrence`-th, the first by default.
            let nth = occurrence.unwrap_or(1) as usize;
            let of_reason: Vec<&super::truth::Departure> = match reason {
                Some(r) if candidates.iter().any(|d| d.reason == reason_of(*r)) => candidates
                    .iter()
                    .copied()
                    .filter(|d| d.reason == reason_of(*r))
                    .collect(),
                _ => candidates.clone(),
            };
            let Some(d) = of_reason.get(nth - 1).copied() else {
                let message = if of_reason.is_empty() {
                    format!("{member} never left its group")
                } else {
                    format!(
                        "{member} left its group {} time(s), expected departure #{nth}",
                        of_reason.len()
                    )
                };
                v.push(violation(check, None, message));
                return v;
            };
            let observers = ix.observers(d, within.max(ix.node_bound()));
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
                // The change that named the departure says whether its view
                // is primary.
                let named = ix.views.get(&o).and_then(|views| {
                    views
                        .iter()
                        .find(|(at, c)| *at >= d.at && c.left.iter().any(|(m, _)| *m == d.member))
                });
                if let (Some(want), Some((at, c))) = (primary, named) {
                    if c.primary != Some(*want) {
                        v.push(violation(
                            check,
                            Some(*at),
                            format!(
                                "{o} saw {member} leave in view {} that is {}, expected {}",
                                c.view,
                                primary_word(c.primary),
                                primary_word(Some(*want))
                            ),
                        ));
                    }
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
                            left_list(&c.left),
                            c.group
                        ),
                    ));
                }
            }
        }
        Expectation::Joined { .. } => joined(ix, check, exp, &mut v),
        Expectation::FinalView {
            group,
            members,
            primary,
        } => {
            let want: BTreeSet<String> = members.iter().map(|m| m.to_string()).collect();
            let live: Vec<&MemberId> = ix
                .trace
                .end
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
                if let (Some(want), Some(last)) = (primary, ix.last_view(m)) {
                    if last.primary != Some(*want) {
                        v.push(violation(
                            check,
                            None,
                            format!(
                                "{m} ends in view {} that is {}, expected {}",
                                last.view,
                                primary_word(last.primary),
                                primary_word(Some(*want))
                            ),
                        ));
                    }
                }
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

/// `joined`: the `occurrence`-th time `member` entered its group's view at
/// or after `after`. An entry is a membership change at another member
/// naming it in `joined` while it was out of the group (later observers
/// of the same entry, or of a view that skipped one, see the same entry);
/// a change naming it in `left` takes it out again. A member's own first
/// view is not an entry (a restarted node forms a view of its own before
/// it merges), unless no other member ever names it: a group of one.
fn joined(ix: &Truth<'_>, check: &str, exp: &Expectation, v: &mut Vec<Violation>) {
    let Expectation::Joined {
        member,
        group,
        after,
        within,
        members,
        occurrence,
    } = exp
    else {
        return;
    };
    let (group, members) = (group.as_deref(), members.as_deref());
    let from = Time(0) + after.map_or(Dur(0), Dur::from_std);
    let mut inside: BTreeSet<&MemberId> = BTreeSet::new();
    let mut entries: Vec<(Time, &vigil_engine::MembershipChange, &MemberId)> = Vec::new();
    let mut own: Vec<(Time, &vigil_engine::MembershipChange, &MemberId)> = Vec::new();
    for (at, c) in ix.trace.views() {
        if group.is_some_and(|g| c.group.as_str() != g) {
            continue;
        }
        for (m, _) in &c.left {
            inside.remove(m);
        }
        for j in c.joined.iter().filter(|j| member_named(j, member)) {
            if *j == c.me {
                if at >= from {
                    own.push((at, c, j));
                }
            } else if inside.insert(j) && at >= from {
                entries.push((at, c, j));
            }
        }
    }
    let named_by_others = ix.trace.views().any(|(_, c)| {
        !member_named(&c.me, member) && c.members.iter().any(|m| member_named(m, member))
    });
    if !named_by_others {
        entries = own;
    }
    let nth = occurrence.unwrap_or(1) as usize;
    let since = after.map_or(String::new(), |a| {
        format!(" at or after {}", ms(Dur::from_std(a)))
    });
    let Some(&(at, c, me)) = entries.get(nth - 1) else {
        let message = if entries.is_empty() {
            format!("{member} never joined its group{since}")
        } else {
            format!(
                "{member} joined its group {} time(s){since}, expected entry #{nth}",
                entries.len()
            )
        };
        v.push(violation(check, None, message));
        return;
    };
    if let Some(want) = members {
        let want: BTreeSet<String> = want.iter().map(|m| m.to_string()).collect();
        let have: BTreeSet<String> = c.members.iter().map(|m| m.to_string()).collect();
        if have != want {
            v.push(violation(
                check,
                Some(at),
                format!(
                    "{me} joined view {} of {} with [{}], expected [{}]",
                    c.view,
                    c.group,
                    have.into_iter().collect::<Vec<_>>().join(", "),
                    want.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let Some(within) = *within else { return };
    let deadline = from + Dur::from_std(within);
    for m in &c.members {
        let holds = ix.views.get(m).is_some_and(|views| {
            views
                .iter()
                .any(|(t, w)| *t <= deadline && w.view >= c.view && w.members.contains(me))
        });
        if !holds {
            v.push(violation(
                check,
                Some(at),
                format!(
                    "{m} held no view with {me} within {} of {}",
                    ms(Dur::from_std(within)),
                    ms(Dur(from.0))
                ),
            ));
        }
    }
}

fn primary_word(p: Option<bool>) -> &'static str {
    match p {
        Some(true) => "primary",
        Some(false) => "not primary",
        None => "without a quorum",
    }
}
