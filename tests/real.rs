//! The same node on a real network: `vigil run --real` starts five
//! `vigil node` processes on 127.0.0.1 (free ports, each held by its run,
//! so these tests run side by side), strikes the faults with real signals
//! and real packet filters, and checks the merged trace with the
//! simulator's checks. Each test also makes sure no process it started is
//! left behind.
//!
//! These run in real time (about ten seconds each) and spend it waiting,
//! so they all run together (started 200 ms apart) rather than two at a
//! time: the file has its own `main` (see `vigil_tests::all_at_once`),
//! which takes libtest's filters, `--exact`, `--skip` and `--list`.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::Scratch;

fn main() -> std::process::ExitCode {
    vigil_tests::all_at_once(vigil_tests::named![
        a_work_thread_panic_is_a_fault_every_survivor_hears_of,
        a_killed_node_is_node_down,
        an_engine_that_dies_alone_leaves_its_job_to_register_again,
        a_node_stopped_past_the_failure_timeout_is_node_down_and_comes_back_new,
        a_partition_that_heals_ends_in_one_view,
        a_scenario_too_big_for_one_machine_is_refused,
        a_real_run_fails_when_what_happened_is_not_what_was_expected,
        nodes_run_by_hand_form_a_cluster_and_answer_their_commands,
        a_node_without_addresses_is_told_what_a_cluster_file_needs,
        a_node_refuses_a_disk_it_cannot_write_and_check_a_bad_cluster_file,
        keep_names_a_directory,
        a_socket_handed_to_a_node_is_checked,
        a_node_that_ends_by_itself_is_quoted,
        ctrl_c_stops_the_nodes_and_judges_the_run_so_far,
    ])
}

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil-under-test");

/// Runs `scenario` for real, keeping the nodes' files in a directory of
/// its own; the `run --json` object, and the exit status.
fn run_real(scenario: &str) -> (Value, i32) {
    run_real_while(scenario, |_| {})
}

/// [`run_real`], with `during` called on the kept directory (in a thread
/// of its own) while the run goes on; a panic in it fails the test.
fn run_real_while(scenario: &str, during: impl FnOnce(&Path) + Send + 'static) -> (Value, i32) {
    let scratch = Scratch::file("scenario.toml", scenario);
    let file: &Path = &scratch;
    let keep = file.with_file_name("nodes");
    // A kept directory may hold the user's own files: they stay.
    std::fs::create_dir_all(&keep).expect("the keep dir");
    std::fs::write(keep.join("package.json"), "{}").expect("a file of the user's");
    let mut child = Command::new(VIGIL)
        .arg("run")
        .arg(file)
        .args(["--real", "--json", "--keep"])
        .arg(&keep)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    let during = {
        let keep = keep.clone();
        std::thread::spawn(move || during(&keep))
    };
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
    if let Err(panic) = during.join() {
        kill_left_behind(&keep);
        std::panic::resume_unwind(panic);
    }
    assert!(
        keep.join("package.json").exists(),
        "--keep removed a file it did not write"
    );
    assert!(
        keep.join("n0.jsonl").exists(),
        "--keep keeps each node's trace"
    );
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
    assert_eq!(
        told.len(),
        4,
        "each of the four survivors is told once: {told:#?}"
    );
}

/// A node killed at 3 s is `node-down` to every survivor; started again at
/// 6 s, on its own port, it joins the group again.
fn a_killed_node_is_node_down() {
    let (run, code) = run_real_while(
        &scenario(
            r#"[[fault]]
at = "3s"
kind = "node-crash"
node = "n3"
restart_after = "3s"

[[expect]]
kind = "membership-change"
member = "db@n3"
reason = "node-down"
within = "4s"

[[expect]]
kind = "final-view"
group = "g"
members = ["db@n0", "db@n1", "db@n2", "db@n3", "db@n4"]"#,
            "10s",
        ),
        // The launcher holds every node's socket for the whole run and
        // hands it to the node's process, so nothing else can take a
        // node's port while it is down (a restart would find it taken),
        // nor between picking the port and the node's start.
        |keep| {
            std::thread::sleep(Duration::from_millis(5_000));
            let cluster = vigil_sim::scenario::load_cluster_with(
                &keep.join("cluster.toml"),
                vigil_sim::protocols::Registry::builtin_ref(),
            )
            .expect("the run's cluster file");
            let n3 = cluster.cluster.addresses[3];
            assert!(
                std::net::UdpSocket::bind(n3).is_err(),
                "n3's port {n3} was free while n3 was down: another process could take it"
            );
        },
    );
    assert_passed(&run, code);
    assert_eq!(departures(&run, "db@n3", "node-down").len(), 4);
}

