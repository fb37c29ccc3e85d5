//! Helpers for vigil's integration tests: find the example scenarios, run
//! one under a seed, read the results. Test bodies read given, faults,
//! expectations; these helpers keep them that short.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vigil_sim::check::CheckResult;
use vigil_sim::mutation::Mutation;
use vigil_sim::run::{self, Request};
use vigil_sim::scenario::{self, Scenario};
use vigil_sim::trace::{Driver, Trace};

/// A temporary directory, or a file in one, removed when dropped, so a
/// test leaves nothing behind however it ends.
pub struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    /// An empty temporary directory.
    pub fn dir() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("vigil-test-")
            .tempdir()
            .expect("a temp dir");
        let path = dir.path().to_path_buf();
        Scratch { _dir: dir, path }
    }

    /// A file `name` holding `text`, alone in a temporary directory.
    pub fn file(name: &str, text: &str) -> Scratch {
        let dir = Scratch::dir();
        let path = dir.path.join(name);
        std::fs::write(&path, text).expect("a temp file");
        Scratch { path, ..dir }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Every scenario file in `scenarios/`, sorted by name.
pub fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Every example scenario, by name. The tests that cover each example
/// (`scenarios.rs`, `snapshots.rs`, `visual.rs`) check that this list is
/// complete and that they cover all of it.
pub const EXAMPLES: &[&str] = &[
    "crash-restart-during-install",
    "delay-loss-no-false-removal",
    "gather-answer-lost",
    "gather-suspect-below-candidate",
    "group-state",
    "group-state-loss-burst",
    "group-state-partition",
    "isolated-leader-panic",
    "job-kill",
    "job-leave-join",
    "late-group-view",
    "leader-crash",
    "leader-pause",
    "loss-burst",
    "many-faults",
    "node-crash-restart",
    "node-pause",
    "one-way-cut",
    "one-way-cut-dropped",
    "one-way-cuts-ordered",
    "ordered-left-tail",
    "duplicate",
    "restart-twice",
    "node-stop",
    "clock",
    "disk-loss",
    "lost-disk-skew",
    "lost-disk-hold-crash",
    "slow-node",
    "engine-crash",
    "engine-lost-renamed",
    "exhaust-barrier",
    "exhaust-two-phase-commit",
    "ordered-hidden-view",
    "ordered-flush-cut",
    "ordered-taken-over",
    "ordered-unchanged-view",
    "ordered-install-overtook",
    "ordered-memberless-flush",
    "ordered-drop-across-installs",
    "ordered-paused-leader",
    "pause-then-hang",
    "ordered-leader-crash",
    "ordered-messages",
    "ordered-random-faults",
    "partition-heal",
    "partition-then-crash",
    "pause-overlapping-crash-restart",
    "quickstart",
    "quorum-go-down",
    "quorum-go-up",
    "quorum-partition",
    "quorum-wait-for-all",
    "random-faults",
    "rejoin-together-catch-up",
    "restart-epochs",
    "state-overtakes-install-ack",
    "tasks",
    "tasks-priority-race",
    "tasks-random-faults",
    "tasks-under-faults",
    "tasks-joiner-ran-it",
    "tasks-exchange-across-views",
    "tasks-abandoned-instance",
    "tasks-apart-member",
    "tasks-finished-answers",
    "two-groups",
    "two-phase-commit-paused-coordinator",
    "two-phase-commit",
    "views-in-order-across-queues",
    "work-thread-error",
    "work-thread-hang",
];

/// One `#[test]` per example scenario, each calling `$f(name)` (so they run
/// in parallel), and a test that the list is [`EXAMPLES`]. Add a new
/// example to both.
#[macro_export]
macro_rules! each_example {
    ($f:path) => {
        $crate::each_example!(@ $f;
            crash_restart_during_install => "crash-restart-during-install",
            delay_loss_no_false_removal => "delay-loss-no-false-removal",
            gather_answer_lost => "gather-answer-lost",
            gather_suspect_below_candidate => "gather-suspect-below-candidate",
            group_state => "group-state",
            group_state_loss_burst => "group-state-loss-burst",
            group_state_partition => "group-state-partition",
            isolated_leader_panic => "isolated-leader-panic",
            job_kill => "job-kill",
            job_leave_join => "job-leave-join",
            late_group_view => "late-group-view",
            leader_crash => "leader-crash",
            leader_pause => "leader-pause",
            loss_burst => "loss-burst",
            many_faults => "many-faults",
            node_crash_restart => "node-crash-restart",
            node_pause => "node-pause",
            one_way_cut => "one-way-cut",
            one_way_cut_dropped => "one-way-cut-dropped",
            one_way_cuts_ordered => "one-way-cuts-ordered",
            ordered_left_tail => "ordered-left-tail",
            duplicate => "duplicate",
            restart_twice => "restart-twice",
            node_stop => "node-stop",
            clock => "clock",
            disk_loss => "disk-loss",
            lost_disk_skew => "lost-disk-skew",
            lost_disk_hold_crash => "lost-disk-hold-crash",
            slow_node => "slow-node",
            engine_crash => "engine-crash",
            engine_lost_renamed => "engine-lost-renamed",
            exhaust_barrier => "exhaust-barrier",
            exhaust_two_phase_commit => "exhaust-two-phase-commit",
            ordered_hidden_view => "ordered-hidden-view",
            ordered_flush_cut => "ordered-flush-cut",
            ordered_taken_over => "ordered-taken-over",
            ordered_unchanged_view => "ordered-unchanged-view",
            ordered_install_overtook => "ordered-install-overtook",
            ordered_memberless_flush => "ordered-memberless-flush",
            ordered_drop_across_installs => "ordered-drop-across-installs",
            ordered_paused_leader => "ordered-paused-leader",
            pause_then_hang => "pause-then-hang",
            ordered_leader_crash => "ordered-leader-crash",
            ordered_messages => "ordered-messages",
            ordered_random_faults => "ordered-random-faults",
            partition_heal => "partition-heal",
            partition_then_crash => "partition-then-crash",
            pause_overlapping_crash_restart => "pause-overlapping-crash-restart",
            quickstart => "quickstart",
            quorum_go_down => "quorum-go-down",
            quorum_go_up => "quorum-go-up",
            quorum_partition => "quorum-partition",
            quorum_wait_for_all => "quorum-wait-for-all",
            random_faults => "random-faults",
            rejoin_together_catch_up => "rejoin-together-catch-up",
            restart_epochs => "restart-epochs",
            state_overtakes_install_ack => "state-overtakes-install-ack",
            tasks => "tasks",
            tasks_priority_race => "tasks-priority-race",
            tasks_random_faults => "tasks-random-faults",
            tasks_under_faults => "tasks-under-faults",
            tasks_joiner_ran_it => "tasks-joiner-ran-it",
            tasks_exchange_across_views => "tasks-exchange-across-views",
            tasks_abandoned_instance => "tasks-abandoned-instance",
            tasks_apart_member => "tasks-apart-member",
            tasks_finished_answers => "tasks-finished-answers",
            two_groups => "two-groups",
            two_phase_commit_paused_coordinator => "two-phase-commit-paused-coordinator",
            two_phase_commit => "two-phase-commit",
            views_in_order_across_queues => "views-in-order-across-queues",
            work_thread_error => "work-thread-error",
            work_thread_hang => "work-thread-hang",
        );
    };
    (@ $f:path; $($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { $f($name); })*

        #[test]
        fn every_example_has_a_test() {
            let listed: Vec<&str> = vec![$($name),*];
            assert_eq!(listed, $crate::EXAMPLES, "add new examples to each_example! in tests/lib.rs");
        }
    };
}

/// Loads `scenarios/<name>.toml`.
pub fn load(name: &str) -> Scenario {
    let path = root().join("scenarios").join(format!("{name}.toml"));
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses a scenario written inline in a test.
pub fn parse(text: &str) -> Scenario {
    scenario::parse("inline.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// A finished run and its checks.
pub struct Checked {
    pub out: Trace,
    pub checks: Vec<CheckResult>,
}

impl Checked {
    /// The names of the checks that found violations.
    pub fn failed(&self) -> BTreeSet<String> {
        self.checks
            .iter()
            .filter(|c| !c.violations.is_empty())
            .map(|c| c.name.clone())
            .collect()
    }

    /// Every violation, one per line.
    pub fn violations(&self) -> String {
        let v: Vec<String> = self
            .checks
            .iter()
            .flat_map(|c| c.violations.iter())
            .map(|v| v.to_string())
            .collect();
        v.join("\n")
    }

    /// The membership changes, one line each, as main threads took them.
    pub fn history(&self) -> String {
        let mut s = String::new();
        for (at, c) in self.out.views() {
            let left: Vec<String> = c.left.iter().map(|(m, r)| format!("{m} ({r})")).collect();
            let joined: Vec<String> = c.joined.iter().map(|m| m.to_string()).collect();
            let members: Vec<String> = c.members.iter().map(|m| m.to_string()).collect();
            s.push_str(&format!(
                "{:>10.3}ms {} {} view {} [{}] joined [{}] left [{}]{}\n",
                at.as_millis_f64(),
                c.me,
                c.group,
                c.view,
                members.join(", "),
                joined.join(", "),
                left.join(", "),
                match c.primary {
                    None => "",
                    Some(true) => " primary",
                    Some(false) => " not primary",
                }
            ));
        }
        s
    }
}

/// Runs a scenario under `seed`, with an optional broken variant, and checks it.
pub fn run(scenario: &Scenario, seed: u64, mutation: Option<Mutation>) -> Checked {
    run_on(Driver::default(), scenario, seed, mutation)
}

/// [`run`] on `driver`.
pub fn run_on(
    driver: Driver,
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> Checked {
    let e = run::execute(Request {
        registry: vigil_sim::protocols::Registry::builtin_ref(),
        scenario,
        seed,
        mutation,
        swarm: false,
        detail: false,
        driver,
    });
    let out = e
        .out
        .unwrap_or_else(|panic| panic!("seed {seed}: the simulation panicked: {panic}"));
    Checked {
        out,
        checks: e.checks,
    }
}

/// How many seeds each example scenario runs in `cargo test`:
/// `VIGIL_SEEDS` (default 20).
pub fn seeds() -> u64 {
    std::env::var("VIGIL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// What the `vigil` command line printed, and its exit status.
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `vigil` command line with `args` (no program name), as a user
/// would, capturing what it prints.
pub fn vigil(args: &[&str]) -> Outcome {
    let mut argv = vec!["vigil".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let c = vigil_sim::cli::capture(&argv, vigil_sim::protocols::Registry::builtin_ref());
    Outcome {
        code: c.code,
        stdout: c.stdout,
        stderr: c.stderr,
    }
}

/// The path of `scenarios/<name>` (with its extension), as a string.
pub fn example(name: &str) -> String {
    root().join("scenarios").join(name).display().to_string()
}

/// `[(name, function)]` for [`all_at_once`], from the functions' names.
#[macro_export]
macro_rules! named {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as fn())),*]
    };
}

/// A test binary's `main` for tests that spend their time waiting on real
/// time rather than computing (the real-network tests): it starts every
/// selected test, [`STAGGER`] apart, each on a thread named after it,
/// where libtest would run as many at a time as the machine has cores. It reads the
/// arguments libtest's users and cargo-nextest pass: name filters,
/// `--exact`, `--skip NAME`, `--list` (with `--format terse`), `--ignored`
/// (none are), and ignores the rest (`--nocapture`, `--test-threads N`...).
pub fn all_at_once(tests: &[(&'static str, fn())]) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if run_at_once(&args, tests) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(101)
    }
}

/// How far apart [`run_at_once`] starts its tests.
const STAGGER: std::time::Duration = std::time::Duration::from_millis(200);

/// [`all_at_once`] given its arguments: whether every selected test passed.
pub fn run_at_once(args: &[String], tests: &[(&'static str, fn())]) -> bool {
    let (mut filters, mut skips) = (Vec::new(), Vec::new());
    let (mut exact, mut list, mut ignored) = (false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => ignored = true,
            "--skip" => skips.extend(it.next().cloned()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => filters.push(a.clone()),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let chosen: Vec<&(&str, fn())> = tests
        .iter()
        .filter(|_| !ignored)
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .collect();
    if list {
        for (name, _) in &chosen {
            println!("{name}: test");
        }
        return true;
    }
    println!(
        "\nrunning {} test{}",
        chosen.len(),
        if chosen.len() == 1 { "" } else { "s" }
    );
    let started = std::time::Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut failed = Vec::new();
    std::thread::scope(|scope| {
        for (i, &&(name, test)) in chosen.iter().enumerate() {
            // Started a moment apart: a cluster's processes take a burst
            // of CPU as they boot, and sixty booting at once on two cores
            // kept a main thread waiting past the real-network bound
            // (`main-thread-responsive`, 51 ms at 71 ms into a run).
            if i > 0 {
                std::thread::sleep(STAGGER);
            }
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn_scoped(scope, move || {
                    let ok = std::panic::catch_unwind(test).is_ok();
                    let _ = tx.send((name, ok));
                })
                .expect("a thread per test");
        }
        drop(tx);
        for (name, ok) in rx {
            println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
            if !ok {
                failed.push(name);
            }
        }
    });
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len(),
        tests.len() - chosen.len(),
        started.elapsed().as_secs_f64()
    );
    failed.is_empty()
}
