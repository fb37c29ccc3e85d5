//! Many seeds of many scenarios: the work list, the seed range and shard
//! arithmetic, the per-run record (one JSON line each), and the summary that
//! groups failures by fingerprint. The summary is built from records alone,
//! so `vigil merge` of shard outputs gives what one unsharded run gives.

use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::run::{self, Execution, Verdict};
use crate::scenario::{self, Scenario};
use crate::tools::report::replay_command;
use crate::trace::Driver;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vigil_engine::probe::ProbeDef;

/// A half-open range of seeds `from..to`, never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub from: u64,
    pub to: u64,
}

impl SeedRange {
    pub fn len(&self) -> u64 {
        self.to - self.from
    }

    pub fn is_empty(&self) -> bool {
        self.to == self.from
    }

    /// Slice `k` (1-based) of `n`: contiguous, sizes differing by at most one.
    pub fn shard(&self, Shard { k, n }: Shard) -> SeedRange {
        let len = u128::from(self.len());
        let at = |i: u64| self.from + (len * u128::from(i) / u128::from(n)) as u64;
        SeedRange {
            from: at(k - 1),
            to: at(k),
        }
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

impl std::str::FromStr for SeedRange {
    type Err = String;

    /// `A..B` (B excluded), `A..=B`, or `N` for the first N seeds `0..N`.
    fn from_str(s: &str) -> Result<SeedRange, String> {
        let num = |t: &str| {
            t.trim().parse::<u64>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow => format!(
                    "invalid seed range `{s}`: `{t}` is past the largest seed, {}",
                    u64::MAX
                ),
                _ => format!(
                    "invalid seed range `{s}`: `{t}` is not a seed (a whole number 0 or more)"
                ),
            })
        };
        let (from, to) = if let Some((a, b)) = s.split_once("..=") {
            let (a, b) = (num(a)?, num(b)?);
            let to = b
                .checked_add(1)
                .ok_or_else(|| {
                    let max = u64::MAX;
                    format!(
                        "invalid seed range `{s}`: a range ends below {max} (run seed {max} with `vigil run FILE --seed {max}`)"
                    )
                })?;
            (a, to)
        } else if let Some((a, b)) = s.split_once("..") {
            (num(a)?, num(b)?)
        } else {
            (0, num(s)?)
        };
        if to <= from {
            return Err(format!(
                "invalid seed range `{s}`: it holds no seeds (write A..B with A < B, B excluded, or A..=B)"
            ));
        }
        Ok(SeedRange { from, to })
    }
}

/// The value a replay command gives `flag` (`--driver`, `--mutation`), if
/// it names it.
pub fn replay_flag<'a>(replay: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = replay.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

/// `K/N`: the K-th (1-based) of N slices of a seed range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = |why: &str| {
            format!("invalid shard `{s}`: {why} (expected K/N with 1 <= K <= N, such as 3/8)")
        };
        let (k, n) = s.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let k: u64 = k.trim().parse().map_err(|_| bad("K is not a number"))?;
        let n: u64 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(bad(if n == 0 || k == 0 {
                "K and N start at 1"
            } else {
                "K is greater than N"
            }));
        }
        Ok(Shard { k, n })
    }
}

/// One scenario file to explore.
pub struct Target {
    pub file: String,
    pub scenario: Scenario,
}

/// One thing wrong with a sweep's input: its text as written on stderr
/// (a compiler's report, for a scenario), and, for `--json`, its parts.
#[derive(Clone, Debug)]
pub struct Problem {
    pub text: String,
    pub message: String,
    pub file: Option<String>,
    /// Line and column, from 1.
    pub at: Option<(usize, usize)>,
    pub help: Option<String>,
}

impl Problem {
    /// A problem with line `line` (from 1) of `file`, if it has one, or
    /// with the file as a whole: `error: FILE:LINE: MESSAGE`, or `error:
    /// MESSAGE` (which names the file itself).
    pub fn in_file(file: &Path, line: Option<usize>, message: String) -> Problem {
        let text = match line {
            Some(line) => format!("error: {}:{line}: {message}", file.display()),
            None => format!("error: {message}"),
        };
        Problem {
            text,
            message,
            file: Some(file.display().to_string()),
            at: line.map(|line| (line, 1)),
            help: None,
        }
    }

    /// Scenario file `file` does not load, for `e`.
    pub fn scenario(file: &Path, e: &crate::scenario::ScenarioError) -> Problem {
        Problem {
            text: e.render(false),
            message: e.message().to_string(),
            file: Some(file.display().to_string()),
            at: e.line_col(),
            help: e.help_text().map(str::to_string),
        }
    }

    /// Its parts, as `--json` lists them under `error.details`.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "message": self.message,
            "file": self.file,
            "line": self.at.map(|(l, _)| l),
            "column": self.at.map(|(_, c)| c),
            "help": self.help,
        })
    }
}