/// A real node's engine dies (the `engine-crash` command) while its job
/// lives on: the survivors read `node-down`, the job's threads let go of
/// their rounds, and the job registers again with the next engine (the
/// `engine-back` command), a new member that the group takes back in.
fn an_engine_that_dies_alone_leaves_its_job_to_register_again() {
    let (run, code) = run_real(&scenario(
        r#"[[fault]]
at = "3s"
kind = "engine-crash"
node = "n2"
restart_after = "1s"

[[expect]]
kind = "membership-change"
member = "db@n2"
reason = "node-down"
within = "4s"

[[expect]]
kind = "final-view"
group = "g"
members = ["db@n0", "db@n1", "db@n2", "db@n3", "db@n4"]"#,
        "10s",
    ));
    assert_passed(&run, code);
    let lost = run["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "engine-lost")
        .expect("the engine-lost check");
    assert_eq!(lost["status"], "pass", "{lost:#}");
}

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
        "10s",
    ));
    assert_passed(&run, code);
    assert!(!departures(&run, "db@n1", "node-down").is_empty());
    // It comes back as a new incarnation, which the others see join.
    let changes = run["membership_changes"].as_array().expect("changes");
    let rejoined = changes.iter().any(|c| {
        c["at_ms"].as_f64().is_some_and(|t| t > 4_500.0)
            && c["observer"] != c["joined"][0]
            && c["joined"].as_array().is_some_and(|j| {
                j.iter()
                    .any(|m| m.as_str().is_some_and(|m| m.starts_with("db@n1")))
            })
    });
    assert!(rejoined, "n1 rejoins after its pause: {changes:#?}");
}

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
        "10s",
    ));
    assert_passed(&run, code);
    // Both sides saw the other go while cut off.
    let changes = run["membership_changes"].as_array().expect("changes");
    let split = changes.iter().any(|c| {
        c["members"].as_array().is_some_and(|m| m.len() < 5) && c["at_ms"].as_f64() > Some(2_000.0)
    });
    assert!(split, "the partition split the group: {changes:#?}");
}

fn a_scenario_too_big_for_one_machine_is_refused() {
    let scratch = Scratch::file(
        "big.toml",
        "name = \"big\"\nduration = \"5s\"\n[cluster]\nnodes = 40\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
    );
    // Refused, it makes nothing: not even the folder to keep its files in.
    let keep = scratch.with_file_name("kept").join("deep");
    let out = Command::new(VIGIL)
        .arg("run")
        .arg(&*scratch)
        .arg("--real")
        .arg("--keep")
        .arg(&keep)
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at most 32"), "{stderr}");
    assert!(!scratch.with_file_name("kept").exists(), "--keep made");
}

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
    assert_eq!(
        (run["verdict"].as_str(), code),
        (Some("fail"), 1),
        "{run:#}"
    );
    assert_eq!(departures(&run, "db@n4", "fault").len(), 4);
}

/// One `vigil node` process run by hand, its stdin and stdout kept.
struct Node {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    replies: std::sync::mpsc::Receiver<Value>,
}

