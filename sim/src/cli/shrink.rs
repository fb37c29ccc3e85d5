//! `vigil shrink FILE --seed N`: a failing run shrunk to the smallest
//! scenario that fails the same way.

use super::*;

/// How many runs `vigil shrink` spends unless told (`--max-runs`).
pub(super) const DEFAULT_MAX_RUNS: u32 = 400;

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn shrink(
        &self,
        file: &Path,
        seed: Option<u64>,
        output: Option<PathBuf>,
        max_runs: u32,
        json: bool,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        // Bad input: the error on stderr and, under --json, its object.
        let refuse = |io: &mut Io<'_>, message: String, help: Option<&str>| {
            refuse_at(io, json, &message, Some(file), help)
        };
        let out = output.unwrap_or_else(|| {
            let name = file
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            file.with_file_name(format!("{name}.min.toml"))
        });
        // Where the result goes is checked before the runs, not after them.
        let refused = if out == Path::new("-") {
            // Its summary and the replay command go to stdout, and the
            // replay runs the file: a shrunk scenario is kept in one.
            Some("shrink writes the shrunk scenario to a file, not to stdout (`-`)".to_string())
        } else if let Some(why) = unwritable_out(&out) {
            Some(why)
        } else if explore_tool::file_key(&out) == explore_tool::file_key(file) {
            Some("that is the scenario being shrunk, which it would overwrite".to_string())
        } else {
            None
        };
        if let Some(why) = refused {
            return refuse(
                io,
                format!("-o {}: {why}", out.display()),
                Some("write the shrunk scenario elsewhere"),
            );
        }
        let (scenario, seed) = match self.load_seeded(file, seed, json, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        if let Err(message) = super::run::seed_fits_a_file(seed) {
            let message = format!("{message}: the shrunk scenario could not hold it");
            return refuse(io, message, None);
        }
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
            // The sweep runs as this shrink would: the same draw, variant
            // and driver (a madsim seed fails on madsim only).
            let help = format!(
                "find a failing seed with `{} explore {} --seeds 0..1000{}`",
                self.program,
                file.display(),
                flags.named()
            );
            let message = format!(
                "{} passes under seed {seed}: there is no failure to shrink",
                file.display()
            );
            return refuse(io, message, Some(&help));
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
        let shrunk = crate::tools::shrink::Shrink {
            registry: self.registry,
            mutation: flags.mutation,
            driver: flags.driver(),
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
        if !before.tasks.is_empty() {
            removed.insert(
                1,
                format!(
                    "{} of {} tasks",
                    before.tasks.len() - after.tasks.len(),
                    before.tasks.len()
                ),
            );
        }
        if scenario.random.is_some() {
            removed.push(
                "the [random] section (its draw for this seed is now [[fault]] and [[task]] entries)".into(),
            );
        } else if flags.swarm {
            removed.push("--swarm (its draw for this seed is now [[fault]] entries)".into());
        }
        let removed = removed.join(", ");
        let mut command = format!(
            "{} shrink {} --seed {seed}{}",
            self.program,
            file.display(),
            flags.named()
        );
        if max_runs != DEFAULT_MAX_RUNS {
            command.push_str(&format!(" --max-runs {max_runs}"));
        }
        let replay = report::replay_command(
            self.program,
            &out.display().to_string(),
            seed,
            flags.mutation,
            false,
            flags.driver(),
        );
        let text = crate::tools::shrink::shrunk_file(
            &shrunk,
            seed,
            &file.display().to_string(),
            &command,
            &removed,
            &replay,
        );
        if let Err(code) = write_file(&out, &text, io) {
            if json {
                let message = format!("cannot write `{}`", out.display());
                let _ = writeln!(io.stdout, "{}", error_json(&message, None, None, None));
            }
            return code;
        }
        if json {
            let object = serde_json::json!({
                "verdict": "shrunk",
                "file": file.display().to_string(),
                "seed": seed,
                "driver": flags.driver().name(),
                "fingerprint": target.to_string(),
                "runs": shrunk.runs,
                "out_of_runs": shrunk.out_of_runs,
                "output": out.display().to_string(),
                "removed": removed,
                "replay": replay,
                "faults": [before.faults.len(), after.faults.len()],
                "nodes": [before.cluster.nodes, after.cluster.nodes],
                "duration_ms": [before.duration.as_millis() as u64, after.duration.as_millis() as u64],
            });
            let _ = writeln!(io.stdout, "{object}");
            return Exit::Pass;
        }
        let limit = if shrunk.out_of_runs {
            ", all that --max-runs allows (more may shrink it further)"
        } else {
            ""
        };
        let runs = match shrunk.runs {
            1 => "1 run".to_string(),
            n => format!("{n} runs"),
        };
        let _ = writeln!(
            io.stdout,
            "shrunk in {runs}{limit}: removed {removed}\nwrote {}\nreplay: {replay}",
            out.display()
        );
        Exit::Pass
    }
}