/// Scenario files under `paths` (files as given, folders searched for
/// `*.toml` recursively, in name order; a file named twice once), each
/// parsed. Bad input is every
/// problem found: unreadable paths, folders without scenarios, files that
/// do not parse.
pub fn load_targets(paths: &[PathBuf], registry: &Registry) -> Result<Vec<Target>, Vec<Problem>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => problems.push(Problem::in_file(
                path,
                None,
                format!("cannot read `{}`: {e}", path.display()),
            )),
            Ok(m) if m.is_dir() => {
                let before = files.len();
                if let Err(e) = collect_toml(path, &mut files) {
                    problems.push(Problem::in_file(
                        path,
                        None,
                        format!("cannot read folder `{}`: {e}", path.display()),
                    ));
                } else if files.len() == before {
                    problems.push(Problem::in_file(
                        path,
                        None,
                        format!(
                            "folder `{}` holds no scenario files (*.toml)",
                            path.display()
                        ),
                    ));
                }
            }
            Ok(_) => files.push(path.clone()),
        }
    }
    // A file named twice (itself and within a folder, say) runs once.
    let mut named = BTreeSet::new();
    files.retain(|f| named.insert(file_key(f)));
    let mut targets = Vec::new();
    for file in files {
        match scenario::load_with(&file, registry) {
            Ok(scenario) => targets.push(Target {
                file: file.display().to_string(),
                scenario,
            }),
            Err(e) => problems.push(Problem::scenario(
                &file,
                &super::exhaust::hint_schedule(&file, e),
            )),
        }
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(problems)
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// One run's record: a line of `vigil explore --json`, and all that
/// `vigil merge` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub file: String,
    pub scenario: String,
    pub seed: u64,
    pub passed: bool,
    /// `(check, message, at_ms)` of each violation.
    pub violations: Vec<(String, String, Option<f64>)>,
    /// Distinct fingerprints, first is the run's own.
    pub fingerprints: Vec<String>,
    /// The trace's hash, if the sweep asked for it ([`ItemOptions::trace_hash`]).
    pub trace_hash: Option<String>,
    pub wall_ms: f64,
    pub replay: String,
    /// The driver it ran on.
    pub driver: Driver,
    /// The swarm draw's summary, if swarm testing.
    pub swarm: Option<Value>,
    /// Where two runs of the seed differed (`--check-determinism`).
    pub divergence: Option<String>,
    /// How long each departure took to reach every survivor, in simulated
    /// ms: (departure reason, ms; `None` when some survivor was not told in
    /// time). See [`crate::check::Notice`].
    pub notify_ms: Vec<(String, Option<f64>)>,
    /// How often the run hit each coverage probe, by name.
    pub probes: Vec<(String, u64)>,
}

impl Record {
    /// The record of run `e` of `file`, as a sweep run by `opts` keeps it.
    pub fn new(file: &str, e: &Execution, opts: &ItemOptions<'_>) -> Record {
        let ItemOptions {
            program,
            mutation,
            swarm,
            driver,
            trace_hash,
            check_determinism: _,
        } = *opts;
        Record {
            file: file.to_string(),
            scenario: e.scenario.name.clone(),
            seed: e.seed,
            passed: e.passed(),
            violations: e
                .violations
                .iter()
                .map(|v| {
                    (
                        v.check.clone(),
                        v.message.clone(),
                        v.at.map(|t| (t.as_millis_f64() * 1000.0).round() / 1000.0),
                    )
                })
                .collect(),
            fingerprints: e.fingerprints(),
            trace_hash: if trace_hash { e.trace_hash() } else { None },
            wall_ms: (e.wall.as_secs_f64() * 1e6).round() / 1000.0,
            replay: replay_command(program, file, e.seed, mutation, swarm, driver),
            driver,
            swarm: e.swarm.as_ref().map(|s| s.json()),
            divergence: None,
            notify_ms: e
                .notices
                .iter()
                .map(|n| {
                    let ms = n
                        .latency()
                        .map(|d| (d.as_millis_f64() * 1000.0).round() / 1000.0);
                    (n.reason.as_str().to_string(), ms)
                })
                .collect(),
            probes: e.out.as_ref().map_or(Vec::new(), |t| {
                t.probes()
                    .into_iter()
                    .map(|(name, n)| (name.to_string(), n))
                    .collect()
            }),
        }
    }