impl Drop for Node {
    /// A node still running when its test is done (or failed) is killed.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Node {
    /// Starts node `node` as a user would by hand, with mimalloc's
    /// `MIMALLOC_ARENA_EAGER_COMMIT` set to `lazy` or (`None`) unset.
    fn start(cluster: &Path, node: u16, trace: &Path, lazy: Option<&str>) -> Node {
        let stderr = std::fs::File::create(trace.with_extension("stderr")).expect("a stderr file");
        let mut cmd = Command::new(VIGIL);
        match lazy {
            Some(value) => cmd.env(vigil_sim::runtime::real::LAZY_COMMIT, value),
            None => cmd.env_remove(vigil_sim::runtime::real::LAZY_COMMIT),
        };
        let mut child = cmd
            .current_dir(cluster.parent().expect("a directory"))
            .arg("node")
            .arg(cluster)
            .args(["--node", &format!("n{node}"), "--quiet", "--trace"])
            .arg(trace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("vigil node starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(serde_json::from_str(&line).expect("a JSON reply"));
            }
        });
        Node {
            child,
            stdin,
            replies,
        }
    }

    /// Sends `command` and waits (at most 5 s) for its reply.
    fn ask(&mut self, command: &str) -> Value {
        use std::io::Write;
        writeln!(self.stdin, "{command}").expect("the node reads its stdin");
        self.replies
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("no reply to `{command}`"))
    }
}

/// Three `vigil node` processes on free ports of 127.0.0.1, up for 1.5 s.
/// A port is free when picked and bound by its node a moment later: the
/// other real tests, running at the same time, may take one between. A
/// cluster whose node could not bind is started again on new ports.
fn hand_run_cluster(dir: &Path) -> Vec<Node> {
    for _attempt in 0..3 {
        // Free ports, held together while picked.
        let sockets: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("a port"))
            .collect();
        let addresses: Vec<String> = sockets
            .iter()
            .map(|s| format!("\"{}\"", s.local_addr().expect("bound")))
            .collect();
        drop(sockets);
        let cluster = dir.join("cluster.toml");
        std::fs::write(
            &cluster,
            format!(
                "name = \"by hand\"\n[cluster]\nnodes = 3\naddresses = [{}]\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
                addresses.join(", ")
            ),
        )
        .expect("the cluster file");
        let trace = |k: u16| dir.join(format!("n{k}.jsonl"));
        let mut nodes: Vec<Node> = (0..3)
            // n0 as a user who set the allocator's variable herself.
            .map(|k| Node::start(&cluster, k, &trace(k), (k == 0).then_some("1")))
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let mut port_taken = false;
        for (k, node) in (0u16..).zip(nodes.iter_mut()) {
            if let Some(status) = node.child.try_wait().expect("its status") {
                let said =
                    std::fs::read_to_string(trace(k).with_extension("stderr")).unwrap_or_default();
                assert!(
                    said.contains("cannot bind"),
                    "n{k} ended ({status}) before it was asked anything: {said}"
                );
                port_taken = true;
            }
        }
        if !port_taken {
            return nodes;
        }
        // Killed, and what they wrote (disks, traces) gone: the next try
        // starts afresh.
        drop(nodes);
        for entry in std::fs::read_dir(dir).expect("the scratch directory") {
            std::fs::remove_file(entry.expect("an entry").path()).expect("removed");
        }
    }
    panic!("three times, a port picked free was taken before its node bound it");
}

