//! The `vigil` command line, as a library function so that tests can drive
//! it with arguments and read what it prints. One file per command; this
//! one parses the arguments, holds what commands share, and defines the
//! exit status ([`Exit`]).

mod exhaust;
mod explore;
mod merge;
mod node;
mod replay;
mod run;
mod shrink;
mod sweep;

use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::run::{self as one_run, Execution, Request};
use crate::scenario::{self, Scenario};
use crate::tools::explore::{
    self as explore_tool, ItemOptions, Kept, Problem, Record, SeedRange, Shard, Target,
};
use crate::tools::report::{self, Report};
use crate::tools::visual;
use crate::trace::Driver;
use clap::{Parser, Subcommand};
use node::RealOutputs;
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
    /// checker-bite test found); see `vigil_sim::mutation::Mutation` (builds with the `mutations` feature only).
    #[arg(long, value_parser = parse_mutation, hide_short_help = true)]
    mutation: Option<Mutation>,
    /// Which driver steps the state machines: `madsim` (the default:
    /// madsim's runtime and network, a task per node) or `event-loop` (a
    /// plain loop with its own seeded network, no async: about twice as
    /// fast on small clusters, three to four times on large ones).
    /// Both run the same scenarios, faults and checks; a seed's run
    /// differs between them.
    #[arg(long, value_parser = driver_parser())]
    driver: Option<Driver>,
}

impl RunFlags {
    /// The driver `--driver` names, or the default one.
    fn driver(&self) -> Driver {
        self.driver.unwrap_or_default()
    }

    /// These flags as a command line gives them, for a command that runs
    /// seeds as this one did ([`report::run_flags`], as replay commands
    /// name them).
    fn named(&self) -> String {
        report::run_flags(self.mutation, self.swarm, self.driver())
    }
}

