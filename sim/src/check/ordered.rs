//! The checks of ordered messages (`Dest::Ordered`): `total-order` (every
//! member takes a view's messages in one order, each once, numbered 1, 2,
//! ... in the view it is in) and `view-synchrony` (members that install the
//! same two views in a row took the same messages in the first, and no
//! message is taken in a view its sender is not in). Skipped in a run
//! with no ordered messages.

use super::truth::Truth;
use super::{holds, violation, Violation};
use crate::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::{MemberId, MembershipChange, Name, ViewId};

/// `total-order` and `view-synchrony`, or why they do not apply.
pub(super) fn checks(t: &Truth<'_>) -> Result<(Vec<Violation>, Vec<Violation>), String> {
    let mut order = Vec::new();
    let mut sync = Vec::new();
    let mut current: BTreeMap<&MemberId, &MembershipChange> = BTreeMap::new();
    // How many ordered messages each member took in its current view.
    let mut taken: BTreeMap<&MemberId, u64> = BTreeMap::new();
    // (view, next view) -> the first member seen to go from one to the
    // other, and the messages it took in the first.
    let mut spans: BTreeMap<(ViewId, ViewId), (&MemberId, u64)> = BTreeMap::new();
    // (group, view, seq) -> (from, n), as the first member took it.
    let mut numbered: BTreeMap<(&Name, ViewId, u64), (&MemberId, u64, &MemberId)> = BTreeMap::new();
    let mut seen: BTreeSet<(&MemberId, &MemberId, u64)> = BTreeSet::new();
    let mut any = false;
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::View { change } => {
                let me = &change.me;
                if let Some(prev) = current.get(me) {
                    let n = taken.get(me).copied().unwrap_or(0);
                    match spans.get(&(prev.view, change.view)) {
                        Some((other, k)) if *k != n => sync.push(violation(
                            "view-synchrony",
                            Some(e.at),
                            format!(
                                "views {} then {} of group {}: {other} took {k} ordered messages in view {}, {me} took {n}",
                                prev.view, change.view, change.group, prev.view
                            ),
                        )),
                        Some(_) => {}
                        None => {
                            spans.insert((prev.view, change.view), (me, n));
                        }
                    }
                }
                current.insert(me, change);
                taken.insert(me, 0);
            }
            TraceEvent::Ordered {
                to,
                from,
                view,
                seq,
                n,
            } => {
                any = true;
                let Some(c) = current.get(to) else {
                    order.push(violation(
                        "total-order",
                        Some(e.at),
                        format!("{to} took an ordered message before any view"),
                    ));
                    continue;
                };
                if c.view != *view {
                    sync.push(violation(
                        "view-synchrony",
                        Some(e.at),
                        format!(
                            "{to} took message #{seq} of view {view} while in view {}",
                            c.view
                        ),
                    ));
                }
                if !holds(&c.members, from) {
                    sync.push(violation(
                        "view-synchrony",
                        Some(e.at),
                        format!(
                            "{to} took a message from {from}, which is not in its view {}",
                            c.view
                        ),
                    ));
                }
                let k = taken.entry(to).or_insert(0);
                *k += 1;
                if *seq != *k {
                    order.push(violation(
                        "total-order",
                        Some(e.at),
                        format!("{to} took #{seq} of view {view} as its message {k} there"),
                    ));
                }
                match numbered.get(&(&c.group, *view, *seq)) {
                    Some((f, m, who)) if (*f, *m) != (from, *n) => order.push(violation(
                        "total-order",
                        Some(e.at),
                        format!(
                            "#{seq} of view {view} of group {}: {who} took {f}'s message {m}, {to} took {from}'s message {n}",
                            c.group
                        ),
                    )),
                    Some(_) => {}
                    None => {
                        numbered.insert((&c.group, *view, *seq), (from, *n, to));
                    }
                }
                if !seen.insert((to, from, *n)) {
                    order.push(violation(
                        "total-order",
                        Some(e.at),
                        format!("{to} took {from}'s message {n} twice"),
                    ));
                }
            }
            _ => {}
        }
    }
    if !any {
        return Err("no member sent ordered messages".to_string());
    }
    Ok((order, sync))
}