fn nodes_run_by_hand_form_a_cluster_and_answer_their_commands() {
    let dir = Scratch::dir();
    let trace = |k: u16| dir.join(format!("n{k}.jsonl"));
    let mut nodes = hand_run_cluster(&dir);
    let cluster = dir.join("cluster.toml");

    // A node started by hand starts itself again with mimalloc's memory
    // committed as used, unless the variable was set (n0's "1" stands).
    for (node, want) in nodes.iter().zip(["1", "0", "0"]) {
        let environ = std::fs::read(format!("/proc/{}/environ", node.child.id()))
            .expect("the node's environment");
        let set = format!("{}={want}", vigil_sim::runtime::real::LAZY_COMMIT);
        assert!(
            environ.split(|b| *b == 0).any(|v| v == set.as_bytes()),
            "the node does not run with {set}"
        );
    }
    let running = nodes[0].ask("@7 running db");
    assert_eq!(running["id"], 7, "{running}");
    assert_eq!(running["running"], true, "{running}");
    assert!(
        running["member"]
            .as_str()
            .is_some_and(|m| m.starts_with("db@n0")),
        "{running}"
    );
    let status = nodes[2].ask("status");
    assert!(
        status["delivered"].as_u64() > Some(0),
        "it hears the others: {status}"
    );
    let bad = nodes[0].ask("@8 reboot everything");
    assert_eq!(
        (bad["id"].clone(), bad["ok"].clone()),
        (Value::from(8), Value::from(false))
    );
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown command")),
        "{bad}"
    );
    let status = nodes[0].ask("@req-a status");
    assert_eq!(
        status["id"], "req-a",
        "an id that is not a number comes back as a string"
    );
    assert_eq!(
        status["nodes"],
        serde_json::json!(["n0", "n1", "n2"]),
        "{status}"
    );
    assert_eq!(
        status["jobs"][0]["members"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    // Every line is answered, a wrong one with why.
    for wrong in [
        "",
        "running nosuchjob",
        "cut n9",
        "cut n0",
        "cut-to n0",
        "cut-to",
        "dup",
        "dup 1.5",
        "dup half n1",
        "stop soon",
        "stop 1s 2s",
        "clock",
        "clock 2s",
        "clock 2s 3",
        "clock soon 1.1",
        "slow",
        "slow 0.5",
        "slow 30",
        "quit now",
        "kill",
    ] {
        let reply = nodes[0].ask(wrong);
        assert_eq!(reply["ok"], false, "`{wrong}`: {reply}");
        assert!(reply["error"].is_string(), "`{wrong}`: {reply}");
    }

    // `cut-to` cuts one way only, and `restore` undoes it.
    assert_eq!(nodes[0].ask("cut-to n2")["cut"], serde_json::json!(["n2"]));
    assert_eq!(nodes[0].ask("restore n2")["cut"], serde_json::json!([]));
    // `dup` duplicates packets on links: the rest of this test runs with
    // n0's packets duplicated, and the links hand each message on once.
    assert_eq!(nodes[0].ask("dup 0.5 n1")["ok"], true);
    assert_eq!(nodes[0].ask("dup 0.3")["ok"], true);
    // n1's clock steps 100 ms ahead and runs 5% fast: nobody may be taken
    // for down for it (checked below). `slow` is taken, and undone (a
    // slowness set by hand is not in the trace, so the checks would judge
    // n0's longer steps by the scenario's `step_time`).
    assert_eq!(nodes[1].ask("clock 100ms 1.05")["ok"], true);
    assert_eq!(nodes[0].ask("slow 2")["ok"], true);
    assert_eq!(nodes[0].ask("slow 1")["ok"], true);

    // A panic on n1: n0's member is told it left with reason `fault`.
    assert_eq!(nodes[1].ask("panic db")["ok"], true);
    std::thread::sleep(Duration::from_millis(1500));
    // A graceful stop of n2: its job leaves first (reason `leave`).
    assert_eq!(nodes[2].ask("stop")["ok"], true);
    std::thread::sleep(Duration::from_millis(800));
    for node in &mut nodes {
        assert_eq!(node.ask("quit")["ok"], true);
    }
    for node in &mut nodes {
        let status = node.child.wait().expect("it ends");
        assert!(status.success(), "{status}");
    }
    assert!(
        dir.join("n0.disk.json").exists(),
        "a node keeps its disk by default"
    );
    let text = std::fs::read_to_string(trace(0)).expect("n0's trace");
    let told = text
        .lines()
        .any(|l| l.contains("\"View\"") && l.contains("\"Fault\"") && l.contains("\"node\":1"));
    assert!(told, "n0's trace has db@n1 leaving with `fault`:\n{text}");
    let stopped = text
        .lines()
        .any(|l| l.contains("\"View\"") && l.contains("\"Leave\"") && l.contains("\"node\":2"));
    assert!(
        stopped,
        "n0's trace has db@n2 leaving with `leave`:\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains("\"View\"") && l.contains("\"NodeDown\"")),
        "no node was taken for down (n1's clock):\n{text}"
    );
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("{\"end\"")),
        "a node that quits says how it ended"
    );
    assert!(left_behind(&dir).is_empty());

    // `vigil check` merges the three traces and runs the checks on them.
    let out = Command::new(VIGIL)
        .arg("check")
        .arg(&cluster)
        .args((0..3).map(trace))
        .arg("--json")
        .output()
        .expect("vigil check runs");
    let run: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_passed(&run, out.status.code().unwrap_or(-1));
    assert_eq!(departures(&run, "db@n1", "fault").len(), 2, "{run:#}");
    assert!(
        run["replay"].is_null(),
        "nothing can run them again: {}",
        run["replay"]
    );
    // One file per node, each once.
    let out = Command::new(VIGIL)
        .arg("check")
        .arg(&cluster)
        .args([trace(0), trace(0), trace(1)])
        .output()
        .expect("vigil check runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both n0's trace"));
    // A file that is no trace at all is shown at its first line (a torn
    // last line is forgiven only after good ones: a killed node's).
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n").unwrap();
    let out = Command::new(VIGIL)
        .arg("check")
        .arg(&cluster)
        .args([garbage.clone(), trace(1), trace(2)])
        .output()
        .expect("vigil check runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("garbage.jsonl:1: not a line of a node's trace"),
        "{stderr}"
    );
    // And in JSON, as every command gives a bad file's place: in `file`
    // and `line`, not only inside the message.
    let out = Command::new(VIGIL)
        .arg("check")
        .arg(&cluster)
        .args([garbage.clone(), trace(1), trace(2)])
        .arg("--json")
        .output()
        .expect("vigil check runs");
    assert_eq!(out.status.code(), Some(2));
    let j: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(j["verdict"], "error", "{j}");
    let error = &j["error"];
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("garbage.jsonl")),
        "{j}"
    );
    assert_eq!(error["line"], 1, "{j}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not a line of a node's trace")),
        "{j}"
    );
}

