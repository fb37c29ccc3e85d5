//! From many seeds to one minimal failing scenario: `vigil explore`,
//! `merge`, `replay`, `shrink`, random faults and determinism checks, as a
//! user drives them.

use serde_json::Value;
use vigil_sim::scenario;
use vigil_tests::{example, root, vigil, Outcome, Scratch};

/// A fresh temporary folder, removed when the test ends; `_what` names it
/// for the reader.
fn temp_dir(_what: &str) -> Scratch {
    Scratch::dir()
}

/// Fails exactly on the seeds whose draw holds a work-thread fault: the
/// expectation says no member ever leaves.
const SOMETIMES: &str = r#"
name = "fails when the draw holds a fault"
duration = "6s"
[cluster]
nodes = 3
[[job]]
name = "db"
group = "g"
[random]
after = "1s"
before = "2s"
[random.work-thread]
count = [0, 1]
kinds = ["panic"]
[[expect]]
kind = "no-membership-change"
group = "g"
"#;

/// A fresh temporary folder `name` holding `sometimes.toml` ([`SOMETIMES`]):
/// the folder and the file's path.
fn sometimes(name: &str) -> (Scratch, String) {
    let dir = temp_dir(name);
    let file = dir.join("sometimes.toml");
    std::fs::write(&file, SOMETIMES).expect("write");
    (dir, file.display().to_string())
}

/// The seeds in `seeds` that [`SOMETIMES`] fails on: those whose draw holds
/// a fault (the ground truth, from the draw itself).
fn sometimes_fails(seeds: std::ops::Range<u64>) -> Vec<u64> {
    let s = scenario::parse("s.toml", SOMETIMES).expect("valid");
    seeds
        .filter(|seed| {
            !vigil_sim::scenario::draw::draw(&s, *seed, false)
                .0
                .faults
                .is_empty()
        })
        .collect()
}

fn run_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|v| v["type"] == "run")
        .collect()
}

fn summary_line(stdout: &str) -> Value {
    let last = stdout.lines().last().expect("a summary line");
    let mut v: Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(v["type"], "summary");
    // Wall time differs between sweeps; the rest must not.
    v["wall_s"] = Value::Null;
    v["runs_per_second"] = Value::Null;
    v
}

