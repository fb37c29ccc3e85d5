//! The `vigil` command line.
//!
//! Exit status: 0 when every check passed, 1 when any failed, 2 for bad
//! input (an unreadable or malformed scenario, a bad flag).

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_sim::{check, report::Report, scenario, world};

#[derive(Parser)]
#[command(name = "vigil", version, about = "Deterministic fault simulation for group membership: no member waits forever for a peer that is gone.")]
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
        /// Also print the whole trace, one line per event.
        #[arg(long, conflicts_with = "json")]
        trace: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { file, seed, json, trace } => run(&file, seed, json, trace),
    }
}

fn run(file: &PathBuf, seed: Option<u64>, json: bool, trace: bool) -> ExitCode {
    let scenario = match scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.render(std::io::stderr().is_terminal()));
            return ExitCode::from(2);
        }
    };
    let seed = seed.or(scenario.seed).unwrap_or(0);
    let out = world::run(&scenario, seed);
    let cfg = world::engine_config(&scenario);
    let checks = check::check(&out, &scenario, &cfg);
    let file_name = file.display().to_string();
    let report = Report { file: &file_name, scenario: &scenario, out: &out, checks: &checks };
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        writeln!(stdout, "{}", report.json())
    } else {
        let mut text = String::new();
        if trace {
            for e in &out.trace.entries {
                text.push_str(&e.line());
                text.push('\n');
            }
            text.push('\n');
        }
        text.push_str(&report.human(std::io::stdout().is_terminal()));
        write!(stdout, "{text}")
    };
    if written.is_err() {
        return ExitCode::from(2);
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
