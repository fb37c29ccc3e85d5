//! Shrinking a failing run to the smallest scenario that still fails the
//! same way: fewer faults, tasks, expectations, jobs and nodes; earlier and shorter
//! faults; fewer work threads; a shorter run. Greedy: each pass tries
//! smaller candidates and keeps the first that still fails with the target
//! fingerprint, until no pass makes progress or the run budget is spent.
//!
//! Invariant: every candidate goes through the scenario writer and parser,
//! so the result is a valid scenario file, and it holds only `[[fault]]`
//! and `[[task]]` entries (the seed's concrete schedule), so it replays
//! without the draw.

use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::run::{self, Request};
use crate::scenario::{Expectation, Scenario};
use crate::trace::Driver;
use std::time::Duration;

/// What to shrink.
pub struct Shrink<'a> {
    pub registry: &'a Registry,
    pub mutation: Option<Mutation>,
    pub driver: Driver,
    /// Most runs to spend (each candidate is one run).
    pub max_runs: u32,
    /// Called with each step that kept a smaller scenario.
    pub on_step: &'a mut dyn FnMut(&str),
}

/// The result: the smallest failing scenario found, and what was removed.
pub struct Shrunk {
    pub scenario: Scenario,
    pub fingerprint: String,
    pub steps: Vec<String>,
    pub runs: u32,
    /// It stopped at `max_runs`, not at a scenario no step shrinks further.
    pub out_of_runs: bool,
}

impl Shrink<'_> {
    /// Shrinks `failing` (a concrete scenario, no `[random]`) that fails
    /// under `seed` with fingerprint `target`.
    pub fn run(&mut self, failing: Scenario, seed: u64, target: &str) -> Shrunk {
        let mut state = State {
            best: failing,
            steps: Vec::new(),
            runs: 0,
            cut: false,
        };
        loop {
            let before = state.steps.len();
            self.pass(&mut state, seed, target, Pass::Faults);
            self.pass(&mut state, seed, target, Pass::Tasks);
            self.pass(&mut state, seed, target, Pass::Expectations);
            self.pass(&mut state, seed, target, Pass::Jobs);
            self.pass(&mut state, seed, target, Pass::Nodes);
            self.pass(&mut state, seed, target, Pass::Threads);
            self.pass(&mut state, seed, target, Pass::Network);
            self.pass(&mut state, seed, target, Pass::Duration);
            self.pass(&mut state, seed, target, Pass::Times);
            if state.steps.len() == before {
                break; // no step shrinks it further (unless a pass was cut)
            }
            if state.runs >= self.max_runs {
                state.cut = true; // another round might have shrunk it
                break;
            }
        }
        Shrunk {
            scenario: state.best,
            fingerprint: target.to_string(),
            out_of_runs: state.cut,
            steps: state.steps,
            runs: state.runs,
        }
    }

    fn fails(&self, state: &mut State, candidate: &Scenario, seed: u64, target: &str) -> bool {
        state.runs += 1;
        let e = run::execute(Request {
            registry: self.registry,
            scenario: candidate,
            seed,
            mutation: self.mutation,
            swarm: false,
            detail: false,
            driver: self.driver,
        });
        e.fingerprints().iter().any(|f| f == target)
    }

    /// Tries the candidates of one pass against the current best until one
    /// still fails; repeats the pass while it makes progress.
    fn pass(&mut self, state: &mut State, seed: u64, target: &str, pass: Pass) {
        'again: loop {
            for (what, candidate) in candidates(&state.best, pass) {
                let Some(candidate) = valid(&candidate, self.registry) else {
                    continue;
                };
                if candidate == state.best {
                    continue;
                }
                if state.runs >= self.max_runs {
                    state.cut = true; // a candidate left untried
                    return;
                }
                if self.fails(state, &candidate, seed, target) {
                    (self.on_step)(&what);
                    state.steps.push(what);
                    state.best = candidate;
                    continue 'again;
                }
            }
            return;
        }
    }
}

struct State {
    best: Scenario,
    steps: Vec<String>,
    runs: u32,
    /// The budget ended with a candidate untried or a round to go.
    cut: bool,
}

#[derive(Clone, Copy)]
enum Pass {
    Faults,
    Tasks,
    Expectations,
    Jobs,
    Nodes,
    Threads,
    Network,
    Duration,
    Times,
}

/// The candidate after a round trip through the file format, if valid.
fn valid(candidate: &Scenario, registry: &Registry) -> Option<Scenario> {
    crate::scenario::parse_with("candidate.toml", &candidate.to_toml(), registry).ok()
}

fn describe_fault(s: &Scenario, i: usize) -> String {
    let f = &s.faults[i];
    format!(
        "{} at {}",
        f.kind.describe(),
        crate::scenario::duration_text(f.at)
    )
}