    pub fn verdict(&self) -> &'static str {
        if self.divergence.is_some() {
            "nondeterministic"
        } else if self.passed {
            "pass"
        } else {
            "fail"
        }
    }

    pub fn json(&self) -> Value {
        let violations: Vec<Value> = self
            .violations
            .iter()
            .map(|(c, m, at)| json!({"check": c, "message": m, "at_ms": at}))
            .collect();
        let mut v = json!({
            "type": "run",
            "scenario": self.scenario,
            "file": self.file,
            "seed": self.seed,
            "verdict": self.verdict(),
            "violations": violations,
            "fingerprint": self.fingerprints.first(),
            "fingerprints": self.fingerprints,
            "trace_hash": self.trace_hash,
            "wall_ms": self.wall_ms,
            "replay": self.replay,
            "driver": self.driver.name(),
            "notify_ms": self.notify_ms.iter().map(|(r, ms)| json!({"reason": r, "ms": ms})).collect::<Vec<_>>(),
            "probes": self.probes.iter().map(|(p, n)| (p.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        });
        if let Some(s) = &self.swarm {
            v["swarm"] = s.clone();
        }
        if let Some(d) = &self.divergence {
            v["divergence"] = json!(d);
        }
        v
    }

    /// Reads a line written by [`Record::json`].
    pub fn from_json(v: &Value) -> Result<Record, String> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing string field `{k}`"))
        };
        let verdict = s("verdict")?;
        let violations = v
            .get("violations")
            .and_then(Value::as_array)
            .ok_or("missing array field `violations`")?
            .iter()
            .map(|x| {
                (
                    x["check"].as_str().unwrap_or_default().to_string(),
                    x["message"].as_str().unwrap_or_default().to_string(),
                    x["at_ms"].as_f64(),
                )
            })
            .collect();
        let fingerprints = v
            .get("fingerprints")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Record {
            file: s("file")?,
            scenario: s("scenario")?,
            seed: v
                .get("seed")
                .and_then(Value::as_u64)
                .ok_or("missing number field `seed`")?,
            passed: verdict == "pass",
            violations,
            fingerprints,
            trace_hash: v["trace_hash"].as_str().map(str::to_string),
            wall_ms: v["wall_ms"].as_f64().unwrap_or(0.0),
            // (Lines written before the field: the replay names a driver
            // other than the default.)
            driver: match v["driver"].as_str() {
                Some(name) => Driver::parse(name).ok_or(format!("unknown driver `{name}`"))?,
                None => replay_flag(&s("replay")?, "--driver")
                    .and_then(Driver::parse)
                    .unwrap_or_default(),
            },
            replay: s("replay")?,
            swarm: v.get("swarm").cloned(),
            divergence: v["divergence"].as_str().map(str::to_string),
            notify_ms: v["notify_ms"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| Some((x["reason"].as_str()?.to_string(), x["ms"].as_f64())))
                        .collect()
                })
                .unwrap_or_default(),
            probes: v["probes"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(p, n)| Some((p.clone(), n.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Failures that share a fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub fingerprint: String,
    pub count: u64,
    /// The smallest failing seed, and its file (the first in file order
    /// among equal seeds).
    pub seed: u64,
    pub file: String,
    pub replay: String,
    /// The files it failed in, in name order.
    pub files: Vec<String>,
}

/// How a sweep reached one coverage probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// Runs that hit it.
    pub runs: u64,
    /// Hits in all.
    pub hits: u64,
    /// The smallest seed that hit it, and its file (the first in file
    /// order among equal seeds), and how to replay that run.
    pub seed: u64,
    pub file: String,
    pub replay: String,
}

/// What a sweep found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub runs: u64,
    pub failed: u64,
    pub nondeterministic: u64,
    /// Failure groups, most frequent first (then by fingerprint).
    pub groups: Vec<Group>,
    /// Runs that were not deterministic: (file, seed, where they differ).
    pub divergences: Vec<(String, u64, String)>,
    /// Summed wall time of the runs, in ms (not the sweep's wall time).
    pub run_ms: f64,
    /// Per coverage probe hit, how the runs reached it.
    pub coverage: BTreeMap<String, Coverage>,
    /// The probes the runs could hit (the caller's registry's,
    /// `Registry::probes`): those no run hit are listed as such.
    pub declared: Vec<ProbeDef>,
}

/// Most failing runs a sweep keeps whole for its reports; failures past
/// it still count in the summary and its groups (each group keeps its
/// smallest seed), and the JUnit report says how many it leaves out.
pub const KEPT_FAILURES_MAX: usize = 10_000;

/// What a sweep keeps of its runs, in memory that does not grow with
/// passing seeds: the summary, built as runs finish; every failing or
/// nondeterministic run whole (up to [`KEPT_FAILURES_MAX`]); of the
/// passing runs, per file, how many and how long they took; and the
/// departures' notification latencies, by reason, counted by tenth of a
/// millisecond ([`Latencies`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    pub summary: Summary,
    /// Failing or nondeterministic runs, in the order they were added.
    pub failing: Vec<Record>,
    /// Failing runs past [`KEPT_FAILURES_MAX`], counted but not kept.
    pub failing_dropped: u64,
    /// Per file: passing runs and their summed wall time in ms.
    pub passing: BTreeMap<String, (u64, f64)>,
    /// Per departure reason: the latencies, and how many departures some
    /// survivor was not told of in time.
    pub notices: BTreeMap<String, Latencies>,
}

/// Notification latencies of one departure reason, counted by tenth of a
/// millisecond: their memory is bounded by the range latencies span (a few
/// notification bounds), not by the number of runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    by_tenth: BTreeMap<u64, u64>,
    count: u64,
    /// Departures some survivor was not told of in time.
    pub untold: u64,
}

impl Latencies {
    pub fn add(&mut self, ms: f64) {
        *self
            .by_tenth
            .entry((ms * 10.0).round().max(0.0) as u64)
            .or_default() += 1;
        self.count += 1;
    }

    /// How many latencies were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Each latency (ms, to a tenth) with how many runs saw it, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.by_tenth.iter().map(|(t, n)| (*t as f64 / 10.0, *n))
    }

    /// The latency at quantile `p` (0 is the least, 1 the greatest), as the
    /// element at rank `round((count - 1) p)` of the sorted latencies.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count - 1) as f64 * p.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0;
        for (ms, n) in self.iter() {
            seen += n;
            if seen > rank {
                return Some(ms);
            }
        }
        None
    }
}

impl Kept {
    /// Keeps what the reports need of `r`.
    pub fn add(&mut self, r: Record) {
        for (reason, ms) in &r.notify_ms {
            let entry = self.notices.entry(reason.clone()).or_default();
            match ms {
                Some(ms) => entry.add(*ms),
                None => entry.untold += 1,
            }
        }
        self.summary.add(&r);
        if r.passed && r.divergence.is_none() {
            let entry = self.passing.entry(r.file.clone()).or_default();
            entry.0 += 1;
            entry.1 += r.wall_ms;
        } else if self.failing.len() < KEPT_FAILURES_MAX {
            self.failing.push(r);
        } else {
            self.failing_dropped += 1;
        }
    }