/// Parses `--driver`, listing its values in `--help` and in the error.
fn driver_parser() -> impl clap::builder::TypedValueParser<Value = Driver> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Driver::ALL.map(Driver::name))
        .map(|name| Driver::parse(&name).expect("a listed driver"))
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
            // The window opens at the start: `--to 0s` leaves it empty.
            (None, Some(b)) if b.is_zero() => {
                Some("--to 0ms leaves nothing to draw: the run starts at 0ms".to_string())
            }
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
        /// Write the run's concrete schedule as a scenario file with only
        /// [[fault]] and [[task]] entries: it replays the same faults and
        /// tasks without the random draw (`-`: to stdout, before the
        /// account).
        #[arg(long, value_name = "OUT")]
        emit_scenario: Option<PathBuf>,
        /// Run it for real: one `vigil node` process per node on 127.0.0.1,
        /// the faults struck at their wall-clock times (a crash is SIGKILL,
        /// a pause SIGSTOP), the same checks on the merged trace. Takes the
        /// scenario's duration in real time, and is not deterministic.
        #[arg(long, conflicts_with_all = ["check_determinism", "mutation"])]
        real: bool,
        /// With --real: keep the nodes' files (the cluster file, each
        /// node's trace, disk and stderr) in DIR rather than a temporary
        /// directory.
        #[arg(long, value_name = "DIR", requires = "real")]
        keep: Option<PathBuf>,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Check the traces of nodes run by hand (`vigil node`, on one host or
    /// several): merge them by time and run every check, and the cluster
    /// file's expectations, on the whole.
    Check {
        /// The cluster file the nodes ran with.
        cluster: PathBuf,
        /// Each node's trace file (one per node).
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// Print exactly one JSON object on stdout instead of the account.
        #[arg(long)]
        json: bool,
    },
    /// Run one node of a cluster as this process, on a real network: its
    /// engine over UDP at its address in the cluster file, its jobs' main
    /// and work threads as OS threads. Commands come on stdin, one a line
    /// (`help` lists them); each is answered with a JSON line on stdout.
    Node {
        /// The cluster file: a scenario file whose [cluster] has
        /// `addresses`, one "IP:port" per node (its faults are ignored).
        cluster: PathBuf,
        /// Which node this process is ("n0").
        #[arg(long, value_parser = parse_node)]
        node: u16,
        /// Write the node's trace here, as JSON lines (default: nK.trace.jsonl).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Keep the engine's incarnation here across restarts (default:
        /// nK.disk.json). A node started without it takes its incarnation
        /// and view-id floor from the host's clock (see README, Lost disks).
        #[arg(long, value_name = "FILE")]
        disk: Option<PathBuf>,
        /// The jobs to start, comma-separated (default: every job the file
        /// places on this node).
        #[arg(long, value_delimiter = ',')]
        jobs: Option<Vec<String>>,
        /// The zero of the trace's clock, in ns since the Unix epoch
        /// (default: now). Nodes of one run share it.
        #[arg(long)]
        epoch_ns: Option<u64>,
        /// Seeds the node's draws of simulated loss and delay.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print no membership changes on stderr.
        #[arg(long)]
        quiet: bool,
        /// Use this inherited file descriptor, a UDP socket already bound
        /// to the node's address, instead of binding the address itself
        /// (what `vigil run --real` does: it holds every node's port for
        /// the whole run, so no other process can take one meanwhile).
        /// The node takes it over (closing it when it ends) and first drops
        /// the datagrams already waiting on it.
        #[arg(long, value_name = "FD", value_parser = clap::value_parser!(i32).range(0..))]
        socket_fd: Option<i32>,
    },
    /// Replay one run with every packet recorded: write its event trace,
    /// draw it (--svg), or export it for Perfetto (--perfetto).
    Replay {
        /// The scenario file (TOML), or a schedule file (`.json`) that `vigil exhaust` wrote.
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
        #[arg(long, value_parser = parse_seeds, allow_hyphen_values = true)]
        seeds: SeedRange,
        /// Worker threads, 1 to 256 (default: the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
        /// Stop starting runs after this much wall time ("10m", "90s"); the
        /// first run is made whatever the budget.
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
    /// Explore every schedule of a small scenario on the event loop, not a
    /// sample: every order of the events due at one instant (packets,
    /// timers, local steps ending; with --threads, each thread's next step)
    /// and, within a budget, lost or duplicated
    /// packets and crashed, paused or cut-off nodes. Each complete schedule
    /// is judged by every check; the failing one with the fewest deviations
    /// from the plain order is written as a schedule file that `vigil
    /// replay` runs again and draws.
    Exhaust {
        /// The scenario file (TOML), without a [random] section.
        file: PathBuf,
        #[command(flatten)]
        flags: exhaust::ExhaustFlags,
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
        #[arg(long, default_value_t = shrink::DEFAULT_MAX_RUNS)]
        max_runs: u32,
        /// Print exactly one JSON object on stdout instead of the account
        /// (the steps still go to stderr).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Print the JSON Schema of scenario files, for an editor's TOML
    /// support (completion, docs on hover, unknown keys and wrong types
    /// underlined). The repository ships it as schema/scenario.schema.json;
    /// point a file at it with a first line `#:schema PATH` (Taplo, "Even
    /// Better TOML"), or map `scenarios/*.toml` to it in the editor's
    /// settings.
    Schema {
        /// Write it to OUT instead of stdout.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Run one scenario file under many seeds; list the seeds that fail.
    /// (`explore` does this for many files, with shards and reports.)
    Sweep {
        /// The scenario file (TOML).
        file: PathBuf,
        /// How many seeds to run (at least 1), from `--from` on.
        #[arg(long, default_value_t = 100, value_parser = parse_seed_count)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Worker threads, 1 to 256 (default: the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: RunFlags,
    },
}

/// `sweep --seeds`: a count, not `explore`'s range.
fn parse_seed_count(s: &str) -> Result<u64, String> {
    if s.contains("..") {
        return Err(format!(
            "`sweep --seeds` is how many seeds to run, from `--from` on (`--from A --seeds N` \
             runs seeds A to A+N-1); for the range `{s}`, run `vigil explore FILE --seeds {s}`"
        ));
    }
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 seed".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a number of seeds: {e}")),
    }
}

fn parse_node(s: &str) -> Result<u16, String> {
    s.strip_prefix('n')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("`{s}` is not a node name such as n0"))
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

/// Warns, on stderr, of what makes a run of `scenario` (from `file`) slow
/// and memory-hungry before it starts (a run says nothing until it ends).
fn warn_cost(file: &str, scenario: &Scenario, io: &mut Io<'_>) {
    for warning in scenario.cost_warnings() {
        let _ = writeln!(io.stderr, "warning: {file}: {warning}");
    }
}

/// Where the command writes, and whether it may use color.
pub struct Io<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub color_stdout: bool,
    /// Also: stderr is a terminal, so `explore` may draw a progress bar.
    pub color_stderr: bool,
}

