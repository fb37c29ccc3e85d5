//! How long each departure took to reach every survivor: the figures
//! behind `notify_ms` and the HTML report's latency per reason.

use super::membership::Judged;
use vigil_engine::{Dur, LeaveReason, MemberId, Time};

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
pub(super) fn notices(judged: &[Judged<'_>]) -> Vec<Notice> {
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
