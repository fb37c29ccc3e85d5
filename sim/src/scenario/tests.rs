//! Tests of the scenario file contract: a full file, defaults, one test per
//! error class (message and location), and a no-panic sweep over mutated
//! inputs.

use super::*;
use crate::protocols::{OptionValue, Options};

pub(super) const FULL: &str = r#"# every key and every kind
name = "work thread panics in an ACK round"
description = "db@n2's second work thread panics"
seed = 7
duration = "20s"

[cluster]
nodes = 5
heartbeat_interval = "50ms"
failure_timeout = "500ms"
latency = ["2ms", "20ms"]
loss = 0.01

[[job]]
name = "db"
group = "g"
nodes = ["n2", "n0", "n1"]
work_threads = 2
work_deadline = "2s"
protocol = "barrier"
step_time = "250ms"

[[job]]
name = "cache_2"
group = "g-2"

[[fault]]
at = "5s"
kind = "partition"
sides = [["n3", "n1"], ["n2", "n0", "n4"], []]
heal_after = "1.5s"

[[fault]]
at = "2s"
kind = "work-thread-panic"
node = "n2"
job = "db"
thread = 1

[[fault]]
at = "2s"
kind = "work-thread-error"
node = "n0"
job = "db"

[[fault]]
at = "1s"
kind = "work-thread-hang"
node = "n1"
job = "db"
thread = 0

[[fault]]
at = "3s"
kind = "job-kill"
node = "n4"
job = "cache_2"

[[fault]]
at = "3s"
kind = "job-leave"
node = "n3"
job = "cache_2"

[[fault]]
at = "4s"
kind = "job-join"
node = "n3"
job = "cache_2"

[[fault]]
at = "6s"
kind = "node-crash"
node = "n4"
restart_after = "2s"

[[fault]]
at = "6s"
kind = "node-crash"
node = "n3"

[[fault]]
at = "7s"
kind = "node-pause"
node = "n1"
for = "500ms"

[[fault]]
at = "8s"
kind = "heal"

[[fault]]
at = "9s"
kind = "delay"
latency = ["5ms", "50ms"]
nodes = ["n4", "n0"]
for = "1m"

[[fault]]
at = "10 s"
kind = "delay"
latency = ["1ms", "1ms"]

[[fault]]
at = "11s"
kind = "loss"
rate = 1
nodes = ["n2"]
for = "250ms"

[[fault]]
at = "12s"
kind = "loss"
rate = 0.25

[[expect]]
kind = "membership-change"
member = "db@n2"
reason = "fault"
within = "2s"
group = "g"

[[expectation]]
kind = "final-view"
group = "g"
members = ["db@n1", "db@n0"]

[[expect]]
kind = "no-membership-change"

[[expect]]
kind = "no-membership-change"
group = "g-2"

[[expect]]
kind = "membership-change"
member = "cache_2@n4"
reason = "job-lost"

[[expect]]
kind = "final-view"
group = "g-2"
members = []
"#;

/// A small valid file the error tests modify. Its lines:
///  1 name, 2 duration, 4 [cluster], 5 nodes, 7 [[job]], 8 name, 9 group,
/// 10 nodes; text appended to it starts on line 11.
const BASE: &str = r#"name = "base"
duration = "20s"

[cluster]
nodes = 5

[[job]]
name = "db"
group = "g"
nodes = ["n0", "n1", "n2"]
"#;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn parse_ok(text: &str) -> Scenario {
    match parse("test.toml", text) {
        Ok(scenario) => scenario,
        Err(error) => panic!("expected the scenario to parse, got:\n{error}"),
    }
}

/// Parses `text`, expecting an error at (`line`, `col`) whose message
/// contains every string in `needles`; also checks the rendered report.
#[track_caller]
fn assert_error(text: &str, (line, col): (usize, usize), needles: &[&str]) -> ScenarioError {
    let error = match parse("test.toml", text) {
        Ok(scenario) => panic!("expected an error, got {scenario:#?}"),
        Err(error) => error,
    };
    let rendered = error.to_string();
    for needle in needles {
        assert!(
            error.message().contains(needle),
            "message should contain `{needle}`:\n{rendered}"
        );
    }
    assert_eq!(
        error.line_col(),
        Some((line, col)),
        "wrong location:\n{rendered}"
    );
    assert!(
        rendered.starts_with(&format!("error: {}", error.message())),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("--> test.toml:{line}:{col}")),
        "{rendered}"
    );
    assert!(
        rendered.contains('^'),
        "the report should underline the span:\n{rendered}"
    );
    error
}

fn base_with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn full_file_parses_to_the_expected_scenario() {
    let scenario = parse_ok(FULL);
    let fault = |at: Duration, line: usize, kind: FaultKind| Fault { at, kind, line };
    let member = |job: &str, node: u16| MemberName {
        job: job.to_owned(),
        node,
    };
    let expected = Scenario {
        name: "work thread panics in an ACK round".into(),
        description: Some("db@n2's second work thread panics".into()),
        seed: Some(7),
        duration: secs(20),
        cluster: Cluster {
            nodes: 5,
            heartbeat_interval: ms(50),
            failure_timeout: ms(500),
            latency: (ms(2), ms(20)),
            loss: 0.01,
            addresses: Vec::new(),
            quorum: None,
        },
        jobs: vec![
            Job {
                name: "db".into(),
                group: "g".into(),
                nodes: vec![0, 1, 2],
                work_threads: 2,
                work_deadline: secs(2),
                protocol: "barrier".to_string(),
                options: Options::default(),
                step_time: ms(250),
                ordered_every: None,
            },
            Job {
                name: "cache_2".into(),
                group: "g-2".into(),
                nodes: vec![0, 1, 2, 3, 4],
                work_threads: 1,
                work_deadline: secs(1),
                protocol: "barrier".to_string(),
                options: Options::default(),
                step_time: ms(100),
                ordered_every: None,
            },
        ],
        faults: vec![
            fault(
                secs(1),
                46,
                FaultKind::WorkThread(super::WorkThread {
                    fault: super::WorkThreadFault::Hang,
                    node: 1,
                    job: "db".into(),
                    thread: 0,
                }),
            ),
            fault(
                secs(2),
                33,
                FaultKind::WorkThread(super::WorkThread {
                    fault: super::WorkThreadFault::Panic,
                    node: 2,
                    job: "db".into(),
                    thread: 1,
                }),
            ),
            fault(
                secs(2),
                40,
                FaultKind::WorkThread(super::WorkThread {
                    fault: super::WorkThreadFault::Error,
                    node: 0,
                    job: "db".into(),
                    thread: 0,
                }),
            ),
            fault(
                secs(3),
                53,
                FaultKind::Job(super::JobFault {
                    action: super::JobAction::Kill,
                    node: 4,
                    job: "cache_2".into(),
                }),
            ),
            fault(
                secs(3),
                59,
                FaultKind::Job(super::JobFault {
                    action: super::JobAction::Leave,
                    node: 3,
                    job: "cache_2".into(),
                }),
            ),
            fault(
                secs(4),
                65,
                FaultKind::Job(super::JobFault {
                    action: super::JobAction::Join,
                    node: 3,
                    job: "cache_2".into(),
                }),
            ),
            fault(
                secs(5),
                27,
                FaultKind::Partition(super::Partition {
                    sides: vec![vec![1, 3], vec![0, 2, 4]],
                    heal_after: Some(ms(1500)),
                }),
            ),
            fault(
                secs(6),
                71,
                FaultKind::NodeCrash(super::NodeCrash {
                    node: 4,
                    restart_after: Some(secs(2)),
                    lose_disk: false,
                }),
            ),
            fault(
                secs(6),
                77,
                FaultKind::NodeCrash(super::NodeCrash {
                    node: 3,
                    restart_after: None,
                    lose_disk: false,
                }),
            ),
            fault(
                secs(7),
                82,
                FaultKind::NodePause(super::NodePause {
                    node: 1,
                    duration: ms(500),
                }),
            ),
            fault(secs(8), 88, FaultKind::Heal(super::Heal)),
            fault(
                secs(9),
                92,
                FaultKind::Delay(super::Delay {
                    latency: (ms(5), ms(50)),
                    nodes: Some(vec![0, 4]),
                    duration: Some(secs(60)),
                }),
            ),
            fault(
                secs(10),
                99,
                FaultKind::Delay(super::Delay {
                    latency: (ms(1), ms(1)),
                    nodes: None,
                    duration: None,
                }),
            ),
            fault(
                secs(11),
                104,
                FaultKind::Loss(super::Loss {
                    rate: 1.0,
                    nodes: Some(vec![2]),
                    duration: Some(ms(250)),
                }),
            ),
            fault(
                secs(12),
                111,
                FaultKind::Loss(super::Loss {
                    rate: 0.25,
                    nodes: None,
                    duration: None,
                }),
            ),
        ],
        tasks: vec![],
        expectations: vec![
            Expectation::MembershipChange {
                member: member("db", 2),
                reason: Some(Reason::Fault),
                within: Some(secs(2)),
                group: Some("g".into()),
                primary: None,
                occurrence: None,
            },
            Expectation::FinalView {
                group: "g".into(),
                members: vec![member("db", 0), member("db", 1)],
                primary: None,
            },
            Expectation::NoMembershipChange { group: None },
            Expectation::NoMembershipChange {
                group: Some("g-2".into()),
            },
            Expectation::MembershipChange {
                member: member("cache_2", 4),
                reason: Some(Reason::JobLost),
                within: None,
                group: None,
                primary: None,
                occurrence: None,
            },
            Expectation::FinalView {
                group: "g-2".into(),
                members: vec![],
                primary: None,
            },
        ],
        random: None,
    };
    assert_eq!(scenario, expected);
    // `name()` gives back what the file said. (That every kind parses and
    // writes back is `tools::props`'s `every_fault_kind_is_drawn`.)
    for fault in &scenario.faults {
        assert!(FaultKind::names().contains(&fault.kind.name()));
    }
}