/// How a command ends: its exit status, a contract scripts rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: every check passed (or help was asked for).
    Pass,
    /// 1: a check failed, or the simulation panicked.
    Fail,
    /// 2: bad input: an unreadable or malformed scenario, a bad flag, an
    /// output that cannot be written (stdout closed is its own, below).
    BadInput,
    /// 3: a run was not deterministic (`--check-determinism`).
    Nondeterministic,
    /// 130: `explore` was interrupted (its summary still prints).
    Interrupted,
    /// 141: stdout was closed before everything was written to it (`|
    /// head`): what a shell reports for a program that SIGPIPE killed.
    StdoutClosed,
}

impl Exit {
    /// The status the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Fail => 1,
            Exit::BadInput => 2,
            Exit::Nondeterministic => 3,
            Exit::Interrupted => 130,
            Exit::StdoutClosed => 141,
        }
    }

    /// [`Exit::Pass`] or [`Exit::Fail`].
    fn passed(passed: bool) -> Exit {
        if passed {
            Exit::Pass
        } else {
            Exit::Fail
        }
    }
}

impl From<one_run::Verdict> for Exit {
    fn from(v: one_run::Verdict) -> Exit {
        match v {
            one_run::Verdict::Pass => Exit::Pass,
            one_run::Verdict::Fail => Exit::Fail,
            one_run::Verdict::Nondeterministic => Exit::Nondeterministic,
        }
    }
}

/// Keeps a long sweep's memory flat: `explore`, `sweep`, `shrink` and
/// `exhaust` call it before their first run (it sets a parameter of the
/// whole process's allocator; one run, or a real node, does without).
///
/// glibc's allocator serves a large block (a run's trace, a few MB) from a
/// fresh mapping, and returns it to the system when freed; but each such
/// free raises the size it maps from then on, so later runs' traces come
/// from the heap, whose free pieces are not given back and do not fit the
/// next run's sizes. `vigil explore scenarios/quickstart.toml` then peaked
/// at 13.4 MB over 100 seeds and 16.8 MB over 2,000; with the threshold
/// held at 128 KiB, at 13.4 and 13.6 MB. Elsewhere it does nothing; nor
/// does it change the `vigil` binary's own allocations, which go to
/// mimalloc (`src/bin/vigil.rs`): it serves whoever runs these commands
/// through the library on glibc's malloc (the tests, `tests/memory.rs`).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator (under its
    // own lock); it reads and writes no memory of ours.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// `n` `what`s, in English.
fn of(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The one JSON object a command prints for bad input under `--json`:
/// `{"verdict": "error", "error": {message, file, line, column, help}}`.
fn error_json(
    message: &str,
    file: Option<&Path>,
    at: Option<(usize, usize)>,
    help: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "verdict": "error",
        "error": {
            "message": message,
            "file": file.map(|f| f.display().to_string()),
            "line": at.map(|(l, _)| l),
            "column": at.map(|(_, c)| c),
            "help": help,
        },
    })
}

/// Runs the command line `args` (program name first); returns the exit status.
pub fn main_with(args: &[String], io: &mut Io<'_>) -> u8 {
    main_with_registry(args, io, Registry::builtin_ref())
}

/// What a command line printed, and its exit status.
pub struct Captured {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the command line `args` (program name first) with the protocols of
/// `registry`, capturing what it prints: for tests and benchmarks that run
/// `vigil` in-process.
pub fn capture(args: &[String], registry: &Registry) -> Captured {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = main_with_registry(
        args,
        &mut Io {
            stdout: &mut out,
            stderr: &mut err,
            color_stdout: false,
            color_stderr: false,
        },
        registry,
    );
    Captured {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// [`main_with`] with the protocols of `registry`: a user's crate builds its
/// own `vigil` binary, with its own protocols, from this.
pub fn main_with_registry(args: &[String], io: &mut Io<'_>, registry: &Registry) -> u8 {
    let mut stdout = Watched {
        inner: &mut *io.stdout,
        failed: None,
    };
    let exit = command_line(
        args,
        &mut Io {
            stdout: &mut stdout,
            stderr: &mut *io.stderr,
            color_stdout: io.color_stdout,
            color_stderr: io.color_stderr,
        },
        registry,
    );
    // What is still buffered fails now, if it is to fail.
    let _ = stdout.flush();
    match stdout.failed {
        None => exit,
        Some((std::io::ErrorKind::BrokenPipe, _)) => Exit::StdoutClosed,
        Some((_, why)) => {
            let _ = writeln!(io.stderr, "error: cannot write to stdout: {why}");
            Exit::BadInput
        }
    }
    .code()
}

/// stdout as every command writes it: the first write that fails is kept,
/// so that whatever the command goes on to return, a reader that stopped
/// reading (`| head`) ends it as [`Exit::StdoutClosed`], and any other
/// failure is reported and is an output that cannot be written. A command
/// need not look at what its writes return (`explore` does, to stop
/// early).
struct Watched<'a> {
    inner: &'a mut dyn Write,
    failed: Option<(std::io::ErrorKind, String)>,
}

impl Watched<'_> {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let (Err(e), None) = (&result, &self.failed) {
            self.failed = Some((e.kind(), e.to_string()));
        }
        result
    }
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf);
        self.keep(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.inner.flush();
        self.keep(flushed)
    }
}

