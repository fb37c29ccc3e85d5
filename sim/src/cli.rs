//! The `vigil` command line, as a library function so that tests can drive
//! it with arguments and read what it prints.
//!
//! Exit status: 0 when every check passed, 1 when any failed, 2 for bad
//! input (an unreadable or malformed scenario, a bad flag).

use crate::protocols::Registry;
use crate::report::{self, Report};
use crate::world::Mutation;
use crate::{check, scenario, world};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Deterministic fault simulation for group membership: no member waits forever for a peer that is gone."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario file under one seed and check it.
    Run {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The seed (default: the file's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Print exactly one JSON object on stdout instead of the account.
        #[arg(long)]
        json: bool,
        /// Also print the whole trace, one line per event (with --json: a
        /// `trace` array of those lines).
        #[arg(long)]
        trace: bool,
        /// Run a deliberately broken variant of vigil (to replay what a
        /// checker-bite test found); see `vigil_sim::world::Mutation`.
        #[arg(long, value_parser = parse_mutation, hide_short_help = true)]
        mutation: Option<Mutation>,
    },
    /// Run one scenario file under many seeds; list the seeds that fail.
    Sweep {
        /// The scenario file (TOML).
        file: PathBuf,
        /// How many seeds to run.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Worker threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        /// Run a deliberately broken variant of vigil.
        #[arg(long, value_parser = parse_mutation, hide_short_help = true)]
        mutation: Option<Mutation>,
    },
}

fn parse_mutation(s: &str) -> Result<Mutation, String> {
    s.parse()
}

/// Where the command writes, and whether it may use color.
pub struct Io<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub color_stdout: bool,
    pub color_stderr: bool,
}

/// Runs the command line `args` (program name first); returns the exit status.
pub fn main_with(args: &[String], io: &mut Io<'_>) -> u8 {
    main_with_registry(args, io, Registry::builtin_ref())
}

/// [`main_with`] with the protocols of `registry`: a user's crate builds its
/// own `vigil` binary, with its own protocols, from this.
pub fn main_with_registry(args: &[String], io: &mut Io<'_>, registry: &Registry) -> u8 {
    // Replay commands name the binary that was run: a user's own binary
    // knows protocols `vigil` does not.
    let program = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map_or("vigil".to_string(), |n| n.to_string_lossy().into_owned());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = if io.color_stderr {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            let out: &mut dyn Write = if e.use_stderr() {
                &mut *io.stderr
            } else {
                &mut *io.stdout
            };
            let _ = write!(out, "{text}");
            return code;
        }
    };
    match cli.command {
        Command::Run {
            file,
            seed,
            json,
            trace,
            mutation,
        } => run(registry, &program, &file, seed, json, trace, mutation, io),
        Command::Sweep {
            file,
            seeds,
            from,
            jobs,
            json,
            mutation,
        } => sweep(
            registry, &program, &file, from, seeds, jobs, json, mutation, io,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    registry: &Registry,
    program: &str,
    file: &Path,
    seed: Option<u64>,
    json: bool,
    trace: bool,
    mutation: Option<Mutation>,
    io: &mut Io<'_>,
) -> u8 {
    let scenario = match scenario::load_with(file, registry) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(io.stderr, "{}", e.render(io.color_stderr));
            if json {
                // Scripts get their one JSON object even for bad input.
                let (line, column) = e
                    .line_col()
                    .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                let error = serde_json::json!({
                    "verdict": "error",
                    "error": {"message": e.message(), "file": file.display().to_string(), "line": line, "column": column, "help": e.help_text()},
                });
                let _ = writeln!(io.stdout, "{error}");
            }
            return 2;
        }
    };
    let seed = seed.or(scenario.seed).unwrap_or(0);
    let out = match world::run_caught(registry, &scenario, seed, mutation) {
        Ok(out) => out,
        Err(panic) => {
            let replay =
                report::replay_command(program, &file.display().to_string(), seed, mutation);
            let _ = writeln!(
                io.stderr,
                "error: the simulation panicked (a bug in vigil, or in protocol code outside a step): {panic}\nreplay: {replay}"
            );
            if json {
                let value = serde_json::json!({
                    "scenario": scenario.name, "file": file.display().to_string(), "seed": seed,
                    "verdict": "fail", "replay": replay,
                    "violations": [{"check": "no-panic", "message": panic, "at_ms": null}],
                });
                let _ = writeln!(io.stdout, "{value}");
            }
            return 1;
        }
    };
    let cfg = world::engine_config(&scenario);
    let checks = check::check(&out, &scenario, &cfg);
    let file_name = file.display().to_string();
    let report = Report {
        file: &file_name,
        scenario: &scenario,
        out: &out,
        checks: &checks,
        mutation,
        program,
    };
    let written = if json {
        let mut value = report.json();
        if trace {
            let lines: Vec<String> = out.trace.entries.iter().map(|e| e.line()).collect();
            value["trace"] = serde_json::json!(lines);
        }
        writeln!(io.stdout, "{value}")
    } else {
        let mut text = String::new();
        if trace {
            for e in &out.trace.entries {
                text.push_str(&e.line());
                text.push('\n');
            }
            text.push('\n');
        }
        text.push_str(&report.human(io.color_stdout));
        write!(io.stdout, "{text}")
    };
    if written.is_err() {
        return 2;
    }
    if report.passed() {
        0
    } else {
        1
    }
}