    /// How many runs were added.
    pub fn runs(&self) -> u64 {
        self.summary.runs
    }

    /// The kept failing run of `file` under `seed`, if kept.
    pub fn failing_run(&self, file: &str, seed: u64) -> Option<&Record> {
        self.failing
            .iter()
            .find(|r| r.file == file && r.seed == seed)
    }
}

impl FromIterator<Record> for Kept {
    fn from_iter<I: IntoIterator<Item = Record>>(records: I) -> Kept {
        let mut kept = Kept::default();
        for r in records {
            kept.add(r);
        }
        kept
    }
}

impl Summary {
    /// The summary of `records` (as if added one by one).
    pub fn of(records: &[Record]) -> Summary {
        let mut s = Summary::default();
        for r in records {
            s.add(r);
        }
        s
    }

    /// Counts run `r` in: its failure joins its group (a new group sorts
    /// in by count, then fingerprint).
    pub fn add(&mut self, r: &Record) {
        self.runs += 1;
        self.run_ms += r.wall_ms;
        for (name, n) in &r.probes {
            let c = self
                .coverage
                .entry(name.clone())
                .or_insert_with(|| Coverage {
                    runs: 0,
                    hits: 0,
                    seed: r.seed,
                    file: r.file.clone(),
                    replay: r.replay.clone(),
                });
            c.runs += 1;
            c.hits += n;
            if (r.seed, &r.file) < (c.seed, &c.file) {
                c.seed = r.seed;
                c.file = r.file.clone();
                c.replay = r.replay.clone();
            }
        }
        if let Some(d) = &r.divergence {
            self.nondeterministic += 1;
            let at = self
                .divergences
                .partition_point(|(f, s, _)| (f.as_str(), *s) < (r.file.as_str(), r.seed));
            self.divergences
                .insert(at, (r.file.clone(), r.seed, d.clone()));
        }
        if r.passed {
            return;
        }
        self.failed += 1;
        let Some(fp) = r.fingerprints.first() else {
            return;
        };
        let i = match self.groups.iter().position(|g| &g.fingerprint == fp) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    fingerprint: fp.clone(),
                    count: 0,
                    seed: r.seed,
                    file: r.file.clone(),
                    replay: r.replay.clone(),
                    files: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        g.count += 1;
        if (r.seed, &r.file) < (g.seed, &g.file) {
            g.seed = r.seed;
            g.file = r.file.clone();
            g.replay = r.replay.clone();
        }
        if let Err(at) = g.files.binary_search(&r.file) {
            g.files.insert(at, r.file.clone());
        }
        self.groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
    }

    pub fn passed(&self) -> u64 {
        self.runs - self.failed
    }