fn command_line(args: &[String], io: &mut Io<'_>, registry: &Registry) -> Exit {
    // Replay commands name the binary that was run: a user's own binary
    // knows protocols `vigil` does not.
    let program = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map_or("vigil".to_string(), |n| n.to_string_lossy().into_owned());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Pass
            };
            if e.use_stderr() && args.iter().any(|a| a == "--json") {
                // Scripts get their one JSON object even for a bad flag.
                // clap's message, up to its usage: its first line and the
                // lines that go on with it (the missing `<FILE>`, say).
                let rendered = e.to_string();
                let message: Vec<&str> = rendered
                    .lines()
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect();
                let message = message.join(" ");
                let message = message.trim_start_matches("error: ");
                let _ = writeln!(io.stdout, "{}", error_json(message, None, None, None));
            }
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
    // Commands that run many runs in one process keep its memory flat.
    if matches!(
        cli.command,
        Command::Explore { .. }
            | Command::Sweep { .. }
            | Command::Shrink { .. }
            | Command::Exhaust { .. }
    ) {
        tune_allocator();
    }
    match cli.command {
        Command::Run {
            file,
            seed,
            json,
            trace,
            emit_scenario,
            real,
            keep,
            flags,
        } => {
            let emit = emit_scenario.as_deref();
            if json && emit == Some(Path::new("-")) {
                let message = "`--emit-scenario -` writes the scenario to stdout, where `--json` writes its object: name a file";
                return refuse(io, json, message);
            }
            if let Some(message) = emit.and_then(|out| {
                unwritable_out(out).map(|why| format!("--emit-scenario {}: {why}", out.display()))
            }) {
                return refuse(io, json, &message);
            }
            if real {
                let outputs = RealOutputs {
                    json,
                    trace,
                    emit,
                    keep,
                };
                ctx.run_real(&file, seed, outputs, flags, io)
            } else {
                ctx.run(&file, seed, json, trace, emit, flags, io)
            }
        }
        Command::Check {
            cluster,
            traces,
            json,
        } => ctx.check(&cluster, &traces, json, io),
        Command::Node {
            cluster,
            node,
            trace,
            disk,
            jobs,
            epoch_ns,
            seed,
            quiet,
            socket_fd,
        } => ctx.node(
            &cluster,
            node::Options {
                node,
                trace,
                disk,
                jobs,
                epoch_ns,
                seed,
                quiet,
                socket_fd,
            },
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
        Command::Exhaust { file, flags } => ctx.exhaust(&file, flags, io),
        Command::Shrink {
            file,
            seed,
            output,
            max_runs,
            json,
            flags,
        } => ctx.shrink(&file, seed, output, max_runs, json, flags, io),
        Command::Sweep {
            file,
            seeds,
            from,
            jobs,
            json,
            flags,
        } => ctx.sweep(&file, from, seeds, jobs, json, flags, io),
        Command::Schema { output } => {
            let text = scenario::schema::schema_text(registry);
            let written = match &output {
                Some(path) => write_file(path, &text, io),
                None => {
                    let _ = io.stdout.write_all(text.as_bytes());
                    Ok(())
                }
            };
            written.map_or_else(|e| e, |()| Exit::Pass)
        }
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
    jobs: Option<u16>,
    time_budget: Option<Duration>,
    shard: Option<Shard>,
    json: bool,
    junit: Option<PathBuf>,
    html: Option<PathBuf>,
    flags: RunFlags,
}

fn workers(jobs: Option<u16>) -> usize {
    jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    )
    .clamp(1, 256)
}

