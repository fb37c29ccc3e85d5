//! A node's own clock, as the `clock` fault sets it: what the node's
//! engine and main threads read at each true time, and when in true time
//! their deadlines fall. Both drivers (and real nodes) keep one per node
//! and hand the machines its reading; the trace keeps true time.
//!
//! A clock is linear from the last time it was set: it read `read` at true
//! time `since` and runs at `rate` (in millionths) since. Setting it may
//! step it ahead, never back: the machines read a monotonic clock.

use vigil_engine::{Dur, Time};

/// One node's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeClock {
    since: Time,
    read: Time,
    /// Millionths of true time per true time: 1,000,000 keeps time.
    rate_ppm: u32,
}

impl Default for NodeClock {
    fn default() -> NodeClock {
        NodeClock::TRUE
    }
}

const ONE: u32 = 1_000_000;

impl NodeClock {
    /// A clock that keeps true time.
    pub const TRUE: NodeClock = NodeClock {
        since: Time(0),
        read: Time(0),
        rate_ppm: ONE,
    };

    pub fn rate_ppm(&self) -> u32 {
        self.rate_ppm
    }

    /// What the clock reads at true time `t` (not before the last set).
    pub fn local(&self, t: Time) -> Time {
        let elapsed = t.saturating_sub(self.since).0;
        let run = if self.rate_ppm == ONE {
            elapsed
        } else {
            (u128::from(elapsed) * u128::from(self.rate_ppm) / u128::from(ONE)) as u64
        };
        self.read + Dur(run)
    }

    /// The first true time (not before `now`) at which the clock reads
    /// `local` or later: when a deadline on this clock falls.
    pub fn global(&self, local: Time, now: Time) -> Time {
        if local.0 == u64::MAX {
            return local;
        }
        let ahead = local.saturating_sub(self.read).0;
        let t = if self.rate_ppm == ONE {
            self.since + Dur(ahead)
        } else {
            let rate = u128::from(self.rate_ppm);
            let span = (u128::from(ahead) * u128::from(ONE)).div_ceil(rate);
            self.since + Dur(u64::try_from(span).unwrap_or(u64::MAX))
        };
        t.max(now)
    }

    /// From true time `now` on, the clock reads `offset` more than it did
    /// and runs at `rate_ppm`.
    pub fn set(&mut self, now: Time, offset: Dur, rate_ppm: u32) {
        self.read = self.local(now) + offset;
        self.since = now;
        self.rate_ppm = rate_ppm.max(1);
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn a_true_clock_reads_true_time() {
        let c = NodeClock::TRUE;
        assert_eq!(c.local(Time(12_345)), Time(12_345));
        assert_eq!(c.global(Time(500), Time(100)), Time(500));
        assert_eq!(
            c.global(Time(50), Time(100)),
            Time(100),
            "never in the past"
        );
    }

    fn a_deadline_falls_when_the_clock_first_reads_it() {
        let mut c = NodeClock::TRUE;
        c.set(Time(1_000), Dur(0), 1_500_000); // 50% fast from 1 us
        assert_eq!(c.local(Time(1_000)), Time(1_000));
        assert_eq!(c.local(Time(3_000)), Time(4_000));
        for local in [1_001u64, 1_002, 1_003, 4_000, 4_001, 999_999_999] {
            let g = c.global(Time(local), Time(0));
            assert!(c.local(g) >= Time(local), "{local}: reads it at {g:?}");
            assert!(c.local(Time(g.0 - 1)) < Time(local), "{local}: not sooner");
        }
        c.set(Time(3_000), Dur(10_000), 500_000); // steps ahead, runs slow
        assert_eq!(c.local(Time(3_000)), Time(14_000));
        assert_eq!(c.local(Time(5_000)), Time(15_000));
        assert_eq!(c.global(Time(15_000), Time(3_000)), Time(5_000));
    }

    unit_tests![
        a_true_clock_reads_true_time,
        a_deadline_falls_when_the_clock_first_reads_it,
    ];
}
