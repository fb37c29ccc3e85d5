//! `vigil replay FILE`: one seed again with every packet recorded: its
//! event trace, a space-time diagram (`--svg`), a Perfetto export. FILE
//! may also be a schedule file that `vigil exhaust` wrote: its schedule
//! runs again, exactly, on the event loop.

use super::*;
use crate::tools::exhaust::{self as exhaust_tool, ScheduleFile};

impl Ctx<'_> {
    pub(super) fn replay(
        &self,
        file: &Path,
        seed: Option<u64>,
        outputs: Outputs<'_>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        let schedule = if exhaust_tool::is_schedule(file) {
            match self.load_schedule(file, seed, flags, io) {
                Ok(s) => Some(s),
                Err(code) => return code,
            }
        } else {
            None
        };
        let (scenario, seed) = match &schedule {
            Some((scenario, _)) => (scenario.clone(), 0),
            None => match self.load_seeded(file, seed, false, io) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            },
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
            return Exit::BadInput;
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
            return Exit::BadInput;
        }
        if let Some(problem) = outputs.picture.window_problem(scenario.duration) {
            let _ = writeln!(io.stderr, "error: {problem}");
            return Exit::BadInput;
        }
        let (e, divergence) = match schedule {
            Some((_, file_of)) => {
                let mutation = flags.mutation;
                match exhaust_tool::replay(
                    self.registry,
                    &scenario,
                    &file_of.search,
                    &file_of.choices,
                    mutation,
                ) {
                    Ok((e, steps, divergence)) => {
                        let out: &mut dyn Write = if outputs.trace == Some(Path::new("-")) {
                            &mut *io.stderr
                        } else {
                            &mut *io.stdout
                        };
                        let _ = writeln!(
                            out,
                            "schedule {}: {} moves, {} from the plain order",
                            file.display(),
                            steps.len(),
                            of(file_of.choices.len() as u64, "deviation")
                        );
                        for s in steps.iter().filter(|s| s.instead.is_some()) {
                            let _ = writeln!(
                                out,
                                "  at {:.3} ms, choice point {}: {} (instead of: {})",
                                s.at_ns as f64 / 1e6,
                                s.point,
                                s.what,
                                s.instead.as_deref().unwrap_or("")
                            );
                        }
                        if !file_of.violations.is_empty() && e.passed() {
                            let _ = writeln!(
                                io.stderr,
                                "warning: the failure {} records did not recur: the scenario or vigil changed since it was found",
                                file.display()
                            );
                        }
                        (e, divergence)
                    }
                    Err(problem) => {
                        let _ = writeln!(io.stderr, "error: {problem}");
                        return Exit::BadInput;
                    }
                }
            }
            None => watched(scenario.duration, io.color_stderr, || {
                self.execute(&scenario, seed, flags, true)
            }),
        };
        let pictures = outputs.svg.is_some() || outputs.perfetto.is_some();
        let mut written: Vec<String> = Vec::new();
        if let Some(path) = outputs.trace {
            let mut lines = String::new();
            for entry in e.trace_with_failures() {
                lines.push_str(&entry.json().to_string());
                lines.push('\n');
            }
            if let Err(code) = write_out(path, &lines, io) {
                return code;
            }
            if path != Path::new("-") {
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

    /// Reads a schedule file and the scenario it names (its mutation
    /// too, unless `--mutation` names one).
    fn load_schedule(
        &self,
        file: &Path,
        seed: Option<u64>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Result<(Scenario, ScheduleFile), Exit> {
        let bad = |io: &mut Io<'_>, problem: String| {
            let _ = writeln!(io.stderr, "error: {problem}");
            Exit::BadInput
        };
        if seed.is_some() || flags.swarm || flags.check_determinism {
            return Err(bad(
                io,
                "a schedule file replays one schedule: --seed, --swarm and --check-determinism do not apply".into(),
            ));
        }
        if flags.driver.is_some_and(|d| d != Driver::EventLoop) {
            return Err(bad(
                io,
                "a schedule file replays on the event loop only (its moves are the event loop's choices): drop --driver".into(),
            ));
        }
        let schedule = ScheduleFile::read(file).map_err(|p| bad(io, p))?;
        let scenario_path = schedule.scenario_path(file);
        if !scenario_path.exists() {
            return Err(bad(
                io,
                format!(
                    "the schedule {} names the scenario {}, which is not there (looked beside the schedule and in the current directory)",
                    file.display(),
                    schedule.scenario.display()
                ),
            ));
        }
        let scenario = self.load(&scenario_path, false, io)?;
        let now = exhaust_tool::file_sha256(&scenario_path);
        if schedule.scenario_sha256.is_some() && now != schedule.scenario_sha256 {
            let _ = writeln!(
                io.stderr,
                "warning: {} changed since the schedule {} was found in it: the replay may not be the run that failed",
                scenario_path.display(),
                file.display()
            );
        }
        if schedule.mutation.is_some() && flags.mutation.is_none() {
            let name = schedule.mutation.as_deref().unwrap_or_default();
            return Err(bad(
                io,
                format!("the schedule was found with the broken variant `{name}`: give --mutation {name} (a build with the `mutations` feature)"),
            ));
        }
        Ok((scenario, schedule))
    }

    /// Writes the diagram and the Perfetto trace `outputs` ask for; one
    /// line about each.
    pub(super) fn pictures(
        &self,
        file: &Path,
        e: &Execution,
        outputs: &Outputs<'_>,
        io: &mut Io<'_>,
    ) -> Result<Vec<String>, Exit> {
        let title = visual::title(&e.scenario.name, &file.display().to_string(), e.seed);
        let Some(story) = visual::Story::of_execution(&title, e) else {
            let _ = writeln!(
                io.stderr,
                "error: the simulation panicked, so there is no whole run to draw"
            );
            return Err(Exit::Fail);
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
}
