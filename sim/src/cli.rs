//! The `vigil` command line, as a library function so that tests can drive
//! it with arguments and read what it prints.
//!
//! Exit status: 0 when every check passed, 1 when any failed, 2 for bad
//! input (an unreadable or malformed scenario, a bad flag).

use crate::{check, report::Report, scenario, world};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    },
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
        } => run(&file, seed, json, trace, io),
    }
}

fn run(file: &Path, seed: Option<u64>, json: bool, trace: bool, io: &mut Io<'_>) -> u8 {
    let scenario = match scenario::load(file) {
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
                    "error": {"message": e.message(), "file": file.display().to_string(), "line": line, "column": column},
                });
                let _ = writeln!(io.stdout, "{error}");
            }
            return 2;
        }
    };
    let seed = seed.or(scenario.seed).unwrap_or(0);
    let out = world::run(&scenario, seed);
    let cfg = world::engine_config(&scenario);
    let checks = check::check(&out, &scenario, &cfg);
    let file_name = file.display().to_string();
    let report = Report {
        file: &file_name,
        scenario: &scenario,
        out: &out,
        checks: &checks,
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
