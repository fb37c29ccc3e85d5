//! What a run tells its reader: a readable account for people, one JSON
//! object for scripts. Both come from the trace and the check results alone,
//! so the same scenario and seed always print the same thing.

use crate::check::CheckResult;
use crate::mutation::Mutation;
use crate::scenario::Scenario;
use crate::trace::Driver;
use crate::trace::Trace;
use crate::trace::TraceEvent;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vigil_engine::job::TaskEvent;

/// A finished, checked run.
pub struct Report<'a> {
    pub file: &'a str,
    pub scenario: &'a Scenario,
    pub out: &'a Trace,
    pub checks: &'a [CheckResult],
    /// The deliberately broken variant the run used, if any.
    pub mutation: Option<Mutation>,
    /// The command that replays runs: `vigil`, or a user's own binary with
    /// its own protocols.
    pub program: &'a str,
    /// What a swarm draw turned on (`--swarm`), if the run used one.
    pub swarm: Option<&'a crate::scenario::Swarm>,
    /// Whether a command can run it again (not so for traces of nodes run
    /// by hand, judged by `vigil check`).
    pub rerun: bool,
}

/// The latest outcome of one protocol instance at one member.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeRow {
    pub member: String,
    pub thread: u16,
    pub protocol: &'static str,
    pub instance: u64,
    pub outcome: String,
    pub rounds: u64,
    /// Who proposed it, and in which view.
    pub proposal: Option<(String, u64)>,
}

