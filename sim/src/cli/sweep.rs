//! `vigil sweep FILE`: one scenario under many seeds; the seeds that fail.

use super::*;

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sweep(
        &self,
        file: &Path,
        from: u64,
        seeds: u64,
        jobs: Option<u16>,
        json: bool,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        let Some(last) = from.checked_add(seeds - 1) else {
            let message = format!(
                "{seeds} seeds from {from} run past the largest seed, {}",
                u64::MAX
            );
            return refuse(io, json, &message);
        };
        let scenario = match self.load(file, json, io) {
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
            driver: flags.driver(),
            trace_hash: false,
        };
        let started = Instant::now();
        let item = |i: u64| explore_tool::run_item(self.registry, &target, from + i, &opts);
        let bar = progress_bar(seeds, io.color_stderr);
        let mut tick = |batch: &[Record]| {
            if let Some(bar) = &bar {
                bar.inc(batch.len() as u64);
            }
        };
        // Ctrl-C stops handing out seeds: the runs in flight finish and
        // the summary of what ran prints (exit status 130).
        explore_tool::STOP.store(false, std::sync::atomic::Ordering::SeqCst);
        explore_tool::install_interrupt_handler();
        let stop = || explore_tool::STOP.load(std::sync::atomic::Ordering::SeqCst);
        let kept = explore_tool::pool(seeds, workers(jobs), &item, &stop, &mut tick);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let interrupted = stop();
        let ran = kept.runs();
        let stopped = interrupted.then(|| format!("interrupted, {ran} of {seeds} seeds run"));
        let mut failures: Vec<&Record> = kept.failing.iter().collect();
        failures.sort_by_key(|r| r.seed);
        let name = &target.file;
        let passed = ran - failures.len() as u64;
        // A failed write is the caller's to report (see `Watched`).
        let _ = if json {
            let list: Vec<serde_json::Value> = failures
                .iter()
                .map(|f| {
                    let violations: Vec<serde_json::Value> = f
                        .violations
                        .iter()
                        .map(|(c, m, at)| serde_json::json!({"check": c, "message": m, "at_ms": at}))
                        .collect();
                    let mut failure = serde_json::json!({
                        "seed": f.seed, "verdict": f.verdict(), "replay": f.replay, "violations": violations,
                    });
                    if let Some(d) = &f.divergence {
                        failure["divergence"] = serde_json::json!(d);
                    }
                    failure
                })
                .collect();
            let mut value = serde_json::json!({
                "scenario": target.scenario.name, "file": name, "first_seed": from, "seeds": seeds,
                "driver": opts.driver.name(), "passed": passed, "failed": failures.len(),
                "nondeterministic": kept.summary.nondeterministic, "failures": list,
            });
            if let Some(why) = &stopped {
                value["stopped"] = serde_json::json!(why);
            }
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
            let wall = started.elapsed().as_secs_f64();
            let stopped = stopped
                .as_ref()
                .map_or(String::new(), |why| format!(" · stopped early: {why}"));
            text.push_str(&format!("{verdict} · {passed} of {ran} seeds passed (seeds {from}..={last}, {wall:.1}s) · {name}{stopped}\n"));
            write!(io.stdout, "{text}")
        };
        if interrupted {
            Exit::Interrupted
        } else if kept.summary.nondeterministic > 0 {
            Exit::Nondeterministic
        } else {
            Exit::passed(failures.is_empty())
        }
    }
}