impl Ctx<'_> {
    /// Loads one scenario file, or reports it (exit status 2).
    fn load(&self, file: &Path, json: bool, io: &mut Io<'_>) -> Result<Scenario, Exit> {
        let scenario = scenario::load_with(file, self.registry).map_err(|e| {
            let e = crate::tools::exhaust::hint_schedule(file, e);
            bad_file(file, &e, json, io)
        })?;
        warn_cost(&file.display().to_string(), &scenario, io);
        Ok(scenario)
    }

    /// [`Ctx::load`], and the seed to run: `seed`, else the file's, else 0.
    fn load_seeded(
        &self,
        file: &Path,
        seed: Option<u64>,
        json: bool,
        io: &mut Io<'_>,
    ) -> Result<(Scenario, u64), Exit> {
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
            flags.driver(),
        )
    }

    /// Runs one seed (twice with `--check-determinism`).
    fn execute(
        &self,
        scenario: &Scenario,
        seed: u64,
        flags: RunFlags,
        detail: bool,
    ) -> (Execution, Option<one_run::Divergence>) {
        let req = Request {
            registry: self.registry,
            scenario,
            seed,
            mutation: flags.mutation,
            swarm: flags.swarm,
            detail,
            driver: flags.driver(),
        };
        if flags.check_determinism {
            one_run::check_determinism(req)
        } else {
            (one_run::execute(req), None)
        }
    }
}

/// The command that replays a schedule file.
fn schedule_replay(program: &str, file: &Path, mutation: Option<Mutation>) -> String {
    report::replay_command(
        program,
        &file.display().to_string(),
        0,
        mutation,
        false,
        Driver::EventLoop,
    )
}

/// A scenario or cluster file that does not load: the error like a
/// compiler's on stderr and, under `--json`, the one JSON object (scripts
/// get it even for bad input) on stdout; exit status 2.
fn bad_file(file: &Path, e: &scenario::ScenarioError, json: bool, io: &mut Io<'_>) -> Exit {
    let _ = writeln!(io.stderr, "{}", e.render(io.color_stderr));
    if json {
        let error = error_json(e.message(), Some(file), e.line_col(), e.help_text());
        let _ = writeln!(io.stdout, "{error}");
    }
    Exit::BadInput
}