impl Report<'_> {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.violations.is_empty())
    }

    pub fn replay_command(&self) -> String {
        replay_command(
            self.program,
            self.file,
            self.out.info.seed,
            self.mutation,
            self.swarm.is_some(),
            self.out.info.driver,
        )
    }

    /// Each member's latest outcome of each protocol instance, in member,
    /// thread, instance order. A member renamed by a new node incarnation
    /// keeps its name (`job@node`).
    pub fn outcomes(&self) -> Vec<OutcomeRow> {
        type Key = (String, u16, u64, Option<(String, u64)>);
        let mut rows: BTreeMap<Key, OutcomeRow> = BTreeMap::new();
        for e in &self.out.entries {
            if let TraceEvent::ProtocolOutcome(o) = &e.event {
                let crate::trace::Outcome {
                    member,
                    thread,
                    protocol,
                    instance,
                    outcome,
                    rounds,
                    proposal,
                    ..
                } = &**o;
                let proposal = proposal.as_ref().map(|p| (p.by.to_string(), p.view.0));
                rows.insert(
                    (member.to_string(), *thread, *instance, proposal.clone()),
                    OutcomeRow {
                        member: member.to_string(),
                        thread: *thread,
                        protocol,
                        instance: *instance,
                        outcome: outcome.clone(),
                        rounds: *rounds,
                        proposal,
                    },
                );
            }
        }
        rows.into_values().collect()
    }

    /// Rounds completed per member and work thread.
    pub fn rounds(&self) -> BTreeMap<(String, u16), u64> {
        let mut rounds = BTreeMap::new();
        for e in &self.out.entries {
            if let TraceEvent::RoundCompleted {
                member,
                thread,
                round,
                ..
            } = &e.event
            {
                let r = rounds.entry((member.to_string(), *thread)).or_insert(0);
                *r = (*r).max(*round);
            }
        }
        rounds
    }

    /// The tasks each member ran, in the order it began them, with how
    /// each ended (`None`: still running at the end), and whether it was a
    /// priority task; members that ran none are left out.
    pub fn tasks(&self) -> BTreeMap<String, Vec<TaskRun>> {
        let mut priority: BTreeMap<u32, bool> = BTreeMap::new();
        let mut runs: BTreeMap<String, Vec<TaskRun>> = BTreeMap::new();
        for e in &self.out.entries {
            match &e.event {
                TraceEvent::TaskSubmitted {
                    task, priority: p, ..
                } => {
                    priority.insert(*task, *p);
                }
                TraceEvent::Task { member, event, .. } => match event {
                    TaskEvent::Started { task } => {
                        runs.entry(member.to_string()).or_default().push(TaskRun {
                            task: *task,
                            priority: priority.get(task).copied().unwrap_or(false),
                            outcome: None,
                        })
                    }
                    TaskEvent::Finished { task, outcome } => {
                        if let Some(r) = runs
                            .get_mut(&member.to_string())
                            .and_then(|rs| rs.iter_mut().rev().find(|r| r.task == *task))
                        {
                            r.outcome = Some(outcome.clone());
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        runs
    }

    pub fn json(&self) -> Value {
        let changes: Vec<Value> = self
            .out
            .views()
            .map(|(at, c)| {
                json!({
                    "at_ms": round3(at.as_millis_f64()),
                    "observer": c.me.to_string(),
                    "incarnation": c.me.node_incarnation.0,
                    "group": c.group.as_str(),
                    "view": c.view.0,
                    "members": c.members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
                    "joined": c.joined.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
                    "left": c.left.iter().map(|(m, r)| json!({"member": m.to_string(), "reason": r.as_str()})).collect::<Vec<_>>(),
                    "primary": c.primary,
                })
            })
            .collect();
        let violations: Vec<Value> = self
            .checks
            .iter()
            .flat_map(|c| c.violations.iter())
            .map(|v| json!({"check": v.check, "message": v.message, "at_ms": v.at.map(|t| round3(t.as_millis_f64()))}))
            .collect();
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let status = match (&c.skipped, c.violations.is_empty()) {
                    (Some(_), _) => "skipped",
                    (None, true) => "pass",
                    (None, false) => "fail",
                };
                json!({"name": c.name, "status": status, "violations": c.violations.len(), "note": c.skipped})
            })
            .collect();
        let faults: Vec<Value> = self
            .out
            .faults()
            .map(|(t, text, _)| json!({"at_ms": round3(t.as_millis_f64()), "fault": text}))
            .collect();
        let rounds: Vec<Value> = self
            .rounds()
            .into_iter()
            .map(|((member, thread), completed)| json!({"member": member, "thread": thread, "completed": completed}))
            .collect();
        let outcomes: Vec<Value> = self
            .outcomes()
            .into_iter()
            .map(|o| {
                let mut v = json!({
                    "member": o.member,
                    "protocol": o.protocol,
                    "instance": o.instance,
                    "outcome": o.outcome,
                    "rounds": o.rounds,
                    "thread": o.thread,
                });
                if let Some((by, view)) = o.proposal {
                    v["proposer"] = json!(by);
                    v["view"] = json!(view);
                }
                v
            })
            .collect();
        let tasks: serde_json::Map<String, Value> = self
            .tasks()
            .into_iter()
            .map(|(m, runs)| {
                let runs: Vec<Value> = runs
                    .iter()
                    .map(|r| json!({"task": r.task, "priority": r.priority, "outcome": r.outcome}))
                    .collect();
                (m, Value::from(runs))
            })
            .collect();
        let net = self.out.net;
        let mut value = json!({
            "scenario": self.scenario.name,
            "file": self.file,
            "seed": self.out.info.seed,
            "driver": self.out.info.driver.name(),
            "verdict": if self.passed() { "pass" } else { "fail" },
            "sim_time_ms": ms_value(self.out.end.at.as_millis_f64()),
            "trace_hash": self.out.hash(),
            "replay": if self.rerun { json!(self.replay_command()) } else { Value::Null },
            "faults": faults,
            "membership_changes": changes,
            "rounds": rounds,
            "protocol_outcomes": outcomes,
            "tasks": tasks,
            "probes": self.out.probes(),
            "checks": checks,
            "violations": violations,
            "stats": {
                "messages_sent": net.sent,
                "messages_delivered": net.delivered,
                "messages_dropped": net.dropped(),
                "messages_duplicated": net.duplicated,
            },
        });
        if let Some(swarm) = self.swarm {
            value["swarm"] = swarm.json();
        }
        value
    }

    pub fn human(&self, color: bool) -> String {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut s = String::new();
        let sc = self.scenario;
        let _ = writeln!(
            s,
            "{} — {} · seed {} · {} nodes · {:?} {}",
            paint("1", &sc.name),
            self.file,
            self.out.info.seed,
            sc.cluster.nodes,
            sc.duration,
            if self.out.info.driver == Driver::Real {
                "on a real network"
            } else {
                "simulated"
            }
        );
        if let Some(d) = &sc.description {
            let _ = writeln!(s, "{}", d.trim());
        }
        if let Some(swarm) = self.swarm {
            let _ = writeln!(s, "swarm: {}", swarm.summary());
        }
        let _ = writeln!(s, "\n{}", paint("1", "faults"));
        let mut any = false;
        for (t, text, struck) in self.out.faults() {
            any |= struck;
            let _ = writeln!(s, "  {:>12}  {text}", at(t.as_millis_f64()));
        }
        if !any {
            let _ = writeln!(s, "  (none)");
        }
        let _ = writeln!(
            s,
            "\n{}",
            paint("1", "membership changes (as each main thread took them)")
        );
        for (t, c) in self.out.views() {
            let mut what = Vec::new();
            if !c.joined.is_empty() {
                what.push(format!(
                    "joined {}",
                    list(c.joined.iter().map(|m| m.to_string()))
                ));
            }
            if !c.left.is_empty() {
                what.push(format!(
                    "left {}",
                    list(c.left.iter().map(|(m, r)| format!("{m} ({r})")))
                ));
            }
            match (what.is_empty(), c.primary) {
                // Only the primary component changed.
                (true, Some(true)) => what.push("same members, now primary".to_string()),
                (true, Some(false)) => what.push("same members, no longer primary".to_string()),
                // A view missed in between (the members are back as they
                // were), or an excluded node's members back under new ids.
                (true, None) => what.push("same members, a new view".to_string()),
                (false, _) => {}
            }
            let mut what = what.join("; ");
            match (what.starts_with("same members"), c.primary) {
                (false, Some(true)) => what.push_str(" · primary"),
                (false, Some(false)) => what.push_str(" · not primary"),
                _ => {}
            }
            let _ = writeln!(
                s,
                "  {:>12}  {:<10} {} view {:<5} {}",
                at(t.as_millis_f64()),
                c.me.to_string(),
                c.group,
                c.view.0,
                what
            );
        }
        let tasks = self.tasks();
        let _ = writeln!(s, "\n{}", paint("1", "last ACK round completed"));
        let rounds = self.rounds();
        if rounds.is_empty() {
            let _ = writeln!(s, "  (none)");
        }
        let mut by_member: BTreeMap<&str, Vec<(u16, u64)>> = BTreeMap::new();
        for ((m, t), r) in &rounds {
            by_member.entry(m.as_str()).or_default().push((*t, *r));
        }
        for (m, threads) in by_member {
            let runs_tasks = tasks.contains_key(m);
            let per: Vec<String> = threads
                .iter()
                .map(|(t, r)| match runs_tasks {
                    // A task's round number names the task and its round.
                    true => format!(
                        "thread {t}: task {} round {}",
                        vigil_protocols::instance_of(*r).1,
                        vigil_protocols::round_in_task(*r)
                    ),
                    false => format!("thread {t}: {r}"),
                })
                .collect();
            let _ = writeln!(s, "  {m:<10} {}", per.join(", "));
        }
        if !tasks.is_empty() {
            let _ = writeln!(s, "\n{}", paint("1", "tasks run, in order (‼ priority)"));
            for (m, runs) in &tasks {
                let list: Vec<String> = runs
                    .iter()
                    .map(|r| {
                        let mut t = r.task.to_string();
                        if r.priority {
                            t.push('‼');
                        }
                        match r.outcome.as_deref() {
                            None => t.push_str(" (running)"),
                            Some("abandoned") => t.push_str(" (abandoned)"),
                            Some(_) => {}
                        }
                        t
                    })
                    .collect();
                let _ = writeln!(s, "  {m:<10} {}", list.join(", "));
            }
        }
        let outcomes = self.outcomes();
        if !outcomes.is_empty() {
            let _ = writeln!(s, "\n{}", paint("1", "protocol outcomes"));
            let mut by_member: BTreeMap<(&str, u16, &str), BTreeMap<&str, u64>> = BTreeMap::new();
            for o in &outcomes {
                *by_member
                    .entry((o.member.as_str(), o.thread, o.protocol))
                    .or_default()
                    .entry(o.outcome.as_str())
                    .or_insert(0) += 1;
            }
            for ((m, t, p), counts) in by_member {
                let decided: u64 = counts.values().sum();
                let per = if counts.len() <= 4 {
                    let per: Vec<String> = counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
                    per.join(" · ")
                } else {
                    let last = outcomes
                        .iter()
                        .filter(|o| o.member == m && o.thread == t)
                        .max_by_key(|o| o.instance)
                        .expect("counted");
                    format!("latest, instance {}: {}", last.instance, last.outcome)
                };
                let _ = writeln!(s, "  {m:<10} thread {t} {p}: {decided} decided; {per}");
            }
        }
        let probes = self.out.probes();
        if !probes.is_empty() {
            let _ = writeln!(
                s,
                "\n{}",
                paint("1", "probes hit (rare paths; see `vigil explore`)")
            );
            let mut line = String::new();
            for (name, n) in &probes {
                let item = format!("{name} ×{n}");
                if !line.is_empty() && line.chars().count() + item.chars().count() > 72 {
                    let _ = writeln!(s, "  {line}");
                    line.clear();
                }
                if !line.is_empty() {
                    line.push_str(" · ");
                }
                line.push_str(&item);
            }
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(s, "\n{}", paint("1", "checks"));
        for c in self.checks {
            match (&c.skipped, c.violations.is_empty()) {
                (Some(why), _) => {
                    let _ = writeln!(s, "  {}  {} ({why})", paint("2", "skip"), c.name);
                }
                (None, true) => {
                    let _ = writeln!(s, "  {}  {}", paint("32", "pass"), c.name);
                }
                (None, false) => {
                    let _ = writeln!(s, "  {}  {}", paint("31;1", "FAIL"), c.name);
                    for v in c.violations.iter().take(10) {
                        let when = v
                            .at
                            .map_or(String::new(), |t| format!("at {}: ", at(t.as_millis_f64())));
                        let _ = writeln!(s, "          {when}{}", v.message);
                    }
                    if c.violations.len() > 10 {
                        let _ = writeln!(
                            s,
                            "          ... and {} more (see --json)",
                            c.violations.len() - 10
                        );
                    }
                }
            }
        }
        let net = self.out.net;
        let _ = writeln!(
            s,
            "\n{} messages sent, {} delivered, {} dropped{} · trace {}",
            net.sent,
            net.delivered,
            net.dropped(),
            if net.duplicated > 0 {
                format!(", {} duplicated", net.duplicated)
            } else {
                String::new()
            },
            &self.out.hash()[..16]
        );
        let verdict = if self.passed() {
            paint("32;1", "PASS")
        } else {
            paint("31;1", "FAIL")
        };
        if !self.rerun {
            let _ = writeln!(
                s,
                "{verdict} · judged from the nodes' own traces (a real run has no replay)"
            );
        } else if self.out.info.driver == Driver::Real {
            let _ = writeln!(
                s,
                "{verdict} · a real run is not deterministic, so it has no replay; run it again: {}",
                self.replay_command()
            );
        } else {
            let _ = writeln!(s, "{verdict} · replay: {}", self.replay_command());
        }
        s
    }
}

fn at(ms: f64) -> String {
    format!("{:.3}s", ms / 1000.0)
}

/// Milliseconds as JSON: an integer when whole (`20000`), else to the microsecond.
fn ms_value(ms: f64) -> Value {
    let rounded = round3(ms);
    if rounded.fract() == 0.0 && (0.0..9.0e15).contains(&rounded) {
        json!(rounded as u64)
    } else {
        json!(rounded)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// The command that replays `file` under `seed`: `program run FILE --seed N`,
/// with `--swarm` for a swarm draw and `--mutation NAME` for a deliberately
/// broken variant; for a schedule file that `vigil exhaust` wrote (JSON),
/// `program replay FILE`.
pub fn replay_command(
    program: &str,
    file: &str,
    seed: u64,
    mutation: Option<Mutation>,
    swarm: bool,
    driver: Driver,
) -> String {
    if file.ends_with(".json") {
        let flag = mutation.map_or(String::new(), |m| format!(" --mutation {}", m.name()));
        return format!("{program} replay {}{flag}", shell_quote(file));
    }
    format!(
        "{program} run {} --seed {seed}{}",
        shell_quote(file),
        run_flags(mutation, swarm, driver)
    )
}

/// The flags that make a command run seeds as a run did, as a command
/// line gives them (` --swarm --mutation M --driver D`, each only when it
/// is not the default; `--real` for a real run).
pub fn run_flags(mutation: Option<Mutation>, swarm: bool, driver: Driver) -> String {
    let mut flags = String::new();
    if swarm {
        flags.push_str(" --swarm");
    }
    if let Some(m) = mutation {
        flags.push_str(&format!(" --mutation {}", m.name()));
    }
    match driver {
        Driver::Madsim => {}
        Driver::EventLoop => flags.push_str(&format!(" --driver {driver}")),
        Driver::Real => flags.push_str(" --real"),
    }
    flags
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One task as a member ran it (see [`Report::tasks`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRun {
    pub task: u32,
    pub priority: bool,
    /// How it ended; `None`: still running when the run ended.
    pub outcome: Option<String>,
}
