//! `vigil explore PATH...`: many seeds of many files on every core, the
//! failures grouped by fingerprint; JSON lines, JUnit and an HTML report.

use super::*;

impl Ctx<'_> {
    pub(super) fn explore(&self, paths: &[PathBuf], sweep: Sweep, io: &mut Io<'_>) -> Exit {
        // Where the reports go is checked before the runs, not after them.
        let outputs = [
            ("--junit", sweep.junit.as_deref()),
            ("--html", sweep.html.as_deref()),
        ];
        if let Some(message) = first_unwritable(&outputs) {
            return refuse(io, sweep.json, &format!("{message}; no seed was run"));
        }
        let targets = match explore_tool::load_targets(paths, self.registry) {
            Ok(t) => t,
            Err(problems) => {
                return refuse_problems(
                    io,
                    sweep.json,
                    &problems,
                    "with the scenarios; no seed was run",
                )
            }
        };
        for target in &targets {
            warn_cost(&target.file, &target.scenario, io);
        }
        let seeds = match sweep.shard {
            Some(shard) => sweep.seeds.shard(shard),
            None => sweep.seeds,
        };
        if let (Some(shard), 0) = (sweep.shard, seeds.len()) {
            // Legitimate (more shards than seeds), but worth a word: its
            // PASS is of nothing.
            let _ = writeln!(
                io.stderr,
                "note: shard {}/{} of seeds {} holds no seed: nothing is run",
                shard.k, shard.n, sweep.seeds
            );
        }
        let per_seed = targets.len() as u64;
        let count = seeds.len().saturating_mul(per_seed);
        let opts = ItemOptions {
            program: self.program,
            mutation: sweep.flags.mutation,
            swarm: sweep.flags.swarm,
            check_determinism: sweep.flags.check_determinism,
            driver: sweep.flags.driver(),
            trace_hash: sweep.json,
        };
        // Seed-major: every scenario gets its first seeds before any gets
        // many, so a time budget or Ctrl-C leaves an even sample.
        // However small a time budget, the first run is made: a sweep of
        // no runs would pass without having tested anything.
        let ran_one = std::sync::atomic::AtomicBool::new(false);
        let item = |i: u64| {
            let target: &Target = &targets[(i % per_seed) as usize];
            let r = explore_tool::run_item(self.registry, target, seeds.from + i / per_seed, &opts);
            ran_one.store(true, Ordering::SeqCst);
            r
        };
        explore_tool::STOP.store(false, Ordering::SeqCst);
        explore_tool::install_interrupt_handler();
        let started = Instant::now();
        let budget = sweep.time_budget;
        let over_budget =
            || budget.is_some_and(|b| started.elapsed() >= b) && ran_one.load(Ordering::SeqCst);
        // stdout closed (`| head`): nobody reads the rest; stop.
        let broken = std::sync::atomic::AtomicBool::new(false);
        let stop = || {
            explore_tool::STOP.load(Ordering::SeqCst)
                || over_budget()
                || broken.load(Ordering::SeqCst)
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
        let mut kept = explore_tool::pool(count, workers(sweep.jobs), &item, &stop, &mut tick);
        kept.summary.declared = self.registry.probes();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let wall = started.elapsed().as_secs_f64();
        let interrupted = explore_tool::STOP.load(Ordering::SeqCst);
        let stopped = if interrupted {
            Some(format!("interrupted, {} of {count} runs done", kept.runs()))
        } else if broken.load(Ordering::SeqCst) {
            Some(format!(
                "stdout was closed, {} of {count} runs done",
                kept.runs()
            ))
        } else if kept.runs() < count {
            Some(format!(
                "time budget spent, {} of {count} runs done",
                kept.runs()
            ))
        } else {
            None
        };
        let summary = &kept.summary;
        let scope = format!(
            "{} scenario{} × seeds {seeds}{}",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            sweep.shard.map_or(String::new(), |s| format!(
                " (shard {}/{} of {})",
                s.k, s.n, sweep.seeds
            ))
        );
        // The JSON summary line ends the run lines before any report is
        // written: a report that cannot be written (or a second Ctrl-C
        // while the HTML report replays its diagrams) leaves a whole
        // output behind, which `vigil merge` tells from a cut-off one.
        if json {
            let _ = writeln!(
                io.stdout,
                "{}",
                summary.json(Some(wall), stopped.as_deref())
            );
            let _ = io.stdout.flush();
        }
        if let Some(path) = &sweep.junit {
            if let Err(code) = write_file(path, &explore_tool::junit(&kept, "vigil explore"), io) {
                return code;
            }
        }
        if let Some(path) = &sweep.html {
            let report = visual::html::Page {
                scope: &scope,
                command: self.command,
                summary,
                kept: &kept,
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
            let _ = write!(io.stderr, "{human}");
        } else {
            let _ = write!(io.stdout, "{human}");
        }
        if interrupted {
            return Exit::Interrupted;
        }
        Exit::from(summary.verdict())
    }

    /// Writes a sweep's HTML report `page`, with the diagram of each
    /// failure group's smallest seed drawn in (the first [`MAX_DIAGRAMS`]);
    /// `find` gives the scenario and flags to replay a group with.
    pub(super) fn html(
        &self,
        path: &Path,
        page: visual::html::Page<'_>,
        io: &mut Io<'_>,
        find: impl Fn(&explore_tool::Group) -> Result<(Scenario, RunFlags), String>,
    ) -> Result<(), Exit> {
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
    pub(super) fn group_diagram(
        &self,
        scenario: &Scenario,
        g: &explore_tool::Group,
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
}