    /// The summary as one JSON object (`"type": "summary"`).
    pub fn json(&self, wall_s: Option<f64>, stopped: Option<&str>) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                json!({"fingerprint": g.fingerprint, "count": g.count, "smallest_seed": g.seed,
                       "file": g.file, "replay": g.replay, "files": g.files})
            })
            .collect();
        let divergences: Vec<Value> = self
            .divergences
            .iter()
            .map(|(f, s, d)| json!({"file": f, "seed": s, "divergence": d}))
            .collect();
        let per_second = wall_s.filter(|w| *w > 0.0).map(|w| self.runs as f64 / w);
        json!({
            "type": "summary",
            "runs": self.runs,
            "passed": self.passed(),
            "failed": self.failed,
            "nondeterministic": self.nondeterministic,
            "groups": groups,
            "divergences": divergences,
            "wall_s": wall_s,
            "runs_per_second": per_second,
            "stopped": stopped,
            "coverage": self.coverage_json(),
        })
    }

    /// The probes in report order: the declared ones in their order, then
    /// any other a run hit (a protocol that did not declare it), by name.
    pub fn probe_rows(&self) -> Vec<(String, Option<&str>, Option<&Coverage>)> {
        let mut rows: Vec<(String, Option<&str>, Option<&Coverage>)> = self
            .declared
            .iter()
            .map(|d| (d.name.to_string(), Some(d.at), self.coverage.get(d.name)))
            .collect();
        for (name, c) in &self.coverage {
            if !self.declared.iter().any(|d| d.name == name) {
                rows.push((name.clone(), None, Some(c)));
            }
        }
        rows
    }

    /// `coverage` of the JSON summary: per probe, how many runs hit it and
    /// the smallest seed that did; the declared probes no run hit.
    pub fn coverage_json(&self) -> Value {
        let rows = self.probe_rows();
        let probes: Vec<Value> = rows
            .iter()
            .map(|(name, at, c)| {
                json!({
                    "probe": name,
                    "at": at,
                    "runs": c.map_or(0, |c| c.runs),
                    "hits": c.map_or(0, |c| c.hits),
                    "smallest_seed": c.map(|c| c.seed),
                    "file": c.map(|c| c.file.clone()),
                    "replay": c.map(|c| c.replay.clone()),
                })
            })
            .collect();
        let not_hit: Vec<&str> = rows
            .iter()
            .filter(|(_, _, c)| c.is_none())
            .map(|(n, _, _)| n.as_str())
            .collect();
        json!({
            "hit": rows.len() - not_hit.len(),
            "declared": self.declared.len(),
            "probes": probes,
            "not_hit": not_hit,
        })
    }

    /// The coverage table for people.
    pub fn coverage_human(&self) -> String {
        let rows = self.probe_rows();
        if rows.is_empty() {
            return String::new();
        }
        let hit = rows.iter().filter(|r| r.2.is_some()).count();
        let mut t = format!("coverage: {hit} of {} probes hit\n", rows.len());
        let _ = writeln!(
            t,
            "  {:<28} {:>7} {:>9}  smallest seed",
            "probe", "runs", "hits"
        );
        // The file of each smallest seed, when the sweep had several.
        let files: std::collections::BTreeSet<&str> =
            self.coverage.values().map(|c| c.file.as_str()).collect();
        for (name, _, c) in &rows {
            if let Some(c) = c {
                let file = if files.len() > 1 {
                    format!(" ({})", c.file)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    t,
                    "  {name:<28} {:>7} {:>9}  {}{file}",
                    c.runs, c.hits, c.seed
                );
            }
        }
        let never: Vec<&str> = rows
            .iter()
            .filter(|r| r.2.is_none())
            .map(|r| r.0.as_str())
            .collect();
        if !never.is_empty() {
            let mut line = String::from("  never hit:");
            for (i, name) in never.iter().enumerate() {
                let sep = if i + 1 < never.len() { "," } else { "" };
                if line.len() + name.len() + 2 > 78 {
                    let _ = writeln!(t, "{line}");
                    line = String::from("   ");
                }
                let _ = write!(line, " {name}{sep}");
            }
            let _ = writeln!(t, "{line}");
        }
        t
    }

    /// The summary for people.
    pub fn human(&self, wall_s: Option<f64>, stopped: Option<&str>, color: bool) -> String {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut t = String::new();
        for (file, seed, d) in &self.divergences {
            let _ = writeln!(
                t,
                "{} {file} seed {seed}: {d}",
                paint("1;31", "NONDETERMINISTIC")
            );
        }
        if !self.groups.is_empty() {
            let _ = writeln!(
                t,
                "{} failure group{}:",
                self.groups.len(),
                if self.groups.len() == 1 { "" } else { "s" }
            );
        }
        for g in &self.groups {
            let files = if g.files.len() == 1 {
                String::new()
            } else {
                format!(" in {} files", g.files.len())
            };
            let _ = writeln!(
                t,
                "  {} × {}{files}\n    smallest seed {} ({})\n    replay: {}",
                g.count,
                paint("1", &g.fingerprint),
                g.seed,
                g.file,
                g.replay
            );
        }
        t.push_str(&self.coverage_human());
        let verdict = if self.nondeterministic > 0 || self.failed > 0 {
            paint("1;31", "FAIL")
        } else {
            paint("1;32", "PASS")
        };
        let speed = wall_s.filter(|w| *w > 0.0).map_or(String::new(), |w| {
            format!(" in {w:.1}s ({:.1} runs/s)", self.runs as f64 / w)
        });
        let nd = if self.nondeterministic > 0 {
            format!(", {} nondeterministic", self.nondeterministic)
        } else {
            String::new()
        };
        let _ = write!(
            t,
            "{verdict} · {} runs, {} passed, {} failed{nd}{speed}",
            self.runs,
            self.passed(),
            self.failed
        );
        if let Some(why) = stopped {
            let _ = write!(t, " · stopped early: {why}");
        }
        t.push('\n');
        t
    }

    /// The sweep's verdict: nondeterminism over failures over a pass.
    pub fn verdict(&self) -> Verdict {
        if self.nondeterministic > 0 {
            Verdict::Nondeterministic
        } else if self.failed > 0 {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

/// A JUnit XML report: one test suite per scenario file, one test case for
/// its passing seeds together and one for each failing seed.
pub fn junit(kept: &Kept, name: &str) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut by_file: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in &kept.failing {
        by_file.entry(&r.file).or_default().push(r);
    }
    for file in kept.passing.keys() {
        by_file.entry(file).or_default();
    }
    let mut report = Report::new(name);
    for (file, mut failing) in by_file {
        failing.sort_by_key(|r| r.seed);
        let mut suite = TestSuite::new(file);
        if let Some((runs, ms)) = kept.passing.get(file) {
            let mut case =
                TestCase::new(format!("{runs} passing seeds"), TestCaseStatus::success());
            case.set_classname(file);
            case.set_time(std::time::Duration::from_secs_f64(ms / 1000.0));
            suite.add_test_case(case);
        }
        for r in failing {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let (message, body) = match &r.divergence {
                Some(d) => ("nondeterministic".to_string(), d.clone()),
                None => {
                    let fp = r.fingerprints.first().cloned().unwrap_or_default();
                    let lines: Vec<String> = r
                        .violations
                        .iter()
                        .map(|(c, m, _)| format!("[{c}] {m}"))
                        .collect();
                    (fp, lines.join("\n"))
                }
            };
            status.set_message(message);
            status.set_description(format!("{body}\nreplay: {}", r.replay));
            // The flags it ran under, beyond its seed (`--swarm`,
            // `--driver`, `--mutation`): merged shards may hold one seed
            // under several.
            let words: Vec<&str> = r.replay.split_whitespace().collect();
            let flags = words
                .iter()
                .position(|w| *w == "--seed")
                .map_or(String::new(), |i| {
                    words[(i + 2).min(words.len())..].join(" ")
                });
            let name = if flags.is_empty() {
                format!("seed {}", r.seed)
            } else {
                format!("seed {} ({flags})", r.seed)
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(file);
            case.set_time(std::time::Duration::from_secs_f64(r.wall_ms / 1000.0));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if kept.failing_dropped > 0 {
        let mut suite = TestSuite::new("vigil: failures not listed");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(format!(
            "{} more failing runs past the first {KEPT_FAILURES_MAX} are counted in the summary but not listed",
            kept.failing_dropped
        ));
        suite.add_test_case(TestCase::new("failures not listed", status));
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write the JUnit report: {e} -->"))
}

/// Writes `text` to `path` whole or not at all: a temporary file beside it,
/// renamed over it. A symbolic link is written through (the file it names
/// is replaced, the link kept), and what is not a regular file (a device
/// such as `/dev/null`, a FIFO, `/dev/fd/1`) is written straight into, as
/// a shell's `>` would; a temporary file left by a failure is removed.
/// One name for a file however a command line spelled it (`s.toml`,
/// `./s.toml`, its absolute path, a link to it): its canonical path if it
/// is there to resolve, else the path without its `.` components.
pub fn file_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        path.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    })
}

pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            return std::fs::write(path, text);
        }
        // A link to a regular file: replace the file, not the link.
        Ok(_) if path.is_symlink() => std::fs::canonicalize(path)?,
        // A link to nothing yet: create what it names.
        Err(_) if path.is_symlink() => return std::fs::write(path, text),
        _ => path.to_path_buf(),
    };
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Runs one item of a sweep.
pub fn run_item(registry: &Registry, target: &Target, seed: u64, opts: &ItemOptions<'_>) -> Record {
    let req = run::Request {
        registry,
        scenario: &target.scenario,
        seed,
        mutation: opts.mutation,
        swarm: opts.swarm,
        detail: false,
        driver: opts.driver,
    };
    let (e, divergence) = if opts.check_determinism {
        run::check_determinism(req)
    } else {
        (run::execute(req), None)
    };
    let mut r = Record::new(&target.file, &e, opts);
    r.divergence = divergence.map(|d| d.to_string());
    r
}

