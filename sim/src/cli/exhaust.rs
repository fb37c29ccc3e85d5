//! `vigil exhaust FILE`: every schedule of a small scenario, each judged
//! by every check; the failing one with the fewest deviations written as
//! a schedule file that `vigil replay` runs again and draws.

use super::*;
use crate::runtime::exhaust::{Budget, Limits, Search, Stats, Stopped, DEPTH_FIRST};
use crate::tools::exhaust::{self as exhaust_tool, ScheduleFile, SCHEDULE_KIND};

/// What `vigil exhaust` takes past its file.
#[derive(clap::Args)]
pub(super) struct ExhaustFlags {
    /// Packets the explorer may lose, in all.
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub drops: u32,
    /// Packets the explorer may deliver twice (the copy one latency later).
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub duplicates: u32,
    /// Packets the explorer may deliver late (by --late-by).
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub delays: u32,
    /// How late a delayed packet arrives (default: the width of the
    /// scenario's latency range, the slowest packet a seeded run draws).
    #[arg(long, value_parser = parse_time, value_name = "TIME", help_heading = "Budget")]
    pub late_by: Option<Duration>,
    /// Nodes the explorer may crash, each at any instant.
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub crashes: u32,
    /// Nodes the explorer may pause (for --pause-for).
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub pauses: u32,
    /// Nodes the explorer may cut off from all others.
    #[arg(long, default_value_t = 0, help_heading = "Budget")]
    pub partitions: u32,
    /// A node the explorer crashes restarts after this long (default: never).
    #[arg(long, value_parser = parse_time, value_name = "TIME", help_heading = "Budget")]
    pub restart_after: Option<Duration>,
    /// How long a paused node stays paused (default: the failure timeout).
    #[arg(long, value_parser = parse_time, value_name = "TIME", help_heading = "Budget")]
    pub pause_for: Option<Duration>,
    /// A node cut off is healed after this long (default: never).
    #[arg(long, value_parser = parse_time, value_name = "TIME", help_heading = "Budget")]
    pub heal_after: Option<Duration>,
    /// Also interleave the actors of one node within an instant (its
    /// engine, each main thread, each work thread), not only the events
    /// due: many more schedules.
    #[arg(long)]
    pub threads: bool,
    /// Choose among every node's moves within an instant, not one
    /// node's at a time (slower; for checking the reduction).
    #[arg(long, help_heading = "Reductions")]
    pub no_por: bool,
    /// Explore a state again however it was reached (slower; for
    /// checking the reduction).
    #[arg(long, help_heading = "Reductions")]
    pub no_visited: bool,
    /// Explore schedules with at most N deviations from the plain order.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_deviations: Option<u32>,
    /// Stop after N states, counted over every level (each level of the
    /// search by deviations explores again from the start).
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_states: Option<u64>,
    /// Stop after this much wall time ("10m", "90s").
    #[arg(long, value_parser = parse_budget, help_heading = "Limits")]
    pub time_budget: Option<Duration>,
    /// Search depth first in one pass rather than by fewest deviations
    /// first: faster to complete, but a failure found may not be the
    /// shortest.
    #[arg(long, help_heading = "Limits")]
    pub no_deepening: bool,
    /// Where to write a failing schedule (default: FILE with
    /// `.schedule.json` in place of `.toml`).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print exactly one JSON object on stdout instead of the account.
    #[arg(long)]
    pub json: bool,
    /// Explore a deliberately broken variant of vigil (builds with the
    /// `mutations` feature only).
    #[arg(long, value_parser = parse_mutation, hide_short_help = true)]
    pub mutation: Option<Mutation>,
    /// The driver: `event-loop`, the only one that can choose the next
    /// event instead of drawing it (taken, so that a command line that
    /// names it for every command works here too).
    #[arg(long, value_parser = super::driver_parser())]
    pub driver: Option<Driver>,
}

impl ExhaustFlags {
    fn budget(&self) -> Budget {
        Budget {
            drops: self.drops,
            duplicates: self.duplicates,
            delays: self.delays,
            crashes: self.crashes,
            pauses: self.pauses,
            partitions: self.partitions,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_deviations: self.max_deviations,
            max_states: self.max_states,
            no_deepening: self.no_deepening,
        }
    }
}

