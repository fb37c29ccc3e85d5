//! `vigil run FILE`: one seed of one scenario, checked, with its account
//! (or one JSON object), and `--emit-scenario` for its concrete schedule.

use super::*;

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        &self,
        file: &Path,
        seed: Option<u64>,
        json: bool,
        trace: bool,
        emit: Option<&Path>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        let (scenario, seed) = match self.load_seeded(file, seed, json, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        if emit.is_some() {
            if let Err(message) = seed_fits_a_file(seed) {
                return refuse(io, json, &format!("--emit-scenario: {message}"));
            }
        }
        let (e, divergence) = watched(scenario.duration, io.color_stderr, || {
            self.execute(&scenario, seed, flags, false)
        });
        if let Some(out) = emit {
            if let Err(code) = self.emit(file, seed, &e, out, io) {
                if json {
                    let message = format!("cannot write `{}`", out.display());
                    let _ = writeln!(io.stdout, "{}", error_json(&message, None, None, None));
                }
                return code;
            }
        }
        // A second run that differed makes the verdict `nondeterministic`,
        // as in `explore --json`, with where the runs parted.
        let diverged = |value: &mut serde_json::Value| {
            if let Some(d) = &divergence {
                value["verdict"] = serde_json::json!("nondeterministic");
                value["divergence"] = serde_json::json!(d.to_string());
            }
        };
        let status = self.account_of(file, &e, (json, trace), flags, (true, Some(&diverged)), io);
        self.divergence_status(file, seed, divergence, status, flags, io)
    }

    /// Reports a determinism failure (exit status 3), or keeps `status`.
    pub(super) fn divergence_status(
        &self,
        file: &Path,
        seed: u64,
        divergence: Option<one_run::Divergence>,
        status: Exit,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        match divergence {
            None => status,
            Some(d) => {
                let what = if crate::tools::exhaust::is_schedule(file) {
                    format!("the schedule {}", file.display())
                } else {
                    format!("{} under seed {seed}", file.display())
                };
                let _ = writeln!(
                    io.stderr,
                    "error: {what} is not deterministic: {d}\nreplay: {}",
                    self.replay_of(file, seed, flags)
                );
                Exit::Nondeterministic
            }
        }
    }

    /// Writes the run's concrete schedule as a scenario file.
    pub(super) fn emit(
        &self,
        file: &Path,
        seed: u64,
        e: &Execution,
        out: &Path,
        io: &mut Io<'_>,
    ) -> Result<(), Exit> {
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
        write_out(out, &text, io)
    }

    /// Prints one run's account (or JSON object); its exit status.
    pub(super) fn account(
        &self,
        file: &Path,
        e: &Execution,
        json: bool,
        trace: bool,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        self.account_of(file, e, (json, trace), flags, (true, None), io)
    }

    /// [`Ctx::account`], saying whether a command can run it again, and
    /// with what the command knows beyond the run written into its JSON
    /// object (`amend`: a determinism check's divergence, an interrupt).
    pub(super) fn account_of(
        &self,
        file: &Path,
        e: &Execution,
        (json, trace): (bool, bool),
        flags: RunFlags,
        (rerun, amend): (bool, Option<Amend<'_>>),
        io: &mut Io<'_>,
    ) -> Exit {
        let replay = self.replay_of(file, e.seed, flags);
        let out = match &e.out {
            Ok(out) => out,
            Err(panic) => {
                // The trace up to the panic, as far as the driver kept it.
                if trace && !json && e.kept().is_some() {
                    let mut text = String::new();
                    for entry in e.trace_with_failures() {
                        text.push_str(&entry.line());
                        text.push('\n');
                    }
                    let _ = write!(io.stdout, "{text}");
                }
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
                return Exit::Fail;
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
            rerun,
        };
        // A failed write is the caller's to report (see `Watched`).
        let _ = if json {
            let mut value = report.json();
            if let Some(amend) = amend {
                amend(&mut value);
            }
            if trace {
                let lines: Vec<String> = out.entries.iter().map(|e| e.line()).collect();
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
        Exit::passed(report.passed())
    }
}

/// What a command writes into a run's JSON object beyond the run itself
/// (see [`Ctx::account_of`]).
pub(super) type Amend<'a> = &'a dyn Fn(&mut serde_json::Value);

/// Whether a scenario file can name `seed`: its `seed` is a TOML integer,
/// at most `i64::MAX`, while `--seed` takes any `u64`.
pub(super) fn seed_fits_a_file(seed: u64) -> Result<(), String> {
    if i64::try_from(seed).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "seed {seed} does not fit a scenario file, whose `seed` is a TOML integer (at most {})",
            i64::MAX
        ))
    }
}