/// How every item of a sweep runs.
pub struct ItemOptions<'a> {
    pub program: &'a str,
    pub mutation: Option<Mutation>,
    pub swarm: bool,
    pub check_determinism: bool,
    pub driver: Driver,
    /// Whether each record carries its trace's hash: only `vigil explore
    /// --json` writes it (`vigil sweep` never shows it), and hashing a
    /// trace took about a twelfth of a quickstart run's time.
    pub trace_hash: bool,
}

/// Set by Ctrl-C: stop handing out runs.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the Ctrl-C handler once per process: the first Ctrl-C (or
/// SIGTERM, or SIGHUP) sets [`STOP`] (runs in flight finish, the summary
/// prints), a second one exits at once with status 130. A second signal
/// within [`SIGNALS_AS_ONE`] of the first is the same stop: `timeout`
/// sends SIGTERM to its command and then to the command's process group,
/// so the command gets it twice at once.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    static FIRST: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let first = *FIRST.get_or_init(std::time::Instant::now);
            if STOP.swap(true, std::sync::atomic::Ordering::SeqCst)
                && first.elapsed() >= SIGNALS_AS_ONE
            {
                std::process::exit(130);
            }
        });
    });
}

/// How close two signals come to count as one (see
/// [`install_interrupt_handler`]); a person pressing Ctrl-C twice is
/// slower.
pub const SIGNALS_AS_ONE: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `count` items on `workers` threads, `item(i)` for each `i` in
/// order of hand-out; `tick` runs on the calling thread about ten times a
/// second and once at the end with what is done so far. Stops handing out
/// items once `stop()` says so. Returns what the sweep keeps of them
/// ([`Kept`]), each batch added in item order.
pub fn pool(
    count: u64,
    workers: usize,
    item: &(dyn Fn(u64) -> Record + Sync),
    stop: &(dyn Fn() -> bool + Sync),
    tick: &mut dyn FnMut(&[Record]),
) -> Kept {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicU64::new(0);
    let running = AtomicUsize::new(workers);
    let fresh: Mutex<Vec<(u64, Record)>> = Mutex::new(Vec::new());
    let mut kept = Kept::default();
    // The last worker to finish wakes this thread, which would otherwise
    // see the sweep done only at its next tick, up to 100 ms late.
    let caller = std::thread::current();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let _out = CountedOut {
                    running: &running,
                    caller: &caller,
                };
                loop {
                    if stop() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    let record = item(i);
                    fresh.lock().expect("fresh").push((i, record));
                }
            });
        }
        loop {
            let finished = running.load(Ordering::SeqCst) == 0;
            let mut batch = std::mem::take(&mut *fresh.lock().expect("fresh"));
            batch.sort_by_key(|(i, _)| *i);
            let batch: Vec<Record> = batch.into_iter().map(|(_, r)| r).collect();
            tick(&batch);
            for r in batch {
                kept.add(r);
            }
            if finished {
                break;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(100));
        }
    });
    kept
}