impl Ctx<'_> {
    pub(super) fn exhaust(&self, file: &Path, args: ExhaustFlags, io: &mut Io<'_>) -> Exit {
        let limits = args.limits();
        // Bad input is refused before any work, in one JSON object too.
        let refuse = |io: &mut Io<'_>, message: String, help: String| {
            refuse_at(io, args.json, &message, Some(file), Some(&help))
        };
        if let Some(driver) = args.driver.filter(|d| *d != Driver::EventLoop) {
            return refuse(
                io,
                format!("`vigil exhaust` explores on the event loop only (it chooses each next event, where {driver} draws it)"),
                "drop --driver, or give --driver event-loop".into(),
            );
        }
        if exhaust_tool::is_schedule(file) {
            return refuse(
                io,
                format!("`{}` is a schedule file, not a scenario", file.display()),
                format!("run it again with `vigil replay {}`", file.display()),
            );
        }
        let scenario = match self.load(file, args.json, io) {
            Ok(s) => s,
            Err(code) => return code,
        };
        if scenario.random.is_some() {
            return refuse(
                io,
                format!("`{}` has a [random] section, which draws faults per seed; `vigil exhaust` explores the scenario's own faults and the budget given on its command line", file.display()),
                format!("fix one seed's draw as a file with `vigil run {} --seed N --emit-scenario OUT`, or give the budget as --crashes, --partitions, --pauses, --drops, --duplicates, --delays", file.display()),
            );
        }
        // A flag that tunes a part of the budget that is not given does
        // nothing: say so rather than record it.
        for (tuned, flag, part, given) in [
            (args.late_by.is_some(), "--late-by", "--delays", args.delays),
            (
                args.restart_after.is_some(),
                "--restart-after",
                "--crashes",
                args.crashes,
            ),
            (
                args.pause_for.is_some(),
                "--pause-for",
                "--pauses",
                args.pauses,
            ),
            (
                args.heal_after.is_some(),
                "--heal-after",
                "--partitions",
                args.partitions,
            ),
        ] {
            if tuned && given == 0 {
                return refuse(
                    io,
                    format!("{flag} tunes {part}, which is not given: it would do nothing"),
                    format!("give {part} N as well, or leave {flag} out"),
                );
            }
        }
        for (value, flag) in [
            (args.late_by, "--late-by"),
            (args.restart_after, "--restart-after"),
            (args.pause_for, "--pause-for"),
            (args.heal_after, "--heal-after"),
        ] {
            if value.is_some_and(|v| v.is_zero()) {
                return refuse(
                    io,
                    format!("{flag} 0 would undo its fault at the instant it strikes"),
                    format!("give {flag} a time of at least 1ms"),
                );
            }
        }
        if args.max_states == Some(0) {
            return refuse(
                io,
                "--max-states 0 would stop before the first state: even the plain schedule is one"
                    .into(),
                "give --max-states a count of at least 1".into(),
            );
        }
        if args.no_deepening && args.max_deviations.is_some() {
            return refuse(
                io,
                "--no-deepening searches every schedule in one pass, whatever its deviations: --max-deviations does not apply".into(),
                "leave out one of --no-deepening and --max-deviations".into(),
            );
        }
        let (lo, hi) = scenario.cluster.latency;
        let late_by = args.late_by.unwrap_or(hi.saturating_sub(lo));
        if args.delays > 0 && late_by.is_zero() {
            return refuse(
                io,
                format!(
                    "--delays {} has nothing to delay by: `{}` has a fixed latency ({:?})",
                    args.delays,
                    file.display(),
                    lo
                ),
                format!(
                    "say how late a delayed packet arrives with --late-by TIME (e.g. --late-by {:?})",
                    scenario.cluster.heartbeat_interval
                ),
            );
        }
        let search = Search {
            budget: args.budget(),
            restart_after: args.restart_after,
            pause_for: args.pause_for.unwrap_or(scenario.cluster.failure_timeout),
            heal_after: args.heal_after,
            late_by,
            threads: args.threads,
            por: !args.no_por,
            visited: !args.no_visited,
        };
        let output = args.output.clone().unwrap_or_else(|| {
            let stem = file.file_stem().map_or_else(
                || "scenario".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            file.with_file_name(format!("{stem}.schedule.json"))
        });
        // Where a failure will go is checked now, not after the search.
        if !exhaust_tool::is_schedule(&output) {
            return refuse(
                io,
                format!("-o {}: a schedule file ends in `.json` (`vigil replay` tells it from a scenario by that)", output.display()),
                format!("write it as {}", output.with_extension("json").display()),
            );
        }
        if let Some(why) = unwritable_out(&output) {
            return refuse(
                io,
                format!("-o {}: {why}", output.display()),
                "create it first, or write the schedule elsewhere".into(),
            );
        }
        let header = describe_search(file, &search, &limits);
        if !args.json {
            let _ = writeln!(io.stdout, "{header}");
        }
        explore_tool::install_interrupt_handler();
        let progress_to_terminal = io.color_stderr && !args.json;
        // Each level's line as it ends (a long search in a CI log shows
        // its way; every level ends through here); the figures so far on a
        // terminal, once a second.
        let stdout = &mut *io.stdout;
        let mut progress = |stats: &Stats| {
            if let Some(level) = stats.finished {
                if progress_to_terminal {
                    eprint!("\r\x1b[K");
                }
                if !args.json {
                    let _ = writeln!(stdout, "  {}", level_line(level));
                    let _ = stdout.flush();
                }
            } else if progress_to_terminal {
                eprint!("\r{}", progress_line(stats));
            }
        };
        let outcome = exhaust_tool::explore(
            self.registry,
            &scenario,
            &search,
            &limits,
            args.mutation,
            exhaust_tool::Watch {
                time: args.time_budget,
                stop: &explore_tool::STOP,
                progress: &mut progress,
            },
        );
        if progress_to_terminal {
            eprint!("\r\x1b[K");
        }
        let peak = exhaust_tool::peak_memory();
        let failure = outcome.failures.first();
        let mut written = None;
        if let Some(f) = failure {
            let schedule = ScheduleFile {
                kind: SCHEDULE_KIND.to_string(),
                version: 1,
                scenario: exhaust_tool::scenario_from(&output, file),
                scenario_sha256: exhaust_tool::file_sha256(file),
                mutation: args.mutation.map(|m| m.name().to_string()),
                search: search.clone(),
                choices: f.choices.clone(),
                violations: f.violations.iter().map(|v| v.to_string()).collect(),
            };
            let text = serde_json::to_string_pretty(&schedule).expect("a schedule encodes") + "\n";
            if let Err(code) = write_file(&output, &text, io) {
                return code;
            }
            written = Some(output.clone());
        }
        let verdict = if failure.is_some() {
            "fail"
        } else if outcome.stopped == Some(Stopped::Interrupted) {
            "interrupted"
        } else if outcome.complete {
            "pass"
        } else {
            "incomplete"
        };
        let s = &outcome.stats;
        if args.json {
            let levels: Vec<serde_json::Value> = outcome
                .levels
                .iter()
                // A depth-first pass has no bound on deviations: null.
                .map(|(d, st, sc)| serde_json::json!({"deviations": (*d != DEPTH_FIRST).then_some(*d), "states": st, "schedules": sc}))
                .collect();
            let failure_json = failure.map(|f| {
                serde_json::json!({
                    "deviations": f.choices.len(),
                    "schedule": written.as_ref().map(|p| p.display().to_string()),
                    "replay": written.as_ref().map(|p| schedule_replay(self.program, p, args.mutation)),
                    "violations": f.violations.iter().map(|v| serde_json::json!({
                        "check": v.check, "message": v.message, "at_ms": v.at.map(|t| t.as_millis_f64()),
                    })).collect::<Vec<_>>(),
                    "choices": f.choices,
                })
            });
            let json = serde_json::json!({
                "verdict": verdict,
                "file": file.display().to_string(),
                "complete": outcome.complete,
                "stopped": outcome.stopped,
                "states": s.states,
                "revisits": s.revisits,
                "schedules": s.schedules,
                "moves": s.moves,
                "depth": s.depth,
                "frontier": s.frontier,
                "cut": s.cut,
                "levels": levels,
                "elapsed_ms": s.elapsed_ms,
                "states_per_second": exhaust_tool::rate(s).round(),
                "peak_memory_bytes": peak,
                "search": search,
                "failure": failure_json,
            });
            let _ = writeln!(io.stdout, "{json}");
        } else {
            let how = match (outcome.complete, outcome.stopped) {
                (true, _) => "complete".to_string(),
                (false, Some(Stopped::Failed)) => "stopped at the first failure".to_string(),
                (false, Some(Stopped::Interrupted)) => "interrupted".to_string(),
                (false, Some(Stopped::StateLimit)) => "stopped: --max-states reached".to_string(),
                (false, Some(Stopped::TimeLimit)) => "stopped: --time-budget spent".to_string(),
                (false, Some(Stopped::DeviationLimit)) => {
                    "stopped: --max-deviations reached (schedules with more were not explored)"
                        .to_string()
                }
                (false, None) => "stopped".to_string(),
            };
            let _ = writeln!(
                io.stdout,
                "{how}: {} ({} reached again), {}, {}, depth {}, frontier {}, {:.1} s ({:.0} states/s), peak memory {} MB",
                of(s.states, "state"),
                s.revisits,
                of(s.schedules, "schedule"),
                of(s.moves, "move"),
                s.depth,
                s.frontier,
                s.elapsed_ms as f64 / 1000.0,
                exhaust_tool::rate(s),
                peak / (1 << 20)
            );
            if s.states == 0 && outcome.stopped.is_some() && failure.is_none() {
                let why = if outcome.began {
                    "  no state was explored: the budget was spent before the search took its first step"
                } else {
                    "  the plain schedule alone did not finish within the budget (it runs twice first, to check that a run is a function of its choices): give it more time, or explore a shorter or smaller scenario"
                };
                let _ = writeln!(io.stdout, "{why}");
            }
            match failure {
                Some(f) => {
                    let _ = writeln!(
                        io.stdout,
                        "FAIL: a schedule with {} deviation{} from the plain order breaks:",
                        f.choices.len(),
                        if f.choices.len() == 1 { "" } else { "s" }
                    );
                    for v in &f.violations {
                        let _ = writeln!(io.stdout, "  {v}");
                    }
                    if f.choices.is_empty() {
                        let _ = writeln!(io.stdout, "the deviations: none, the plain order fails");
                    } else {
                        let _ = writeln!(io.stdout, "the deviations:");
                    }
                    for c in &f.choices {
                        let _ = writeln!(
                            io.stdout,
                            "  at {:.3} ms, choice point {}: {} (instead of: {})",
                            c.at_ns as f64 / 1e6,
                            c.point,
                            c.what,
                            c.instead
                        );
                    }
                    if let Some(p) = &written {
                        let _ = writeln!(
                            io.stdout,
                            "schedule written to {}\n  replay: {} --svg {}.svg",
                            p.display(),
                            schedule_replay(self.program, p, args.mutation),
                            p.with_extension("").display()
                        );
                    }
                }
                None if outcome.complete => {
                    let _ = writeln!(io.stdout, "PASS: every schedule passes every check");
                }
                None => {
                    let _ = writeln!(
                        io.stdout,
                        "no failure in the schedules explored; the search was not complete"
                    );
                }
            }
        }
        match verdict {
            "fail" => Exit::Fail,
            "interrupted" => Exit::Interrupted,
            _ => Exit::Pass,
        }
    }
}