#[test]
fn explore_finds_the_failing_seeds_groups_them_and_replays_each() {
    let (dir, file) = sometimes("sometimes");
    let o = vigil(&[
        "explore", &file, "--seeds", "0..40", "--jobs", "2", "--json",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let runs = run_lines(&o.stdout);
    assert_eq!(runs.len(), 40);
    let expected = sometimes_fails(0..40);
    assert!(
        !expected.is_empty() && expected.len() < 40,
        "some seeds only"
    );
    let mut failing: Vec<u64> = runs
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| r["seed"].as_u64().expect("seed"))
        .collect();
    failing.sort_unstable();
    assert_eq!(failing, expected);
    for r in &runs {
        for key in [
            "scenario",
            "file",
            "seed",
            "verdict",
            "violations",
            "trace_hash",
            "wall_ms",
            "driver",
        ] {
            assert!(!r[key].is_null() || key == "trace_hash", "{key} in {r}");
        }
        assert_eq!(r["driver"], "madsim", "the default driver: {r}");
    }
    // A run that ended carries its trace's hash (`explore` computes it
    // only for the records `--json` writes): `vigil run`'s for that seed.
    let passed = runs
        .iter()
        .find(|r| r["verdict"] == "pass")
        .expect("a passing run");
    let seed = passed["seed"].as_u64().expect("seed").to_string();
    let one = vigil(&["run", &file, "--seed", &seed, "--json"]);
    let one: Value = serde_json::from_str(&one.stdout).expect("JSON");
    assert_eq!(
        passed["trace_hash"].as_str().map(str::len),
        Some(64),
        "{passed}"
    );
    assert_eq!(passed["trace_hash"], one["trace_hash"], "seed {seed}");
    let summary = summary_line(&o.stdout);
    assert_eq!(summary["runs"], 40);
    assert_eq!(summary["failed"], expected.len());
    let group = &summary["groups"][0];
    assert_eq!(group["count"], expected.len());
    assert_eq!(group["smallest_seed"], expected[0]);
    assert!(group["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .starts_with("expect no-membership-change"));
    let replay = format!("vigil run {file} --seed {}", expected[0]);
    assert_eq!(group["replay"], replay.as_str());
    // The human summary says the same.
    assert!(o.stderr.contains(&replay), "{}", o.stderr);

    // Replaying the smallest seed fails with the same fingerprint...
    let seed = expected[0].to_string();
    let again = vigil(&["run", &file, "--seed", &seed, "--json"]);
    assert_eq!(again.code, 1);
    let v: Value = serde_json::from_str(&again.stdout).expect("JSON");
    let violation = vigil_sim::check::Violation {
        check: v["violations"][0]["check"].as_str().expect("check").into(),
        message: v["violations"][0]["message"].as_str().expect("msg").into(),
        at: None,
    };
    assert_eq!(
        vigil_sim::run::fingerprint(&violation),
        group["fingerprint"].as_str().expect("fp")
    );
    // ...and its trace says where the check failed.
    let trace = dir.join("trace.jsonl");
    let t = trace.display().to_string();
    let replayed = vigil(&["replay", &file, "--seed", &seed, "--trace", &t]);
    assert_eq!(replayed.code, 1, "{}", replayed.stderr);
    let text = std::fs::read_to_string(&trace).expect("a trace");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for kind in [
        "fault",
        "send",
        "deliver",
        "view",
        "round-start",
        "round-end",
        "check-failed",
    ] {
        assert!(
            events.iter().any(|e| e["kind"] == kind),
            "a {kind} event in the trace"
        );
    }
    let t_ns: Vec<u64> = events
        .iter()
        .map(|e| e["t_ns"].as_u64().expect("t_ns"))
        .collect();
    assert!(t_ns.windows(2).all(|w| w[0] <= w[1]), "time order");
    let deliver = events
        .iter()
        .find(|e| e["kind"] == "deliver")
        .expect("a delivery");
    for key in ["from", "to", "id", "what", "node", "t_ms"] {
        assert!(!deliver[key].is_null(), "{key} in {deliver}");
    }
}

#[test]
fn sharded_outputs_merged_equal_the_unsharded_sweep() {
    let (dir, file) = sometimes("shards");
    let files = [file, example("job-kill.toml")];
    let args = [
        "explore",
        files[0].as_str(),
        files[1].as_str(),
        "--seeds",
        "3..=20",
        "--json",
    ];
    let whole = vigil(&args);
    assert_eq!(whole.code, 1);
    let mut outputs = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let mut sharded = args.to_vec();
        sharded.extend(["--shard", shard.as_str()]);
        let o = vigil(&sharded);
        let path = dir.join(format!("shard-{k}.jsonl"));
        std::fs::write(&path, &o.stdout).expect("write");
        outputs.push(path.display().to_string());
        assert!(run_lines(&o.stdout).len() == 12, "a third of 2 × 18 runs");
    }
    // A shard past the seeds (more shards than seeds) runs nothing, and
    // says so.
    let empty = vigil(&[
        "explore",
        &example("quickstart.toml"),
        "--seeds",
        "0..2",
        "--shard",
        "1/3",
        "--driver",
        "event-loop",
    ]);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert!(
        empty
            .stderr
            .contains("shard 1/3 of seeds 0..2 holds no seed"),
        "{}",
        empty.stderr
    );
    let mut merge = vec!["merge"];
    merge.extend(outputs.iter().map(String::as_str));
    merge.push("--json");
    let merged = vigil(&merge);
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    let mut m: Value = serde_json::from_str(merged.stdout.trim()).expect("JSON");
    m["wall_s"] = Value::Null;
    m["runs_per_second"] = Value::Null;
    assert_eq!(m, summary_line(&whole.stdout));
    // Coverage merges too (it is part of the summary compared above).
    assert!(
        m["coverage"]["hit"].as_u64().is_some_and(|n| n > 0),
        "{}",
        m["coverage"]
    );
    // The human form too.
    merge.pop();
    let human = vigil(&merge);
    assert!(human.stdout.contains("36 runs"), "{}", human.stdout);
    // A file that is not explore output is bad input.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"seed\": 1}\nnot json\n").expect("write");
    let o = vigil(&["merge", &bad.display().to_string()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("bad.jsonl:2"), "{}", o.stderr);
    // Its JSON names each problem's file and line, as the message does.
    let o = vigil(&["merge", &bad.display().to_string(), "--json"]);
    assert_eq!(o.code, 2);
    let v: Value = serde_json::from_str(&o.stdout).expect("one JSON object");
    let details = v["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 2, "{v}");
    assert!(
        details
            .iter()
            .all(|d| d["file"] == bad.display().to_string()),
        "{v}"
    );
    assert_eq!(
        (details[0]["line"].clone(), details[1]["line"].clone()),
        (1.into(), 2.into()),
        "{v}"
    );
    // So is an empty shard output (its explore failed before it ran): it
    // must not merge as a pass.
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").expect("write");
    let mut with_empty = merge.clone();
    with_empty.push(empty.to_str().expect("utf-8"));
    let o = vigil(&with_empty);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("empty.jsonl"), "{}", o.stderr);
    // And a shard cut off before its summary line (killed by a time
    // limit): the seeds it never reached must not pass unseen.
    let shard_one = std::fs::read_to_string(merge[1]).expect("a shard's output");
    let cut = dir.join("cut.jsonl");
    let first_two: Vec<&str> = shard_one.lines().take(2).collect();
    assert!(first_two.iter().all(|l| l.contains("\"type\":\"run\"")));
    std::fs::write(&cut, first_two.join("\n") + "\n").expect("write");
    let o = vigil(&["merge", cut.to_str().expect("utf-8")]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("cut.jsonl` ends without the summary line"),
        "{}",
        o.stderr
    );
    // Nor does one with a whole output appended (`cat cut whole | vigil
    // merge -`): the summary counts the runs before it.
    let joined = dir.join("joined.jsonl");
    std::fs::write(&joined, first_two.join("\n") + "\n" + &shard_one).expect("write");
    let o = vigil(&["merge", joined.to_str().expect("utf-8")]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.stderr.contains("run lines come before it"),
        "{}",
        o.stderr
    );
    // The same seeds under another driver are other runs (one of them may
    // fail where the other passes); the same output read twice counts once.
    let mut outputs = Vec::new();
    for (name, extra) in [("plain", None), ("other", Some("event-loop"))] {
        let mut args = vec!["explore", files[1].as_str(), "--seeds", "0..2", "--json"];
        args.extend(extra.map(|d| ["--driver", d]).into_iter().flatten());
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, vigil(&args).stdout).expect("write");
        outputs.push(path.display().to_string());
    }
    let o = vigil(&["merge", &outputs[0], &outputs[1], &outputs[0]]);
    assert!(o.stdout.contains("4 runs"), "{}{}", o.stdout, o.stderr);
    // The same file spelled another way (`dir/./x.toml`) is the same run.
    let example = std::path::Path::new(&files[1]);
    let respelled = example
        .parent()
        .expect("a folder")
        .join(".")
        .join(example.file_name().expect("a name"));
    let respelled = respelled.display().to_string();
    let path = dir.join("respelled.jsonl");
    let args = ["explore", respelled.as_str(), "--seeds", "0..2", "--json"];
    std::fs::write(&path, vigil(&args).stdout).expect("write");
    let junit = dir.join("respelled.xml").display().to_string();
    let o = vigil(&[
        "merge",
        &outputs[0],
        &path.display().to_string(),
        "--junit",
        &junit,
    ]);
    assert!(o.stdout.contains("2 runs"), "{}{}", o.stdout, o.stderr);
    let report = std::fs::read_to_string(&junit).expect("the report");
    assert_eq!(
        report.matches("<testsuite ").count(),
        1,
        "one file, one suite: {report}"
    );
    // A device is written straight into: it passes the check. A link is
    // judged where it leads: one into a missing folder is refused.
    let o = vigil(&["merge", &outputs[0], "--junit", "/dev/null"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let link = dir.join("link.xml");
    std::os::unix::fs::symlink(dir.join("gone").join("report.xml"), &link).expect("a link");
    let o = vigil(&["merge", &outputs[0], "--junit", &link.display().to_string()]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("there is no directory"), "{}", o.stderr);
    // Where the reports go is checked before the runs: no directory, no
    // runs (and with --json, one error object).
    let nowhere = dir.join("no-such-folder").join("report.xml");
    let nowhere = nowhere.display().to_string();
    for command in ["explore", "merge"] {
        let mut args = vec![command];
        if command == "explore" {
            args.extend([files[1].as_str(), "--seeds", "0..2"]);
        } else {
            args.push(outputs[0].as_str());
        }
        args.extend(["--junit", nowhere.as_str(), "--json"]);
        let o = vigil(&args);
        assert_eq!(o.code, 2, "{command}: {}{}", o.stdout, o.stderr);
        let error: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
        assert_eq!(error["verdict"], "error", "{command}");
        assert!(
            o.stderr.contains("--junit") && o.stderr.contains("there is no directory"),
            "{command}: {}",
            o.stderr
        );
    }
    // A bad scenario under --json is one error object too, listing it.
    let o = vigil(&["explore", "no-such-file.toml", "--seeds", "0..2", "--json"]);
    assert_eq!(o.code, 2);
    let error: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert!(
        error["error"]["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("no-such-file.toml")),
        "{error}"
    );
    let detail = &error["error"]["details"][0];
    assert!(
        detail["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("cannot read `no-such-file.toml`")),
        "{detail}"
    );
    assert_eq!(detail["line"], Value::Null, "{detail}");
}

#[test]
fn junit_reports_each_failing_seed_and_the_passing_ones_together() {
    let (dir, file) = sometimes("junit");
    let junit = dir.join("report.xml");
    let o = vigil(&[
        "explore",
        &file,
        "--seeds",
        "0..12",
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(o.code, 1);
    let xml = std::fs::read_to_string(&junit).expect("a report");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuites"), "{xml}");
    let failed = o
        .stdout
        .lines()
        .last()
        .and_then(|l| l.split(" failed").next())
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("the summary counts failures");
    assert_eq!(xml.matches("<failure").count(), failed, "{xml}");
    assert!(xml.contains("passing seeds"), "{xml}");
    assert!(xml.contains("replay: vigil run"), "{xml}");
    assert!(!dir.join("report.xml.partial").exists());
}

#[test]
fn shrink_writes_a_smaller_scenario_that_fails_the_same_way() {
    let dir = temp_dir("shrink");
    // Five nodes, a partition and two crashes around the one fault that
    // matters: the expectation fails only because of the panic.
    let text = r#"
name = "noise around one panic"
duration = "20s"
[cluster]
nodes = 5
loss = 0.05
[[job]]
name = "db"
group = "g"
work_threads = 2
[[job]]
name = "web"
group = "w"
[[fault]]
at = "3s"
kind = "node-crash"
node = "n4"
restart_after = "2s"
[[fault]]
at = "6s"
kind = "partition"
sides = [["n0", "n1"], ["n2", "n3", "n4"]]
heal_after = "2s"
[[fault]]
at = "11s"
kind = "work-thread-panic"
node = "n1"
job = "web"
[[fault]]
at = "13s"
kind = "node-pause"
node = "n3"
for = "1s"
[[expect]]
kind = "no-membership-change"
group = "w"
"#;
    let file = dir.join("noisy.toml");
    std::fs::write(&file, text).expect("write");
    let file = file.display().to_string();
    let before = vigil(&["run", &file, "--seed", "2", "--json"]);
    assert_eq!(before.code, 1);
    let out = dir.join("minimal.toml");
    let o = vigil(&[
        "shrink",
        &file,
        "--seed",
        "2",
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("removed"), "{}", o.stdout);
    assert!(
        !o.stdout.contains("--max-runs"),
        "it finished: {}",
        o.stdout
    );
    let minimal_text = std::fs::read_to_string(&out).expect("written");
    assert!(
        minimal_text.starts_with("# Shrunk by `vigil shrink"),
        "{minimal_text}"
    );
    assert!(minimal_text.contains("from seed 2"), "{minimal_text}");
    assert!(minimal_text.contains("It fails with: expect no-membership-change"));
    let original = scenario::parse("o.toml", text).expect("valid");
    let minimal = scenario::parse("m.toml", &minimal_text).expect("the result parses");
    assert_eq!(minimal.seed, Some(2), "the failing seed is the file's");
    assert!(minimal.faults.len() < original.faults.len());
    assert!(minimal.cluster.nodes < original.cluster.nodes);
    assert!(minimal.duration < original.duration);
    assert!(minimal.jobs.len() < original.jobs.len(), "job db is noise");
    assert_eq!(minimal.faults.len(), 1, "only the panic matters");
    // It replays to the same failure with no flags.
    let replay = vigil(&["run", &out.display().to_string(), "--json"]);
    assert_eq!(replay.code, 1);
    let v: Value = serde_json::from_str(&replay.stdout).expect("JSON");
    assert_eq!(v["violations"][0]["check"], "expect no-membership-change w");
    // Cut short by its budget, it says so, and so does its file.
    let cut = dir.join("cut.toml");
    let cut_short = |json: &[&str]| {
        let cut = cut.display().to_string();
        let mut args = vec![
            "shrink",
            &file,
            "--seed",
            "2",
            "--max-runs",
            "3",
            "-o",
            &cut,
        ];
        args.extend(json);
        vigil(&args)
    };
    let o = cut_short(&[]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("all that --max-runs allows"),
        "{}",
        o.stdout
    );
    let cut_text = std::fs::read_to_string(&cut).expect("written");
    assert!(cut_text.contains("--max-runs 3`"), "{cut_text}");
    assert!(cut_text.contains("It ran out of runs"), "{cut_text}");
    // With --json: one object on stdout, the steps still on stderr.
    let o = cut_short(&["--json"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "shrunk", "{v}");
    assert_eq!(v["seed"], 2, "{v}");
    assert_eq!(v["driver"], "madsim", "{v}");
    assert_eq!(v["runs"], 3, "{v}");
    assert_eq!(v["out_of_runs"], true, "{v}");
    assert_eq!(v["output"], cut.display().to_string(), "{v}");
    assert_eq!(v["faults"][0], 4, "{v}");
    assert!(
        v["fingerprint"]
            .as_str()
            .is_some_and(|f| f.contains("no-membership-change")),
        "{v}"
    );
    assert!(
        v["replay"].as_str().is_some_and(|r| r.contains("--seed 2")),
        "{v}"
    );
    assert!(o.stderr.contains("shrinking seed 2"), "{}", o.stderr);
    // A passing seed has nothing to shrink.
    let passing = |flags: &[&str]| {
        let (job_kill, out) = (example("job-kill.toml"), out.display().to_string());
        let mut args = vec!["shrink", &job_kill, "--seed", "1", "-o", &out];
        args.extend(flags);
        vigil(&args)
    };
    let ok = passing(&[]);
    assert_eq!(ok.code, 2);
    assert!(ok.stderr.contains("no failure to shrink"), "{}", ok.stderr);
    assert!(ok.stderr.contains("--seeds 0..1000`"), "{}", ok.stderr);
    // The sweep it suggests runs as the shrink would have: the same draw
    // and driver (a madsim seed's failure is not the event loop's).
    let ok = passing(&["--swarm", "--driver", "event-loop"]);
    assert_eq!(ok.code, 2, "{}", ok.stderr);
    assert!(
        ok.stderr
            .contains("--seeds 0..1000 --swarm --driver event-loop`"),
        "{}",
        ok.stderr
    );
    // Under --json, as one error object too.
    let ok = passing(&["--json"]);
    assert_eq!(ok.code, 2, "{}", ok.stderr);
    let v: Value = serde_json::from_str(&ok.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "error", "{v}");
    assert!(
        v["error"]["help"]
            .as_str()
            .is_some_and(|h| h.contains("--seeds 0..1000")),
        "{v}"
    );
}

#[test]
fn shrink_turns_a_random_section_into_plain_faults() {
    let (dir, file) = sometimes("shrink-random");
    let seed = sometimes_fails(0..100)[0];
    let out = dir.join("min.toml");
    let o = vigil(&[
        "shrink",
        &file,
        "--seed",
        &seed.to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(
        !text.lines().any(|l| l.starts_with("[random")),
        "no [random] tables: {text}"
    );
    let minimal = scenario::parse("m.toml", &text).expect("valid");
    assert_eq!(minimal.faults.len(), 1);
    assert_eq!(vigil(&["run", &out.display().to_string()]).code, 1);
}

#[test]
fn an_emitted_schedule_replays_the_same_run_without_the_draw() {
    let dir = temp_dir("emit");
    let out = dir.join("seed-9.toml");
    let a = vigil(&[
        "run",
        &example("random-faults.toml"),
        "--seed",
        "9",
        "--json",
        "--emit-scenario",
        &out.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(
        !text.lines().any(|l| l.starts_with("[random")),
        "only [[fault]] entries: {text}"
    );
    assert!(text.contains("[[fault]]"), "{text}");
    let b = vigil(&["run", &out.display().to_string(), "--json"]);
    assert_eq!(a.code, b.code);
    let hash = |o: &Outcome| {
        let v: Value = serde_json::from_str(&o.stdout).expect("JSON");
        v["trace_hash"].as_str().expect("hash").to_string()
    };
    assert_eq!(hash(&a), hash(&b), "the same run, fault for fault");
    // Swarm runs emit their draw too, and say what it turned on.
    let swarm = vigil(&[
        "run",
        &example("random-faults.toml"),
        "--seed",
        "9",
        "--swarm",
        "--emit-scenario",
        &out.display().to_string(),
    ]);
    assert!(swarm.stdout.contains("swarm: "), "{}", swarm.stdout);
    assert!(
        swarm.stdout.contains("--swarm"),
        "the replay keeps the flag"
    );
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(text.contains("(swarm: "), "{text}");
    let b = vigil(&["run", &out.display().to_string()]);
    assert_eq!(swarm.code, b.code);
}

#[test]
fn determinism_holds_for_every_example_and_is_caught_when_broken() {
    let o = vigil(&[
        "explore",
        &root().join("scenarios").display().to_string(),
        "--seeds",
        "1",
        "--check-determinism",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let runs = run_lines(&o.stdout);
    assert_eq!(runs.len(), vigil_tests::scenario_files().len());
    assert!(runs.iter().all(|r| r["verdict"] == "pass"));

    // A run that draws from an unseeded generator is caught, with the
    // first differing event and the ones before it.
    let bad = vigil(&[
        "run",
        &example("quickstart.toml"),
        "--check-determinism",
        "--mutation",
        "unseeded-random",
    ]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("is not deterministic"),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("first run:"), "{}", bad.stderr);
    assert!(bad.stderr.contains("second run:"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("--seed 7 --mutation unseeded-random"),
        "the replay keeps the run's flags: {}",
        bad.stderr
    );
    let replay = vigil(&[
        "replay",
        &example("quickstart.toml"),
        "--check-determinism",
        "--mutation",
        "unseeded-random",
        "--trace",
        &temp_dir("nd").join("t.jsonl").display().to_string(),
    ]);
    assert_eq!(replay.code, 3);
    // Its JSON says so too, as explore's does: a script reading the object
    // alone must not take it for a pass.
    let bad_json = vigil(&[
        "run",
        &example("quickstart.toml"),
        "--check-determinism",
        "--mutation",
        "unseeded-random",
        "--json",
    ]);
    assert_eq!(bad_json.code, 3);
    let v: Value = serde_json::from_str(&bad_json.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "nondeterministic", "{v}");
    assert!(v["divergence"]
        .as_str()
        .expect("where")
        .contains("differ at event"));
    let sweep = vigil(&[
        "sweep",
        &example("quickstart.toml"),
        "--seeds",
        "2",
        "--check-determinism",
        "--mutation",
        "unseeded-random",
        "--json",
    ]);
    assert_eq!(sweep.code, 3);
    let v: Value = serde_json::from_str(&sweep.stdout).expect("one JSON object");
    assert_eq!(v["nondeterministic"], 2, "{v}");
    let failure = &v["failures"][0];
    assert_eq!(failure["verdict"], "nondeterministic", "{v}");
    assert!(failure["divergence"]
        .as_str()
        .expect("where")
        .contains("differ at event"));
    let swept = vigil(&[
        "explore",
        &example("quickstart.toml"),
        "--seeds",
        "0..2",
        "--check-determinism",
        "--mutation",
        "unseeded-random",
        "--json",
    ]);
    assert_eq!(swept.code, 3);
    let runs = run_lines(&swept.stdout);
    assert!(runs.iter().all(|r| r["verdict"] == "nondeterministic"));
    assert!(runs[0]["divergence"]
        .as_str()
        .expect("where")
        .contains("differ at event"));
    // Without the check the same bug goes unnoticed: each run alone passes.
    let unchecked = vigil(&[
        "run",
        &example("quickstart.toml"),
        "--mutation",
        "unseeded-random",
    ]);
    assert_eq!(unchecked.code, 0);
}

#[test]
fn bad_input_is_reported_before_any_seed_runs() {
    let dir = temp_dir("bad");
    let good = example("job-kill.toml");
    for (args, expect) in [
        (
            vec!["explore", good.as_str(), "--seeds", "10..5"],
            "holds no seeds",
        ),
        (
            vec![
                "explore",
                good.as_str(),
                "--seeds",
                "1..2",
                "--shard",
                "3/2",
            ],
            "K is greater than N",
        ),
        (
            vec![
                "explore",
                good.as_str(),
                "--seeds",
                "1..2",
                "--shard",
                "0/2",
            ],
            "invalid shard",
        ),
        (
            vec![
                "explore",
                good.as_str(),
                "--seeds",
                "1..2",
                "--shard",
                "1/0",
            ],
            "K and N start at 1",
        ),
        (
            vec!["explore", good.as_str(), "--seeds", "x"],
            "invalid seed range",
        ),
        (
            vec!["explore", good.as_str(), "--seeds", "-3..2"],
            "`-3` is not a seed",
        ),
        (
            vec![
                "explore",
                good.as_str(),
                "--seeds",
                "0..18446744073709551616",
            ],
            "past the largest seed, 18446744073709551615",
        ),
        (
            vec!["explore", "/no/such/path", "--seeds", "1..2"],
            "cannot read `/no/such/path`",
        ),
        (
            vec![
                "explore",
                good.as_str(),
                "--seeds",
                "1..2",
                "--time-budget",
                "soon",
            ],
            "invalid time budget",
        ),
    ] {
        let o = vigil(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(expect), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let o = vigil(&["explore", &empty.display().to_string(), "--seeds", "1..2"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("holds no scenario files"), "{}", o.stderr);
    // Its JSON names the folder as the problem's file.
    let o = vigil(&[
        "explore",
        &empty.display().to_string(),
        "--seeds",
        "1..2",
        "--json",
    ]);
    let error: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert_eq!(
        error["error"]["details"][0]["file"],
        empty.display().to_string(),
        "{error}"
    );
    // One malformed file among good ones: nothing runs, and the error
    // names the file and line.
    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).expect("dir");
    std::fs::copy(&good, mixed.join("a-good.toml")).expect("copy");
    std::fs::write(
        mixed.join("b-bad.toml"),
        "name = \"x\"\nduration = \"2s\"\n[cluster]\nnodes = 2\n[[job]]\nname = \"db\"\ngroup = \"g\"\n[random.node-crash]\nevery = \"1s\"\nbogus = 1\n",
    )
    .expect("write");
    let o = vigil(&[
        "explore",
        &mixed.display().to_string(),
        "--seeds",
        "1..3",
        "--json",
    ]);
    assert_eq!(o.code, 2);
    // No run line: one error object, naming the file and line too.
    let error: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert_eq!(error["verdict"], "error", "no run was made: {}", o.stdout);
    assert!(error["error"]["problems"][0]
        .as_str()
        .is_some_and(|p| p.contains("b-bad.toml:10")));
    // The same, in parts, for a script: file, line, column, message.
    let detail = &error["error"]["details"][0];
    assert!(
        detail["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("b-bad.toml")),
        "{detail}"
    );
    assert_eq!(detail["line"], 10, "{detail}");
    assert!(detail["column"].as_u64().is_some(), "{detail}");
    assert!(
        detail["message"]
            .as_str()
            .is_some_and(|m| m.contains("bogus")),
        "{detail}"
    );
    assert!(o.stderr.contains("b-bad.toml:10"), "{}", o.stderr);
    assert!(o.stderr.contains("bogus"), "{}", o.stderr);
}

#[test]
fn a_time_budget_stops_early_and_still_summarizes() {
    let o = vigil(&[
        "explore",
        &example("job-kill.toml"),
        "--seeds",
        "0..100000",
        "--time-budget",
        "300ms",
        "--jobs",
        "1",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("stopped early: time budget spent"),
        "{}",
        o.stdout
    );
    // A budget too small for any run still makes the first: a sweep of no
    // runs would pass having tested nothing.
    let o = vigil(&[
        "explore",
        &example("job-kill.toml"),
        "--seeds",
        "0..100",
        "--time-budget",
        "0s",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!run_lines(&o.stdout).is_empty(), "{}", o.stdout);
}

/// `notify_ms` is the time from the fault to the last survivor's membership
/// change naming the member that left, read here straight from the trace.
#[test]
fn notify_ms_is_fault_to_last_survivor_told() {
    let o = vigil(&[
        "explore",
        &example("quickstart.toml"),
        "--seeds",
        "7..8",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let run: serde_json::Value =
        serde_json::from_str(o.stdout.lines().next().expect("a run line")).expect("JSON");
    let notices = run["notify_ms"].as_array().expect("notify_ms");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["reason"], "fault");

    let checked = vigil_tests::run(&vigil_tests::load("quickstart"), 7, None);
    let trace = &checked.out;
    let (fault_at, _, _) = trace.faults().next().expect("the panic");
    let last_told = trace
        .views()
        .filter(|(_, c)| c.left.iter().any(|(m, _)| m.to_string() == "db@n2"))
        .map(|(t, _)| t)
        .max()
        .expect("survivors were told");
    let expected = (last_told.0 - fault_at.0) as f64 / 1e6;
    let ms = notices[0]["ms"].as_f64().expect("a latency");
    assert!((ms - expected).abs() < 0.001, "{ms} vs {expected}");
}