/// A worker of [`pool`], counted out when it ends, by a panic too: the
/// calling thread waits for every worker to be counted out, and the scope
/// then raises the worker's panic (a worker that panicked uncounted left
/// the caller waiting for ever).
struct CountedOut<'a> {
    running: &'a std::sync::atomic::AtomicUsize,
    caller: &'a std::thread::Thread,
}

impl Drop for CountedOut<'_> {
    fn drop(&mut self) {
        if self
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.caller.unpark();
        }
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn seed_ranges_parse_and_reject_what_holds_no_seeds() {
        let r = |s: &str| s.parse::<SeedRange>();
        assert_eq!(r("10..20"), Ok(SeedRange { from: 10, to: 20 }));
        assert_eq!(r("10..=20"), Ok(SeedRange { from: 10, to: 21 }));
        assert_eq!(r("100"), Ok(SeedRange { from: 0, to: 100 }));
        for bad in ["10..5", "5..5", "0", "a..b", "1..x", "-1..3", ""] {
            assert!(r(bad).is_err(), "{bad}");
        }
    }

    fn shards_cover_the_range_once() {
        let range = SeedRange { from: 7, to: 107 };
        for n in 1..=13 {
            let mut next = range.from;
            for k in 1..=n {
                let s = range.shard(Shard { k, n });
                assert_eq!(s.from, next);
                next = s.to;
            }
            assert_eq!(next, range.to);
        }
        for bad in ["3/2", "0/4", "1/0", "x/2", "2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { k: 3, n: 8 }));
    }

    fn record(file: &str, seed: u64, failure: Option<&str>) -> Record {
        Record {
            file: file.into(),
            scenario: "s".into(),
            seed,
            passed: failure.is_none(),
            violations: failure
                .map(|f| vec![("notified".to_string(), f.to_string(), None)])
                .unwrap_or_default(),
            fingerprints: failure.map(|f| vec![f.to_string()]).unwrap_or_default(),
            trace_hash: Some("ab".repeat(32)),
            wall_ms: 10.0,
            replay: format!("vigil run {file} --seed {seed}"),
            driver: Driver::Madsim,
            swarm: None,
            divergence: None,
            notify_ms: vec![("fault".into(), Some(120.0)), ("node-down".into(), None)],
            probes: if seed & 1 == 0 {
                vec![("views-merged".into(), 2)]
            } else {
                vec![("views-merged".into(), 1), ("round-restarted".into(), 1)]
            },
        }
    }

    /// Coverage counts runs and hits per probe, keeps the smallest seed
    /// whatever order the runs finish in (shards merged in any order),
    /// lists the declared probes no run hit, and reads back from JSON.
    fn coverage_counts_runs_keeps_the_smallest_seed_and_lists_the_misses() {
        let records: Vec<Record> = [9, 4, 7, 12]
            .iter()
            .map(|s| record("a.toml", *s, None))
            .collect();
        let mut reversed = records.clone();
        reversed.reverse();
        let (a, b) = (Summary::of(&records), Summary::of(&reversed));
        assert_eq!(a.coverage, b.coverage);
        let merged = &a.coverage["views-merged"];
        assert_eq!((merged.runs, merged.hits, merged.seed), (4, 6, 4));
        assert_eq!(a.coverage["round-restarted"].seed, 7);
        let mut with_declared = a.clone();
        with_declared.declared = vigil_engine::probe::PROBES.to_vec();
        let cov = with_declared.coverage_json();
        assert_eq!(cov["hit"], 2);
        let not_hit = cov["not_hit"].as_array().expect("a list");
        assert_eq!(not_hit.len(), vigil_engine::probe::PROBES.len() - 2);
        assert!(!not_hit.iter().any(|p| p == "views-merged"));
        assert!(with_declared
            .human(None, None, false)
            .contains("never hit: "));
        let back: Vec<Record> = records
            .iter()
            .map(|r| Record::from_json(&r.json()).expect("reads back"))
            .collect();
        assert_eq!(Summary::of(&back).coverage, a.coverage);
    }

    /// A run line names its driver, and one written before it did reads
    /// its driver from its replay command.
    fn a_run_line_reads_back_its_driver_old_or_new() {
        let mut r = record("a.toml", 3, None);
        r.driver = Driver::EventLoop;
        r.replay.push_str(" --driver event-loop");
        let line = r.json();
        assert_eq!(line["driver"], "event-loop");
        let back = |v: &Value| Record::from_json(v).expect("reads back").driver;
        assert_eq!(back(&line), Driver::EventLoop);
        let mut old = line.clone();
        old.as_object_mut().expect("an object").remove("driver");
        assert_eq!(back(&old), Driver::EventLoop, "from the replay");
        let plain = record("a.toml", 3, None).json();
        let mut old = plain.clone();
        old.as_object_mut().expect("an object").remove("driver");
        assert_eq!(back(&old), Driver::Madsim, "the default");
        let mut wrong = plain;
        wrong["driver"] = Value::from("nowhere");
        assert!(Record::from_json(&wrong).is_err());
    }

    /// A sweep's memory must not grow with its passing seeds: of those it
    /// keeps counts and latencies, never the runs themselves.
    fn a_sweep_keeps_its_failures_whole_and_only_counts_of_its_passes() {
        let mut kept = Kept::default();
        let mut all = Vec::new();
        for seed in 0..1000 {
            let failure = (seed % 100 == 7).then_some("f1");
            let r = record(
                if seed % 2 == 0 { "a.toml" } else { "b.toml" },
                seed,
                failure,
            );
            all.push(r.clone());
            kept.add(r);
        }
        assert_eq!(
            kept.failing.len(),
            10,
            "only the failing runs are kept whole"
        );
        assert_eq!(kept.passing["a.toml"].0 + kept.passing["b.toml"].0, 990);
        assert_eq!(kept.notices["fault"].count(), 1000);
        assert_eq!(kept.notices["node-down"].untold, 1000);
        assert_eq!(kept.summary, Summary::of(&all));
        assert_eq!(kept.summary.groups[0].seed, 7);
        assert_eq!(kept.failing_run("b.toml", 107).map(|r| r.seed), Some(107));
        // JUnit still lists every failing seed and counts the passes.
        let junit = junit(&kept, "t");
        assert!(junit.contains("name=\"seed 907\""), "{junit}");
        assert!(junit.contains("490 passing seeds"), "{junit}");
        // A seed run under other flags (merged shards) says which.
        let mut mutated = record("a.toml", 907, Some("f1"));
        mutated.replay.push_str(" --driver event-loop --mutation m");
        kept.add(mutated);
        let report = super::junit(&kept, "t");
        assert!(
            report.contains("name=\"seed 907 (--driver event-loop --mutation m)\""),
            "{report}"
        );
    }

    fn latencies_keep_their_quantiles_in_bounded_memory() {
        let mut l = Latencies::default();
        let mut all = Vec::new();
        for k in 0..20_000u64 {
            let ms = (k * 7919 % 5000) as f64 / 10.0 + 100.0;
            l.add(ms);
            all.push(ms);
        }
        all.sort_by(f64::total_cmp);
        for p in [0.0, 0.25, 0.5, 0.99, 1.0] {
            let exact = all[((all.len() - 1) as f64 * p).round() as usize];
            assert_eq!(l.quantile(p), Some(exact), "p{p}");
        }
        assert_eq!(l.count(), 20_000);
        assert!(
            l.by_tenth.len() <= 5000,
            "one entry per distinct tenth of a ms"
        );
    }

    fn failures_past_the_bound_are_counted_not_kept() {
        let mut kept = Kept::default();
        for seed in 0..(KEPT_FAILURES_MAX as u64 + 5) {
            kept.add(record("a.toml", seed, Some("f")));
        }
        assert_eq!(kept.failing.len(), KEPT_FAILURES_MAX);
        assert_eq!(kept.failing_dropped, 5);
        assert_eq!(kept.summary.failed, KEPT_FAILURES_MAX as u64 + 5);
        assert!(junit(&kept, "t").contains("5 more failing runs"));
    }

    /// A run that panics outside the simulation (a checker's bug, say)
    /// ends the sweep with its panic instead of leaving it waiting for the
    /// worker that ran it.
    fn a_panicking_item_ends_the_pool_with_its_panic() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ended = std::panic::catch_unwind(|| {
                pool(
                    4,
                    2,
                    &|i| {
                        if i == 1 {
                            panic!("a checker's bug");
                        }
                        record("f.toml", i, None)
                    },
                    &|| false,
                    &mut |_| {},
                )
            });
            let _ = tx.send(ended.is_err());
        });
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(20)),
            Ok(true),
            "the pool ends, raising the worker's panic"
        );
    }

    fn a_written_file_keeps_links_fifos_and_no_leftovers() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (real, link) = (dir.path().join("real.xml"), dir.path().join("link.xml"));
        std::fs::write(&real, "old").expect("written");
        std::os::unix::fs::symlink(&real, &link).expect("a link");
        write_atomically(&link, "new").expect("written through the link");
        assert!(link.is_symlink(), "the link is kept");
        assert_eq!(std::fs::read_to_string(&real).expect("read"), "new");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("later.xml"), &dangling).expect("a link");
        write_atomically(&dangling, "made").expect("written through the link");
        assert!(dangling.is_symlink(), "the link is kept");
        let later = std::fs::read_to_string(dir.path().join("later.xml")).expect("read");
        assert_eq!(later, "made");

        // A FIFO is written into, as `>` would: a reader gets the text.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("a C string");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "a FIFO");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read"))
        };
        write_atomically(&fifo, "through").expect("written into the FIFO");
        assert_eq!(reader.join().expect("the reader"), "through");
        let kind = std::fs::symlink_metadata(&fifo)
            .expect("still there")
            .file_type();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kind),
            "still a FIFO"
        );

        // A failure leaves nothing behind.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("a directory");
        assert!(
            write_atomically(&sub, "x").is_err(),
            "a directory is no file"
        );
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "dangling",
                "fifo",
                "later.xml",
                "link.xml",
                "real.xml",
                "sub"
            ]
        );
    }

    unit_tests![
        a_written_file_keeps_links_fifos_and_no_leftovers,
        a_panicking_item_ends_the_pool_with_its_panic,
        seed_ranges_parse_and_reject_what_holds_no_seeds,
        shards_cover_the_range_once,
        coverage_counts_runs_keeps_the_smallest_seed_and_lists_the_misses,
        a_sweep_keeps_its_failures_whole_and_only_counts_of_its_passes,
        latencies_keep_their_quantiles_in_bounded_memory,
        failures_past_the_bound_are_counted_not_kept,
        a_run_line_reads_back_its_driver_old_or_new,
    ];
}
