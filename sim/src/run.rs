//! One checked run, as every command needs it: draw the seed's faults, run
//! the simulation (a panic caught as a failure), check it, and name each
//! failure by a fingerprint that groups failures with one cause. Also the
//! determinism check: the same run twice, compared event by event.

use crate::check::{self, CheckResult, Violation};
use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::runtime::{self, Driver, RunConfig};
use crate::scenario::draw::{self, Swarm};
use crate::scenario::Scenario;
use crate::trace::{Entry, Trace, TraceEvent};
use std::time::{Duration, Instant};

/// How runs ended, worst first wins: the verdict a command reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every check passed.
    Pass,
    /// A check failed, or the simulation panicked.
    Fail,
    /// Two runs of one seed differed.
    Nondeterministic,
}

/// What to run.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub registry: &'a Registry,
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub mutation: Option<Mutation>,
    /// Swarm testing: draw which fault kinds are on, and their rates.
    pub swarm: bool,
    /// Record every packet in the trace (slower; replays and determinism checks).
    pub detail: bool,
    pub driver: Driver,
}

/// One finished, checked run.
pub struct Execution {
    pub seed: u64,
    /// The scenario as run: the file's, with the faults this seed drew.
    pub scenario: Scenario,
    pub swarm: Option<Swarm>,
    /// The run, or the message of the panic that ended it.
    pub out: Result<Trace, String>,
    /// After a panic, the trace up to it where the driver could keep it
    /// (a schedule replayed on the event loop): enough to draw, not to
    /// judge.
    pub cut_short: Option<Trace>,
    /// Every check's result (none when the run panicked).
    pub checks: Vec<CheckResult>,
    /// Every violation, with `no-panic` for a run that panicked.
    pub violations: Vec<Violation>,
    /// How long each departure took to reach every survivor.
    pub notices: Vec<check::Notice>,
    pub wall: Duration,
}

impl Execution {
    /// A finished run (or the panic that ended it), judged by every check
    /// and the scenario's expectations: what every command reports on.
    pub fn judged(
        seed: u64,
        scenario: Scenario,
        swarm: Option<Swarm>,
        out: Result<Trace, String>,
        mutation: Option<Mutation>,
        wall: Duration,
    ) -> Execution {
        let (checks, violations, notices) = match &out {
            Ok(run) => {
                let (checks, notices) = check::check_mutated(run, &scenario.expectations, mutation);
                let violations = checks
                    .iter()
                    .flat_map(|c| c.violations.iter().cloned())
                    .collect();
                (checks, violations, notices)
            }
            Err(panic) => (
                Vec::new(),
                vec![Violation {
                    check: "no-panic".into(),
                    message: format!("the simulation panicked: {panic}"),
                    at: None,
                }],
                Vec::new(),
            ),
        };
        Execution {
            seed,
            scenario,
            swarm,
            out,
            cut_short: None,
            checks,
            violations,
            notices,
            wall,
        }
    }

    /// The run's trace, or what the driver kept of it before a panic.
    pub fn kept(&self) -> Option<&Trace> {
        self.out.as_ref().ok().or(self.cut_short.as_ref())
    }

    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The distinct fingerprints of this run's violations, in check order.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in &self.violations {
            let f = fingerprint(v);
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// The run's fingerprint: its first violation's.
    pub fn fingerprint(&self) -> Option<String> {
        self.violations.first().map(fingerprint)
    }

    pub fn trace_hash(&self) -> Option<String> {
        self.out.as_ref().ok().map(|o| o.hash())
    }

    /// The trace with each violation inserted where it was detected.
    pub fn trace_with_failures(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .kept()
            .map(|o| o.entries.iter().cloned().collect())
            .unwrap_or_default();
        for v in &self.violations {
            let at =
                v.at.unwrap_or_else(|| self.kept().map_or(vigil_engine::Time(0), |o| o.end.at));
            let i = entries.partition_point(|e| e.at <= at);
            entries.insert(
                i,
                Entry {
                    at,
                    event: TraceEvent::CheckFailed {
                        check: v.check.clone(),
                        message: v.message.clone(),
                    },
                },
            );
        }
        entries
    }
}

/// Runs and checks one seed.
pub fn execute(req: Request<'_>) -> Execution {
    let started = Instant::now();
    let (scenario, swarm) = draw::draw(req.scenario, req.seed, req.swarm);
    let out = runtime::run(&RunConfig {
        registry: req.registry.clone(),
        scenario: scenario.clone(),
        seed: req.seed,
        mutation: req.mutation,
        detail: req.detail,
        driver: req.driver,
    });
    Execution::judged(
        req.seed,
        scenario,
        swarm,
        out,
        req.mutation,
        started.elapsed(),
    )
}

