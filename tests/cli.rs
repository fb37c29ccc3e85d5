//! The `vigil run` contract, as a script or CI job sees it: exit status,
//! one JSON object on stdout, the same output for the same seed, and clear
//! errors (file, line, column) for bad input.

use serde_json::Value;
use vigil_tests::{example, vigil, Scratch};

/// Writes `text` to a fresh file in a temporary directory.
fn temp_file(name: &str, text: &str) -> Scratch {
    Scratch::file(name, text)
}

#[test]
fn json_is_one_object_with_the_contract_fields() {
    let o = vigil(&["run", &example("quickstart.toml"), "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim().lines().count(), 1, "exactly one JSON line");
    let v: Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(v["scenario"], "work thread panics in an ACK round");
    assert_eq!(v["seed"], 7, "the file's seed is the default");
    assert_eq!(v["verdict"], "pass");
    assert_eq!(
        v["sim_time_ms"], 60000,
        "whole milliseconds print as an integer"
    );
    assert_eq!(v["trace_hash"].as_str().expect("a hash").len(), 64);
    assert!(v["violations"].as_array().expect("violations").is_empty());
    for key in ["messages_sent", "messages_delivered", "messages_dropped"] {
        assert!(v["stats"][key].as_u64().is_some(), "stats.{key}");
    }
    let changes = v["membership_changes"]
        .as_array()
        .expect("membership_changes");
    let fault: Vec<&Value> = changes
        .iter()
        .filter(|c| !c["left"].as_array().expect("left").is_empty())
        .collect();
    assert_eq!(fault.len(), 4, "the four survivors each saw db@n2 leave");
    for c in fault {
        assert!(c["at_ms"].as_f64().expect("at_ms") > 10_000.0);
        assert!(c["observer"]
            .as_str()
            .expect("observer")
            .starts_with("db@n"));
        assert_eq!(c["group"], "g");
        assert!(c["view"].as_u64().is_some());
        assert_eq!(c["members"].as_array().expect("members").len(), 4);
        assert_eq!(c["joined"], serde_json::json!([]));
        assert_eq!(
            c["left"],
            serde_json::json!([{"member": "db@n2", "reason": "fault"}])
        );
    }
}

#[test]
fn same_file_and_seed_give_the_same_output() {
    for args in [vec!["--json"], vec![]] {
        let mut a = vec!["run", "placeholder", "--seed", "4"];
        let file = example("partition-heal.toml");
        a[1] = &file;
        a.extend(args.iter());
        let first = vigil(&a);
        let second = vigil(&a);
        assert_eq!(first.code, 0);
        assert_eq!(first.stdout, second.stdout);
    }
    let other = vigil(&[
        "run",
        &example("partition-heal.toml"),
        "--seed",
        "5",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&other.stdout).expect("JSON");
    assert_eq!(v["seed"], 5, "--seed overrides the file");
}

#[test]
fn human_account_ends_with_the_verdict_and_the_replay_command() {
    let file = example("job-kill.toml");
    let o = vigil(&["run", &file, "--seed", "9"]);
    assert_eq!(o.code, 0);
    let last = o.stdout.trim_end().lines().last().expect("a last line");
    assert!(last.starts_with("PASS"), "{last}");
    assert!(
        last.ends_with(&format!("vigil run {file} --seed 9")),
        "{last}"
    );
    for section in [
        "faults",
        "membership changes",
        "last ACK round completed",
        "checks",
        "job-kill db@n3",
        "left db@n3 (job-lost)",
    ] {
        assert!(
            o.stdout.contains(section),
            "missing `{section}` in:\n{}",
            o.stdout
        );
    }
}

#[test]
fn a_failed_check_exits_1_with_its_violations() {
    let text = std::fs::read_to_string(example("quickstart.toml"))
        .expect("quickstart")
        .replace("reason = \"fault\"", "reason = \"leave\"");
    let path = temp_file("wrong-reason.toml", &text);
    let o = vigil(&["run", &path.display().to_string(), "--json"]);
    assert_eq!(o.code, 1);
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "fail");
    let violations = v["violations"].as_array().expect("violations");
    assert!(!violations.is_empty());
    assert!(
        violations
            .iter()
            .all(|x| x["check"] == "expect membership-change db@n2"),
        "{violations:?}"
    );
    assert!(violations[0]["message"]
        .as_str()
        .expect("message")
        .contains("expected leave"));
}

const GOOD: &str = r#"name = "bad input"
duration = "20s"

[cluster]
nodes = 5

[[job]]
name = "db"
group = "g"

[[fault]]
at = "2s"
kind = "node-crash"
node = "n2"
"#;

#[test]
fn bad_input_exits_2_naming_file_line_and_column() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what, replace this, with this, expected in stderr)
        ("bad TOML", "nodes = 5", "nodes = = 5", ":5:"),
        ("unknown key", "nodes = 5", "nodes = 5\nnodez = 5", ":6:1"),
        ("missing duration", "duration = \"20s\"\n", "", "duration"),
        ("unknown node", "node = \"n2\"", "node = \"n9\"", ":14:8"),
        ("bad duration", "at = \"2s\"", "at = \"5 parsecs\"", ":12:6"),
        (
            "fault after the end",
            "at = \"2s\"",
            "at = \"25s\"",
            ":12:6",
        ),
        (
            "negative rate",
            "kind = \"node-crash\"\nnode = \"n2\"",
            "kind = \"loss\"\nrate = -0.5",
            ":14:8",
        ),
        (
            "overlapping sides",
            "kind = \"node-crash\"\nnode = \"n2\"",
            "kind = \"partition\"\nsides = [[\"n0\", \"n1\"], [\"n1\", \"n2\", \"n3\", \"n4\"]]",
            ":14:",
        ),
        (
            "a side leaves a node out",
            "kind = \"node-crash\"\nnode = \"n2\"",
            "kind = \"partition\"\nsides = [[\"n0\", \"n1\"], [\"n2\", \"n3\"]]",
            "n4",
        ),
    ];
    for (what, from, to, expect) in cases {
        assert!(GOOD.contains(from), "{what}: the case must change the file");
        let path = temp_file(
            &format!("{}.toml", what.replace(' ', "-")),
            &GOOD.replacen(from, to, 1),
        );
        let file = path.display().to_string();
        let o = vigil(&["run", &file]);
        assert_eq!(o.code, 2, "{what}: exit status; stderr:\n{}", o.stderr);
        assert!(o.stdout.is_empty(), "{what}: nothing on stdout");
        assert!(o.stderr.starts_with("error: "), "{what}: {}", o.stderr);
        assert!(
            o.stderr.contains(&file),
            "{what}: names the file:\n{}",
            o.stderr
        );
        assert!(
            o.stderr.contains(expect),
            "{what}: expected `{expect}` in:\n{}",
            o.stderr
        );
        assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
    }
    let good = temp_file("good.toml", GOOD);
    assert_eq!(
        vigil(&["run", &good.display().to_string()]).code,
        0,
        "the base file is valid"
    );
}

