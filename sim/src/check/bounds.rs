//! The bounds the checks hold the system to, from the run's settings.
//!
//! A departure's notice is owed within a bound that depends on how the
//! engine learns of it:
//! - a **node** departure (`node-down`: a crash, a pause or a partition)
//!   needs the failure detector: [`node`], the engine's own
//!   [`Config::notify_bound`] (3.16 s with the defaults);
//! - a **local** departure (`fault`, `leave`, `job-lost`) is one the
//!   member's own engine learns at once from its job: it needs no failure
//!   detector, only two network hops (the member's node to the leader, the
//!   leader to every member's node), each with the retransmissions the
//!   network's loss calls for: [`local`], tens of milliseconds without
//!   loss. This is the point of the patent: a main thread that tells its
//!   engine a second late must not pass for one on time.

use crate::trace::RunInfo;
use vigil_engine::{Config, Dur};

/// The longest a main thread may leave an engine event in its inbox.
pub const RESPONSIVE: Dur = Dur::from_millis(5);

/// The same on a real machine (`vigil run --real`): its scheduler can keep
/// a runnable thread waiting tens of milliseconds when a few dozen threads
/// share two cores, which no simulator shows; a main thread that blocks
/// on its work (a step, a watchdog's wait) is later still.
pub const RESPONSIVE_REAL: Dur = Dur::from_millis(50);

/// The responsiveness bound of a run on `info`'s driver.
pub fn responsive(info: &RunInfo) -> Dur {
    if info.driver == crate::trace::Driver::Real {
        RESPONSIVE_REAL
    } else {
        RESPONSIVE
    }
}

/// How late the OS may run a runnable thread on `info`'s driver: nothing
/// in a simulator, which runs every thread when it is due;
/// [`RESPONSIVE_REAL`] on a real machine. A bound on how soon one thread
/// acts on what another did (a work thread on its main thread's new view)
/// allows this much more.
pub fn scheduling(info: &RunInfo) -> Dur {
    if info.driver == crate::trace::Driver::Real {
        RESPONSIVE_REAL
    } else {
        Dur(0)
    }
}

/// What madsim charges a packet besides its latency: a send and a receive.
const HOP_COST: Dur = Dur::from_millis(2);

/// The chance a bound may be missed by bad luck alone, per hop: the
/// retransmissions a hop is allowed make losing all of them this unlikely.
const MISS_PER_HOP: f64 = 1e-6;

/// Most retransmissions a hop is allowed, however lossy the network.
const RETRIES_MAX: u32 = 32;

/// How many retransmissions a hop needs so that losing every one of them
/// is less likely than [`MISS_PER_HOP`], under loss probability `loss`.
pub fn retries(loss: f64) -> u32 {
    if loss <= 0.0 {
        return 0;
    }
    if loss >= 1.0 {
        return RETRIES_MAX;
    }
    let needed = (MISS_PER_HOP.ln() / loss.ln()).ceil() as u32;
    needed.saturating_sub(1).min(RETRIES_MAX)
}

/// `d`, a span the engine or a main thread measures on its own clock, in
/// true time when the clock runs at `rate_ppm` millionths of true time.
///
/// Under drift every bound here stretches this way, counted on the
/// slowest clock of the run: the failure timeout, the gather window, the
/// heartbeat interval and the retransmission timeout are all measured by
/// some node's clock, and a slow clock (rate r < 1) measures each 1/r
/// times longer in true time; a fast one only shortens them, which the
/// bound already covers. So a departure is owed its notice within
/// B / r_min, where B is the bound without drift and r_min the slowest
/// rate any node's clock ran at in the run (1 if none ran slow). A clock
/// that steps ahead moves no bound: it is a disruption, as a pause is.
pub fn stretched(d: Dur, rate_ppm: u32) -> Dur {
    if rate_ppm >= 1_000_000 {
        return d;
    }
    let t = u128::from(d.0) * 1_000_000 / u128::from(rate_ppm.max(1));
    Dur(u64::try_from(t).unwrap_or(u64::MAX))
}

/// The notification bound of a departure that needs the failure detector
/// (`node-down`).
pub fn node(cfg: &Config) -> Dur {
    cfg.notify_bound()
}

/// The notification bound of a departure the member's own engine learns of
/// at once (`fault`, `leave`, `job-lost`): two hops, each with its
/// retransmissions under the network's loss `loss`, and one heartbeat
/// interval for the leader's turn.
pub fn local(cfg: &Config, loss: f64) -> Dur {
    let hop = cfg.latency_max + HOP_COST + cfg.retransmit_timeout() * u64::from(retries(loss));
    hop * 2 + cfg.heartbeat_interval
}

/// How long after the last disruption every open ACK round must have
/// ended: a departure's notification, plus one local step and one round
/// trip.
pub fn round(info: &RunInfo) -> Dur {
    let step_max = info
        .jobs
        .iter()
        .map(|j| j.step_time)
        .max()
        .unwrap_or_default();
    let deadline_max = info
        .jobs
        .iter()
        .map(|j| j.work_deadline)
        .max()
        .unwrap_or_default();
    let cfg = &info.engine;
    cfg.notify_bound() + deadline_max + step_max * 2 + cfg.retransmit_timeout() * 2
}

/// How long before the end every fault must have ended for `converged` to
/// apply: two notification bounds (a departure and the merge that may
/// follow it) plus two probe intervals for views to meet again.
pub fn settle(cfg: &Config) -> Dur {
    cfg.notify_bound() * 2 + cfg.probe_interval() * 2
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            nodes: 5,
            heartbeat_interval: Dur::from_millis(100),
            failure_timeout: Dur::from_millis(1000),
            latency_max: Dur::from_millis(10),
            quorum: None,
        }
    }

    fn a_lossless_network_owes_a_local_notice_in_network_time() {
        assert_eq!(retries(0.0), 0);
        assert_eq!(local(&cfg(), 0.0), Dur::from_millis(124));
        assert!(
            local(&cfg(), 0.0) * 20 < node(&cfg()),
            "far below the failure detector's"
        );
    }

    fn loss_buys_retransmissions_until_a_miss_is_one_in_a_million() {
        assert_eq!(retries(0.05), 4); // 0.05^5 < 1e-6 <= 0.05^4
        assert_eq!(retries(0.5), 19);
        assert_eq!(retries(1.0), RETRIES_MAX);
        assert!(local(&cfg(), 0.05) > local(&cfg(), 0.0));
    }

    unit_tests![
        a_lossless_network_owes_a_local_notice_in_network_time,
        loss_buys_retransmissions_until_a_miss_is_one_in_a_million,
    ];
}