/// Refuses input with several `problems` (each written out whole on
/// stderr, and listed in the one JSON object under `--json`), named
/// `what` in the last line: "N problems `what`".
fn refuse_problems(io: &mut Io<'_>, json: bool, problems: &[Problem], what: &str) -> Exit {
    for p in problems {
        let _ = writeln!(io.stderr, "{}", p.text);
    }
    let message = format!(
        "{} problem{} {what}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(io.stderr, "error: {message}");
    if json {
        let mut object = error_json(&message, None, None, None);
        let texts: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
        object["error"]["problems"] = serde_json::json!(texts);
        let details: Vec<serde_json::Value> = problems.iter().map(Problem::json).collect();
        object["error"]["details"] = serde_json::json!(details);
        let _ = writeln!(io.stdout, "{object}");
    }
    Exit::BadInput
}

/// Bad input, found before any run: `error: MESSAGE` on stderr and, under
/// `--json`, the one JSON object on stdout (exit status 2).
fn refuse(io: &mut Io<'_>, json: bool, message: &str) -> Exit {
    refuse_at(io, json, message, None, None)
}

/// [`refuse`], naming the file the command was given and how to mend it
/// (`= help: HELP` on stderr, `file` and `help` in the JSON object).
fn refuse_at(
    io: &mut Io<'_>,
    json: bool,
    message: &str,
    file: Option<&Path>,
    help: Option<&str>,
) -> Exit {
    let _ = writeln!(io.stderr, "error: {message}");
    if let Some(help) = help {
        let _ = writeln!(io.stderr, "  = help: {help}");
    }
    if json {
        let _ = writeln!(io.stdout, "{}", error_json(message, file, None, help));
    }
    Exit::BadInput
}

/// Why a file could not be written to `out` (by
/// [`explore_tool::write_atomically`]), found before the runs rather than
/// after them: its directory is missing or takes no new file (a file is
/// made there and removed), or `out` is a directory. A link is judged by
/// where it leads; a device or a pipe (`/dev/stdout`, `>(...)`) is
/// written straight into and passes.
fn unwritable(out: &Path) -> Option<String> {
    let out = match std::fs::canonicalize(out) {
        Ok(target) => target,
        // A link to nothing yet: the file is made where it points.
        Err(_) => match std::fs::read_link(out) {
            Ok(target) => out.parent().map_or(target.clone(), |dir| dir.join(&target)),
            Err(_) => out.to_path_buf(),
        },
    };
    match std::fs::metadata(&out) {
        Ok(m) if m.is_dir() => return Some("that is a directory".to_string()),
        Ok(m) if !m.is_file() => return None,
        _ => {}
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Some(format!("there is no directory {}", dir.display()));
    }
    match tempfile::Builder::new().prefix(".vigil-").tempfile_in(dir) {
        Ok(_) => None,
        Err(e) => Some(format!("cannot write in {}: {e}", dir.display())),
    }
}

/// The first of `outputs` (a flag and the path it names) that could not be
/// written, as a message.
fn first_unwritable(outputs: &[(&str, Option<&Path>)]) -> Option<String> {
    outputs.iter().find_map(|(flag, path)| {
        let path = (*path)?;
        unwritable(path).map(|why| format!("{flag} {}: {why}", path.display()))
    })
}

/// [`unwritable`] for an output [`write_out`] writes, where `-` is stdout.
fn unwritable_out(out: &Path) -> Option<String> {
    (out != Path::new("-")).then(|| unwritable(out)).flatten()
}

/// Writes `text` to `path` whole (see [`explore_tool::write_atomically`]), or
/// reports why not (exit status 2).
fn write_file(path: &Path, text: &str, io: &mut Io<'_>) -> Result<(), Exit> {
    explore_tool::write_atomically(path, text).map_err(|err| {
        let _ = writeln!(io.stderr, "error: cannot write `{}`: {err}", path.display());
        Exit::BadInput
    })
}

/// The run flags a replay command names (`--swarm`, `--driver NAME`,
/// `--mutation NAME`).
fn flags_of_replay(replay: &str) -> RunFlags {
    RunFlags {
        swarm: replay.split_whitespace().any(|w| w == "--swarm"),
        check_determinism: false,
        driver: explore_tool::replay_flag(replay, "--driver").and_then(Driver::parse),
        mutation: explore_tool::replay_flag(replay, "--mutation").and_then(|m| m.parse().ok()),
    }
}

/// Writes `text` to `path`, or to stdout for `-` (a failure there is
/// [`Watched`]'s to report).
fn write_out(path: &Path, text: &str, io: &mut Io<'_>) -> Result<(), Exit> {
    if path == Path::new("-") {
        let _ = io.stdout.write_all(text.as_bytes());
        Ok(())
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

/// Runs `run`, one seed of a scenario of `duration`, with a progress bar
/// of its simulated time on stderr if that is a terminal (`terminal`) and
/// the run takes longer than a second: a long run says nothing else until
/// it ends.
fn watched<T>(duration: Duration, terminal: bool, run: impl FnOnce() -> T) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    if !terminal {
        return run();
    }
    /// Ends the watch however the run ends.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            crate::runtime::watch(false);
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = std::time::Instant::now();
            let total = duration.as_millis() as u64;
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                let at = crate::runtime::PROGRESS.load(Ordering::Relaxed) / 1_000_000;
                let at = at.min(total);
                let message = format!(
                    "{:.1} s of {:.1} s",
                    at as f64 / 1e3,
                    duration.as_secs_f64()
                );
                match &bar {
                    Some(b) => {
                        b.set_position(at);
                        b.set_message(message);
                    }
                    None if started.elapsed() >= Duration::from_secs(1) => {
                        let style = indicatif::ProgressStyle::with_template(
                            "{bar:30} {msg} simulated · {elapsed} · {eta} left",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                        let target = indicatif::ProgressDrawTarget::stderr_with_hz(5);
                        let b = indicatif::ProgressBar::with_draw_target(Some(total), target)
                            .with_style(style)
                            .with_message(message)
                            .with_position(at)
                            .with_elapsed(started.elapsed());
                        bar = Some(b);
                    }
                    None => {}
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        crate::runtime::watch(true);
        let _done = Done(&done);
        run()
    })
}

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
