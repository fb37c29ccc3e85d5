//! The checks: what must hold in every run, whatever the scenario says, and
//! the scenario's own expectations. They read the trace and nothing else:
//! not the runtime, not the scenario's faults, not the fault draw. What
//! happened to the cluster comes from the driver's record of what it did
//! ([`crate::trace::Effect`], [`crate::trace::TraceEvent::StepFault`]), so
//! the checks judge the system by the truth, never by its own account.
//!
//! Always checked, each reported by its name:
//! - `notified` ([`membership`]): whenever a member leaves a group, every
//!   member that stays receives a membership change naming it, with the
//!   reason it really left for, within the bound for that reason
//!   ([`bounds`]).
//! - `views-agree`: one view id, one member list; a member's view ids only
//!   grow; a member's view contains itself.
//! - `epochs-grow`: the view ids a node's members see keep growing across
//!   the node's restarts (the engine keeps the highest id it has seen on
//!   disk), so a view id serves as a fencing epoch.
//! - `no-ghost-delivery`: no member takes a message from a member that is
//!   not in its current view.
//! - `delivered-once`: no member takes one message twice, whatever the
//!   network duplicates.
//! - `main-thread-responsive` ([`responsive`]): a main thread takes every
//!   engine event within [`bounds::RESPONSIVE`] of the engine queuing it,
//!   also the ones still unread when its job ended.
//! - `acks-complete`, `barrier-order`, `round-views` ([`rounds`]): ACK
//!   rounds end, nobody passes a round before its view reached it, and
//!   rounds run in the member's current view.
//! - `state-agrees` and the protocols' agreement checks ([`protocol`]):
//!   copies of group state agree; decisions agree, and a unanimous one (a
//!   commit) has the votes it needs.
//! - `total-order` and `view-synchrony` ([`ordered`]; skipped in a run
//!   with no ordered messages): every member takes a view's ordered
//!   messages in one order, each once; members that install the same two
//!   views in a row took the same ones in the first; none is taken in a
//!   view its sender is not in.
//! - `task-order` ([`tasks`]; skipped in a run with no tasks): members
//!   run the group's tasks in one order, each once; at every task
//!   boundary the oldest waiting priority task goes first; no member sits
//!   idle with tasks waiting.
//! - `one-primary` ([`membership`]; skipped when the cluster keeps no
//!   quorum): no two primary views of a group with disjoint members are
//!   held at the same time. Under a quorum, the agreement checks judge a
//!   transaction by its number alone, across proposals.
//! - `engine-lost` ([`engine`]; skipped when no engine crashed alone):
//!   when a node's engine dies and its jobs live on, every work thread of
//!   its members lets go of the membership that is gone within a local
//!   step, and every job still running registers again when the engine
//!   is back.
//! - `converged` ([`membership`]): after the last fault, live members end
//!   in one view.
//!
//! [`truth`] indexes the trace once for all of them: who was in which
//! group and view, and who left, when and why, as the driver caused it.

pub mod bounds;
mod engine;
mod expect;
mod latency;
mod membership;
mod ordered;
mod protocol;
mod responsive;
mod rounds;
mod tasks;
#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests;
mod truth;

pub use latency::Notice;

use crate::mutation::Mutation;
use crate::scenario::Expectation;
use crate::trace::Trace;
use std::fmt;
use truth::Truth;
use vigil_engine::{Dur, MemberId, Time};

/// The names of the checks that always run, in report order.
pub const ALWAYS: &[&str] = &[
    "notified",
    "views-agree",
    "epochs-grow",
    "no-ghost-delivery",
    "delivered-once",
    "main-thread-responsive",
    "acks-complete",
    "barrier-order",
    "round-views",
    "state-agrees",
    "total-order",
    "view-synchrony",
    "task-order",
    "one-primary",
    "engine-lost",
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
    /// `None`: it applied. `Some(reason)`: not applicable to this run.
    pub skipped: Option<String>,
    pub violations: Vec<Violation>,
}

