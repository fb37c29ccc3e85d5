//! `vigil exhaust`'s work over the explorer of `runtime::exhaust`: every
//! complete schedule judged by the same checks as a seeded run, the
//! failing schedule kept as a file that `vigil replay` runs again exactly
//! (and draws), and the figures of the search.

use crate::check::{self, Violation};
use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::run::{self, Divergence, Execution};
use crate::runtime::exhaust::{self, Choice, Limits, Outcome, Search, Stats, Step, Stopped};
use crate::runtime::{Driver, RunConfig};
use crate::scenario::{Scenario, ScenarioError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a schedule file says it is.
pub const SCHEDULE_KIND: &str = "vigil-schedule";

/// A failing schedule, as a file: the scenario it ran, the search it was
/// found under (its choices are numbered in its terms), and the choices
/// that were not the first option. `vigil replay FILE` runs it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// Always [`SCHEDULE_KIND`].
    pub kind: String,
    pub version: u32,
    /// The scenario file, relative to this file's directory (in files of
    /// an earlier vigil, to the directory `vigil exhaust` ran in).
    pub scenario: PathBuf,
    /// The scenario file's SHA-256 when the schedule was found: a replay
    /// of a scenario changed since says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_sha256: Option<String>,
    /// The broken variant it was found with, if any (tests).
    #[serde(default)]
    pub mutation: Option<String>,
    pub search: Search,
    pub choices: Vec<Choice>,
    /// What the run broke when it was found, for people.
    #[serde(default)]
    pub violations: Vec<String>,
}

impl ScheduleFile {
    /// Reads a schedule file, or says why not.
    pub fn read(path: &Path) -> Result<ScheduleFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let file: ScheduleFile = serde_json::from_str(&text).map_err(|e| {
            // Where, as every other bad file is shown: `file:line:column:`.
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or(&what).to_string();
            format!(
                "{}:{}:{}: not a schedule file: {what}",
                path.display(),
                e.line().max(1),
                e.column().max(1)
            )
        })?;
        if file.kind != SCHEDULE_KIND || file.version != 1 {
            return Err(format!(
                "`{}` is not a version 1 schedule file (kind `{}`, version {})",
                path.display(),
                file.kind,
                file.version
            ));
        }
        Ok(file)
    }

    /// The scenario file it names: beside the schedule file, else (a file
    /// of an earlier vigil) from the working directory.
    pub fn scenario_path(&self, schedule: &Path) -> PathBuf {
        if self.scenario.is_absolute() {
            return self.scenario.clone();
        }
        // Written relative to the schedule's directory; files of an
        // earlier vigil relative to where `vigil exhaust` ran.
        let beside = schedule
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.scenario);
        if beside.exists() || !self.scenario.exists() {
            beside
        } else {
            self.scenario.clone()
        }
    }
}

/// The SHA-256 of the file at `path`, in hex (`None` if it cannot be read).
pub fn file_sha256(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    Some(crate::trace::hex(&Sha256::digest(&bytes)))
}

/// How a schedule written to `schedule` names `scenario`: relative to the
/// schedule's directory, so that the two move together and replay from
/// anywhere (as given, where the path cannot be resolved).
pub fn scenario_from(schedule: &Path, scenario: &Path) -> PathBuf {
    let dir = match schedule.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (Ok(from), Ok(to)) = (dir.canonicalize(), scenario.canonicalize()) else {
        return scenario.to_path_buf();
    };
    pathdiff::diff_paths(to, from).unwrap_or_else(|| scenario.to_path_buf())
}

/// Whether `path` names a schedule file: `vigil exhaust` writes them as
/// JSON, scenarios are TOML (its content's `kind` is checked on reading).
pub fn is_schedule(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

/// `error`, the scenario file `path` did not parse as, saying where the
/// file goes if it is a schedule (a command that reads scenarios was
/// handed what `vigil exhaust` wrote).
pub fn hint_schedule(path: &Path, error: ScenarioError) -> ScenarioError {
    if is_schedule(path) {
        let help = format!(
            "this is a schedule file that `vigil exhaust` wrote: run it again with `vigil replay {}`",
            path.display()
        );
        error.help(help)
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        error.help(
            "this looks like JSON lines (what `explore --json` and `--trace` write), not a scenario: \
             each run's line has the command that replays it, in `replay`",
        )
    } else {
        error
    }
}

/// The judge of one complete run: every check, and the scenario's
/// expectations unless the explorer added a fault (they were written for
/// the scenario's own faults).
pub fn judge(
    trace: &crate::trace::Trace,
    scenario: &Scenario,
    added: bool,
    mutation: Option<Mutation>,
) -> Vec<Violation> {
    let expectations = if added {
        &[][..]
    } else {
        &scenario.expectations[..]
    };
    let (checks, _) = check::check_mutated(trace, expectations, mutation);
    checks.into_iter().flat_map(|c| c.violations).collect()
}

/// Where a search stops besides its [`Limits`], and who hears of it.
pub struct Watch<'a> {
    /// Wall time at most.
    pub time: Option<Duration>,
    /// Set (by Ctrl-C): stop.
    pub stop: &'a AtomicBool,
    /// Hears the figures about once a second, and at the end.
    pub progress: &'a mut dyn FnMut(&Stats),
}

