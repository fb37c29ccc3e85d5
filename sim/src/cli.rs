//! The `vigil` command line, as a library function so that tests can drive
//! it with arguments and read what it prints.
//!
//! Exit status: 0 when every check passed, 1 when any failed, 2 for bad
//! input (an unreadable or malformed scenario, a bad flag), 3 when a run is
//! not deterministic (`--check-determinism`), 130 when `explore` was
//! interrupted (its summary still prints).

use crate::explore::{self, ItemOptions, Record, SeedRange, Shard, Summary, Target};
use crate::protocols::Registry;
use crate::report::{self, Report};
use crate::runner::{self, Execution, Request};
use crate::scenario::{self, Scenario};
use crate::visual;
use crate::world::Mutation;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

/// Flags every command that runs a seed takes.
#[derive(clap::Args, Clone, Copy)]
struct RunFlags {
    /// Swarm testing: per seed, draw which fault kinds of the file's
    /// `[random]` section (or of a default menu) are on, and their rates.
    #[arg(long)]
    swarm: bool,
    /// Run each seed twice and compare the traces event by event; a
    /// difference is reported with the events before it (exit status 3).
    #[arg(long)]
    check_determinism: bool,
    /// Run a deliberately broken variant of vigil (to replay what a
    /// checker-bite test found); see `vigil_sim::world::Mutation`.
    #[arg(long, value_parser = parse_mutation, hide_short_help = true)]
    mutation: Option<Mutation>,
}

/// What a diagram shows (`replay --svg`, `--perfetto`; `explore --html`).
#[derive(clap::Args, Clone, Copy, Default)]
struct PictureFlags {
    /// Draw from this simulated time on ("2s", "1500ms"; default: the start).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    from: Option<Duration>,
    /// Draw up to this simulated time (default: the end of the run).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    to: Option<Duration>,
    /// Leave heartbeats and link acks out (the default over 8 nodes).
    #[arg(long, conflicts_with = "heartbeats")]
    no_heartbeats: bool,
    /// Draw heartbeats and link acks even over 8 nodes.
    #[arg(long)]
    heartbeats: bool,
}

impl PictureFlags {
    fn heartbeats(self) -> Option<bool> {
        match (self.heartbeats, self.no_heartbeats) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }

    fn svg_options(self) -> visual::svg::Options {
        let t = |d: Duration| vigil_engine::Time(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        visual::svg::Options {
            from: self.from.map(t),
            to: self.to.map(t),
            heartbeats: self.heartbeats(),
            max_height: None,
        }
    }

    /// The window's problem with a run of `duration`, if any.
    fn window_problem(self, duration: Duration) -> Option<String> {
        let show = |d: Duration| format!("{}ms", d.as_millis());
        match (self.from, self.to) {
            (Some(a), Some(b)) if a >= b => {
                Some(format!("--from {} is not before --to {}", show(a), show(b)))
            }
            (Some(a), _) if a >= duration => Some(format!(
                "--from {} is not before the end of the run ({})",
                show(a),
                show(duration)
            )),
            _ => None,
        }
    }
}

/// What `replay` writes besides its account.
struct Outputs<'a> {
    trace: Option<&'a Path>,
    svg: Option<&'a Path>,
    perfetto: Option<&'a Path>,
    picture: PictureFlags,
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
        /// Write the run's concrete fault schedule as a scenario file with
        /// only [[fault]] entries: it replays the same faults without the
        /// random draw.
        #[arg(long, value_name = "OUT")]
        emit_scenario: Option<PathBuf>,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Replay one run with every packet recorded: write its event trace,
    /// draw it (--svg), or export it for Perfetto (--perfetto).
    Replay {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The seed (default: the file's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the trace as JSON lines to FILE (`-` for stdout, the
        /// account then goes to stderr). Without it the trace is printed
        /// as readable lines before the account.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Draw the run as a space-time diagram (SVG) to FILE (`-` for
        /// stdout, the account then goes to stderr).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Write the run in the Trace Event Format to FILE (`-` for
        /// stdout), for Perfetto's UI (ui.perfetto.dev) or chrome://tracing.
        #[arg(long, value_name = "FILE")]
        perfetto: Option<PathBuf>,
        #[command(flatten)]
        picture: PictureFlags,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Run scenario files (or folders of them) under a range of seeds on
    /// every core; group the failures by fingerprint.
    Explore {
        /// Scenario files or folders (searched for *.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Seeds: A..B (B excluded), A..=B, or N for 0..N.
        #[arg(long, value_parser = parse_seeds)]
        seeds: SeedRange,
        /// Worker threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Stop starting runs after this much wall time ("10m", "90s").
        #[arg(long, value_parser = parse_budget)]
        time_budget: Option<Duration>,
        /// Run only slice K of N of the seed range (1 <= K <= N).
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
        /// Write one JSON line per run on stdout, then a summary line.
        #[arg(long)]
        json: bool,
        /// Write a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write a self-contained HTML report to FILE: the summary, each
        /// failure group with a diagram of its smallest seed, and the
        /// notification latency per departure reason.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Combine the JSON-lines outputs of sharded `explore --json` runs into
    /// one summary.
    Merge {
        /// Files written by `vigil explore --json` (`-` for stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the HTML report to FILE (as `explore --html`; each group's
        /// diagram is drawn if its scenario file can be read from here).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Shrink a failing run to the smallest scenario that fails the same way.
    Shrink {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The failing seed (default: the file's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the minimal scenario (default: FILE with
        /// `.min.toml` in place of `.toml`).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Most runs to spend.
        #[arg(long, default_value_t = 400)]
        max_runs: u32,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Run one scenario file under many seeds; list the seeds that fail.
    /// (`explore` does this for many files, with shards and reports.)
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
        #[command(flatten)]
        flags: RunFlags,
    },
}

fn parse_mutation(s: &str) -> Result<Mutation, String> {
    s.parse()
}

fn parse_seeds(s: &str) -> Result<SeedRange, String> {
    s.parse()
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

fn parse_time(s: &str) -> Result<Duration, String> {
    scenario::parse_duration(s).map_err(|e| format!("invalid time `{s}`: {}", e.reason()))
}

fn parse_budget(s: &str) -> Result<Duration, String> {
    scenario::parse_duration(s).map_err(|e| format!("invalid time budget `{s}`: {}", e.reason()))
}

/// Where the command writes, and whether it may use color.
pub struct Io<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub color_stdout: bool,
    /// Also: stderr is a terminal, so `explore` may draw a progress bar.
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
    let command = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 { program.as_str() } else { a.as_str() };
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = Ctx {
        registry,
        program: &program,
        command: &command,
    };
    match cli.command {
        Command::Run {
            file,
            seed,
            json,
            trace,
            emit_scenario,
            flags,
        } => ctx.run(
            &file,
            seed,
            json,
            trace,
            emit_scenario.as_deref(),
            flags,
            io,
        ),
        Command::Replay {
            file,
            seed,
            trace,
            svg,
            perfetto,
            picture,
            flags,
        } => ctx.replay(
            &file,
            seed,
            Outputs {
                trace: trace.as_deref(),
                svg: svg.as_deref(),
                perfetto: perfetto.as_deref(),
                picture,
            },
            flags,
            io,
        ),
        Command::Explore {
            paths,
            seeds,
            jobs,
            time_budget,
            shard,
            json,
            junit,
            html,
            flags,
        } => ctx.explore(
            &paths,
            Sweep {
                seeds,
                jobs,
                time_budget,
                shard,
                json,
                junit,
                html,
                flags,
            },
            io,
        ),
        Command::Merge {
            files,
            json,
            junit,
            html,
        } => ctx.merge(&files, json, junit.as_deref(), html.as_deref(), io),
        Command::Shrink {
            file,
            seed,
            output,
            max_runs,
            flags,
        } => ctx.shrink(&file, seed, output, max_runs, flags, io),
        Command::Sweep {
            file,
            seeds,
            from,
            jobs,
            json,
            flags,
        } => ctx.sweep(&file, from, seeds, jobs, json, flags, io),
    }
}

/// What every command shares.
struct Ctx<'a> {
    registry: &'a Registry,
    program: &'a str,
    /// The whole command line, for reports.
    command: &'a str,
}

/// `explore`'s settings.
struct Sweep {
    seeds: SeedRange,
    jobs: Option<usize>,
    time_budget: Option<Duration>,
    shard: Option<Shard>,
    json: bool,
    junit: Option<PathBuf>,
    html: Option<PathBuf>,
    flags: RunFlags,
}

fn workers(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256)
}

impl Ctx<'_> {
    /// Loads one scenario file, or reports it (exit status 2).
    fn load(&self, file: &Path, json: bool, io: &mut Io<'_>) -> Result<Scenario, u8> {
        scenario::load_with(file, self.registry).map_err(|e| {
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
            2
        })
    }

    /// [`Ctx::load`], and the seed to run: `seed`, else the file's, else 0.
    fn load_seeded(
        &self,
        file: &Path,
        seed: Option<u64>,
        json: bool,
        io: &mut Io<'_>,
    ) -> Result<(Scenario, u64), u8> {
        let scenario = self.load(file, json, io)?;
        let seed = seed.or(scenario.seed).unwrap_or(0);
        Ok((scenario, seed))
    }

    fn replay_of(&self, file: &Path, seed: u64, flags: RunFlags) -> String {
        report::replay_command(
            self.program,
            &file.display().to_string(),
            seed,
            flags.mutation,
            flags.swarm,
        )
    }

    /// Runs one seed (twice with `--check-determinism`).
    fn execute(
        &self,
        scenario: &Scenario,
        seed: u64,
        flags: RunFlags,
        detail: bool,
    ) -> (Execution, Option<runner::Divergence>) {
        let req = Request {
            registry: self.registry,
            scenario,
            seed,
            mutation: flags.mutation,
            swarm: flags.swarm,
            detail,
        };
        if flags.check_determinism {
            runner::check_determinism(req)
        } else {
            (runner::execute(req), None)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        file: &Path,
        seed: Option<u64>,
        json: bool,
        trace: bool,
        emit: Option<&Path>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        let (scenario, seed) = match self.load_seeded(file, seed, json, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let (e, divergence) = self.execute(&scenario, seed, flags, false);
        if let Some(out) = emit {
            if let Err(code) = self.emit(file, seed, &e, out, io) {
                return code;
            }
        }
        let status = self.account(file, &e, json, trace, flags, io);
        self.divergence_status(file, seed, divergence, status, flags, io)
    }

    /// Reports a determinism failure (exit status 3), or keeps `status`.
    fn divergence_status(
        &self,
        file: &Path,
        seed: u64,
        divergence: Option<runner::Divergence>,
        status: u8,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        match divergence {
            None => status,
            Some(d) => {
                let _ = writeln!(
                    io.stderr,
                    "error: {} under seed {seed} is not deterministic: {d}\nreplay: {}",
                    file.display(),
                    self.replay_of(file, seed, flags)
                );
                3
            }
        }
    }

    /// Writes the run's concrete schedule as a scenario file.
    fn emit(
        &self,
        file: &Path,
        seed: u64,
        e: &Execution,
        out: &Path,
        io: &mut Io<'_>,
    ) -> Result<(), u8> {
        let mut concrete = e.scenario.clone();
        concrete.seed = Some(seed);
        let mut text = format!(
            "# The concrete fault schedule of {} under seed {seed}{}, written by\n# `{} run --emit-scenario`. It replays the same faults without the random draw.\n\n",
            file.display(),
            e.swarm
                .as_ref()
                .map_or(String::new(), |s| format!(" (swarm: {})", s.summary())),
            self.program
        );
        text.push_str(&concrete.to_toml());
        write_file(out, &text, io)
    }

    /// Prints one run's account (or JSON object); its exit status.
    fn account(
        &self,
        file: &Path,
        e: &Execution,
        json: bool,
        trace: bool,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        let replay = self.replay_of(file, e.seed, flags);
        let out = match &e.out {
            Ok(out) => out,
            Err(panic) => {
                let _ = writeln!(
                    io.stderr,
                    "error: the simulation panicked (a bug in vigil, or in protocol code outside a step): {panic}\nreplay: {replay}"
                );
                if json {
                    let value = serde_json::json!({
                        "scenario": e.scenario.name, "file": file.display().to_string(), "seed": e.seed,
                        "verdict": "fail", "replay": replay,
                        "violations": [{"check": "no-panic", "message": panic, "at_ms": null}],
                    });
                    let _ = writeln!(io.stdout, "{value}");
                }
                return 1;
            }
        };
        let file_name = file.display().to_string();
        let report = Report {
            file: &file_name,
            scenario: &e.scenario,
            out,
            checks: &e.checks,
            mutation: flags.mutation,
            program: self.program,
            swarm: e.swarm.as_ref(),
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
                for entry in e.trace_with_failures() {
                    text.push_str(&entry.line());
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
        u8::from(!report.passed())
    }

    fn replay(
        &self,
        file: &Path,
        seed: Option<u64>,
        outputs: Outputs<'_>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        let (scenario, seed) = match self.load_seeded(file, seed, false, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let dashes = [outputs.trace, outputs.svg, outputs.perfetto]
            .iter()
            .filter(|p| **p == Some(Path::new("-")))
            .count();
        if dashes > 1 {
            let _ = writeln!(
                io.stderr,
                "error: only one of --trace, --svg and --perfetto can write to stdout (`-`)"
            );
            return 2;
        }
        let p = outputs.picture;
        if (p.from.is_some() || p.to.is_some() || p.heartbeats || p.no_heartbeats)
            && outputs.svg.is_none()
            && outputs.perfetto.is_none()
        {
            let _ = writeln!(
                io.stderr,
                "error: --from, --to, --heartbeats and --no-heartbeats choose what --svg and --perfetto draw; give one of those"
            );
            return 2;
        }
        if let Some(problem) = outputs.picture.window_problem(scenario.duration) {
            let _ = writeln!(io.stderr, "error: {problem}");
            return 2;
        }
        let (e, divergence) = self.execute(&scenario, seed, flags, true);
        let pictures = outputs.svg.is_some() || outputs.perfetto.is_some();
        let mut written: Vec<String> = Vec::new();
        if let Some(path) = outputs.trace {
            let mut lines = String::new();
            for entry in e.trace_with_failures() {
                lines.push_str(&entry.json().to_string());
                lines.push('\n');
            }
            if path == Path::new("-") {
                if io.stdout.write_all(lines.as_bytes()).is_err() {
                    return 2;
                }
            } else {
                if let Err(code) = write_file(path, &lines, io) {
                    return code;
                }
                let events = lines.lines().count();
                written.push(format!(
                    "trace: {events} events written to {}",
                    path.display()
                ));
            }
        }
        if pictures {
            match self.pictures(file, &e, &outputs, io) {
                Ok(lines) => written.extend(lines),
                Err(code) => return code,
            }
        }
        let to_stdout =
            ![outputs.trace, outputs.svg, outputs.perfetto].contains(&Some(Path::new("-")));
        let status = if to_stdout {
            // Without any output file, the readable trace comes first.
            let readable = outputs.trace.is_none() && !pictures;
            let status = self.account(file, &e, false, readable, flags, io);
            for line in &written {
                let _ = writeln!(io.stdout, "{line}");
            }
            status
        } else {
            // The trace went to stdout: the account goes to stderr.
            let mut err = Vec::new();
            let status = {
                let mut sub = Io {
                    stdout: &mut err,
                    stderr: &mut *io.stderr,
                    color_stdout: io.color_stderr,
                    color_stderr: io.color_stderr,
                };
                self.account(file, &e, false, false, flags, &mut sub)
            };
            for line in &written {
                let _ = writeln!(err, "{line}");
            }
            let _ = io.stderr.write_all(&err);
            status
        };
        self.divergence_status(file, seed, divergence, status, flags, io)
    }

    /// Writes a sweep's HTML report `page`, with the diagram of each
    /// failure group's smallest seed drawn in (the first [`MAX_DIAGRAMS`]);
    /// `find` gives the scenario and flags to replay a group with.
    fn html(
        &self,
        path: &Path,
        page: visual::html::Page<'_>,
        io: &mut Io<'_>,
        find: impl Fn(&explore::Group) -> Result<(Scenario, RunFlags), String>,
    ) -> Result<(), u8> {
        let groups = &page.summary.groups;
        if io.color_stderr && !groups.is_empty() {
            let _ = writeln!(
                io.stderr,
                "drawing {} diagram{} for {}",
                groups.len().min(MAX_DIAGRAMS),
                if groups.len() == 1 { "" } else { "s" },
                path.display()
            );
        }
        let diagrams: Vec<Result<String, String>> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                if i >= MAX_DIAGRAMS {
                    return Err(format!(
                        "only the first {MAX_DIAGRAMS} groups are drawn; replay this one with --svg"
                    ));
                }
                let (scenario, flags) = find(g)?;
                self.group_diagram(&scenario, g, flags)
            })
            .collect();
        for (i, d) in diagrams.iter().enumerate().take(MAX_DIAGRAMS) {
            if let Err(why) = d {
                let _ = writeln!(
                    io.stderr,
                    "note: no diagram for failure group {}: {why}",
                    i + 1
                );
            }
        }
        let page = visual::html::Page {
            diagrams: &diagrams,
            ..page
        };
        write_file(path, &visual::html::report(&page), io)
    }

    /// The diagram of a failure group's smallest seed, replayed with every
    /// packet recorded: from half a second before its first failed check
    /// (where the trouble began: the departure, the fault) to two seconds
    /// after (what followed, or did not); the whole run if it has no time.
    fn group_diagram(
        &self,
        scenario: &Scenario,
        g: &explore::Group,
        flags: RunFlags,
    ) -> Result<String, String> {
        let flags = RunFlags {
            check_determinism: false,
            ..flags
        };
        let (e, _) = self.execute(scenario, g.seed, flags, true);
        let title = visual::title(&e.scenario.name, &g.file, g.seed);
        let story = visual::Story::of_execution(&title, &e)
            .ok_or("the simulation panicked, so there is no whole run to draw")?;
        let at = e.violations.iter().filter_map(|v| v.at).min();
        let opts = visual::svg::Options {
            from: at.map(|t| vigil_engine::Time(t.0.saturating_sub(500_000_000))),
            to: at.map(|t| vigil_engine::Time(t.0.saturating_add(2_000_000_000))),
            heartbeats: None,
            // A page, not a poster: about two screens tall.
            max_height: Some(3_000.0),
        };
        Ok(visual::svg::draw(&story, opts).svg)
    }

    /// Writes the diagram and the Perfetto trace `outputs` ask for; one
    /// line about each.
    fn pictures(
        &self,
        file: &Path,
        e: &Execution,
        outputs: &Outputs<'_>,
        io: &mut Io<'_>,
    ) -> Result<Vec<String>, u8> {
        let title = visual::title(&e.scenario.name, &file.display().to_string(), e.seed);
        let Some(story) = visual::Story::of_execution(&title, e) else {
            let _ = writeln!(
                io.stderr,
                "error: the simulation panicked, so there is no whole run to draw"
            );
            return Err(1);
        };
        let mut lines = Vec::new();
        if let Some(path) = outputs.svg {
            let d = visual::svg::draw(&story, outputs.picture.svg_options());
            write_out(path, &d.svg, io)?;
            for note in &d.left_out {
                lines.push(format!("diagram: left out {note}"));
            }
            lines.push(format!(
                "diagram: {} lanes, {} arrows, {} marks, {:.0}–{:.0} ms{} written to {}",
                d.lanes,
                d.arrows,
                d.marks,
                d.from.as_millis_f64(),
                d.to.as_millis_f64(),
                if d.heartbeats { "" } else { " (no heartbeats)" },
                shown(path)
            ));
        }
        if let Some(path) = outputs.perfetto {
            let window = outputs.picture.svg_options();
            let opts = visual::perfetto::Options {
                from: window.from.unwrap_or(vigil_engine::Time(0)),
                to: window.to.unwrap_or(story.end),
                heartbeats: window.heartbeats.unwrap_or(story.nodes.len() <= 8),
            };
            let doc = visual::perfetto::export(&story, opts);
            write_out(path, &doc.json, io)?;
            lines.push(format!(
                "perfetto: {} trace events written to {} (open in ui.perfetto.dev){}",
                doc.events,
                shown(path),
                if doc.events > 2_000_000 {
                    "; that is more than Perfetto's UI loads comfortably: narrow it with --from and --to"
                } else {
                    ""
                }
            ));
        }
        Ok(lines)
    }

    fn explore(&self, paths: &[PathBuf], sweep: Sweep, io: &mut Io<'_>) -> u8 {
        let targets = match explore::load_targets(paths, self.registry) {
            Ok(t) => t,
            Err(problems) => {
                for p in &problems {
                    let _ = writeln!(io.stderr, "{p}");
                }
                let _ = writeln!(
                    io.stderr,
                    "error: {} problem{} with the scenarios; no seed was run",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                return 2;
            }
        };
        let seeds = match sweep.shard {
            Some(shard) => sweep.seeds.shard(shard),
            None => sweep.seeds,
        };
        let per_seed = targets.len() as u64;
        let count = seeds.len().saturating_mul(per_seed);
        let opts = ItemOptions {
            program: self.program,
            mutation: sweep.flags.mutation,
            swarm: sweep.flags.swarm,
            check_determinism: sweep.flags.check_determinism,
        };
        // Seed-major: every scenario gets its first seeds before any gets
        // many, so a time budget or Ctrl-C leaves an even sample.
        let item = |i: u64| {
            let target: &Target = &targets[(i % per_seed) as usize];
            explore::run_item(self.registry, target, seeds.from + i / per_seed, &opts)
        };
        explore::STOP.store(false, Ordering::SeqCst);
        explore::install_interrupt_handler();
        let started = Instant::now();
        let budget = sweep.time_budget;
        let over_budget = || budget.is_some_and(|b| started.elapsed() >= b);
        // stdout closed (`| head`): nobody reads the rest; stop.
        let broken = std::sync::atomic::AtomicBool::new(false);
        let stop = || {
            explore::STOP.load(Ordering::SeqCst) || over_budget() || broken.load(Ordering::SeqCst)
        };
        let bar = progress_bar(count, io.color_stderr);
        let mut failed = 0u64;
        let mut write_error = false;
        let json = sweep.json;
        let mut tick = |batch: &[Record]| {
            for r in batch {
                if !r.passed || r.divergence.is_some() {
                    failed += 1;
                }
                if json && !write_error {
                    // One whole line per write: an interrupted sweep
                    // leaves no half-written line.
                    let line = format!("{}\n", r.json());
                    write_error =
                        io.stdout.write_all(line.as_bytes()).is_err() || io.stdout.flush().is_err();
                    if write_error {
                        broken.store(true, Ordering::SeqCst);
                    }
                }
            }
            if let Some(bar) = &bar {
                bar.inc(batch.len() as u64);
                let rate = bar.position() as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{failed} failed · {rate:.1} runs/s"));
            }
        };
        let records = explore::pool(count, workers(sweep.jobs), &item, &stop, &mut tick);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let wall = started.elapsed().as_secs_f64();
        let interrupted = explore::STOP.load(Ordering::SeqCst);
        let stopped = if interrupted {
            Some(format!(
                "interrupted, {} of {count} runs done",
                records.len()
            ))
        } else if broken.load(Ordering::SeqCst) {
            Some(format!(
                "stdout was closed, {} of {count} runs done",
                records.len()
            ))
        } else if (records.len() as u64) < count {
            Some(format!(
                "time budget spent, {} of {count} runs done",
                records.len()
            ))
        } else {
            None
        };
        let summary = Summary::of(&records);
        let scope = format!(
            "{} scenario{} × seeds {seeds}{}",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            sweep.shard.map_or(String::new(), |s| format!(
                " (shard {}/{} of {})",
                s.k, s.n, sweep.seeds
            ))
        );
        if let Some(path) = &sweep.junit {
            if let Err(code) = write_file(path, &explore::junit(&records, "vigil explore"), io) {
                return code;
            }
        }
        if let Some(path) = &sweep.html {
            let report = visual::html::Page {
                scope: &scope,
                command: self.command,
                summary: &summary,
                records: &records,
                wall: Some(wall),
                stopped: stopped.as_deref(),
                diagrams: &[],
            };
            let drawn = self.html(path, report, io, |g| {
                let target = targets
                    .iter()
                    .find(|t| t.file == g.file)
                    .ok_or_else(|| format!("{} is not among the scenarios swept", g.file))?;
                Ok((target.scenario.clone(), sweep.flags))
            });
            if let Err(code) = drawn {
                return code;
            }
        }
        let human = format!(
            "{scope}\n{}",
            summary.human(
                Some(wall),
                stopped.as_deref(),
                if json {
                    io.color_stderr
                } else {
                    io.color_stdout
                }
            )
        );
        if json {
            let _ = writeln!(
                io.stdout,
                "{}",
                summary.json(Some(wall), stopped.as_deref())
            );
            let _ = write!(io.stderr, "{human}");
        } else {
            let _ = write!(io.stdout, "{human}");
        }
        if write_error {
            return 2;
        }
        if interrupted {
            return 130;
        }
        summary.status()
    }

    fn shrink(
        &self,
        file: &Path,
        seed: Option<u64>,
        output: Option<PathBuf>,
        max_runs: u32,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        let (scenario, seed) = match self.load_seeded(file, seed, false, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let (first, _) = self.execute(
            &scenario,
            seed,
            RunFlags {
                check_determinism: false,
                ..flags
            },
            false,
        );
        let Some(target) = first.fingerprint() else {
            let _ = writeln!(
                io.stderr,
                "error: {} passes under seed {seed}: there is no failure to shrink\n  = help: find a failing seed with `{} explore {} --seeds 0..1000`",
                file.display(),
                self.program,
                file.display()
            );
            return 2;
        };
        let _ = writeln!(
            io.stderr,
            "shrinking seed {seed} of {}, which fails with:\n  {target}",
            file.display()
        );
        let mut on_step = |what: &str| {
            let _ = writeln!(io.stderr, "  - {what}");
        };
        let before = first.scenario.clone();
        let shrunk = crate::shrink::Shrink {
            registry: self.registry,
            mutation: flags.mutation,
            max_runs,
            on_step: &mut on_step,
        }
        .run(before.clone(), seed, &target);
        let after = &shrunk.scenario;
        let mut removed = vec![
            format!(
                "{} of {} faults",
                before.faults.len() - after.faults.len(),
                before.faults.len()
            ),
            format!(
                "{} of {} nodes",
                before.cluster.nodes - after.cluster.nodes,
                before.cluster.nodes
            ),
            format!(
                "{} of {} jobs",
                before.jobs.len() - after.jobs.len(),
                before.jobs.len()
            ),
            format!(
                "{} of {} expectations",
                before.expectations.len() - after.expectations.len(),
                before.expectations.len()
            ),
            format!(
                "duration {} -> {}",
                scenario::duration_text(before.duration),
                scenario::duration_text(after.duration)
            ),
        ];
        if scenario.random.is_some() || flags.swarm {
            removed.push(
                "the [random] section (its draw for this seed is now [[fault]] entries)".into(),
            );
        }
        let removed = removed.join(", ");
        let out = output.unwrap_or_else(|| {
            let name = file
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            file.with_file_name(format!("{name}.min.toml"))
        });
        let mut command = format!("{} shrink {} --seed {seed}", self.program, file.display());
        if flags.swarm {
            command.push_str(" --swarm");
        }
        if let Some(m) = flags.mutation {
            command.push_str(&format!(" --mutation {}", m.name()));
        }
        let text = crate::shrink::shrunk_file(
            &shrunk,
            seed,
            &file.display().to_string(),
            &command,
            &removed,
        );
        if let Err(code) = write_file(&out, &text, io) {
            return code;
        }
        let replay = report::replay_command(
            self.program,
            &out.display().to_string(),
            seed,
            flags.mutation,
            false,
        );
        let _ = writeln!(
            io.stdout,
            "shrunk in {} runs: removed {removed}\nwrote {}\nreplay: {replay}",
            shrunk.runs,
            out.display()
        );
        0
    }

    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &self,
        file: &Path,
        from: u64,
        seeds: u64,
        jobs: Option<usize>,
        json: bool,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> u8 {
        let scenario = match self.load(file, false, io) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let target = Target {
            file: file.display().to_string(),
            scenario,
        };
        let opts = ItemOptions {
            program: self.program,
            mutation: flags.mutation,
            swarm: flags.swarm,
            check_determinism: flags.check_determinism,
        };
        let started = Instant::now();
        let item =
            |i: u64| explore::run_item(self.registry, &target, from.saturating_add(i), &opts);
        let bar = progress_bar(seeds, io.color_stderr);
        let mut tick = |batch: &[Record]| {
            if let Some(bar) = &bar {
                bar.inc(batch.len() as u64);
            }
        };
        let records = explore::pool(seeds, workers(jobs), &item, &|| false, &mut tick);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let failures: Vec<&Record> = records
            .iter()
            .filter(|r| !r.passed || r.divergence.is_some())
            .collect();
        let name = &target.file;
        let passed = seeds - failures.len() as u64;
        let written = if json {
            let list: Vec<serde_json::Value> = failures
                .iter()
                .map(|f| {
                    let violations: Vec<serde_json::Value> = f
                        .violations
                        .iter()
                        .map(|(c, m, at)| serde_json::json!({"check": c, "message": m, "at_ms": at}))
                        .collect();
                    serde_json::json!({"seed": f.seed, "replay": f.replay, "violations": violations})
                })
                .collect();
            let value = serde_json::json!({
                "scenario": target.scenario.name, "file": name, "first_seed": from, "seeds": seeds,
                "passed": passed, "failed": failures.len(), "failures": list,
            });
            writeln!(io.stdout, "{value}")
        } else {
            let mut text = String::new();
            for f in &failures {
                text.push_str(&format!("FAIL seed {}\n", f.seed));
                if let Some(d) = &f.divergence {
                    text.push_str(&format!("  not deterministic: {d}\n"));
                }
                for (check, message, at) in f.violations.iter().take(3) {
                    match at {
                        Some(at) => {
                            text.push_str(&format!("  [{check}] at {at:.3}ms: {message}\n"))
                        }
                        None => text.push_str(&format!("  [{check}] {message}\n")),
                    }
                }
                text.push_str(&format!("  replay: {}\n", f.replay));
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
        if records.iter().any(|r| r.divergence.is_some()) {
            3
        } else {
            u8::from(!failures.is_empty())
        }
    }
}

/// Writes `text` to `path` whole (see [`explore::write_atomically`]), or
/// reports why not (exit status 2).
fn write_file(path: &Path, text: &str, io: &mut Io<'_>) -> Result<(), u8> {
    explore::write_atomically(path, text).map_err(|err| {
        let _ = writeln!(io.stderr, "error: cannot write `{}`: {err}", path.display());
        2
    })
}

/// The run flags a replay command names (`--swarm`, `--mutation NAME`).
fn flags_of_replay(replay: &str) -> RunFlags {
    let words: Vec<&str> = replay.split_whitespace().collect();
    RunFlags {
        swarm: words.contains(&"--swarm"),
        check_determinism: false,
        mutation: words
            .iter()
            .position(|w| *w == "--mutation")
            .and_then(|i| words.get(i + 1))
            .and_then(|m| m.parse().ok()),
    }
}

/// Writes `text` to `path`, or to stdout for `-`.
fn write_out(path: &Path, text: &str, io: &mut Io<'_>) -> Result<(), u8> {
    if path == Path::new("-") {
        io.stdout.write_all(text.as_bytes()).map_err(|_| 2)
    } else {
        write_file(path, text, io)
    }
}

/// Where [`write_out`] wrote.
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "stdout".to_string()
    } else {
        path.display().to_string()
    }
}

/// Most diagrams one HTML report draws (each is a replay with every packet).
const MAX_DIAGRAMS: usize = 12;

/// A progress bar on stderr, only when it is a terminal.
fn progress_bar(len: u64, terminal: bool) -> Option<indicatif::ProgressBar> {
    if !terminal || len == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr_with_hz(5),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs · {msg} · {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("0 failed");
    Some(bar)
}

impl Ctx<'_> {
    fn merge(
        &self,
        files: &[PathBuf],
        json: bool,
        junit: Option<&Path>,
        html: Option<&Path>,
        io: &mut Io<'_>,
    ) -> u8 {
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for file in files {
            let text = if file == Path::new("-") {
                let mut s = String::new();
                match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                    Ok(_) => s,
                    Err(e) => {
                        problems.push(format!("error: cannot read stdin: {e}"));
                        continue;
                    }
                }
            } else {
                match std::fs::read_to_string(file) {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(format!("error: cannot read `{}`: {e}", file.display()));
                        continue;
                    }
                }
            };
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let where_ = format!("{}:{}", file.display(), n + 1);
                match serde_json::from_str::<serde_json::Value>(line) {
                Err(e) => problems.push(format!("error: {where_}: not a JSON line: {e}")),
                Ok(v) => match v.get("type").and_then(|t| t.as_str()) {
                    Some("summary") => {}
                    Some("run") => match Record::from_json(&v) {
                        Ok(r) => records.push(r),
                        Err(e) => problems.push(format!("error: {where_}: {e}")),
                    },
                    _ => problems.push(format!(
                        "error: {where_}: not a line of `vigil explore --json` (no \"type\": \"run\")"
                    )),
                },
            }
            }
        }
        if !problems.is_empty() {
            for p in &problems {
                let _ = writeln!(io.stderr, "{p}");
            }
            return 2;
        }
        // A seed run in two shards counts once.
        records.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
        records.dedup_by(|a, b| a.file == b.file && a.seed == b.seed);
        let summary = Summary::of(&records);
        if let Some(path) = junit {
            if let Err(code) = write_file(path, &explore::junit(&records, "vigil explore"), io) {
                return code;
            }
        }
        if let Some(path) = html {
            let scope = format!(
                "{} run{} merged from {} file{}",
                records.len(),
                if records.len() == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            let report = visual::html::Page {
                scope: &scope,
                command: self.command,
                summary: &summary,
                records: &records,
                wall: None,
                stopped: None,
                diagrams: &[],
            };
            let drawn = self.html(path, report, io, |g| {
                let scenario = scenario::load_with(Path::new(&g.file), self.registry)
                    .map_err(|e| format!("cannot read {}: {}", g.file, e.message()))?;
                Ok((scenario, flags_of_replay(&g.replay)))
            });
            if let Err(code) = drawn {
                return code;
            }
        }
        let written = if json {
            writeln!(io.stdout, "{}", summary.json(None, None))
        } else {
            write!(io.stdout, "{}", summary.human(None, None, io.color_stdout))
        };
        if written.is_err() {
            return 2;
        }
        summary.status()
    }
}