fn a_node_without_addresses_is_told_what_a_cluster_file_needs() {
    let scratch = Scratch::file(
        "c.toml",
        "name = \"c\"\n[cluster]\nnodes = 2\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
    );
    let out = Command::new(VIGIL)
        .arg("node")
        .arg(&*scratch)
        .args(["--node", "n0"])
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("addresses"), "{stderr}");

    let wrong = Scratch::file(
        "w.toml",
        "name = \"w\"\n[cluster]\nnodes = 2\naddresses = [\"127.0.0.1:7000\"]\n",
    );
    let out = Command::new(VIGIL)
        .arg("node")
        .arg(&*wrong)
        .args(["--node", "n0"])
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("one address per node") && stderr.contains(":4:"),
        "{stderr}"
    );
}

/// A node whose disk file cannot be written is refused before it starts
/// (it would run on and lose its incarnation with its next restart), and
/// `vigil check --json` answers a bad cluster file with one JSON object.
fn a_node_refuses_a_disk_it_cannot_write_and_check_a_bad_cluster_file() {
    let scratch = Scratch::file(
        "c.toml",
        "name = \"c\"\n[cluster]\nnodes = 2\naddresses = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
    );
    let dir = scratch.parent().expect("its folder");
    let out = Command::new(VIGIL)
        .arg("node")
        .arg(&*scratch)
        .args(["--node", "n0", "--quiet"])
        .arg("--trace")
        .arg(dir.join("n0.trace.jsonl"))
        .arg("--disk")
        .arg(dir.join("no-such-folder").join("n0.disk.json"))
        .stdin(Stdio::null())
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--disk") && stderr.contains("there is no directory"),
        "{stderr}"
    );

    let out = Command::new(VIGIL)
        .args(["check", "no-such-cluster.toml", "n0.trace.jsonl", "--json"])
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let object: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(object["verdict"], "error", "{object}");
    assert_eq!(object["error"]["file"], "no-such-cluster.toml", "{object}");
}