fn defaults_apply() {
    let scenario = parse_ok(
        r#"name = "minimal"
duration = "1m"
[cluster]
nodes = 3
[[job]]
name = "db"
group = "g"
"#,
    );
    assert_eq!(scenario.description, None);
    assert_eq!(scenario.seed, None);
    assert_eq!(scenario.duration, secs(60));
    assert_eq!(
        scenario.cluster,
        Cluster {
            nodes: 3,
            heartbeat_interval: ms(100),
            failure_timeout: secs(1),
            latency: (ms(1), ms(10)),
            loss: 0.0,
            addresses: Vec::new(),
            quorum: None,
        }
    );
    assert_eq!(
        scenario.jobs,
        vec![Job {
            name: "db".into(),
            group: "g".into(),
            nodes: vec![0, 1, 2],
            work_threads: 1,
            work_deadline: secs(1),
            protocol: "barrier".to_string(),
            options: Options::default(),
            step_time: ms(100),
            ordered_every: None,
        }]
    );
    assert!(scenario.faults.is_empty());
    assert!(scenario.expectations.is_empty());
}

fn a_group_of_300_members_is_warned_of() {
    let text = |nodes: u16, second: &str| {
        format!(
            "name = \"big\"\nduration = \"1s\"\n[cluster]\nnodes = {nodes}\n\
             [[job]]\nname = \"a\"\ngroup = \"g\"\nnodes = [{}]\n\
             [[job]]\nname = \"b\"\ngroup = \"{second}\"\nnodes = [\"n0\"]\n",
            (1..nodes)
                .map(|n| format!("\"n{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // 299 members of `g` on nodes n1.., and one more on n0: one group of
    // 300, or two of 299 and 1.
    let warned = parse_ok(&text(300, "g")).cost_warnings();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("group `g` has 300 members"),
        "{warned:?}"
    );
    assert!(
        warned[0].contains("about 89700 member messages"),
        "{warned:?}"
    );
    assert_eq!(
        parse_ok(&text(300, "h")).cost_warnings(),
        Vec::<String>::new()
    );
    assert_eq!(parse_ok(BASE).cost_warnings(), Vec::<String>::new());
}

fn faults_at_equal_times_keep_file_order() {
    let mut text = BASE.to_owned();
    for (at, node) in [("3s", 0), ("1s", 1), ("3s", 2), ("1s", 3), ("3s", 4)] {
        text.push_str(&format!(
            "[[fault]]\nat = \"{at}\"\nkind = \"node-crash\"\nnode = \"n{node}\"\n"
        ));
    }
    let nodes: Vec<(Duration, u16)> = parse_ok(&text)
        .faults
        .iter()
        .map(|fault| match fault.kind {
            FaultKind::NodeCrash(ref c) => (fault.at, c.node),
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            (secs(1), 1),
            (secs(1), 3),
            (secs(3), 0),
            (secs(3), 2),
            (secs(3), 4)
        ]
    );
}

fn reason_and_member_strings_round_trip() {
    for name in Reason::NAMES {
        let reason: Reason = name.parse().unwrap();
        assert_eq!(reason.to_string(), *name);
    }
    assert!("gone"
        .parse::<Reason>()
        .unwrap_err()
        .contains("fault, leave, job-lost, node-down"));
    let member: MemberName = "db@n2".parse().unwrap();
    assert_eq!(
        member,
        MemberName {
            job: "db".into(),
            node: 2
        }
    );
    assert_eq!(member.to_string(), "db@n2");
    for bad in [
        "db-n2",
        "db@2",
        "@n2",
        "db@n02",
        "db@n",
        "d b@n1",
        "db@n99999",
    ] {
        assert!(bad.parse::<MemberName>().is_err(), "{bad}");
    }
}

// ---- one test per error class ----

fn bad_toml_syntax() {
    let text = BASE.replace("nodes = 5", "nodes = = 5");
    assert_error(&text, (5, 9), &["invalid TOML"]);
}

fn a_number_too_large_for_any_key() {
    let text = BASE.replace("nodes = 5", "nodes = 99999999999999999999");
    let e = assert_error(
        &text,
        (5, 9),
        &["the number `99999999999999999999` is too large"],
    );
    assert!(!e.message().contains("i128"), "{e}");
}

fn unknown_top_level_key() {
    let text = format!("bogus = 1\n{BASE}");
    assert_error(&text, (1, 1), &["unknown key `bogus`"]);
}

fn unknown_key_in_cluster() {
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nnode_count = 3\n");
    assert_error(
        &text,
        (6, 1),
        &["unknown key `node_count`", "heartbeat_interval"],
    );
}

fn top_level_key_after_a_table_gets_a_hint() {
    let text = BASE.replace("duration = \"20s\"\n", "") + "duration = \"20s\"\n";
    let error = assert_error(&text, (10, 1), &["unknown key `duration`"]);
    assert!(error
        .help_text()
        .unwrap_or("")
        .contains("before the first [table]"));
}

fn missing_duration() {
    let text = BASE.replace("duration = \"20s\"\n", "");
    let error = assert_error(&text, (1, 1), &["missing required key `duration`"]);
    assert!(error.to_string().contains("duration = \"20s\""));
}

fn missing_name() {
    let text = BASE.replace("name = \"base\"\n", "");
    assert_error(&text, (1, 1), &["missing required key `name`"]);
    assert_error("", (1, 1), &["missing required key `name`"]);
}

fn missing_key_in_a_table_points_at_its_header() {
    let text = BASE.replace("nodes = 5\n", "loss = 0.1\n");
    assert_error(
        &text,
        (4, 1),
        &["missing required key `nodes` in [cluster]"],
    );
    let text = BASE.replace("group = \"g\"\n", "");
    assert_error(&text, (7, 1), &["missing required key `group` in [[job]]"]);
    let text = base_with("[[fault]]\nat = \"1s\"\nkind = \"node-pause\"\nnode = \"n1\"\n");
    assert_error(
        &text,
        (11, 1),
        &["fault kind `node-pause` requires key `for`"],
    );
}

fn node_that_does_not_exist() {
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"n7\"\n");
    let error = assert_error(&text, (14, 8), &["unknown node `n7`", "n0..n4"]);
    let expected = "\
error: unknown node `n7`: the cluster has nodes n0..n4
  --> test.toml:14:8
   |
14 | node = \"n7\"
   |        ^^^^";
    assert_eq!(error.to_string(), expected);
}

fn malformed_node_name() {
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"node1\"\n");
    assert_error(&text, (14, 8), &["invalid node name `node1`", "like `n0`"]);
}

fn unknown_duration_unit() {
    let text = BASE.replace("\"20s\"", "\"5 parsecs\"");
    assert_error(
        &text,
        (2, 12),
        &[
            "`5 parsecs`",
            "unknown unit `parsecs`",
            "ns, us, ms, s, m, h",
        ],
    );
}

fn duration_of_the_wrong_type() {
    let text = BASE.replace("\"20s\"", "20");
    assert_error(&text, (2, 12), &["integer `20`", "duration string"]);
}

fn partition_sides_that_overlap() {
    let text = base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\", \"n1\"], [\"n1\", \"n2\", \"n3\", \"n4\"]]\n",
    );
    assert_error(
        &text,
        (14, 25),
        &["node `n1`", "side 1 and side 2", "exactly one side"],
    );
}