/// Smaller versions of `s` for one pass, most aggressive first.
fn candidates(s: &Scenario, pass: Pass) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    match pass {
        Pass::Faults => {
            out = removals(
                s,
                s.faults.len(),
                "fault",
                |c| &mut c.faults,
                |i| describe_fault(s, i),
            )
        }
        Pass::Tasks => {
            out = removals(
                s,
                s.tasks.len(),
                "task",
                |c| &mut c.tasks,
                |i| {
                    let t = &s.tasks[i];
                    format!(
                        "{} from {} at {}",
                        t.protocol,
                        t.member,
                        crate::scenario::duration_text(t.at)
                    )
                },
            )
        }
        Pass::Expectations => {
            for i in 0..s.expectations.len() {
                let mut c = s.clone();
                c.expectations.remove(i);
                out.push((
                    format!("removed expectation {}", s.expectations[i].name()),
                    c,
                ));
            }
        }
        Pass::Jobs => {
            if s.jobs.len() > 1 {
                for job in &s.jobs {
                    out.push((
                        format!("removed job {}", job.name),
                        without_job(s, &job.name),
                    ));
                }
            }
            // A job on fewer nodes.
            for job in &s.jobs {
                if job.nodes.len() > 1 {
                    for &node in job.nodes.iter().rev() {
                        let mut c = s.clone();
                        let j = c.jobs.iter_mut().find(|j| j.name == job.name).expect("job");
                        j.nodes.retain(|n| *n != node);
                        c.faults
                            .retain(|f| f.kind.member() != Some((job.name.as_str(), node)));
                        c.expectations
                            .retain(|e| !mentions_member(e, &job.name, node));
                        c.tasks
                            .retain(|t| !(t.member.job == job.name && t.member.node == node));
                        out.push((format!("removed job {} from n{node}", job.name), c));
                    }
                }
            }
        }
        Pass::Nodes => {
            if s.cluster.nodes > 1 {
                // Drop the last node; jobs and faults on it go with it.
                let last = s.cluster.nodes - 1;
                let mut c = s.clone();
                c.cluster.nodes = last;
                for j in &mut c.jobs {
                    j.nodes.retain(|n| *n != last);
                }
                c.jobs.retain(|j| !j.nodes.is_empty());
                c.tasks.retain(|t| t.member.node != last);
                c.faults = c
                    .faults
                    .iter()
                    .filter_map(|f| {
                        let kind = f.kind.without_node(last)?;
                        Some(crate::scenario::Fault { kind, ..f.clone() })
                    })
                    .collect();
                c.expectations.retain_mut(|e| drop_node_expect(e, last));
                out.push((format!("removed node n{last} ({} nodes left)", last), c));
            }
        }
        Pass::Threads => {
            for (i, job) in s.jobs.iter().enumerate() {
                if job.work_threads > 1 {
                    // Every group member must agree; change the whole group.
                    let mut c = s.clone();
                    let group = job.group.clone();
                    for j in &mut c.jobs {
                        if j.group == group {
                            j.work_threads = 1;
                        }
                    }
                    let in_group: Vec<String> = c
                        .jobs
                        .iter()
                        .filter(|j| j.group == group)
                        .map(|j| j.name.clone())
                        .collect();
                    for f in &mut c.faults {
                        f.kind = f.kind.with_one_thread(&in_group);
                    }
                    out.push((
                        format!(
                            "{} work threads -> 1 (group {})",
                            s.jobs[i].work_threads, group
                        ),
                        c,
                    ));
                }
            }
        }
        Pass::Network => {
            if s.cluster.loss > 0.0 {
                let mut c = s.clone();
                c.cluster.loss = 0.0;
                out.push((format!("cluster loss {} -> 0", s.cluster.loss), c));
            }
            let (lo, hi) = s.cluster.latency;
            if hi > lo {
                let mut c = s.clone();
                c.cluster.latency = (lo, lo);
                out.push((format!("latency {lo:?}..{hi:?} -> {lo:?}"), c));
            }
        }
        Pass::Duration => {
            let floor = s.faults.last().map_or(Duration::from_millis(1), |f| {
                f.at + Duration::from_millis(1)
            });
            let d = s.duration;
            for cut in [
                floor.max(d / 4),
                floor.max(d / 2),
                floor.max(d - (d - floor.min(d)) / 4),
            ] {
                let cut =
                    Duration::from_millis(cut.as_millis() as u64).max(Duration::from_millis(1));
                if cut < d {
                    let mut c = s.clone();
                    c.duration = cut;
                    c.tasks.retain(|t| t.at < cut);
                    out.push((
                        format!(
                            "duration {} -> {}",
                            crate::scenario::duration_text(d),
                            crate::scenario::duration_text(cut)
                        ),
                        c,
                    ));
                }
            }
        }
        Pass::Times => {
            for i in 0..s.faults.len() {
                let f = &s.faults[i];
                let prev = if i == 0 {
                    Duration::ZERO
                } else {
                    s.faults[i - 1].at
                };
                if f.at > prev {
                    let earlier = round_ms(prev + (f.at - prev) / 2);
                    if earlier < f.at {
                        let mut c = s.clone();
                        c.faults[i].at = earlier;
                        out.push((
                            format!(
                                "fault {} earlier, at {}",
                                f.kind.describe(),
                                crate::scenario::duration_text(earlier)
                            ),
                            c,
                        ));
                    }
                }
                if let Some(kind) = f.kind.shorter() {
                    let mut c = s.clone();
                    c.faults[i].kind = kind;
                    out.push((format!("fault {} shorter", f.kind.describe()), c));
                }
            }
        }
    }
    out
}