/// `vigil node --socket-fd` takes only an open UDP socket bound to the
/// node's own address, and says what is wrong with any other.
fn a_socket_handed_to_a_node_is_checked() {
    use std::os::fd::AsRawFd;
    let node = |cluster: &Path, fd: i32| {
        let mut cmd = Command::new(VIGIL);
        cmd.arg("node")
            .arg(cluster)
            .args(["--node", "n0", "--quiet", "--socket-fd", &fd.to_string()])
            .arg("--trace")
            .arg(cluster.with_file_name("n0.jsonl"))
            .arg("--disk")
            .arg(cluster.with_file_name("n0.disk.json"))
            .stdin(Stdio::null());
        cmd
    };
    let cluster = Scratch::file(
        "c.toml",
        "name = \"c\"\n[cluster]\nnodes = 2\naddresses = [\"127.0.0.1:9\", \"127.0.0.1:10\"]\n[[job]]\nname = \"db\"\ngroup = \"g\"\n",
    );
    // Not open at all; open but not a socket (its stdin, /dev/null).
    for (fd, what) in [(987, "no such open descriptor"), (0, "not a socket")] {
        let out = node(&cluster, fd).output().expect("vigil runs");
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("--socket-fd {fd}: {what}, not an open UDP socket")),
            "{stderr}"
        );
    }
    let handing = |fd: i32| {
        let mut cmd = node(&cluster, fd);
        vigil_sim::runtime::real::inherit(&mut cmd, fd);
        let out = cmd.output().expect("vigil runs");
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A socket, but TCP.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let stderr = handing(tcp.as_raw_fd());
    assert!(stderr.contains("not a datagram one"), "{stderr}");
    // A UDP socket, but bound to another port than n0's.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port");
    let stderr = handing(socket.as_raw_fd());
    let bound = socket.local_addr().expect("its address");
    assert!(
        stderr.contains(&format!(
            "bound to {bound}, not to n0's address 127.0.0.1:9"
        )),
        "{stderr}"
    );
}

fn keep_names_a_directory() {
    let scratch = Scratch::file("s.toml", &scenario("", "5s"));
    let file: &Path = &scratch;
    let not_a_dir = file.with_file_name("a-file");
    std::fs::write(&not_a_dir, "mine").expect("a file");
    let out = Command::new(VIGIL)
        .arg("run")
        .arg(file)
        .args(["--real", "--keep"])
        .arg(&not_a_dir)
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("takes a directory") && !stderr.contains("running"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&not_a_dir).ok().as_deref(),
        Some("mine")
    );
}

/// A node that cannot go on ends the run, and the error says why in the
/// node's own words: here n2's disk is a directory, which it refuses.
fn a_node_that_ends_by_itself_is_quoted() {
    let scratch = Scratch::file("s.toml", &scenario("", "5s"));
    let file: &Path = &scratch;
    let keep = file.with_file_name("nodes");
    std::fs::create_dir_all(keep.join("n2.disk.json")).expect("a directory in the disk's place");
    let out = Command::new(VIGIL)
        .arg("run")
        .arg(file)
        .args(["--real", "--json", "--keep"])
        .arg(&keep)
        .output()
        .expect("vigil runs");
    let left = left_behind(&keep);
    kill_left_behind(&keep);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("node n2's process ended by itself")
            && stderr.contains("that is a directory")
            && stderr.contains("n2.disk.json"),
        "{stderr}"
    );
    assert!(
        keep.join("n2.stderr").exists(),
        "--keep keeps what a node said"
    );
}

fn ctrl_c_stops_the_nodes_and_judges_the_run_so_far() {
    let scratch = Scratch::file("s.toml", &scenario("", "60s"));
    let file: &Path = &scratch;
    let keep = file.with_file_name("nodes");
    let child = Command::new(VIGIL)
        .arg("run")
        .arg(file)
        .args(["--real", "--json", "--keep"])
        .arg(&keep)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    std::thread::sleep(Duration::from_secs(3));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("it ends");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "it stops promptly"
    );
    let left = left_behind(&keep);
    kill_left_behind(&keep);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    assert_eq!(out.status.code(), Some(130));
    let run: Value = serde_json::from_slice(&out.stdout).expect("the run's JSON all the same");
    assert_eq!(run["driver"], "real");
    // The JSON says it is a part: judged, but up to the interrupt.
    assert_eq!(run["verdict"], "interrupted", "{run}");
    assert!(
        matches!(run["judged"].as_str(), Some("pass" | "fail")),
        "{run}"
    );
    let at = run["interrupted_at_ms"].as_f64().expect("when");
    assert!((1000.0..30_000.0).contains(&at), "{run}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted at"), "{stderr}");
}
