//! `main-thread-responsive`: a main thread takes every engine event within
//! [`bounds::RESPONSIVE`] of the engine queuing it (on a real network
//! [`bounds::RESPONSIVE_REAL`]) (time its node spent
//! paused excepted), also while its work threads hang. An event it never
//! took counts too: when its job ended (it left, was killed, its node
//! crashed, or the run ended), the oldest one had waited that long.

use super::truth::Truth;
use super::{bounds, ms, violation, Violation};
use crate::trace::TraceEvent;
use vigil_engine::{Dur, MemberId, Time};

pub(super) fn check(t: &Truth<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let bound = bounds::responsive(&t.trace.info);
    // Whether `member`'s node was paused or down at some time in [from, to].
    let out = |member: &MemberId, from: Time, to: Time| {
        t.outages
            .iter()
            .any(|(n, a, b)| *n == member.node && *a <= to && *b >= from)
    };
    for e in &t.trace.entries {
        match &e.event {
            TraceEvent::InboxLag { member, lag_ns } => {
                let queued = Time(e.at.0.saturating_sub(*lag_ns));
                if Dur(*lag_ns) > bound && !out(member, queued, e.at) {
                    v.push(violation(
                        "main-thread-responsive",
                        Some(e.at),
                        format!(
                            "{member}'s main thread took an engine event {} after it was queued (bound {})",
                            ms(Dur(*lag_ns)),
                            ms(bound)
                        ),
                    ));
                }
            }
            TraceEvent::InboxUnread {
                member,
                count,
                oldest,
            } => {
                let waited = e.at.saturating_sub(*oldest);
                if waited > bound && !out(member, *oldest, e.at) {
                    v.push(violation(
                        "main-thread-responsive",
                        Some(e.at),
                        format!(
                            "{member}'s main thread never took {count} engine event(s), the oldest queued {} before its job ended (bound {})",
                            ms(waited),
                            ms(bound)
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    v
}