/// A violation's fingerprint: its check and its message with the parts
/// that vary between seeds of one bug (node numbers, view ids, times,
/// rounds) blanked, so that `db@n2 left (fault) but db@n0 got no
/// membership change naming it within 2100ms` and the same on other nodes
/// group together as `notified: db@* left (fault) but db@* got no
/// membership change naming it within #ms`. What stays: the check, the
/// jobs (kind of member) and the departure reasons.
pub fn fingerprint(v: &Violation) -> String {
    let mut out = String::with_capacity(v.message.len() + v.check.len() + 2);
    out.push_str(&v.check);
    out.push_str(": ");
    let mut chars = v.message.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        let word_start = !prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_');
        if word_start && c.is_ascii_hexdigit() {
            // A digest such as a state's `c0ecf4a7d3c8752b`.
            let word: String = std::iter::once(c)
                .chain(chars.clone().take_while(char::is_ascii_alphanumeric))
                .collect();
            if is_digest(&word) {
                for _ in 1..word.len() {
                    chars.next();
                }
                out.push('#');
                prev = Some('#');
                continue;
            }
        }
        if c == 'n'
            && !prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_' || p == '-')
            && chars.peek().is_some_and(char::is_ascii_digit)
        {
            // A node name: `n3`, `db@n3`.
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push_str("n*");
            prev = Some('*');
            continue;
        }
        if c.is_ascii_digit() && !prev.is_some_and(|p| p.is_ascii_alphabetic() || p == '_') {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '.')
            {
                chars.next();
            }
            out.push('#');
            prev = Some('#');
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Whether `word` looks like a hex digest: at least 8 lowercase hex
/// digits, with a letter and a digit among them.
fn is_digest(word: &str) -> bool {
    word.len() >= 8
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

/// Where two runs of one seed first differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// Index of the first differing event.
    pub index: usize,
    /// The events just before it (equal in both runs).
    pub before: Vec<String>,
    /// That event in the first run and in the second (`None`: the trace ended).
    pub first: Option<String>,
    pub second: Option<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the two runs differ at event {} of the trace:",
            self.index
        )?;
        for line in &self.before {
            writeln!(f, "    {line}")?;
        }
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "(the trace ends)".into());
        writeln!(f, "  first run:  {}", show(&self.first))?;
        write!(f, "  second run: {}", show(&self.second))
    }
}

/// How many equal events [`Divergence::before`] shows.
const CONTEXT: usize = 5;

/// The first difference between two traces, if any.
pub fn diverge(a: &[String], b: &[String]) -> Option<Divergence> {
    let index = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    Some(Divergence {
        index,
        before: a[index.saturating_sub(CONTEXT)..index].to_vec(),
        first: a.get(index).cloned(),
        second: b.get(index).cloned(),
    })
}

pub(crate) fn lines(e: &Execution) -> Vec<String> {
    let mut lines: Vec<String> = e.trace_with_failures().iter().map(Entry::line).collect();
    lines.extend(panic_line(&e.out));
    lines
}

/// A run's lines as [`lines`] has them, without the checks' verdicts:
/// for comparing runs that are not judged.
pub(crate) fn run_lines(out: &Result<Trace, String>) -> Vec<String> {
    let mut lines: Vec<String> = out
        .iter()
        .flat_map(|t| &t.entries)
        .map(Entry::line)
        .collect();
    lines.extend(panic_line(out));
    lines
}

fn panic_line(out: &Result<Trace, String>) -> Option<String> {
    out.as_ref().err().map(|panic| format!("panic: {panic}"))
}

/// Runs `req` twice with every packet recorded and compares the traces
/// event by event: the first run and, on a mismatch, where they differ.
pub fn check_determinism(req: Request<'_>) -> (Execution, Option<Divergence>) {
    let req = Request {
        detail: true,
        ..req
    };
    let first = execute(req);
    let second = execute(req);
    let divergence = diverge(&lines(&first), &lines(&second));
    (first, divergence)
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn v(check: &str, message: &str) -> Violation {
        Violation {
            check: check.into(),
            message: message.into(),
            at: None,
        }
    }

    fn fingerprints_blank_nodes_and_numbers_but_keep_jobs_and_reasons() {
        let a = fingerprint(&v(
            "notified",
            "db@n2 left (fault) but db@n0 got no membership change naming it within 2100ms",
        ));
        let b = fingerprint(&v(
            "notified",
            "db@n14 left (fault) but db@n3 got no membership change naming it within 1900.5ms",
        ));
        assert_eq!(a, b);
        assert_eq!(
            a,
            "notified: db@n* left (fault) but db@n* got no membership change naming it within #ms"
        );
        let other_reason = fingerprint(&v(
            "notified",
            "db@n2 left (node-down) but db@n0 got no membership change naming it within 2100ms",
        ));
        assert_ne!(a, other_reason);
        let other_job = fingerprint(&v(
            "notified",
            "web@n2 left (fault) but web@n0 got no membership change naming it within 2100ms",
        ));
        assert_ne!(a, other_job);
        // Names with digits keep them; words starting with n stay.
        assert_eq!(
            fingerprint(&v("x", "job2 on n1 never ran")),
            "x: job2 on n* never ran"
        );
        // State digests differ from seed to seed; words made of a-f stay.
        let state = |a: &str, b: &str| {
            fingerprint(&v(
                "state-agrees",
                &format!("after round 4 of thread 0 in view 12 of group g, kv@n0 holds state {a} but kv@n2 holds {b}"),
            ))
        };
        assert_eq!(
            state("c0ecf4a7d3c8752b", "0a1b2c3d4e5f6789"),
            "state-agrees: after round # of thread # in view # of group g, kv@n* holds state # but kv@n* holds #"
        );
        assert_eq!(
            state("c0ecf4a7d3c8752b", "1f"),
            state("ffee0011aabb2233", "1f")
        );
        assert_eq!(fingerprint(&v("x", "a faded decade")), "x: a faded decade");
    }

    fn divergence_points_at_the_first_differing_event() {
        let a: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
        let mut b = a.clone();
        b[7] = "other".into();
        let d = diverge(&a, &b).expect("they differ");
        assert_eq!(d.index, 7);
        assert_eq!(d.before, vec!["e2", "e3", "e4", "e5", "e6"]);
        assert_eq!(d.second.as_deref(), Some("other"));
        assert!(diverge(&a, &a).is_none());
        let d = diverge(&a, &a[..8]).expect("shorter");
        assert_eq!((d.index, d.second), (8, None));
    }

    unit_tests![
        fingerprints_blank_nodes_and_numbers_but_keep_jobs_and_reasons,
        divergence_points_at_the_first_differing_event,
    ];
}