/// `s` without some of the `n` entries of one list (faults, tasks): halves
/// and quarters first (delta debugging), then one by one, each candidate
/// named with `noun` and, alone, with `describe` of its index.
fn removals<T>(
    s: &Scenario,
    n: usize,
    noun: &str,
    list: impl Fn(&mut Scenario) -> &mut Vec<T>,
    describe: impl Fn(usize) -> String,
) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    let mut size = n / 2;
    while size >= 2 {
        for start in (0..n).step_by(size) {
            let end = (start + size).min(n);
            let mut c = s.clone();
            list(&mut c).drain(start..end);
            let what = format!(
                "removed {} {noun}s ({}..{} of {n})",
                end - start,
                start + 1,
                end
            );
            out.push((what, c));
        }
        size /= 2;
    }
    for i in 0..n {
        let mut c = s.clone();
        list(&mut c).remove(i);
        out.push((format!("removed {noun} {}", describe(i)), c));
    }
    out
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

fn mentions_member(e: &Expectation, job: &str, node: u16) -> bool {
    let is = |m: &crate::scenario::MemberName| m.job == job && m.node == node;
    match e {
        Expectation::MembershipChange { member, .. } => is(member),
        Expectation::Joined {
            member, members, ..
        } => is(member) || members.iter().flatten().any(is),
        Expectation::ProtocolOutcome { member, .. } => member.as_ref().is_some_and(is),
        Expectation::FinalView { members, .. } => members.iter().any(is),
        Expectation::NoMembershipChange { .. } => false,
    }
}

fn without_job(s: &Scenario, name: &str) -> Scenario {
    let mut c = s.clone();
    c.jobs.retain(|j| j.name != name);
    c.tasks.retain(|t| t.member.job != name);
    c.faults
        .retain(|f| f.kind.member().is_none_or(|(job, _)| job != name));
    c.expectations.retain(|e| match e {
        Expectation::MembershipChange { member, .. } => member.job != name,
        Expectation::Joined {
            member, members, ..
        } => member.job != name && members.iter().flatten().all(|m| m.job != name),
        Expectation::ProtocolOutcome { member, .. } => {
            member.as_ref().is_none_or(|m| m.job != name)
        }
        Expectation::FinalView { members, .. } => members.iter().all(|m| m.job != name),
        Expectation::NoMembershipChange { .. } => true,
    });
    c
}

fn drop_node_expect(e: &mut Expectation, last: u16) -> bool {
    match e {
        Expectation::MembershipChange { member, .. } => member.node != last,
        Expectation::Joined {
            member, members, ..
        } => member.node != last && members.iter().flatten().all(|m| m.node != last),
        Expectation::ProtocolOutcome { member, .. } => {
            member.as_ref().is_none_or(|m| m.node != last)
        }
        Expectation::FinalView { members, .. } => {
            members.retain(|m| m.node != last);
            true
        }
        Expectation::NoMembershipChange { .. } => true,
    }
}

/// The file `vigil shrink` writes: a comment saying where it came from
/// and the command that replays it, then the scenario, with the seed that
/// fails it.
pub fn shrunk_file(
    shrunk: &Shrunk,
    seed: u64,
    source: &str,
    command: &str,
    removed: &str,
    replay: &str,
) -> String {
    let mut s = shrunk.scenario.clone();
    s.seed = Some(seed);
    let mut text = String::new();
    text.push_str(&format!(
        "# Shrunk by `{command}`\n# from seed {seed} of {source}.\n# It fails with: {}\n",
        shrunk.fingerprint
    ));
    text.push_str(&format!("# Removed: {removed}\n"));
    if shrunk.out_of_runs {
        text.push_str(&format!(
            "# It ran out of runs ({}): more (`--max-runs`) may shrink it further.\n",
            shrunk.runs
        ));
    }
    text.push_str(&format!("# Replay: {replay}\n\n"));
    text.push_str(&s.to_toml());
    text
}