/// One level of the search: its bound, states and schedules.
fn level_line((d, states, schedules): (u32, u64, u64)) -> String {
    let level = match d {
        DEPTH_FIRST => "depth first, any deviations".to_string(),
        1 => "at most 1 deviation".to_string(),
        d => format!("at most {d} deviations"),
    };
    format!(
        "{level}: {}, {}",
        of(states, "state"),
        of(schedules, "schedule")
    )
}

/// The search in one line, for the top of the account.
fn describe_search(file: &Path, search: &Search, limits: &Limits) -> String {
    let b = search.budget;
    let mut budget = Vec::new();
    for (n, one, many) in [
        (b.crashes, "crash", "crashes"),
        (b.pauses, "pause", "pauses"),
        (b.partitions, "partition", "partitions"),
        (b.drops, "drop", "drops"),
        (b.duplicates, "duplicate", "duplicates"),
        (b.delays, "delay", "delays"),
    ] {
        if n > 0 {
            budget.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    let budget = if budget.is_empty() {
        "no faults added".to_string()
    } else {
        format!("at most {}", budget.join(", "))
    };
    let what = if search.threads {
        "events and thread steps"
    } else {
        "events"
    };
    let mut reductions = Vec::new();
    if search.por {
        reductions.push("one node at a time");
    }
    if search.visited {
        reductions.push("visited states");
    }
    let reductions = if reductions.is_empty() {
        "none".to_string()
    } else {
        reductions.join(", ")
    };
    let order = if limits.no_deepening {
        "depth first"
    } else {
        "fewest deviations first"
    };
    format!(
        "exhaust {}: every order of the {what} due at one instant; {budget}; reductions: {reductions}; {order}",
        file.display()
    )
}

fn progress_line(s: &Stats) -> String {
    let level = if s.level == DEPTH_FIRST {
        "depth first".to_string()
    } else {
        format!("deviations <= {}", s.level)
    };
    format!(
        "  {level}: {} states, {} schedules, depth {}, frontier {}, {:.0} states/s, {:.0} s   ",
        s.states,
        s.schedules,
        s.depth,
        s.frontier,
        exhaust_tool::rate(s),
        s.elapsed_ms as f64 / 1000.0
    )
}
