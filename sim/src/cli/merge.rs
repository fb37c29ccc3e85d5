//! `vigil merge FILE...`: the JSON-lines outputs of sharded `explore`
//! runs, combined into the summary one sweep would have printed.

use super::*;
use std::collections::BTreeSet;

impl Ctx<'_> {
    pub(super) fn merge(
        &self,
        files: &[PathBuf],
        json: bool,
        junit: Option<&Path>,
        html: Option<&Path>,
        io: &mut Io<'_>,
    ) -> Exit {
        let outputs = [("--junit", junit), ("--html", html)];
        if let Some(message) = first_unwritable(&outputs) {
            return refuse(io, json, &format!("{message}; nothing was merged"));
        }
        // A run in two shards counts once: the first one read. A run is
        // its file and seed under its flags (`--swarm`, `--driver`,
        // `--mutation`, as its replay command names them): the same seed
        // under other flags is another run.
        let mut seen: BTreeSet<(PathBuf, u64, String)> = BTreeSet::new();
        let mut spellings: std::collections::BTreeMap<PathBuf, String> = Default::default();
        let mut kept = Kept::default();
        let mut records = 0u64;
        let mut problems = Vec::new();
        // Why a shard stopped before its last seed, if one did.
        let mut stopped: Vec<String> = Vec::new();
        for file in files {
            let (records_before, problems_before) = (records, problems.len());
            let mut summaries = 0;
            // Run lines since the last summary line: each `explore` output
            // ends with a summary counting its runs, so a file may hold
            // several outputs one after another, but not runs after the
            // last summary, nor fewer runs than a summary counts.
            let mut since_summary = 0u64;
            let text = if file == Path::new("-") {
                let mut s = String::new();
                match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                    Ok(_) => s,
                    Err(e) => {
                        problems.push(Problem::in_file(
                            file,
                            None,
                            format!("cannot read stdin: {e}"),
                        ));
                        continue;
                    }
                }
            } else {
                match std::fs::read_to_string(file) {
                    Ok(s) => s,
                    Err(e) => {
                        let message = format!("cannot read `{}`: {e}", file.display());
                        problems.push(Problem::in_file(file, None, message));
                        continue;
                    }
                }
            };
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let at = |message: String| Problem::in_file(file, Some(n + 1), message);
                match serde_json::from_str::<serde_json::Value>(line) {
                    Err(e) => problems.push(at(format!("not a JSON line: {e}"))),
                    Ok(v) => match v.get("type").and_then(|t| t.as_str()) {
                        Some("summary") => {
                            summaries += 1;
                            let counted = v.get("runs").and_then(serde_json::Value::as_u64);
                            if let Some(n) = counted.filter(|n| *n != since_summary) {
                                let why = format!(
                                    "this summary counts {n} runs, but {since_summary} run lines come \
                                     before it: was a shard's output cut short and another's appended?"
                                );
                                problems.push(at(why));
                            }
                            since_summary = 0;
                            if let Some(why) = v.get("stopped").and_then(|s| s.as_str()) {
                                stopped.push(format!("{}: {why}", file.display()));
                            }
                        }
                        Some("run") => match Record::from_json(&v) {
                            Ok(r) => {
                                records += 1;
                                since_summary += 1;
                                let f = flags_of_replay(&r.replay);
                                let flags =
                                    format!("{} {:?} {:?}", f.swarm, f.driver(), f.mutation);
                                // One file is one file in the reports too,
                                // under the first spelling read.
                                let key = explore_tool::file_key(Path::new(&r.file));
                                let spelled = spellings
                                    .entry(key.clone())
                                    .or_insert_with(|| r.file.clone());
                                if seen.insert((key, r.seed, flags)) {
                                    let mut r = r;
                                    r.file = spelled.clone();
                                    kept.add(r);
                                }
                            }
                            Err(e) => problems.push(at(e)),
                        },
                        _ => problems.push(at(
                            "not a line of `vigil explore --json` (no \"type\": \"run\")"
                                .to_string(),
                        )),
                    },
                }
            }
            if records == records_before && summaries == 0 && problems.len() == problems_before {
                // An empty shard output is a shard that never ran (its
                // `explore` failed): merging it as "no runs" would pass.
                let why = format!(
                    "`{}` holds no line of `vigil explore --json`; did that shard fail before it ran?",
                    file.display()
                );
                problems.push(Problem::in_file(file, None, why));
            } else if since_summary > 0 && problems.len() == problems_before {
                // `explore` ends every output with its summary, also when it
                // is stopped (Ctrl-C, `--time-budget`): an output without
                // one was cut off (the shard was killed, or its file
                // truncated), and the seeds it did not reach would pass
                // unseen.
                let why = format!(
                    "`{}` ends without the summary line of `vigil explore --json` after {} run{}: \
                     was that shard killed before it finished?",
                    file.display(),
                    since_summary,
                    if since_summary == 1 { "" } else { "s" }
                );
                problems.push(Problem::in_file(file, None, why));
            }
        }
        if !problems.is_empty() {
            return refuse_problems(io, json, &problems, "with the outputs; nothing was merged");
        }
        kept.summary.declared = self.registry.probes();
        let summary = &kept.summary;
        if let Some(path) = junit {
            if let Err(code) = write_file(path, &explore_tool::junit(&kept, "vigil explore"), io) {
                return code;
            }
        }
        if let Some(path) = html {
            let scope = format!(
                "{} run{} merged from {} file{}",
                kept.runs(),
                if kept.runs() == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            let report = visual::html::Page {
                scope: &scope,
                command: self.command,
                summary,
                kept: &kept,
                wall: None,
                stopped: stopped.first().map(String::as_str),
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
        let stopped = (!stopped.is_empty()).then(|| stopped.join("; "));
        // A failed write is the caller's to report (see `Watched`).
        let _ = if json {
            writeln!(io.stdout, "{}", summary.json(None, stopped.as_deref()))
        } else {
            write!(
                io.stdout,
                "{}",
                summary.human(None, stopped.as_deref(), io.color_stdout)
            )
        };
        Exit::from(summary.verdict())
    }
}