fn partition_sides_that_leave_a_node_out() {
    let text = base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\", \"n1\"], [\"n2\", \"n3\"]]\n",
    );
    assert_error(&text, (14, 9), &["node `n4` is not in any side"]);
}

fn partition_with_a_single_non_empty_side() {
    let text = base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\", \"n1\", \"n2\", \"n3\", \"n4\"], []]\n",
    );
    assert_error(&text, (14, 9), &["at least 2 non-empty sides, found 1"]);
}

fn fault_at_or_after_the_duration() {
    let text = base_with("[[fault]]\nat = \"25s\"\nkind = \"heal\"\n");
    assert_error(
        &text,
        (12, 6),
        &["fault at 25s is after the scenario's duration 20s"],
    );
    let text = base_with("[[fault]]\nat = \"20s\"\nkind = \"heal\"\n");
    assert_error(&text, (12, 6), &["fault at 20s", "end of the scenario"]);
}

fn negative_loss_rate() {
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"loss\"\nrate = -0.5\n");
    assert_error(&text, (14, 8), &["loss rate -0.5 is out of range"]);
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"loss\"\nrate = 1.5\n");
    assert_error(&text, (14, 8), &["loss rate 1.5"]);
}

fn cluster_loss_out_of_range() {
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nloss = 1.0\n");
    assert_error(&text, (6, 8), &["cluster loss 1 is out of range"]);
}

fn key_not_allowed_for_the_kind() {
    let text = base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\", \"n1\"], [\"n2\", \"n3\", \"n4\"]]\nrestart_after = \"1s\"\n",
    );
    assert_error(
        &text,
        (15, 1),
        &["key `restart_after` is not allowed for kind `partition`; allowed: sides, heal_after"],
    );
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"heal\"\n  node = \"n1\"\n");
    assert_error(
        &text,
        (14, 3),
        &["key `node` is not allowed for kind `heal`", "no keys"],
    );
    let text = base_with("[[expect]]\nkind = \"no-membership-change\"\nmember = \"db@n1\"\n");
    assert_error(
        &text,
        (13, 1),
        &["key `member` is not allowed for kind `no-membership-change`; allowed: group"],
    );
}

fn quorum_keys_are_checked() {
    let q = |extra: &str| BASE.replace("nodes = 5", &format!("nodes = 5\n{extra}"));
    let ok = parse_ok(&q(
        "quorum = \"majority\"\nvotes = [2, 1, 1, 1, 0]\nwait_for_all = true",
    ));
    let quorum = ok.cluster.quorum.expect("a quorum");
    assert_eq!((quorum.expected(), quorum.needed()), (5, 3));
    assert!(quorum.wait_for_all);
    for (extra, needle) in [
        ("quorum = \"most\"", "unknown quorum `most`"),
        (
            "votes = [1, 1, 1, 1, 1]",
            "`votes` belongs to a primary component",
        ),
        (
            "wait_for_all = true",
            "`wait_for_all` belongs to a primary component",
        ),
        (
            "quorum = \"majority\"\nvotes = [1, 1]",
            "one count per node: the cluster has 5 nodes, the list 2",
        ),
        (
            "quorum = \"majority\"\nvotes = [1, 1, -1, 1, 1]",
            "n2 has -1 votes",
        ),
        (
            "quorum = \"majority\"\nvotes = [0, 0, 0, 0, 0]",
            "no view could ever be primary",
        ),
        ("quorum = 1", "invalid type"),
    ] {
        let err = parse("test.toml", &q(extra)).expect_err(extra).to_string();
        assert!(err.contains(needle), "{extra}: {err}");
    }
    let never = base_with(
        "[[expect]]\nkind = \"final-view\"\ngroup = \"g\"\nmembers = []\nprimary = true\n",
    );
    let err = parse("test.toml", &never)
        .expect_err("no quorum")
        .to_string();
    assert!(
        err.contains("can never hold: this cluster keeps no quorum"),
        "{err}"
    );
}

fn unknown_fault_kind_lists_the_valid_ones() {
    let text = base_with("[[fault]]\nat = \"2s\"\nkind = \"explode\"\n");
    let needles: Vec<String> = std::iter::once("unknown fault kind `explode`".to_owned())
        .chain(FaultKind::names().iter().map(|name| name.to_string()))
        .collect();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_error(&text, (13, 8), &needles);
}

fn unknown_expectation_kind_and_reason() {
    let text = base_with("[[expect]]\nkind = \"eventually\"\n");
    assert_error(
        &text,
        (12, 8),
        &["unknown expectation kind `eventually`", "final-view"],
    );
    let text = base_with(
        "[[expect]]\nkind = \"membership-change\"\nmember = \"db@n1\"\nreason = \"gremlins\"\n",
    );
    assert_error(&text, (14, 10), &["unknown reason `gremlins`", "job-lost"]);
}

