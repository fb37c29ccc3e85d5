//! Ctrl-C during `vigil explore` and `vigil sweep`: the runs in flight
//! finish, the summary of what ran prints, and no output is left
//! half-written.

use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `vigil ARGS` from the repository's root, sends it SIGINT after 1.5
/// s, and returns what it printed, once it exited with status 130.
fn interrupted(args: &[&str]) -> std::process::Output {
    signalled(args, &[("-INT", Duration::ZERO)])
}

/// Runs `vigil ARGS` from the repository's root, sends it each signal
/// (as `kill` names it) after its pause, the first 1.5 s in, and returns
/// what it printed, once it exited with status 130.
fn signalled(args: &[&str], signals: &[(&str, Duration)]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(&root)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    std::thread::sleep(Duration::from_millis(1500));
    for (signal, pause) in signals {
        std::thread::sleep(*pause);
        let sent = Command::new("kill")
            .args([*signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }
    let out = child.wait_with_output().expect("vigil exits");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn ctrl_c_stops_explore_cleanly() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let junit = dir.path().join("report.xml");
    let junit_arg = junit.display().to_string();
    let out = interrupted(&[
        "explore",
        "scenarios",
        "--seeds",
        "0..1000000",
        "--json",
        "--junit",
        &junit_arg,
    ]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a whole JSON line: {e}: {l}")))
        .collect();
    let summary = lines.last().expect("a summary");
    assert_eq!(summary["type"], "summary");
    assert!(summary["stopped"]
        .as_str()
        .expect("why")
        .starts_with("interrupted"));
    let runs = lines.iter().filter(|l| l["type"] == "run").count() as u64;
    assert!(runs > 0, "some runs finished before Ctrl-C");
    assert_eq!(
        summary["runs"].as_u64(),
        Some(runs),
        "the summary counts what ran"
    );
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stderr.contains("stopped early: interrupted"), "{stderr}");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(xml.trim_end().ends_with("</testsuites>"), "whole: {xml}");
}

/// SIGTERM (what `timeout` and CI runners send) stops `vigil explore` as
/// Ctrl-C does: killed at once before, with no summary. `timeout` sends
/// it twice at once (to the command, then to its process group), which is
/// still one stop: here the second comes 20 ms after the first, while a
/// run of 200 nodes is still in flight (a second signal later than that
/// would end it at once, as a second Ctrl-C does).
#[test]
fn sigterm_twice_at_once_stops_explore_with_its_summary() {
    let out = signalled(
        &[
            "explore",
            "sim/benches/large-200.toml",
            "--seeds",
            "0..1000000",
            "--driver",
            "event-loop",
            "--json",
        ],
        &[
            ("-TERM", Duration::ZERO),
            ("-TERM", Duration::from_millis(20)),
        ],
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("a whole line");
    assert_eq!(summary["type"], "summary", "{summary}");
    let why = summary["stopped"].as_str().expect("why it stopped");
    assert!(why.starts_with("interrupted"), "{why}");
}

/// Ctrl-C during `vigil sweep`: the same, its one JSON object counting the
/// seeds that ran (it was killed before, with no summary).
#[test]
fn ctrl_c_stops_sweep_with_its_summary() {
    let out = interrupted(&[
        "sweep",
        "scenarios/quickstart.toml",
        "--seeds",
        "1000000",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let why = summary["stopped"].as_str().expect("why it stopped");
    assert!(why.starts_with("interrupted"), "{why}");
    let passed = summary["passed"].as_u64().expect("passed");
    assert!(passed > 0 && passed < 1_000_000, "{summary}");
}
