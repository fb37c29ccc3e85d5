//! The same node on a real network: `vigil run --real` starts five
//! `vigil node` processes on 127.0.0.1 (free ports, so these tests run side
//! by side), strikes the faults with real signals and real packet filters,
//! and checks the merged trace with the simulator's checks. Each test also
//! makes sure no process it started is left behind.
//!
//! These run in real time (about ten seconds each, in parallel).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::Scratch;

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil-under-test");

/// Runs `scenario` for real, keeping the nodes' files in a directory of
/// its own; the `run --json` object, and the exit status.
fn run_real(scenario: &str) -> (Value, i32) {
    let scratch = Scratch::file("scenario.toml", scenario);
    let file: &Path = &scratch;
    let keep = file.with_file_name("nodes");
    let mut child = Command::new(VIGIL)
        .arg("run")
        .arg(file)
        .args(["--real", "--json", "--keep"])
        .arg(&keep)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    // Bounded in time: the scenario's length and a margin.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            kill_left_behind(&keep);
            panic!("`vigil run --real` took over 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let left = left_behind(&keep);
    kill_left_behind(&keep);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "one JSON object on stdout ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (value, status.code().unwrap_or(-1))
}

/// The processes whose command line names `dir` (the nodes of one run).
fn left_behind(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

fn kill_left_behind(dir: &Path) {
    for pid in left_behind(dir) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}

/// Every check passed (or was skipped), and the verdict says so.
fn assert_passed(run: &Value, code: i32) {
    let failed: Vec<&Value> = run["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(
        failed.is_empty() && run["verdict"] == "pass" && code == 0,
        "failed checks: {failed:#?}\nrun: {run:#}"
    );
    assert_eq!(run["driver"], "real");
}

/// The membership changes whose `left` names `member` with `reason`.
fn departures<'a>(run: &'a Value, member: &str, reason: &str) -> Vec<&'a Value> {
    run["membership_changes"]
        .as_array()
        .expect("membership changes")
        .iter()
        .filter(|c| {
            c["left"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["member"] == member && x["reason"] == reason)
            })
        })
        .collect()
}

fn scenario(faults: &str, duration: &str) -> String {
    format!(
        r#"name = "real"
duration = "{duration}"

[cluster]
nodes = 5

[[job]]
name = "db"
group = "g"

{faults}"#
    )
}

#[test]
fn a_work_thread_panic_is_a_fault_every_survivor_hears_of() {
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "3s"
kind = "work-thread-panic"
node = "n2"
job = "db"

[[expect]]
kind = "membership-change"
member = "db@n2"
reason = "fault"
within = "1s""#,
        "8s",
    ));
    assert_passed(&run, code);
    let told = departures(&run, "db@n2", "fault");
    assert_eq!(told.len(), 4, "each of the four survivors is told once: {told:#?}");
}

#[test]
fn a_killed_node_is_node_down() {
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "3s"
kind = "node-crash"
node = "n3"

[[expect]]
kind = "membership-change"
member = "db@n3"
reason = "node-down"
within = "4s""#,
        "9s",
    ));
    assert_passed(&run, code);
    assert_eq!(departures(&run, "db@n3", "node-down").len(), 4);
}

#[test]
fn a_node_stopped_past_the_failure_timeout_is_node_down_and_comes_back_new() {
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "2s"
kind = "node-pause"
node = "n1"
for = "2500ms"

[[expect]]
kind = "membership-change"
member = "db@n1"
reason = "node-down"
within = "4s""#,
        "14s",
    ));
    assert_passed(&run, code);
    assert!(!departures(&run, "db@n1", "node-down").is_empty());
    // It comes back as a new incarnation, which the others see join.
    let changes = run["membership_changes"].as_array().expect("changes");
    let rejoined = changes.iter().any(|c| {
        c["at_ms"].as_f64().is_some_and(|t| t > 4_500.0)
            && c["observer"] != c["joined"][0]
            && c["joined"]
                .as_array()
                .is_some_and(|j| j.iter().any(|m| m.as_str().is_some_and(|m| m.starts_with("db@n1"))))
    });
    assert!(rejoined, "n1 rejoins after its pause: {changes:#?}");
}

#[test]
fn a_partition_that_heals_ends_in_one_view() {
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "2s"
kind = "partition"
sides = [["n0", "n1"], ["n2", "n3", "n4"]]
heal_after = "3s"

[[expect]]
kind = "final-view"
group = "g"
members = ["db@n0", "db@n1", "db@n2", "db@n3", "db@n4"]"#,
        "12s",
    ));
    assert_passed(&run, code);
    // Both sides saw the other go while cut off.
    let changes = run["membership_changes"].as_array().expect("changes");
    let split = changes
        .iter()
        .any(|c| c["members"].as_array().is_some_and(|m| m.len() < 5) && c["at_ms"].as_f64() > Some(2_000.0));
    assert!(split, "the partition split the group: {changes:#?}");
}

#[test]
fn a_scenario_too_big_for_one_machine_is_refused() {
    let scratch = Scratch::file(
        "big.toml",
        "name = \"big\"\nduration = \"5s\"\n[cluster]\nnodes = 40\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
    );
    let out = Command::new(VIGIL)
        .arg("run")
        .arg(&*scratch)
        .arg("--real")
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at most 32"), "{stderr}");
}

#[test]
fn a_real_run_fails_when_what_happened_is_not_what_was_expected() {
    // The panic is a `fault`, not a `leave`: the real trace must say so.
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "1500ms"
kind = "work-thread-panic"
node = "n4"
job = "db"

[[expect]]
kind = "membership-change"
member = "db@n4"
reason = "leave"
within = "1s""#,
        "4s",
    ));
    assert_eq!((run["verdict"].as_str(), code), (Some("fail"), 1), "{run:#}");
    assert_eq!(departures(&run, "db@n4", "fault").len(), 4);
}