impl CheckResult {
    fn of(name: &str, violations: Vec<Violation>) -> CheckResult {
        CheckResult {
            name: name.into(),
            skipped: None,
            violations,
        }
    }

    fn skipped(name: &str, why: String) -> CheckResult {
        CheckResult {
            name: name.into(),
            skipped: Some(why),
            violations: vec![],
        }
    }
}

fn violation(check: &str, at: Option<Time>, message: String) -> Violation {
    Violation {
        check: check.to_string(),
        message,
        at,
    }
}

/// Whether `members` (a view's, which the engine keeps sorted) holds
/// `member`. A search, for a check that asks at every message; a walk
/// where it finds none, so that an engine that left a view unsorted is not
/// taken at its word.
fn holds(members: &[MemberId], member: &MemberId) -> bool {
    members.binary_search(member).is_ok() || members.contains(member)
}

fn ms(d: Dur) -> String {
    format!("{:.0}ms", d.as_millis_f64())
}

fn names(members: &[MemberId]) -> String {
    let n: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    format!("[{}]", n.join(", "))
}

/// Runs every check and every expectation on a finished run, and measures
/// how long each departure took to reach every survivor.
pub fn check(trace: &Trace, expectations: &[Expectation]) -> (Vec<CheckResult>, Vec<Notice>) {
    check_mutated(trace, expectations, None)
}

/// [`check`]; a mutation that breaks a check (one of the checker's own
/// past bugs, put back: tests only) breaks it here.
pub fn check_mutated(
    trace: &Trace,
    expectations: &[Expectation],
    mutation: Option<Mutation>,
) -> (Vec<CheckResult>, Vec<Notice>) {
    let truth = Truth::new(trace, mutation);
    let judged = membership::judged(&truth);
    let mut results = vec![
        CheckResult::of("notified", membership::notified(&truth, &judged)),
        CheckResult::of("views-agree", membership::views_agree(&truth)),
        CheckResult::of("epochs-grow", membership::epochs_grow(&truth)),
        CheckResult::of("no-ghost-delivery", membership::no_ghost(&truth)),
        CheckResult::of("delivered-once", membership::delivered_once(&truth)),
        CheckResult::of("main-thread-responsive", responsive::check(&truth)),
        CheckResult::of("acks-complete", rounds::acks_complete(&truth)),
        CheckResult::of("barrier-order", rounds::barrier_order(&truth, mutation)),
        CheckResult::of("round-views", rounds::round_views(&truth)),
    ];
    results.push(match protocol::state_agrees(&truth) {
        Ok(v) => CheckResult::of("state-agrees", v),
        Err(why) => CheckResult::skipped("state-agrees", why),
    });
    for (name, violations) in protocol::agreement(&truth) {
        results.push(CheckResult::of(name, violations));
    }
    match ordered::checks(&truth) {
        Ok((order, sync)) => {
            results.push(CheckResult::of("total-order", order));
            results.push(CheckResult::of("view-synchrony", sync));
        }
        Err(why) => {
            results.push(CheckResult::skipped("total-order", why.clone()));
            results.push(CheckResult::skipped("view-synchrony", why));
        }
    }
    results.push(match tasks::check(&truth) {
        Ok(v) => CheckResult::of("task-order", v),
        Err(why) => CheckResult::skipped("task-order", why),
    });
    results.push(match membership::one_primary(&truth) {
        Ok(v) => CheckResult::of("one-primary", v),
        Err(why) => CheckResult::skipped("one-primary", why),
    });
    results.push(match engine::check(&truth, mutation) {
        Ok(v) => CheckResult::of("engine-lost", v),
        Err(why) => CheckResult::skipped("engine-lost", why),
    });
    results.push(match membership::converged(&truth) {
        Ok(v) => CheckResult::of("converged", v),
        Err(why) => CheckResult::skipped("converged", why),
    });
    for exp in expectations {
        let label = expect::label(exp);
        let violations = expect::check(&truth, exp, &label);
        results.push(CheckResult::of(&label, violations));
    }
    let notices = latency::notices(&judged);
    (results, notices)
}