fn job_referencing_an_unknown_node() {
    let text = BASE.replace(r#"["n0", "n1", "n2"]"#, r#"["n0", "n1", "n9"]"#);
    assert_error(&text, (10, 22), &["unknown node `n9`", "n0..n4"]);
}

fn job_with_a_duplicate_node() {
    let text = BASE.replace(r#"["n0", "n1", "n2"]"#, r#"["n0", "n1", "n0"]"#);
    assert_error(&text, (10, 22), &["node `n0` is listed twice"]);
}

fn duplicate_job_names() {
    let text = base_with("\n[[job]]\nname = \"db\"\ngroup = \"h\"\n");
    assert_error(&text, (13, 8), &["duplicate job name `db`", "line 7"]);
}

fn job_with_an_unknown_protocol() {
    let text = base_with("protocol = \"paxos\"\n");
    assert_error(
        &text,
        (11, 12),
        &["unknown protocol `paxos`, expected one of: barrier, group-state, tasks, two-phase-commit"],
    );
}

fn protocol_options_are_read_with_their_types() {
    let text = base_with("protocol = \"two-phase-commit\"\ntransactions = 20\nabort_every = 4\n");
    let s = parse("t.toml", &text).expect("valid");
    assert_eq!(s.jobs[0].protocol, "two-phase-commit");
    assert_eq!(
        s.jobs[0].options.0.get("transactions"),
        Some(&OptionValue::Int(20))
    );
    assert_eq!(s.jobs[0].options.int("abort_every"), Some(4));
    // And written back.
    let again = parse("again.toml", &s.to_toml()).expect("round trip");
    assert_eq!(again, s);
}

fn an_option_the_protocol_does_not_take_points_at_its_key() {
    let text = base_with("protocol = \"two-phase-commit\"\nrounds = 3\n");
    assert_error(
        &text,
        (12, 1),
        &[
            "unknown key `rounds` in [[job]]",
            "not an option of protocol `two-phase-commit`",
        ],
    );
    // An option of the default protocol, barrier, is fine without `protocol`.
    parse("t.toml", &base_with("rounds = 3\n")).expect("barrier takes rounds");
    // A misspelled job key is still an error.
    let text = base_with("work_thread = 2\n");
    assert_error(&text, (11, 1), &["unknown key `work_thread` in [[job]]"]);
}

fn an_option_of_the_wrong_type_points_at_its_value() {
    let text = base_with("protocol = \"two-phase-commit\"\ntransactions = \"20\"\n");
    assert_error(
        &text,
        (12, 16),
        &["`transactions` (an option of protocol `two-phase-commit`) must be an integer from 0 to 1000000, got the string \"20\""],
    );
    let text = base_with("protocol = \"group-state\"\nkeys = 0\n");
    assert_error(&text, (12, 8), &["`keys`", "must be an integer from 1"]);
}

fn jobs_of_one_group_must_agree_on_options() {
    let text = base_with("protocol = \"two-phase-commit\"\ntransactions = 5\n[[job]]\nname = \"web\"\ngroup = \"g\"\nprotocol = \"two-phase-commit\"\n");
    let e = parse("t.toml", &text).expect_err("disagreeing options");
    assert!(
        e.message().contains("job `web` leaves `transactions` unset but job `db` of the same group `g` (line 7) sets `transactions = 5`"),
        "{}",
        e.message()
    );
}

fn protocol_outcome_expectations_need_the_protocol_running() {
    let tpc = "protocol = \"two-phase-commit\"\n";
    let ok = base_with(&format!(
        "{tpc}\n[[expect]]\nkind = \"protocol-outcome\"\ninstance = 3\noutcome = \"commit\"\n"
    ));
    let s = parse("t.toml", &ok).expect("valid");
    assert_eq!(
        s.expectations.last(),
        Some(&Expectation::ProtocolOutcome {
            member: None,
            protocol: "two-phase-commit".into(),
            instance: 3,
            outcome: "commit".into()
        })
    );
    let missing = base_with("\n[[expect]]\nkind = \"protocol-outcome\"\nprotocol = \"two-phase-commit\"\ninstance = 0\noutcome = \"commit\"\n");
    let e = parse("t.toml", &missing).expect_err("2pc is not running");
    assert!(
        e.message()
            .contains("no job runs protocol `two-phase-commit`"),
        "{}",
        e.message()
    );
    assert!(e.line_col().is_some());
    let bad_outcome = base_with(&format!(
        "{tpc}\n[[expect]]\nkind = \"protocol-outcome\"\ninstance = 0\noutcome = \"comit\"\n"
    ));
    let e = parse("t.toml", &bad_outcome).expect_err("no such outcome");
    assert!(
        e.message().contains("no outcome `comit`"),
        "{}",
        e.message()
    );
    // A barrier passes only once `rounds` bounds it, and only `passed`.
    let barrier = |options: &str, outcome: &str| {
        base_with(&format!(
            "{options}\n[[expect]]\nkind = \"protocol-outcome\"\ninstance = 0\noutcome = \"{outcome}\"\n"
        ))
    };
    assert!(parse("t.toml", &barrier("rounds = 5\n", "passed")).is_ok());
    let e = parse("t.toml", &barrier("", "passed")).expect_err("never decides");
    assert!(
        e.message()
            .contains("decides nothing unless its option `rounds` is set"),
        "{}",
        e.message()
    );
    let e = parse("t.toml", &barrier("rounds = 5\n", "frobbed")).expect_err("no such outcome");
    assert!(
        e.message().contains("no outcome `frobbed`"),
        "{}",
        e.message()
    );
}

fn step_time_must_be_shorter_than_work_deadline() {
    let text = base_with("work_deadline = \"50ms\"\n");
    assert_error(
        &text,
        (11, 17),
        &["step_time (100ms, the default)", "work_deadline (50ms)"],
    );
}

fn fault_on_a_node_the_job_does_not_run_on() {
    let text =
        base_with("[[fault]]\nat = \"2s\"\nkind = \"job-kill\"\nnode = \"n4\"\njob = \"db\"\n");
    assert_error(
        &text,
        (14, 8),
        &["job `db` does not run on node `n4`", "n0..n2"],
    );
    let text =
        base_with("[[fault]]\nat = \"2s\"\nkind = \"job-kill\"\nnode = \"n1\"\njob = \"web\"\n");
    assert_error(&text, (15, 7), &["unknown job `web`", "db"]);
}

fn thread_index_out_of_range() {
    let text = base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"work-thread-hang\"\nnode = \"n1\"\njob = \"db\"\nthread = 1\n",
    );
    assert_error(
        &text,
        (16, 10),
        &["thread 1 is out of range", "job `db` has 1 work thread"],
    );
}

fn bad_member_name() {
    let text = base_with("[[expect]]\nkind = \"membership-change\"\nmember = \"db-n2\"\n");
    assert_error(
        &text,
        (13, 10),
        &["invalid member name `db-n2`", "job@node"],
    );
    let text = base_with("[[expect]]\nkind = \"membership-change\"\nmember = \"db@n4\"\n");
    assert_error(&text, (13, 10), &["job `db` does not run on node `n4`"]);
}

fn final_view_member_of_another_group() {
    let text = base_with(
        "\n[[job]]\nname = \"web\"\ngroup = \"h\"\n\n[[expectation]]\nkind = \"final-view\"\ngroup = \"g\"\nmembers = [\"db@n0\", \"web@n3\"]\n",
    );
    assert_error(&text, (19, 21), &["member `web@n3` is not in group `g`"]);
}

fn failure_timeout_not_above_heartbeat_interval() {
    let text = BASE.replace(
        "nodes = 5\n",
        "nodes = 5\nheartbeat_interval = \"1s\"\nfailure_timeout = \"1s\"\n",
    );
    assert_error(
        &text,
        (7, 19),
        &["failure_timeout (1s) must be longer than heartbeat_interval (1s)"],
    );
    // With the default failure_timeout, the heartbeat is the one to blame.
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nheartbeat_interval = \"2s\"\n");
    assert_error(&text, (6, 22), &["failure_timeout (1s, the default)"]);
}

fn latency_must_be_a_range_below_failure_timeout() {
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nlatency = [\"10ms\", \"1ms\"]\n");
    assert_error(&text, (6, 11), &["`latency` range is reversed"]);
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nlatency = [\"1ms\"]\n");
    assert_error(&text, (6, 11), &["two durations", "found 1 element"]);
    let text = BASE.replace("nodes = 5\n", "nodes = 5\nlatency = [\"1ms\", \"1s\"]\n");
    assert_error(
        &text,
        (6, 11),
        &["latency maximum (1s) must be shorter than failure_timeout"],
    );
}

fn cluster_size_limits() {
    let text = BASE.replace("nodes = 5", "nodes = 0");
    assert_error(&text, (5, 9), &["between 1 and 10000 nodes, got 0"]);
    let text = BASE.replace("nodes = 5", "nodes = 10001");
    assert_error(&text, (5, 9), &["got 10001"]);
}

fn no_jobs_and_no_cluster() {
    let text = BASE.split("[[job]]").next().unwrap_or_default();
    assert_error(text, (1, 1), &["no jobs"]);
    let text = "name = \"x\"\nduration = \"1s\"\n";
    assert_error(text, (1, 1), &["missing required table [cluster]"]);
}