/// One failing seed of a sweep.
struct Failure {
    seed: u64,
    violations: Vec<check::Violation>,
}

#[allow(clippy::too_many_arguments)]
fn sweep(
    registry: &Registry,
    program: &str,
    file: &Path,
    from: u64,
    seeds: u64,
    jobs: Option<usize>,
    json: bool,
    mutation: Option<Mutation>,
    io: &mut Io<'_>,
) -> u8 {
    let scenario = match scenario::load_with(file, registry) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(io.stderr, "{}", e.render(io.color_stderr));
            return 2;
        }
    };
    let cfg = world::engine_config(&scenario);
    let workers = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let progress = io.color_stderr; // a terminal: redraw one progress line
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= seeds {
                    return;
                }
                let seed = from.saturating_add(i);
                let violations: Vec<check::Violation> =
                    match world::run_caught(registry, &scenario, seed, mutation) {
                        Ok(out) => check::check(&out, &scenario, &cfg)
                            .into_iter()
                            .flat_map(|c| c.violations)
                            .collect(),
                        Err(panic) => vec![check::Violation {
                            check: "no-panic".into(),
                            message: format!("the simulation panicked: {panic}"),
                            at: None,
                        }],
                    };
                if !violations.is_empty() {
                    failures
                        .lock()
                        .expect("failures")
                        .push(Failure { seed, violations });
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        if progress {
            loop {
                let n = done.load(Ordering::Relaxed);
                let failed = failures.lock().expect("failures").len();
                let _ = write!(io.stderr, "\r{n}/{seeds} seeds, {failed} failed");
                if n >= seeds {
                    let _ = writeln!(io.stderr);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort_by_key(|f| f.seed);
    let name = file.display().to_string();
    let replay = |seed: u64| report::replay_command(program, &name, seed, mutation);
    let passed = seeds - failures.len() as u64;
    let written = if json {
        let list: Vec<serde_json::Value> = failures
            .iter()
            .map(|f| {
                let violations: Vec<serde_json::Value> = f
                    .violations
                    .iter()
                    .map(|v| {
                        let at_ms = v.at.map(|t| t.as_millis_f64());
                        serde_json::json!({"check": v.check, "message": v.message, "at_ms": at_ms})
                    })
                    .collect();
                serde_json::json!({"seed": f.seed, "replay": replay(f.seed), "violations": violations})
            })
            .collect();
        let value = serde_json::json!({
            "scenario": scenario.name, "file": name, "first_seed": from, "seeds": seeds,
            "passed": passed, "failed": failures.len(), "failures": list,
        });
        writeln!(io.stdout, "{value}")
    } else {
        let mut text = String::new();
        for f in &failures {
            text.push_str(&format!("FAIL seed {}\n", f.seed));
            for v in f.violations.iter().take(3) {
                text.push_str(&format!("  {v}\n"));
            }
            text.push_str(&format!("  replay: {}\n", replay(f.seed)));
        }
        let verdict = if failures.is_empty() { "PASS" } else { "FAIL" };
        let last = from.saturating_add(seeds.saturating_sub(1));
        let wall = started.elapsed().as_secs_f64();
        text.push_str(&format!("{verdict} · {passed} of {seeds} seeds passed (seeds {from}..={last}, {wall:.1}s) · {name}\n"));
        write!(io.stdout, "{text}")
    };
    if written.is_err() {
        return 2;
    }
    u8::from(!failures.is_empty())
}