#[test]
fn missing_file_and_bad_flags_exit_2() {
    let o = vigil(&["run", "/no/such/scenario.toml"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("/no/such/scenario.toml"));
    assert_eq!(vigil(&["run"]).code, 2);
    assert_eq!(
        vigil(&["run", &example("quickstart.toml"), "--seed", "minus-one"]).code,
        2
    );
    assert_eq!(vigil(&["frobnicate"]).code, 2);
    assert_eq!(vigil(&["--help"]).code, 0);
    // With --json, a bad flag is one JSON object on stdout as well.
    let o = vigil(&[
        "run",
        &example("quickstart.toml"),
        "--seed",
        "abc",
        "--json",
    ]);
    assert_eq!(o.code, 2);
    let v: Value = serde_json::from_str(&o.stdout).expect("one JSON object on stdout");
    assert_eq!(v["verdict"], "error");
    assert!(v["error"]["message"]
        .as_str()
        .expect("message")
        .contains("--seed"));
    assert_eq!(
        vigil(&[
            "explore",
            &example("quickstart.toml"),
            "--seeds",
            "0..2",
            "--jobs",
            "0"
        ])
        .code,
        2,
        "no workers is bad input"
    );
}

#[test]
fn json_mode_reports_bad_input_as_one_json_object_too() {
    let path = temp_file(
        "bad-json.toml",
        &GOOD.replacen("node = \"n2\"", "node = \"n9\"", 1),
    );
    let o = vigil(&["run", &path.display().to_string(), "--json"]);
    assert_eq!(o.code, 2);
    let v: Value = serde_json::from_str(&o.stdout).expect("one JSON object on stdout");
    assert_eq!(v["verdict"], "error");
    assert_eq!(
        (v["error"]["line"].as_u64(), v["error"]["column"].as_u64()),
        (Some(14), Some(8))
    );
    assert!(v["error"]["message"]
        .as_str()
        .expect("message")
        .contains("n9"));
    assert!(
        o.stderr.contains(":14:8"),
        "the human error still goes to stderr"
    );
}

#[test]
fn json_with_trace_carries_the_trace_lines() {
    let o = vigil(&["run", &example("job-kill.toml"), "--json", "--trace"]);
    assert_eq!(o.code, 0);
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON");
    let trace = v["trace"].as_array().expect("a trace array");
    assert!(trace.iter().any(|l| l
        .as_str()
        .is_some_and(|l| l.contains("fault      job-kill db@n3"))));
}

#[test]
fn sweep_runs_many_seeds_and_lists_the_failures_with_replays() {
    let ok = vigil(&[
        "sweep",
        &example("job-kill.toml"),
        "--seeds",
        "6",
        "--jobs",
        "2",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout
            .contains("PASS · 6 of 6 seeds passed (seeds 1..=6"),
        "{}",
        ok.stdout
    );
    let text = std::fs::read_to_string(example("quickstart.toml"))
        .expect("quickstart")
        .replace("reason = \"fault\"", "reason = \"leave\"");
    let path = temp_file("sweep-wrong-reason.toml", &text);
    let file = path.display().to_string();
    let bad = vigil(&["sweep", &file, "--seeds", "3", "--from", "10", "--json"]);
    assert_eq!(bad.code, 1);
    let v: Value = serde_json::from_str(&bad.stdout).expect("JSON");
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(v["driver"], "madsim", "{v}");
    let seeds: Vec<u64> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|f| f["seed"].as_u64())
        .collect();
    assert_eq!(seeds, vec![10, 11, 12]);
    assert_eq!(
        v["failures"][0]["replay"],
        format!("vigil run {file} --seed 10")
    );
}

#[test]
fn json_reports_the_tasks_each_member_ran_in_order() {
    let o = vigil(&["run", &example("tasks.toml"), "--json"]);
    assert_eq!(o.code, 0, "{}{}", o.stderr, o.stdout);
    let v: Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    let tasks = v["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 5, "every member ran tasks");
    for (member, runs) in tasks {
        let order: Vec<(u64, bool)> = runs
            .as_array()
            .expect("a list")
            .iter()
            .map(|r| (r["task"].as_u64().expect("task"), r["priority"] == true))
            .collect();
        // Task 3, a priority task submitted last of the four, runs at the
        // first boundary, ahead of tasks 1 and 2.
        assert_eq!(
            order,
            vec![(0, false), (3, true), (1, false), (2, false), (4, false)],
            "{member}"
        );
        assert!(runs
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["outcome"].is_string()));
    }
    let check = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "task-order")
        .expect("task-order");
    assert_eq!(check["status"], "pass");
    // A task's trace entries say what happened to it.
    let text = vigil(&["run", &example("tasks.toml")]);
    assert!(
        text.stdout.contains("tasks run, in order (‼ priority)"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("0, 3‼, 1, 2, 4"), "{}", text.stdout);
}

#[test]
fn json_reports_protocol_outcomes() {
    let o = vigil(&["run", &example("two-phase-commit.toml"), "--json"]);
    assert_eq!(o.code, 0, "{}{}", o.stderr, o.stdout);
    let v: Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    let outcomes = v["protocol_outcomes"]
        .as_array()
        .expect("protocol_outcomes");
    assert!(!outcomes.is_empty());
    for o in outcomes {
        assert!(o["member"].as_str().expect("member").starts_with("db@n"));
        assert_eq!(o["protocol"], "two-phase-commit");
        assert!(o["instance"].as_u64().is_some());
        assert!(["commit", "abort", "in-doubt"].contains(&o["outcome"].as_str().expect("outcome")));
        assert!(o["rounds"].as_u64().is_some());
    }
    // Transaction 3 commits at db@n1 after its two rounds.
    let first = outcomes
        .iter()
        .find(|o| o["member"] == "db@n1" && o["instance"] == 3)
        .expect("db@n1 decided transaction 3");
    assert_eq!(first["proposer"], "db@n0");
    assert_eq!(first["outcome"], "commit");
    assert_eq!(first["rounds"], 2);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in ["barrier-order", "atomic-commit", "state-agrees"] {
        assert!(names.contains(&name), "{names:?}");
    }
}

/// Bad protocol input: exit 2 and an error at file:line:column, in both
/// human and JSON form.
#[test]
fn protocol_input_errors_point_at_the_text() {
    let base = "name = \"t\"\nduration = \"5s\"\n[cluster]\nnodes = 2\n[[job]]\nname = \"db\"\ngroup = \"g\"\n";
    for (extra, line, col, says) in [
        ("protocol = \"paxos\"\n", 8, 12, "unknown protocol `paxos`"),
        (
            "protocol = \"two-phase-commit\"\ntransactions = \"20\"\n",
            9,
            16,
            "must be an integer",
        ),
        (
            "protocol = \"two-phase-commit\"\ntransactions = true\n",
            9,
            16,
            "must be an integer",
        ),
        ("protocol = \"group-state\"\nvotes = 3\n", 9, 1, "unknown key `votes`"),
        (
            "[[expect]]\nkind = \"protocol-outcome\"\nprotocol = \"two-phase-commit\"\ninstance = 0\noutcome = \"commit\"\n",
            10,
            12,
            "no job runs protocol `two-phase-commit`",
        ),
    ] {
        let path = temp_file("bad-protocol.toml", &format!("{base}{extra}"));
        let file = path.display().to_string();
        let o = vigil(&["run", &file]);
        assert_eq!(o.code, 2, "{extra}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{extra}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("{file}:{line}:{col}")),
            "{extra}: want {line}:{col} in\n{}",
            o.stderr
        );
        let j = vigil(&["run", &file, "--json"]);
        assert_eq!(j.code, 2);
        let v: Value = serde_json::from_str(&j.stdout).expect("a JSON error object");
        assert_eq!(v["verdict"], "error");
        assert_eq!(v["error"]["line"], line, "{extra}");
        assert_eq!(v["error"]["column"], col, "{extra}");
    }
}

#[test]
fn an_unknown_mutation_is_bad_input() {
    let o = vigil(&["run", &example("quickstart.toml"), "--mutation", "nope"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("unknown mutation `nope`"), "{}", o.stderr);
}

/// A panic inside the simulation (here: a protocol factory that panics) is
/// a failed run with its replay command, in `run` and in `sweep`; it never
/// hangs a sweep.
#[test]
fn a_panic_in_the_simulation_is_a_failed_run() {
    let mut registry = vigil_sim::protocols::Registry::builtin();
    registry.register(
        "explodes",
        "panics when made",
        &[],
        |_| -> vigil_protocols::Barrier { panic!("boom") },
    );
    let path = temp_file(
        "explodes.toml",
        "name = \"x\"\nduration = \"2s\"\n[cluster]\nnodes = 2\n[[job]]\nname = \"db\"\ngroup = \"g\"\nprotocol = \"explodes\"\n",
    );
    let file = path.display().to_string();
    let call = |args: &[&str]| {
        let mut argv = vec!["my-vigil".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let c = vigil_sim::cli::capture(&argv, &registry);
        (c.code, c.stdout, c.stderr)
    };
    let (code, _, err) = call(&["run", &file, "--seed", "4"]);
    assert_eq!(code, 1);
    assert!(err.contains("the simulation panicked"), "{err}");
    assert!(err.contains("boom"), "{err}");
    assert!(
        err.contains(&format!("my-vigil run {file} --seed 4")),
        "{err}"
    );
    let (code, out, _) = call(&["run", &file, "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["violations"][0]["check"], "no-panic");
    let (code, out, _) = call(&["sweep", &file, "--seeds", "3", "--jobs", "2", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["failed"], 3);
    assert_eq!(
        v["failures"][0]["replay"],
        format!("my-vigil run {file} --seed 1")
    );
}

/// A group so large that its ACK rounds take very long is named before
/// the run (a run says nothing until it ends), on stderr: `--json` still
/// prints its one object.
#[test]
fn a_very_large_group_is_warned_of_before_the_run() {
    let text = "name = \"w\"\nduration = \"5ms\"\n[cluster]\nnodes = 300\n\
                [[job]]\nname = \"db\"\ngroup = \"g\"\n";
    let path = temp_file("large-group.toml", text);
    let file = path.display().to_string();
    let says = "group `g` has 300 members: each of its ACK rounds sends about 89700";
    for args in [
        vec!["run", file.as_str(), "--driver", "event-loop", "--json"],
        vec![
            "explore",
            file.as_str(),
            "--seeds",
            "0..1",
            "--driver",
            "event-loop",
            "--json",
        ],
    ] {
        let o = vigil(&args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("warning: {file}: {says}")),
            "{args:?}: {}",
            o.stderr
        );
        assert!(!o.stdout.contains("warning"), "{args:?}: {}", o.stdout);
    }
    let small = std::fs::read_to_string(example("quickstart.toml")).unwrap();
    let o = vigil(&[
        "run",
        &temp_file("small-group.toml", &small).display().to_string(),
    ]);
    assert!(!o.stderr.contains("warning"), "{}", o.stderr);
}

#[test]
fn the_event_loop_driver_runs_the_same_scenario_and_says_so() {
    let o = vigil(&[
        "run",
        &example("quickstart.toml"),
        "--driver",
        "event-loop",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["driver"], "event-loop");
    let replay = v["replay"].as_str().expect("a replay command");
    assert!(replay.ends_with("--driver event-loop"), "{replay}");
    // The replay command gives the same run.
    let args: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let mut args = args.clone();
    args.push("--json");
    let again = vigil(&args);
    let w: Value = serde_json::from_str(&again.stdout).expect("valid JSON");
    assert_eq!(w["trace_hash"], v["trace_hash"]);
    let madsim = vigil(&["run", &example("quickstart.toml"), "--json"]);
    let m: Value = serde_json::from_str(&madsim.stdout).expect("valid JSON");
    assert_eq!(m["driver"], "madsim", "madsim is the default");
    assert_ne!(
        m["trace_hash"], v["trace_hash"],
        "the drivers' networks differ"
    );
}

#[test]
fn an_unknown_driver_is_bad_input_naming_the_drivers() {
    let o = vigil(&["run", &example("quickstart.toml"), "--driver", "tokio"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("madsim") && o.stderr.contains("event-loop"),
        "{}",
        o.stderr
    );
    let help = vigil(&["explore", "--help"]);
    assert!(help.stdout.contains("event-loop"), "{}", help.stdout);
}

/// The real-network tests' own runner (`vigil_tests::all_at_once`) fails
/// when a test fails, and runs only what its filters select.
#[test]
fn the_all_at_once_runner_reports_a_failing_test() {
    fn passes() {}
    fn fails() {
        panic!("deliberately");
    }
    let tests: &[(&str, fn())] = &[("passes", passes), ("fails", fails)];
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(!vigil_tests::run_at_once(&args(&[]), tests));
    assert!(vigil_tests::run_at_once(&args(&["passes"]), tests));
    assert!(vigil_tests::run_at_once(&args(&["--skip", "fails"]), tests));
    assert!(!vigil_tests::run_at_once(
        &args(&["--exact", "fails"]),
        tests
    ));
    assert!(vigil_tests::run_at_once(&args(&["--exact", "fail"]), tests));
}

/// The README's set-up section shows what its first command prints (`...`
/// marks lines it leaves out): every line it shows, in order, as the
/// quickstart prints it today, its trace hash included.
#[test]
fn the_readme_shows_what_the_quickstart_prints() {
    let readme = std::fs::read_to_string(vigil_tests::root().join("README.md")).expect("README");
    let after = readme
        .split("cargo run --release -- run scenarios/quickstart.toml")
        .nth(1)
        .expect("the README's first set-up command");
    let block = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the output the README shows under it");
    let o = vigil(&["run", &example("quickstart.toml")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // The README names the file as a user types it.
    let out = o
        .stdout
        .replace(&example("quickstart.toml"), "scenarios/quickstart.toml");
    let mut printed = out.lines();
    for shown in block.lines().filter(|l| l.trim() != "...") {
        assert!(
            printed.any(|p| p == shown),
            "the README shows {shown:?}, which the quickstart no longer prints in that order:\n{out}"
        );
    }
}

/// Inputs at the edges get a clear refusal before any run, not a run whose
/// result cannot be used: a seed a scenario file cannot hold, a shrunk file
/// that would overwrite its input or go nowhere, a sweep of no seeds or of
/// seeds past the largest; and `--json` gets its one object, the missing
/// argument named.
#[test]
fn edge_inputs_are_refused_before_anything_runs() {
    let dir = Scratch::dir();
    let quickstart = example("quickstart.toml");
    let out = dir.join("big.toml").display().to_string();
    let huge = (i64::MAX as u64 + 1).to_string();
    let o = vigil(&[
        "run",
        &quickstart,
        "--seed",
        &huge,
        "--emit-scenario",
        &out,
        "--json",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("does not fit a scenario file"),
        "{}",
        o.stderr
    );
    let v: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert_eq!(v["verdict"], "error");
    assert!(!dir.join("big.toml").exists(), "nothing written");
    // `-` is stdout, before the account (and refused beside `--json`).
    let o = vigil(&["run", &quickstart, "--emit-scenario", "-"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("# The concrete fault schedule"),
        "{}",
        o.stdout
    );
    assert!(!std::path::Path::new("-").exists(), "no file named `-`");
    let o = vigil(&["run", &quickstart, "--emit-scenario", "-", "--json"]);
    assert_eq!(o.code, 2);
    serde_json::from_str::<Value>(o.stdout.trim()).expect("one JSON object");
    let o = vigil(&["run", &quickstart, "--emit-scenario", "/no/such/dir/x.toml"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("there is no directory"), "{}", o.stderr);
    assert!(o.stdout.is_empty(), "refused before the run: {}", o.stdout);
    // `--real` runs no simulator: any `--driver`, the default's name too.
    for driver in ["madsim", "event-loop"] {
        let o = vigil(&["run", &quickstart, "--real", "--driver", driver]);
        assert_eq!(o.code, 2, "{driver}: {}", o.stderr);
        assert!(o.stderr.contains("takes no --driver"), "{}", o.stderr);
    }

    let copy = dir.join("q.toml");
    std::fs::copy(&quickstart, &copy).expect("copied");
    let before = std::fs::read_to_string(&copy).expect("read");
    let copy = copy.display().to_string();
    for (output, why) in [
        (copy.as_str(), "which it would overwrite"),
        ("/no/such/dir/x.toml", "there is no directory"),
        // Not a file named `-`: elsewhere `-` is stdout.
        ("-", "not to stdout"),
    ] {
        let o = vigil(&["shrink", &copy, "-o", output]);
        assert_eq!(o.code, 2, "{output}: {}", o.stderr);
        assert!(o.stderr.contains(why), "{output}: {}", o.stderr);
    }
    assert_eq!(std::fs::read_to_string(&copy).expect("read"), before);

    let o = vigil(&["sweep", &quickstart, "--seeds", "0"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    // `explore`'s range given to `sweep`: told what `sweep` takes instead.
    let o = vigil(&["sweep", &quickstart, "--seeds", "0..20"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("--from A --seeds N"), "{}", o.stderr);
    let o = vigil(&[
        "sweep",
        &quickstart,
        "--seeds",
        "3",
        "--from",
        &u64::MAX.to_string(),
        "--json",
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("past the largest seed"), "{}", o.stderr);
    serde_json::from_str::<Value>(o.stdout.trim()).expect("one JSON object");

    let o = vigil(&["run", "--json"]);
    assert_eq!(o.code, 2);
    let v: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    let message = v["error"]["message"].as_str().expect("a message");
    assert!(message.contains("<FILE>"), "{message}");
}

/// A reader that stops reading (`vigil ... | head -1`) is not bad input:
/// any command that writes to stdout exits 141, as a shell reports a
/// program SIGPIPE killed, and prints no error. (It exited 2, which a CI
/// script under `set -o pipefail` would take for a malformed scenario.)
#[test]
fn a_closed_stdout_is_its_own_exit_status() {
    use std::process::{Command, Stdio};
    let quickstart = example("quickstart.toml");
    let exhaust = example("exhaust-barrier.toml");
    for args in [
        vec!["run", quickstart.as_str(), "--trace"],
        vec!["replay", quickstart.as_str()],
        vec!["replay", quickstart.as_str(), "--trace", "-"],
        vec!["explore", quickstart.as_str(), "--seeds", "0..50", "--json"],
        // A command that does not look at its writes: stdout as every
        // command writes it keeps the failure (`Watched`).
        vec!["exhaust", exhaust.as_str(), "--max-states", "50", "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil-under-test"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigil starts");
        // Closed before the run's first line is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("vigil ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}