/// A missing name's help shows a name of the table it is missing from.
fn missing_name_help_fits_its_table() {
    let text = BASE.replace("name = \"db\"\n", "");
    let error = assert_error(&text, (7, 1), &["missing required key `name` in [[job]]"]);
    let help = error.help_text().unwrap_or("");
    assert!(help.contains(r#"name = "db""#), "{error}");
    let text = BASE.replace("name = \"base\"\n", "");
    let error = assert_error(&text, (1, 1), &["missing required key `name`"]);
    let help = error.help_text().unwrap_or("");
    assert!(help.contains(r#"name = "my scenario""#), "{error}");
}

fn single_bracket_array_table_gets_a_hint() {
    let text = BASE.replace("[[job]]", "[job]");
    let error = match parse("test.toml", &text) {
        Ok(_) => panic!("should fail"),
        Err(error) => error,
    };
    assert_eq!(error.line_col(), Some((7, 1)), "{error}");
    assert!(
        error.help_text().unwrap_or("").contains("[[job]]"),
        "{error}"
    );
    // And the other way round: one table written as an array of them.
    let text = BASE.replace("[cluster]", "[[cluster]]");
    let error = match parse("test.toml", &text) {
        Ok(_) => panic!("should fail"),
        Err(error) => error,
    };
    assert!(
        error
            .help_text()
            .unwrap_or("")
            .contains("`[cluster]` is one table"),
        "{error}"
    );
}

fn load_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("vigil-scenario-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ok.toml");
    std::fs::write(&path, BASE).unwrap();
    assert_eq!(load(&path).unwrap(), parse_ok(BASE));

    let missing = dir.join("missing.toml");
    let error = load(&missing).unwrap_err();
    assert_eq!(error.line_col(), None);
    assert!(
        error.message().contains("cannot read scenario file"),
        "{error}"
    );
    assert!(error.to_string().contains("missing.toml"), "{error}");

    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"name = \"caf\xe9\"\nduration = \"2s\"\n").unwrap();
    let error = load(&latin1).unwrap_err();
    assert_eq!(error.line_col(), Some((1, 12)), "{error}");
    assert!(error.message().contains("not UTF-8"), "{error}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, BASE.replace("nodes = 5", "nodes = 5\nextra = 1")).unwrap();
    let error = load(&bad).unwrap_err();
    assert_eq!(error.file_name(), bad.display().to_string());
    assert_eq!(error.line_col(), Some((6, 1)));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- robustness ----

/// A tiny deterministic generator (64-bit LCG, Knuth's constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Parses and renders `text`; a panic fails the test naming the input.
fn never_panics(text: &str) {
    let outcome = std::panic::catch_unwind(|| match parse("fuzz.toml", text) {
        Ok(scenario) => format!("{scenario:?}"),
        Err(error) => {
            let _ = error.line_col();
            let _ = error.render(true);
            error.to_string()
        }
    });
    if outcome.is_err() {
        panic!("parse panicked on input {text:?}");
    }
}

fn garbage_never_panics() {
    let mut fixed: Vec<String> = vec![
        String::new(),
        "\n".into(),
        "\u{0}\u{1}\u{7f}".into(),
        "[[[[[[[[".into(),
        format!("a = {}", "[".repeat(5000)),
        format!("{} = 1", vec!["a"; 5000].join(".")),
        format!("[{}]", vec!["b"; 5000].join(".")),
        "name = \"x\"\nduration = \"99999999999999999999999999999h\"".into(),
        "=\"\"\"\n'''".into(),
        "é = 'é'\n[é]\n[[é]]".into(),
        "name = 1979-05-27T07:32:00Z".into(),
        BASE.replace("nodes = 5", "nodes = 9223372036854775807"),
        BASE.replace("nodes = 5", "nodes = nan"),
        base_with("[[fault]]\nat = \"0s\"\nkind = \"loss\"\nrate = nan\n"),
        base_with("[[fault]]\nat = \"0s\"\nkind = \"partition\"\nsides = [[\"n99999999999999999999999\"]]\n"),
        base_with("[[fault]]\nat = \"0s\"\nkind = \"job-kill\"\nnode = \"n1\"\njob = \"db\"\n[fault.x]\n"),
        "fault = 3\njob = {}\nexpect = [1, 2]".into(),
        "\r\n\r\nname = \r\n".into(),
    ];
    let mut rng = Lcg(0x5eed);
    let seeds = [FULL, BASE];
    let alphabet: Vec<char> = "[]{}\"'=,.\n\r\t #@-_0123456789nsmhé\u{0}abcxyz+:"
        .chars()
        .collect();
    for round in 0..600 {
        let mut chars: Vec<char> = seeds[round % 2].chars().collect();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 if !chars.is_empty() => {
                    let end = (at + 1 + rng.below(8)).min(chars.len());
                    chars.drain(at.min(end)..end);
                }
                1 if at < chars.len() => {
                    let end = (at + 1 + rng.below(20)).min(chars.len());
                    let copy: Vec<char> = chars[at..end].to_vec();
                    chars.splice(at..at, copy);
                }
                _ => chars.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        fixed.push(chars.into_iter().collect());
    }
    for _ in 0..100 {
        let len = rng.below(60);
        fixed.push(
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect(),
        );
    }
    let mut ok = 0;
    for text in &fixed {
        never_panics(text);
        if parse("fuzz.toml", text).is_ok() {
            ok += 1;
        }
    }
    // The mutations are mild enough that some inputs stay valid.
    assert!(ok > 0 && ok < fixed.len(), "{ok} of {} parsed", fixed.len());
}

fn runs_stay_bounded() {
    let text = BASE.replace("\"20s\"", "\"999999h\"");
    assert_error(&text, (2, 12), &["at most 24h"]);
    let text = BASE.replace("nodes = 5", "nodes = 5\nheartbeat_interval = \"1ns\"");
    assert_error(&text, (6, 22), &["at least 1ms"]);
}

fn a_pause_lasts() {
    let text =
        base_with("[[fault]]\nat = \"1s\"\nkind = \"node-pause\"\nnode = \"n1\"\nfor = \"0s\"\n");
    assert_error(&text, (15, 7), &["`for` must be greater than 0"]);
    // So do the network's faults that take a `for` (a fault of no time is
    // no fault); without one they last to the end of the run.
    for (kind, key) in [
        ("delay", "latency = [\"1ms\", \"5ms\"]"),
        ("loss", "rate = 0.5"),
        ("duplicate", "rate = 0.5"),
    ] {
        let text = base_with(&format!(
            "[[fault]]\nat = \"1s\"\nkind = \"{kind}\"\n{key}\nfor = \"0s\"\n"
        ));
        assert_error(&text, (15, 7), &["`for` must be greater than 0"]);
        let lasting = base_with(&format!(
            "[[fault]]\nat = \"1s\"\nkind = \"{kind}\"\n{key}\n"
        ));
        assert!(
            parse("lasting.toml", &lasting).is_ok(),
            "{kind} without `for`"
        );
    }
}

fn jobs_of_one_group_agree_on_work_threads() {
    let text = base_with("[[job]]\nname = \"other\"\ngroup = \"g\"\nwork_threads = 2\n");
    assert_error(&text, (14, 16), &["work threads", "same group `g`"]);
}

const RANDOM_BASE: &str = "name = \"r\"\nduration = \"20s\"\n[cluster]\nnodes = 3\n[[job]]\nname = \"db\"\ngroup = \"g\"\n";

fn a_random_section_parses_with_defaults() {
    let text = format!(
        "{RANDOM_BASE}[random]\n[random.node-crash]\nevery = \"5s\"\nrestart_after = [\"1s\", \"3s\"]\n[random.work-thread]\ncount = 2\n"
    );
    let s = parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let r = s.random.expect("a [random] section");
    assert_eq!(
        (r.after, r.before),
        (Duration::ZERO, Duration::from_secs(20))
    );
    // Kinds come in the documented order, whatever the file's order.
    let names: Vec<&str> = r.kinds.iter().map(|k| k.fault.name()).collect();
    assert_eq!(names, ["work-thread", "node-crash"]);
    assert_eq!(r.kinds[0].rate, super::Rate::Count { min: 2, max: 2 });
}

fn random_section_errors_point_at_the_problem() {
    let cases: &[(&str, (usize, usize), &[&str])] = &[
        (
            "[random]\n[random.node-crash]\nevery = \"5s\"\nbogus = 1\n",
            (11, 1),
            &["unknown key `bogus`"],
        ),
        (
            "[random]\n[random.meteor]\ncount = 1\n",
            (9, 9),
            &["unknown key `meteor`"],
        ),
        (
            "[random]\n[random.node-crash]\ncount = 1\nevery = \"1s\"\n",
            (11, 9),
            &["`count` or `every`, not both"],
        ),
        (
            "[random]\n[random.node-crash]\nrestart_after = \"1s\"\n",
            (9, 1),
            &["needs `count`"],
        ),
        (
            "[random]\n[random.partition]\ncount = [3, 1]\nheal_after = \"1s\"\n",
            (10, 9),
            &["reversed"],
        ),
        (
            "[random]\n[random.partition]\ncount = 1\n",
            (9, 1),
            &["heal_after"],
        ),
        (
            "[random]\n[random.work-thread]\ncount = 1\njobs = [\"web\"]\n",
            (11, 9),
            &["unknown job `web`"],
        ),
        (
            "[random]\n[random.work-thread]\ncount = 1\nkinds = [\"explode\"]\n",
            (11, 10),
            &["unknown work-thread fault `explode`"],
        ),
        (
            "[random]\n[random.node-crash]\ncount = 1\nfor = [\"1s\", \"2s\"]\n",
            (11, 1),
            &["`for` is not allowed in [random.node-crash]"],
        ),
        (
            "[random]\n[random.loss]\ncount = 1\nrate = [0.5, 2.0]\nfor = \"1s\"\n",
            (11, 14),
            &["between 0 and 1"],
        ),
        (
            "[random]\nafter = \"30s\"\n[random.loss]\ncount = 1\nrate = 0.1\nfor = \"1s\"\n",
            (9, 9),
            &["must be earlier than `before`"],
        ),
        ("[random]\n", (8, 1), &["names no fault kind"]),
    ];
    for (tail, at, needles) in cases {
        assert_error(&format!("{RANDOM_BASE}{tail}"), *at, needles);
    }
}

const TASKS_BASE: &str = r#"name = "tasks"
duration = "20s"

[cluster]
nodes = 3

[[job]]
name = "ops"
group = "g"
protocol = "tasks"

[[job]]
name = "db"
group = "h"
"#;

fn tasks_parse_with_options_inline_or_as_keys() {
    let s = parse_ok(&format!(
        "{TASKS_BASE}\n[[task]]\nat = \"2s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\noptions = {{ rounds = 3 }}\n\n[[task]]\nat = \"3s\"\nmember = \"ops@n2\"\nprotocol = \"two-phase-commit\"\ntransactions = 2\npriority = true\n"
    ));
    assert_eq!(s.tasks.len(), 2);
    let (a, b) = (&s.tasks[0], &s.tasks[1]);
    assert_eq!(
        (a.at, a.member.to_string(), a.priority),
        (secs(2), "ops@n1".to_string(), false)
    );
    assert_eq!(a.options.int("rounds"), Some(3));
    assert_eq!(
        (b.protocol.as_str(), b.priority),
        ("two-phase-commit", true)
    );
    assert_eq!(b.options.int("transactions"), Some(2));
}

fn task_errors_point_at_what_is_wrong() {
    let task = |body: &str| format!("{TASKS_BASE}\n[[task]]\n{body}\n");
    for (body, needle) in [
        ("member = \"ops@n1\"\nprotocol = \"barrier\"", "missing required key `at` in [[task]]"),
        ("at = \"1s\"\nprotocol = \"barrier\"", "missing required key `member` in [[task]]"),
        ("at = \"1s\"\nmember = \"ops@n1\"", "missing required key `protocol` in [[task]]"),
        ("at = \"30s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"", "not before the end"),
        ("at = \"1s\"\nmember = \"db@n1\"\nprotocol = \"barrier\"", "job `db` runs protocol `barrier`, not `tasks`"),
        ("at = \"1s\"\nmember = \"ops@n7\"\nprotocol = \"barrier\"", "n7"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"dance\"", "unknown task protocol `dance`"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"tasks\"", "unknown task protocol `tasks`"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\npriority = \"yes\"", "expected a boolean"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\nspeed = 3", "unknown key `speed` in [[task]]"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\noptions = { rounds = -2 }", "`rounds` (an option of protocol `barrier`) must be an integer from 0"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\noptions = 3", "a table of the protocol's options"),
        ("at = \"1s\"\nmember = \"ops@n1\"\nprotocol = \"barrier\"\noptions = { rounds = 2 }\nrounds = 3", "option `rounds` is given twice"),
    ] {
        let err = parse("test.toml", &task(body)).expect_err(body);
        assert!(err.message().contains(needle), "{body}:\n{err}");
        assert!(err.to_string().contains("test.toml:"), "{err}");
    }
    let threads = TASKS_BASE.replace(
        "protocol = \"tasks\"",
        "protocol = \"tasks\"\nwork_threads = 2",
    );
    let err = parse("test.toml", &threads).expect_err("two threads");
    assert!(
        err.message().contains("a task runner is one work thread"),
        "{err}"
    );
}

fn random_task_errors_point_at_what_is_wrong() {
    let random = |body: &str| format!("{TASKS_BASE}\n[random]\n[random.task]\n{body}\n");
    // Lines: TASKS_BASE is 14 lines, then a blank, [random], [random.task].
    for (body, at, needle) in [
        (
            "count = 2\njobs = [\"db\"]",
            (19, 9),
            "job `db` cannot take tasks",
        ),
        ("count = 2\njobs = [\"web\"]", (19, 9), "unknown job `web`"),
        (
            "count = 2\nprotocols = [\"dance\"]",
            (19, 14),
            "unknown task protocol `dance`",
        ),
        (
            "count = 2\nprotocols = [\"tasks\"]",
            (19, 14),
            "unknown task protocol `tasks`",
        ),
        (
            "count = 2\nprotocols = []",
            (19, 13),
            "`protocols` must not be empty",
        ),
        ("count = 2\npriority = 1.5", (19, 12), "between 0 and 1"),
        ("count = 2\npriority = true", (19, 12), "between 0 and 1"),
        (
            "count = 2\nrestart_after = \"1s\"",
            (19, 1),
            "key `restart_after` is not allowed in [random.task]",
        ),
        ("priority = 0.5", (17, 1), "needs `count`"),
    ] {
        let err = assert_error(&random(body), at, &[needle]);
        assert!(err.to_string().contains("test.toml:"), "{err}");
    }
    // No job runs tasks.
    let plain = TASKS_BASE.replace("protocol = \"tasks\"", "");
    assert_error(
        &format!("{plain}\n[random]\n[random.task]\ncount = 1\n"),
        (17, 1),
        &["[random.task] submits tasks, but no job runs them"],
    );
}

fn random_tasks_draw_members_protocols_and_priority_within_bounds() {
    let s = parse_ok(&format!(
        "{TASKS_BASE}\n[random]\nafter = \"2s\"\nbefore = \"10s\"\n[random.task]\ncount = [20, 30]\nprotocols = [\"barrier\", \"two-phase-commit\"]\npriority = 0.5\n\n[[task]]\nat = \"1s\"\nmember = \"ops@n0\"\nprotocol = \"group-state\"\n"
    ));
    let mut priority = 0;
    let mut protocols = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let c = super::draw::concrete(&s, seed);
        assert_eq!(
            c.tasks[0].protocol, "group-state",
            "the fixed task stays first"
        );
        assert!((21..=31).contains(&c.tasks.len()), "{}", c.tasks.len());
        for t in &c.tasks[1..] {
            assert!(t.at >= secs(2) && t.at < secs(10), "{:?}", t.at);
            assert_eq!(t.member.job, "ops");
            protocols.insert(t.protocol.clone());
            // The shipped protocols get a size, so that each task ends.
            let size = t.options.int("rounds").or(t.options.int("transactions"));
            assert!(size.is_some_and(|n| (1..=6).contains(&n)), "{t:?}");
            priority += usize::from(t.priority);
        }
        assert!(
            c.tasks.windows(2).all(|w| w[0].at <= w[1].at),
            "sorted by time"
        );
        // The draw is a scenario of its own: its tasks round-trip.
        let again = parse_ok(&c.to_toml());
        assert_eq!(again.tasks.len(), c.tasks.len());
        assert_eq!(again.tasks[5].options, c.tasks[5].options);
    }
    assert_eq!(protocols.len(), 2);
    assert!((150..350).contains(&priority), "about half: {priority}");
    // `--swarm` without [random] draws tasks for a scenario with a tasks
    // job, and none for one without.
    let mut plain = s.clone();
    plain.random = None;
    let drew = (0..20).any(|seed| super::draw::draw(&plain, seed, true).0.tasks.len() > 1);
    assert!(drew, "the swarm menu has tasks");
    let menu = super::draw::default_menu(&parse_ok(BASE));
    assert!(menu.kinds.iter().all(|k| k.fault.name() != "task"));
}

fn one_way_cut_parses_and_points_at_what_is_wrong() {
    let s = parse_ok(&base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"one-way-cut\"\nfrom = [\"n2\", \"n0\"]\nto = [\"n1\"]\nheal_after = \"3s\"\n",
    ));
    let FaultKind::OneWayCut(c) = &s.faults[0].kind else {
        panic!("{:?}", s.faults[0].kind)
    };
    assert_eq!((c.from.clone(), c.to.clone()), (vec![0, 2], vec![1]));
    assert_eq!(c.links(), vec![(0, 1), (2, 1)]);
    assert_eq!(c.heal_after, Some(secs(3)));
    assert_eq!(
        s.faults[0].kind.describe(),
        "one-way cut {n0,n2} -> {n1} (heal after 3s)"
    );
    // Written back, it reads the same.
    assert_eq!(parse_ok(&s.to_toml()).faults[0].kind, s.faults[0].kind);
    let fault = |keys: &str| {
        base_with(&format!(
            "[[fault]]\nat = \"2s\"\nkind = \"one-way-cut\"\n{keys}\n"
        ))
    };
    assert_error(
        &fault("from = [\"n0\", \"n1\"]\nto = [\"n1\"]"),
        (15, 6),
        &["node `n1` is in both `from` and `to`"],
    );
    assert_error(&fault("from = [\"n0\"]"), (11, 1), &["requires key `to`"]);
    assert_error(
        &fault("from = [\"n0\"]\nto = [\"n9\"]"),
        (15, 7),
        &["unknown node `n9`"],
    );
    assert_error(
        &fault("from = []\nto = [\"n1\"]"),
        (14, 8),
        &["`from` must not be empty"],
    );
    assert_error(
        &fault("from = [\"n0\"]\nto = [\"n1\"]\nsides = []"),
        (16, 1),
        &["`sides`"],
    );
}

fn random_one_way_cuts_split_the_nodes_in_two_within_bounds() {
    let s = parse_ok(&base_with(
        "[random]\n[random.one-way-cut]\ncount = 20\nheal_after = [\"1s\", \"2s\"]\n",
    ));
    let mut directions = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let c = super::draw::concrete(&s, seed);
        assert_eq!(c.faults.len(), 20);
        for f in &c.faults {
            let FaultKind::OneWayCut(cut) = &f.kind else {
                panic!("{:?}", f.kind)
            };
            assert!(!cut.from.is_empty() && !cut.to.is_empty());
            let mut all: Vec<u16> = cut.from.iter().chain(&cut.to).copied().collect();
            all.sort_unstable();
            assert_eq!(all, vec![0, 1, 2, 3, 4], "every node on one side: {cut:?}");
            let h = cut.heal_after.expect("heals");
            assert!(h >= secs(1) && h <= secs(2));
            directions.insert(cut.from.len() < cut.to.len());
        }
        let kinds = |fs: &[Fault]| {
            fs.iter()
                .map(|f| (f.at, f.kind.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&parse_ok(&c.to_toml()).faults), kinds(&c.faults));
    }
    assert_eq!(
        directions.len(),
        2,
        "both the smaller and the larger side send"
    );
    // With `nodes`, one of them is cut off, one way or the other.
    let one = parse_ok(&base_with(
        "[random]\n[random.one-way-cut]\ncount = 10\nheal_after = \"1s\"\nnodes = [\"n3\"]\n",
    ));
    for seed in 0..10 {
        for f in &super::draw::concrete(&one, seed).faults {
            let FaultKind::OneWayCut(cut) = &f.kind else {
                panic!("{:?}", f.kind)
            };
            assert!(cut.from == [3] || cut.to == [3], "{cut:?}");
        }
    }
    assert_error(
        "name = \"x\"\nduration = \"5s\"\n[cluster]\nnodes = 1\n[[job]]\nname = \"db\"\ngroup = \"g\"\n[random]\n[random.one-way-cut]\ncount = 1\nheal_after = \"1s\"\n",
        (9, 1),
        &["needs at least 2 nodes"],
    );
}

fn duplicate_parses_draws_and_points_at_what_is_wrong() {
    let s = parse_ok(&base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"duplicate\"\nrate = 0.25\nnodes = [\"n1\"]\nfor = \"3s\"\n",
    ));
    let FaultKind::Duplicate(d) = &s.faults[0].kind else {
        panic!("{:?}", s.faults[0].kind)
    };
    assert_eq!(
        (d.rate, d.nodes.clone(), d.duration),
        (0.25, Some(vec![1]), Some(secs(3)))
    );
    assert_eq!(
        s.faults[0].kind.describe(),
        "duplicate 0.25 on links of n1 for 3s"
    );
    assert_eq!(parse_ok(&s.to_toml()).faults[0].kind, s.faults[0].kind);
    let fault = |keys: &str| {
        base_with(&format!(
            "[[fault]]\nat = \"2s\"\nkind = \"duplicate\"\n{keys}\n"
        ))
    };
    assert_error(
        &fault("rate = 1.5"),
        (14, 8),
        &["duplicate rate 1.5 is out of range"],
    );
    assert_error(&fault("for = \"1s\""), (11, 1), &["requires key `rate`"]);
    assert_error(&fault("rate = \"half\""), (14, 8), &["expected a number"]);
    // [random.duplicate]: bursts at a drawn rate, on every link or on the
    // links of one node drawn from `nodes`.
    let r = parse_ok(&base_with(
        "[random]\n[random.duplicate]\ncount = 10\nrate = [0.2, 0.4]\nfor = [\"1s\", \"2s\"]\nnodes = [\"n2\", \"n3\"]\n",
    ));
    for seed in 0..10 {
        let c = super::draw::concrete(&r, seed);
        assert_eq!(c.faults.len(), 10);
        for f in &c.faults {
            let FaultKind::Duplicate(d) = &f.kind else {
                panic!("{:?}", f.kind)
            };
            assert!((0.2..=0.4).contains(&d.rate), "{d:?}");
            assert!(
                d.nodes == Some(vec![2]) || d.nodes == Some(vec![3]),
                "{d:?}"
            );
            let l = d.duration.expect("ends");
            assert!(l >= secs(1) && l <= secs(2));
        }
        let kinds = |fs: &[Fault]| {
            fs.iter()
                .map(|f| (f.at, f.kind.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&parse_ok(&c.to_toml()).faults), kinds(&c.faults));
    }
    // The swarm's default menu has it.
    let menu = super::draw::default_menu(&parse_ok(BASE));
    assert!(menu.kinds.iter().any(|k| k.fault.name() == "duplicate"));
}

fn joined_and_occurrence_parse_and_refuse_what_can_never_hold() {
    let member = |job: &str, node: u16| MemberName {
        job: job.into(),
        node,
    };
    let crash =
        "[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"n2\"\nrestart_after = \"1s\"\n";
    let s = parse_ok(&base_with(&format!(
        "{crash}\n[[expect]]\nkind = \"membership-change\"\nmember = \"db@n2\"\noccurrence = 1\n\n[[expect]]\nkind = \"joined\"\nmember = \"db@n2\"\nafter = \"3s\"\nwithin = \"2s\"\nmembers = [\"db@n2\", \"db@n0\", \"db@n1\"]\noccurrence = 1\n"
    )));
    let Expectation::Joined {
        member: m,
        after,
        within,
        members,
        occurrence,
        ..
    } = &s.expectations[1]
    else {
        panic!("{:?}", s.expectations[1])
    };
    assert_eq!(m, &member("db", 2));
    assert_eq!(
        (*after, *within, *occurrence),
        (Some(secs(3)), Some(secs(2)), Some(1))
    );
    assert_eq!(
        members.clone().unwrap(),
        vec![member("db", 0), member("db", 1), member("db", 2)]
    );
    assert_eq!(parse_ok(&s.to_toml()).expectations, s.expectations);
    let expect = |keys: &str| base_with(&format!("{crash}\n[[expect]]\n{keys}\n"));
    // `[[expect]]` is line 17, its keys 18, 19, 20.
    assert_error(
        &expect("kind = \"membership-change\"\nmember = \"db@n2\"\noccurrence = 2"),
        (20, 14),
        &["`occurrence = 2` can never hold: only 1 of this scenario's faults can make `db@n2` leave"],
    );
    assert_error(
        &expect("kind = \"membership-change\"\nmember = \"db@n1\"\noccurrence = 1"),
        (20, 14),
        &["none of this scenario's faults"],
    );
    assert_error(
        &expect("kind = \"joined\"\nmember = \"db@n2\"\noccurrence = 0"),
        (20, 14),
        &["`occurrence` counts from 1"],
    );
    assert_error(
        &expect("kind = \"joined\"\nmember = \"db@n2\"\nmembers = [\"db@n0\"]"),
        (20, 11),
        &["`members` can never hold", "holds `db@n2` itself"],
    );
    assert_error(
        &expect("kind = \"joined\"\nmember = \"db@n2\"\nreason = \"fault\""),
        (20, 1),
        &["reason"],
    );
    assert_error(
        &expect("kind = \"joined\"\nafter = \"1s\""),
        (17, 1),
        &["requires key `member`"],
    );
    // Without `occurrence`, a change must still be possible: some fault
    // that may make the member leave (or a lossy network).
    assert_error(
        &expect("kind = \"membership-change\"\nmember = \"db@n1\""),
        (17, 1),
        &["this expectation can never hold: none of this scenario's faults can make `db@n1` leave"],
    );
    parse_ok(&base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"one-way-cut\"\nfrom = [\"n1\"]\nto = [\"n0\", \"n2\"]\n\n[[expect]]\nkind = \"membership-change\"\nmember = \"db@n1\"\n",
    ));
    parse_ok(
        &base_with("[[expect]]\nkind = \"membership-change\"\nmember = \"db@n1\"\n")
            .replace("nodes = 5\n", "nodes = 5\nloss = 0.2\n"),
    );
    // An `after` past the end, a `within` of nothing.
    assert_error(
        &expect("kind = \"joined\"\nmember = \"db@n2\"\nafter = \"20s\""),
        (20, 9),
        &["`after = \"20s\"` can never hold: the scenario ends at 20s"],
    );
    assert_error(
        &expect("kind = \"membership-change\"\nmember = \"db@n2\"\nwithin = \"0ms\""),
        (20, 10),
        &["`within = \"0ms\"` can never hold"],
    );
    assert_error(
        &expect("kind = \"joined\"\nmember = \"db@n2\"\nwithin = \"0s\""),
        (20, 10),
        &["can never hold: a change takes time"],
    );
    // With a [random] section, faults are drawn: any occurrence may hold.
    parse_ok(&base_with(
        "[random]\n[random.node-crash]\ncount = 3\nrestart_after = \"1s\"\n\n[[expect]]\nkind = \"membership-change\"\nmember = \"db@n2\"\noccurrence = 3\n",
    ));
}

fn node_stop_parses_like_a_crash_and_draws() {
    let s = parse_ok(&base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"node-stop\"\nnode = \"n1\"\nrestart_after = \"3s\"\n",
    ));
    let FaultKind::NodeStop(f) = &s.faults[0].kind else {
        panic!("{:?}", s.faults[0].kind)
    };
    assert_eq!((f.node, f.restart_after), (1, Some(secs(3))));
    assert_eq!(
        s.faults[0].kind.describe(),
        "node-stop n1 (restart after 3s)"
    );
    assert_eq!(parse_ok(&s.to_toml()).faults[0].kind, s.faults[0].kind);
    let fault = |keys: &str| {
        base_with(&format!(
            "[[fault]]\nat = \"2s\"\nkind = \"node-stop\"\n{keys}\n"
        ))
    };
    assert_error(&fault("node = \"n9\""), (14, 8), &["unknown node `n9`"]);
    assert_error(
        &fault("restart_after = \"1s\""),
        (11, 1),
        &["requires key `node`"],
    );
    let r = parse_ok(&base_with(
        "[random]\n[random.node-stop]\ncount = 4\nrestart_after = [\"1s\", \"2s\"]\nnodes = [\"n3\"]\n",
    ));
    let c = super::draw::concrete(&r, 7);
    assert_eq!(c.faults.len(), 4);
    for f in &c.faults {
        let FaultKind::NodeStop(stop) = &f.kind else {
            panic!("{:?}", f.kind)
        };
        assert_eq!(stop.node, 3);
        let back = stop.restart_after.expect("restarts");
        assert!(back >= secs(1) && back <= secs(2));
    }
    let menu = super::draw::default_menu(&parse_ok(BASE));
    assert!(menu.kinds.iter().any(|k| k.fault.name() == "node-stop"));
}

/// A clock fault that changes nothing is refused at the value that does
/// nothing; a chance of the wrong type says what a chance is.
fn errors_point_at_the_value_and_say_what_was_expected() {
    let clock = |keys: &str| {
        base_with(&format!(
            "[[fault]]\nat = \"2s\"\nkind = \"clock\"\nnode = \"n1\"\n{keys}\n"
        ))
    };
    assert_error(
        &clock("offset = \"0s\""),
        (15, 10),
        &["needs an `offset` above 0"],
    );
    assert_error(&clock("rate = 1.0"), (15, 8), &["or a `rate` other than 1"]);
    assert_error(
        &base_with("[random]\n[random.node-crash]\ncount = 2\nlose_disk = true\n"),
        (14, 13),
        &["expected a probability: a number from 0 to 1"],
    );
}

fn engine_crash_parses_like_a_stop_and_draws() {
    let s = parse_ok(&base_with(
        "[[fault]]\nat = \"2s\"\nkind = \"engine-crash\"\nnode = \"n1\"\nrestart_after = \"500ms\"\n",
    ));
    let FaultKind::EngineCrash(f) = &s.faults[0].kind else {
        panic!("{:?}", s.faults[0].kind)
    };
    assert_eq!(
        (f.node, f.restart_after),
        (1, Some(Duration::from_millis(500)))
    );
    assert_eq!(
        s.faults[0].kind.describe(),
        "engine-crash n1 (restart after 500ms)"
    );
    assert_eq!(parse_ok(&s.to_toml()).faults[0].kind, s.faults[0].kind);
    let fault = |keys: &str| {
        base_with(&format!(
            "[[fault]]\nat = \"2s\"\nkind = \"engine-crash\"\n{keys}\n"
        ))
    };
    assert_error(&fault("node = \"n9\""), (14, 8), &["unknown node `n9`"]);
    assert_error(
        &fault("node = \"n1\"\nlose_disk = true"),
        (15, 1),
        &["key `lose_disk` is not allowed for kind `engine-crash`"],
    );
    let r = parse_ok(&base_with(
        "[random]\n[random.engine-crash]\ncount = 3\nrestart_after = [\"100ms\", \"2s\"]\nnodes = [\"n2\"]\n",
    ));
    let c = super::draw::concrete(&r, 7);
    assert_eq!(c.faults.len(), 3);
    for f in &c.faults {
        let FaultKind::EngineCrash(e) = &f.kind else {
            panic!("{:?}", f.kind)
        };
        assert_eq!(e.node, 2);
        let back = e.restart_after.expect("restarts");
        assert!(back >= Duration::from_millis(100) && back <= secs(2));
    }
    let menu = super::draw::default_menu(&parse_ok(BASE));
    assert!(menu.kinds.iter().any(|k| k.fault.name() == "engine-crash"));
}

unit_tests![
    full_file_parses_to_the_expected_scenario,
    defaults_apply,
    a_group_of_300_members_is_warned_of,
    faults_at_equal_times_keep_file_order,
    reason_and_member_strings_round_trip,
    bad_toml_syntax,
    a_number_too_large_for_any_key,
    unknown_top_level_key,
    unknown_key_in_cluster,
    top_level_key_after_a_table_gets_a_hint,
    missing_duration,
    missing_name,
    missing_key_in_a_table_points_at_its_header,
    node_that_does_not_exist,
    malformed_node_name,
    unknown_duration_unit,
    duration_of_the_wrong_type,
    partition_sides_that_overlap,
    partition_sides_that_leave_a_node_out,
    partition_with_a_single_non_empty_side,
    fault_at_or_after_the_duration,
    negative_loss_rate,
    cluster_loss_out_of_range,
    key_not_allowed_for_the_kind,
    quorum_keys_are_checked,
    unknown_fault_kind_lists_the_valid_ones,
    unknown_expectation_kind_and_reason,
    job_referencing_an_unknown_node,
    job_with_a_duplicate_node,
    duplicate_job_names,
    job_with_an_unknown_protocol,
    protocol_options_are_read_with_their_types,
    an_option_the_protocol_does_not_take_points_at_its_key,
    an_option_of_the_wrong_type_points_at_its_value,
    jobs_of_one_group_must_agree_on_options,
    protocol_outcome_expectations_need_the_protocol_running,
    step_time_must_be_shorter_than_work_deadline,
    fault_on_a_node_the_job_does_not_run_on,
    thread_index_out_of_range,
    bad_member_name,
    final_view_member_of_another_group,
    failure_timeout_not_above_heartbeat_interval,
    latency_must_be_a_range_below_failure_timeout,
    cluster_size_limits,
    no_jobs_and_no_cluster,
    missing_name_help_fits_its_table,
    single_bracket_array_table_gets_a_hint,
    load_reads_files_and_reports_io_errors,
    garbage_never_panics,
    runs_stay_bounded,
    a_pause_lasts,
    jobs_of_one_group_agree_on_work_threads,
    a_random_section_parses_with_defaults,
    random_section_errors_point_at_the_problem,
    tasks_parse_with_options_inline_or_as_keys,
    task_errors_point_at_what_is_wrong,
    random_task_errors_point_at_what_is_wrong,
    random_tasks_draw_members_protocols_and_priority_within_bounds,
    one_way_cut_parses_and_points_at_what_is_wrong,
    random_one_way_cuts_split_the_nodes_in_two_within_bounds,
    duplicate_parses_draws_and_points_at_what_is_wrong,
    joined_and_occurrence_parse_and_refuse_what_can_never_hold,
    node_stop_parses_like_a_crash_and_draws,
    errors_point_at_the_value_and_say_what_was_expected,
    engine_crash_parses_like_a_stop_and_draws,
];