/// Explores `scenario` exhaustively under `search` within `limits`.
pub fn explore(
    registry: &Registry,
    scenario: &Scenario,
    search: &Search,
    limits: &Limits,
    mutation: Option<Mutation>,
    watch: Watch<'_>,
) -> Outcome<Vec<Violation>> {
    let start = Instant::now();
    let stopped = || {
        if watch.stop.load(Ordering::Relaxed) {
            Some(Stopped::Interrupted)
        } else if watch.time.is_some_and(|t| start.elapsed() >= t) {
            Some(Stopped::TimeLimit)
        } else {
            None
        }
    };
    // The search forks runs and merges states on the premise that a run is
    // a function of its choices: first, the plain schedule twice (within
    // the limits: a scenario too long to explore shows it here).
    let cfg = config(registry, scenario, mutation, false);
    let mut plain = Vec::new();
    for _ in 0..2 {
        match exhaust::replay_until(&cfg, search, &[], false, &mut || stopped().is_some()) {
            Ok(Some(r)) => plain.push(r.run),
            Ok(None) => {
                return Outcome {
                    stats: Stats {
                        elapsed_ms: start.elapsed().as_millis() as u64,
                        ..Default::default()
                    },
                    levels: Vec::new(),
                    complete: false,
                    stopped: stopped(),
                    failures: Vec::new(),
                    began: false,
                }
            }
            Err(_) => break,
        }
    }
    if let [a, b] = &plain[..] {
        if let Some(d) = run::diverge(&run::run_lines(a), &run::run_lines(b)) {
            return Outcome {
                stats: Default::default(),
                levels: Vec::new(),
                complete: false,
                stopped: Some(Stopped::Failed),
                failures: vec![exhaust::Failure {
                    choices: Vec::new(),
                    violations: vec![nondeterminism(&d)],
                }],
                began: false,
            };
        }
    }
    drop(plain);
    let mut heard = Instant::now();
    exhaust::exhaust(
        &cfg,
        search,
        limits,
        |run, added| {
            let v = match run {
                Ok(trace) => judge(&trace, scenario, added, mutation),
                Err(panic) => vec![Violation {
                    check: "no-panic".into(),
                    message: format!("the simulation panicked: {panic}"),
                    at: None,
                }],
            };
            (!v.is_empty()).then_some(v)
        },
        |stats| {
            stats.elapsed_ms = start.elapsed().as_millis() as u64;
            if stats.finished.is_some() || heard.elapsed() >= Duration::from_secs(1) {
                heard = Instant::now();
                (watch.progress)(stats);
            }
            stopped()
        },
    )
}

fn config(
    registry: &Registry,
    scenario: &Scenario,
    mutation: Option<Mutation>,
    detail: bool,
) -> RunConfig {
    RunConfig::new(scenario, 0)
        .registry(registry)
        .mutation(mutation)
        .detail(detail)
        .driver(Driver::EventLoop)
}

/// The violation a run that is not a function of its choices reads as.
fn nondeterminism(d: &Divergence) -> Violation {
    Violation {
        check: "determinism".into(),
        message: format!(
            "two runs of one schedule differ at trace entry {}: `{}`, then `{}`",
            d.index,
            d.first.as_deref().unwrap_or("(the end)"),
            d.second.as_deref().unwrap_or("(the end)")
        ),
        at: None,
    }
}

/// Runs a schedule again with every packet recorded, judged as a run is:
/// its execution (for the account and the pictures), its steps, and where
/// a second run of it differed (a run must be a function of its choices).
pub fn replay(
    registry: &Registry,
    scenario: &Scenario,
    search: &Search,
    choices: &[Choice],
    mutation: Option<Mutation>,
) -> Result<(Execution, Vec<Step>, Option<Divergence>), String> {
    let (e, steps) = replay_once(registry, scenario, search, choices, mutation)?;
    let divergence = match replay_once(registry, scenario, search, choices, mutation) {
        Ok((again, _)) => run::diverge(&run::lines(&e), &run::lines(&again)),
        Err(problem) => Some(Divergence {
            index: 0,
            before: Vec::new(),
            first: Some("the first run".into()),
            second: Some(problem),
        }),
    };
    Ok((e, steps, divergence))
}

fn replay_once(
    registry: &Registry,
    scenario: &Scenario,
    search: &Search,
    choices: &[Choice],
    mutation: Option<Mutation>,
) -> Result<(Execution, Vec<Step>), String> {
    let cfg = config(registry, scenario, mutation, true);
    let start = std::time::Instant::now();
    let exhaust::Replayed {
        run,
        cut_short,
        steps,
        added,
    } = exhaust::replay(&cfg, search, choices)?;
    let mut explored = exhaust::explored_scenario(&cfg, search);
    if added {
        // As in the search: with a fault the explorer added, the
        // scenario's expectations are not judged.
        explored.expectations.clear();
    }
    let mut e = Execution::judged(0, explored, None, run, mutation, start.elapsed());
    e.cut_short = cut_short;
    Ok((e, steps))
}

/// The process's peak resident memory, in bytes (Linux; 0 elsewhere).
pub fn peak_memory() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// States per second over `stats`.
pub fn rate(stats: &Stats) -> f64 {
    let secs = Duration::from_millis(stats.elapsed_ms).as_secs_f64();
    if secs > 0.0 {
        stats.states as f64 / secs
    } else {
        0.0
    }
}
