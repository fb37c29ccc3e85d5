//! `vigil run FILE --real`: one `vigil node` process per node on 127.0.0.1,
//! the scenario's faults struck at their wall-clock times, and one trace
//! merged from the nodes' own for the simulator's checks.
//!
//! The launcher is a [`Plant`]: [`faults::apply`] decides what each fault
//! does, as for the simulators, and the launcher carries out its
//! primitives on processes: a crash is SIGKILL (and a restart a fresh
//! process on the same disk), a pause SIGSTOP then SIGCONT, a partition,
//! loss and delay commands to the nodes' packet filters, the rest commands
//! to the node that runs the job.

use super::super::faults::{self, Later, Plant};
use super::super::net::Net;
use super::{read_node_trace, unix_ns, Clock, TraceFileError};
use crate::scenario::Scenario;
use crate::trace::{Entry, NetStats, NodeStatus, RunEnd, Trace, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use vigil_engine::job::FaultKind;
use vigil_engine::{Dur, MemberId, Time};

/// Most nodes a real run starts on this machine, one process each.
pub const REAL_NODES_MAX: u16 = 32;

/// How long the launcher waits for a node to answer a question.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How often a waiting launcher looks whether it should stop.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// How long a node has to stop once asked, before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// What to run for real.
pub struct RealRun<'a> {
    /// The scenario, its random faults drawn.
    pub scenario: &'a Scenario,
    pub seed: u64,
    /// The `vigil` program that runs each node.
    pub program: PathBuf,
    /// Pass each membership change through to stderr as members take it.
    pub live: bool,
    /// Keep the nodes' files here (default: a temporary directory).
    pub keep: Option<PathBuf>,
    /// Set (by a Ctrl-C handler, say) to end the run early.
    pub stop: Option<&'a AtomicBool>,
}

/// Why `scenario` cannot run on a real network, if it cannot.
pub fn refusal(scenario: &Scenario) -> Option<String> {
    if scenario.cluster.nodes > REAL_NODES_MAX {
        return Some(format!(
            "a real run starts one process per node on this machine, at most {REAL_NODES_MAX}; this scenario has {} nodes (run it in the simulator, or on several hosts with `vigil node`)",
            scenario.cluster.nodes
        ));
    }
    None
}

/// One node's process, and what the launcher knows of it.
struct Proc {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    replies: Option<Receiver<serde_json::Value>>,
    status: NodeStatus,
    /// The jobs that run there (again after a restart).
    wanted: BTreeSet<String>,
    /// What it last said of its jobs (asked while it could answer).
    running: BTreeMap<String, Option<MemberId>>,
    /// Its engine crashed (`engine-crash`) and its jobs live on.
    engine_down: bool,
}

struct Launcher<'a> {
    run: &'a RealRun<'a>,
    clock: Clock,
    /// The clock rates and slowness that overlapping faults set.
    layers: crate::runtime::faults::Layers,
    /// Each node's clock, as the clock faults set it.
    clocks: Vec<crate::runtime::clock::NodeClock>,
    epoch_ns: u64,
    dir: PathBuf,
    cluster_file: PathBuf,
    /// Each node's socket, bound to its address in the cluster file and
    /// held for the whole run: a node inherits it, and one restarted
    /// after a crash finds its port still its own.
    sockets: Vec<UdpSocket>,
    procs: Vec<Proc>,
    net: Net,
    entries: Vec<Entry>,
    later: Vec<(Time, u64, Later)>,
    seq: u64,
    next_id: u64,
}

/// A real run's merged trace, and when it was cut short, if it was.
pub struct RealTrace {
    pub trace: Trace,
    pub interrupted: Option<Time>,
}

/// Runs the scenario on real processes and returns the merged trace.
/// [`RealRun::stop`] ends it early: its nodes stopped, its trace up to then.
pub fn run_real(run: &RealRun<'_>) -> Result<RealTrace, String> {
    let scenario = run.scenario;
    if let Some(why) = refusal(scenario) {
        return Err(why);
    }
    let temp = match &run.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
            // A node appends to its trace and reads its disk: start afresh,
            // removing the files an earlier run kept here and nothing else.
            for old in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
                let name = old.file_name().to_string_lossy().into_owned();
                if is_kept_file(&name) {
                    let _ = std::fs::remove_file(old.path());
                }
            }
            None
        }
        None => Some(
            tempfile::Builder::new()
                .prefix("vigil-real-")
                .tempdir()
                .map_err(|e| format!("cannot make a directory for the run: {e}"))?,
        ),
    };
    let dir = match (&temp, &run.keep) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(k)) => k.clone(),
        (None, None) => unreachable!("one or the other"),
    };
    let mut cluster = scenario.clone();
    let sockets = bind_ports(scenario.cluster.nodes)?;
    cluster.cluster.addresses = (sockets.iter())
        .map(|s| s.local_addr().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let cluster_file = dir.join("cluster.toml");
    std::fs::write(&cluster_file, cluster.to_toml())
        .map_err(|e| format!("cannot write {}: {e}", cluster_file.display()))?;
    let epoch_ns = unix_ns();
    let mut launcher = Launcher {
        run,
        clock: Clock::from_epoch(epoch_ns),
        layers: Default::default(),
        clocks: vec![
            crate::runtime::clock::NodeClock::TRUE;
            usize::from(run.scenario.cluster.nodes)
        ],
        epoch_ns,
        dir,
        cluster_file,
        sockets,
        procs: (0..scenario.cluster.nodes)
            .map(|n| Proc {
                child: None,
                stdin: None,
                replies: None,
                status: NodeStatus::Up,
                wanted: scenario
                    .jobs
                    .iter()
                    .filter(|j| j.nodes.contains(&n))
                    .map(|j| j.name.clone())
                    .collect(),
                running: BTreeMap::new(),
                engine_down: false,
            })
            .collect(),
        net: Net::new(scenario.cluster.loss),
        entries: Vec::new(),
        later: Vec::new(),
        seq: 0,
        next_id: 0,
    };
    let result = launcher.drive();
    let died = launcher.died();
    launcher.stop_all();
    let interrupted = result?;
    if let Some(died) = died {
        return Err(died);
    }
    let end = interrupted.unwrap_or(Time(scenario.duration.as_nanos() as u64));
    Ok(RealTrace {
        trace: launcher.merge(end)?,
        interrupted,
    })
}

/// Whether `name` is one of the files a real run keeps: `cluster.toml`,
/// `nK.jsonl`, `nK.disk.json` (and its `nK.disk.tmp`), `nK.stderr`.
pub fn is_kept_file(name: &str) -> bool {
    let node_file = |rest: &str| {
        rest.strip_prefix('n').is_some_and(|r| {
            let digits = r.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && [".jsonl", ".disk.json", ".disk.tmp", ".stderr"].contains(&&r[digits..])
        })
    };
    name == "cluster.toml" || node_file(name)
}

/// Lets the process `cmd` starts inherit the descriptor `fd` (for
/// `vigil node --socket-fd`): the child's copy stays open across exec, and
/// only the child's, so no other process started meanwhile gets it.
pub fn inherit(cmd: &mut Command, fd: RawFd) {
    // SAFETY: between fork and exec the closure calls only fcntl(2), which
    // is async-signal-safe, on a descriptor the child has.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `n` sockets on free UDP ports of 127.0.0.1, one for each node.
fn bind_ports(n: u16) -> Result<Vec<UdpSocket>, String> {
    (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot find free UDP ports on 127.0.0.1: {e}"))
}

impl Launcher<'_> {
    fn trace_path(&self, node: u16) -> PathBuf {
        self.dir.join(format!("n{node}.jsonl"))
    }

    fn stderr_path(&self, node: u16) -> PathBuf {
        self.dir.join(format!("n{node}.stderr"))
    }

    /// Starts node `node`'s process, with the jobs it wants.
    fn spawn(&mut self, node: u16) -> Result<(), String> {
        let jobs: Vec<String> = self.procs[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect();
        // The node sees to mimalloc's setting itself
        // (`super::lazy_commit_for_nodes`).
        let mut cmd = Command::new(&self.run.program);
        cmd.arg("node")
            .arg(&self.cluster_file)
            .args(["--node", &format!("n{node}")])
            .arg("--trace")
            .arg(self.trace_path(node))
            .arg("--disk")
            .arg(self.dir.join(format!("n{node}.disk.json")))
            .args(["--epoch-ns", &self.epoch_ns.to_string()])
            .args(["--seed", &self.run.seed.to_string()])
            .args(["--jobs", &jobs.join(",")])
            // Its own process group: a Ctrl-C at the terminal reaches the
            // launcher only, which stops the nodes in order. (A launcher
            // that dies closes their stdin, and they stop.)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // What a node says when it cannot go on (its disk file
            // unreadable, say) is kept, for the error that says it ended.
            .stderr(if self.run.live {
                Stdio::inherit()
            } else {
                std::fs::File::create(self.stderr_path(node))
                    .map_or_else(|_| Stdio::null(), Stdio::from)
            });
        if !self.run.live {
            cmd.arg("--quiet");
        }
        // The node's socket, inherited.
        let fd = self.sockets[usize::from(node)].as_raw_fd();
        cmd.args(["--socket-fd", &fd.to_string()]);
        inherit(&mut cmd, fd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.run.program.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Ok(value) = serde_json::from_str(&line) {
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        let p = &mut self.procs[usize::from(node)];
        p.stdin = child.stdin.take();
        p.child = Some(child);
        p.replies = Some(rx);
        p.running = p.wanted.iter().map(|j| (j.clone(), None)).collect();
        Ok(())
    }

    /// Sends `command` to `node`; its id.
    fn tell(&mut self, node: u16, command: &str) -> Option<u64> {
        self.next_id += 1;
        let id = self.next_id;
        let stdin = self.procs[usize::from(node)].stdin.as_mut()?;
        writeln!(stdin, "@{id} {command}").ok()?;
        stdin.flush().ok()?;
        Some(id)
    }

    /// Asks `node`, which is up, and waits for its answer.
    fn ask(&mut self, node: u16, command: &str) -> Option<serde_json::Value> {
        let id = self.tell(node, command)?;
        let replies = self.procs[usize::from(node)].replies.as_ref()?;
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let reply = replies.recv_timeout(left).ok()?;
            if reply["id"].as_u64() == Some(id) {
                return Some(reply);
            }
        }
    }

    /// Strikes the faults at their times, until the scenario's end (or a
    /// stop: when it came).
    fn drive(&mut self) -> Result<Option<Time>, String> {
        for node in 0..self.run.scenario.cluster.nodes {
            self.spawn(node)?;
        }
        let end = Time(self.run.scenario.duration.as_nanos() as u64);
        // Faults and task submissions in time order; at one time, faults
        // first (as in the simulators).
        let scenario = &self.run.scenario;
        let mut faults: Vec<(Time, bool, usize)> = (scenario.faults.iter().enumerate())
            .map(|(i, f)| (Time(f.at.as_nanos() as u64), false, i))
            .chain(
                (scenario.tasks.iter().enumerate())
                    .map(|(i, t)| (Time(t.at.as_nanos() as u64), true, i)),
            )
            .collect();
        faults.sort();
        let mut faults = faults.into_iter().peekable();
        loop {
            let next_fault = faults.peek().map(|(at, _, _)| *at);
            let next_later = self.later.iter().map(|(at, seq, _)| (*at, *seq)).min();
            let next = [next_fault, next_later.map(|(at, _)| at), Some(end)]
                .into_iter()
                .flatten()
                .min()
                .expect("the end is always there");
            if !self.sleep_until(next) {
                return Ok(Some(self.clock.now()));
            }
            if next >= end {
                return Ok(None);
            }
            // Among events due together, the scenario's faults come first,
            // as in the simulators (they were scheduled first).
            if next_fault != Some(next) {
                let (_, seq) = next_later.expect("a fault's later half is due");
                let i = self
                    .later
                    .iter()
                    .position(|(_, s, _)| *s == seq)
                    .expect("it is there");
                let (_, _, later) = self.later.remove(i);
                faults::follow(self, later);
                continue;
            }
            let (_, is_task, index) = faults.next().expect("a fault is due");
            if is_task {
                let task = self.run.scenario.tasks[index].clone();
                faults::submit_task(self, index, &task);
            } else {
                let kind = self.run.scenario.faults[index].kind.clone();
                faults::apply(self, index, &kind);
            }
        }
    }

    /// Waits until `at`; false if the run was stopped first.
    fn sleep_until(&self, at: Time) -> bool {
        loop {
            if self.run.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return false;
            }
            let now = self.clock.now();
            if at <= now {
                return true;
            }
            std::thread::sleep(Duration::from_nanos(at.0 - now.0).min(INTERRUPT_POLL));
        }
    }

    /// A node process that ended by itself before the end (no fault of
    /// the scenario's killed it): a bug in vigil, or a node that could not
    /// start (its disk file unreadable, say).
    fn died(&mut self) -> Option<String> {
        let (node, status) = (0u16..).zip(&mut self.procs).find_map(|(node, p)| {
            let status = p.child.as_mut()?.try_wait().ok()??;
            Some((node, status))
        })?;
        // What it said as it ended, if anything (not with --live: it went
        // to the terminal).
        let said = std::fs::read_to_string(self.stderr_path(node)).unwrap_or_default();
        let said = match said.trim() {
            "" => String::new(),
            said => format!(": {said}"),
        };
        Some(format!(
            "node n{node}'s process ended by itself before the end of the run ({status}){said}"
        ))
    }

    /// Ends every process: those up are asked to stop (a paused one is let
    /// go first), and any still there after a while is killed.
    fn stop_all(&mut self) {
        for node in 0..self.procs.len() as u16 {
            let p = &self.procs[usize::from(node)];
            if p.status == NodeStatus::Paused {
                signal(p.child.as_ref(), libc::SIGCONT);
            }
            self.tell(node, "quit");
            self.procs[usize::from(node)].stdin = None;
        }
        let deadline = Instant::now() + STOP_WAIT;
        for p in &mut self.procs {
            let Some(child) = p.child.as_mut() else {
                continue;
            };
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
            p.child = None;
        }
    }

    /// The run's trace: the launcher's own entries (the faults) and every
    /// node's, in time order, up to the end.
    fn merge(&mut self, end: Time) -> Result<Trace, String> {
        let scenario = self.run.scenario;
        let mut entries = std::mem::take(&mut self.entries);
        let mut net = NetStats::default();
        let mut live_members = BTreeSet::new();
        for node in 0..scenario.cluster.nodes {
            let path = self.trace_path(node);
            if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
                return Err(format!(
                    "node n{node} wrote no trace: its process did not start (try `{} node {} --node n{node}` by hand)",
                    self.run.program.display(),
                    self.cluster_file.display()
                ));
            }
            let t = read_node_trace(&path).map_err(|e| e.to_string())?;
            entries.extend(t.entries.into_iter().filter(|e| e.at < end));
            net.sent += t.net.sent;
            net.delivered += t.net.delivered;
            net.duplicated += t.net.duplicated;
            if self.procs[usize::from(node)].status == NodeStatus::Up {
                live_members.extend(t.end.into_iter().flat_map(|e| e.live_members));
            }
        }
        let statuses = self.procs.iter().map(|p| p.status).collect();
        Ok(assemble(
            scenario,
            self.run.seed,
            entries,
            net,
            end,
            statuses,
            live_members,
        ))
    }
}

/// A trace from the entries of every node (and the launcher's), by time.
fn assemble(
    scenario: &Scenario,
    seed: u64,
    mut entries: Vec<Entry>,
    net: NetStats,
    end: Time,
    nodes: Vec<NodeStatus>,
    live_members: BTreeSet<MemberId>,
) -> Trace {
    entries.sort_by_key(|e| e.at);
    let mut trace = super::super::new_trace(scenario, seed, super::super::Driver::Real);
    trace.entries = entries.into_iter().collect();
    trace.net = net;
    trace.end = RunEnd {
        at: end,
        nodes,
        live_members,
    };
    trace
}

/// One trace from the trace files of every node of `cluster` (`vigil
/// check`): nodes run by hand, on one host or several, with a shared
/// `--epoch-ns`. A node whose file ends with how it stopped counts as up
/// at the end, one whose file does not as crashed; the run ends with the
/// last entry. Faults struck by hand are not in the trace, so the checks
/// judge only what the nodes recorded (a work thread's fault, say).
pub fn merge_files(cluster: &Scenario, files: &[PathBuf]) -> Result<Trace, TraceFileError> {
    let nodes = usize::from(cluster.cluster.nodes);
    let mut read: Vec<Option<(PathBuf, super::NodeTrace)>> = (0..nodes).map(|_| None).collect();
    for path in files {
        let t = read_node_trace(path)?;
        let node = t.entries.iter().find_map(|e| match &e.event {
            TraceEvent::NodeBoot { node } => Some(usize::from(node.0)),
            _ => None,
        });
        let at = |message: String| TraceFileError::at(path, None, message);
        let Some(node) = node else {
            return Err(at("no node boots in it: not a node's trace".to_string()));
        };
        if node >= nodes {
            let why = format!(
                "the trace of n{node}, but the cluster has nodes n0..n{}",
                nodes - 1
            );
            return Err(at(why));
        }
        if let Some((other, _)) = &read[node] {
            let why = format!("it and {} are both n{node}'s trace", other.display());
            return Err(at(why));
        }
        read[node] = Some((path.clone(), t));
    }
    let missing: Vec<String> = (0..nodes)
        .filter(|k| read[*k].is_none())
        .map(|k| format!("n{k}"))
        .collect();
    if !missing.is_empty() {
        return Err(TraceFileError {
            file: None,
            line: None,
            message: format!(
                "no trace for {}: give one file per node",
                missing.join(", ")
            ),
        });
    }
    let mut entries = Vec::new();
    let mut net = NetStats::default();
    let mut statuses = Vec::new();
    let mut live_members = BTreeSet::new();
    for (_, t) in read.into_iter().flatten() {
        entries.extend(t.entries);
        net.sent += t.net.sent;
        net.delivered += t.net.delivered;
        net.duplicated += t.net.duplicated;
        statuses.push(if t.end.is_some() {
            NodeStatus::Up
        } else {
            NodeStatus::Crashed
        });
        live_members.extend(t.end.into_iter().flat_map(|e| e.live_members));
    }
    let end = entries.iter().map(|e| e.at).max().unwrap_or(Time(0));
    let mut run = cluster.clone();
    run.duration = Duration::from_nanos(end.0);
    Ok(assemble(&run, 0, entries, net, end, statuses, live_members))
}

fn signal(child: Option<&Child>, signal: libc::c_int) {
    if let Some(child) = child {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on our own child's pid, which we have not
            // reaped yet (so the pid is still ours).
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

fn fault_word(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Panic => "panic",
        FaultKind::Error => "error",
        FaultKind::Hang => "hang",
    }
}

impl Plant for Launcher<'_> {
    fn now(&self) -> Time {
        self.clock.now()
    }

    fn fault_name(&self, index: usize) -> &'static str {
        self.run.scenario.faults[index].kind.name()
    }

    fn record(&mut self, event: TraceEvent) {
        let at = self.clock.now();
        self.entries.push(Entry { at, event });
    }

    fn status(&self, node: u16) -> NodeStatus {
        self.procs[usize::from(node)].status
    }

    fn set_status(&mut self, node: u16, status: NodeStatus) {
        self.procs[usize::from(node)].status = status;
    }

    fn net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R {
        let before = self.net.faults().len();
        let r = f(&mut self.net);
        let new: Vec<String> = self.net.faults()[before..]
            .iter()
            .filter_map(|f| serde_json::to_string(f).ok())
            .collect();
        for fault in new {
            for node in 0..self.procs.len() as u16 {
                self.tell(node, &format!("net {fault}"));
            }
        }
        r
    }

    fn links_cut(&mut self, links: &[(u16, u16)]) {
        for (a, b) in links {
            // Dropped where it is sent: a one-way cut leaves `b -> a`.
            self.tell(*a, &format!("cut-to n{b}"));
        }
    }

    fn links_restored(&mut self, links: &[(u16, u16)]) {
        for (a, b) in links {
            self.tell(*a, &format!("restore n{b}"));
        }
    }

    fn wanted(&self, node: u16) -> Vec<String> {
        self.procs[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect()
    }

    fn layers<R>(&mut self, f: impl FnOnce(&mut crate::runtime::faults::Layers) -> R) -> R {
        f(&mut self.layers)
    }

    fn set_slowness(&mut self, node: u16, factor_milli: u32) {
        let factor = f64::from(factor_milli) / 1e3;
        self.tell(node, &format!("slow {factor}"));
    }

    fn clock(&self, node: u16) -> crate::runtime::clock::NodeClock {
        self.clocks[usize::from(node)]
    }

    /// The node's process keeps its own clock: it is told the step and the
    /// rate, from its own now. A restarted process keeps true time.
    fn set_clock(&mut self, node: u16, clock: crate::runtime::clock::NodeClock) {
        let old = self.clocks[usize::from(node)];
        let now = self.now();
        let offset = clock.local(now).saturating_sub(old.local(now));
        self.clocks[usize::from(node)] = clock;
        let rate = f64::from(clock.rate_ppm()) / 1e6;
        self.tell(node, &format!("clock {}ns {rate}", offset.0));
    }

    /// The node's disk file goes (the process is down already).
    fn lose_disk(&mut self, node: u16) {
        let _ = std::fs::remove_file(self.dir.join(format!("n{node}.disk.json")));
        let _ = std::fs::remove_file(self.dir.join(format!("n{node}.disk.tmp")));
    }

    fn failure_timeout(&self) -> Dur {
        Dur::from_std(self.run.scenario.cluster.failure_timeout)
    }

    fn stop_engine(&mut self, node: u16, by: Time) {
        let within = by.saturating_sub(self.now());
        self.tell(node, &format!("stop {}ms", within.0 / 1_000_000));
    }

    fn is_wanted(&self, node: u16, job: &str) -> bool {
        self.procs[usize::from(node)].wanted.contains(job)
    }

    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool) {
        let set = &mut self.procs[usize::from(node)].wanted;
        if wanted {
            set.insert(job.to_string());
        } else {
            set.remove(job);
        }
    }

    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>> {
        let p = &self.procs[usize::from(node)];
        match p.status {
            NodeStatus::Crashed => None,
            // A frozen node cannot answer: what it said last stands.
            NodeStatus::Paused => p.running.get(job).cloned(),
            NodeStatus::Up => {
                let reply = self.ask(node, &format!("running {job}"))?;
                let known = &mut self.procs[usize::from(node)].running;
                if reply["running"].as_bool() != Some(true) {
                    known.remove(job);
                    return None;
                }
                let member: Option<MemberId> = serde_json::from_value(reply["member_id"].clone())
                    .ok()
                    .flatten();
                known.insert(job.to_string(), member.clone());
                Some(member)
            }
        }
    }

    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        let word = fault_word(kind);
        self.tell(node, &format!("{word} {job} {thread} fault={index}"));
    }

    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        self.arm(node, job, thread, kind, index);
    }

    fn kill_job(&mut self, node: u16, job: &str) {
        self.procs[usize::from(node)].running.remove(job);
        self.tell(node, &format!("kill {job}"));
    }

    fn submit(&mut self, node: u16, job: &str, msg: vigil_engine::job::JobMsg) {
        let priority = if msg.priority { " priority" } else { "" };
        self.tell(node, &format!("submit {job} {}{priority}", msg.round));
    }

    fn ask_leave(&mut self, node: u16, job: &str, _for_good: bool) {
        self.procs[usize::from(node)].running.remove(job);
        self.tell(node, &format!("leave {job}"));
    }

    fn start_job(&mut self, node: u16, job: &str) {
        self.procs[usize::from(node)]
            .running
            .insert(job.to_string(), None);
        self.tell(node, &format!("join {job}"));
    }

    fn engine_down(&self, node: u16) -> bool {
        self.procs[usize::from(node)].engine_down
    }

    fn crash_engine(&mut self, node: u16) -> Vec<MemberId> {
        let jobs: Vec<String> = self.procs[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect();
        let members = jobs
            .iter()
            .filter_map(|job| self.running(node, job).flatten())
            .collect();
        self.procs[usize::from(node)].engine_down = true;
        self.tell(node, "engine-crash");
        members
    }

    fn restart_engine(&mut self, node: u16) {
        self.procs[usize::from(node)].engine_down = false;
        self.tell(node, "engine-back");
        // Jobs that joined while it was down start now.
        let jobs: Vec<String> = self.procs[usize::from(node)]
            .wanted
            .iter()
            .cloned()
            .collect();
        for job in jobs {
            if self.running(node, &job).is_none() {
                self.start_job(node, &job);
            }
        }
    }

    fn crash(&mut self, node: u16) {
        let p = &mut self.procs[usize::from(node)];
        p.engine_down = false;
        p.stdin = None;
        p.replies = None;
        p.running.clear();
        if let Some(mut child) = p.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self, node: u16) {
        if self.spawn(node).is_err() {
            self.procs[usize::from(node)].status = NodeStatus::Crashed;
            return;
        }
        // What the network does to its links now holds for the new process.
        let cut: Vec<u16> = self
            .net
            .clogged()
            .filter(|(a, _)| *a == node)
            .map(|(_, b)| b)
            .collect();
        for b in cut {
            self.tell(node, &format!("cut n{b}"));
        }
        let faults: Vec<String> = self
            .net
            .faults()
            .iter()
            .filter_map(|f| serde_json::to_string(f).ok())
            .collect();
        for f in faults {
            self.tell(node, &format!("net {f}"));
        }
    }

    fn pause(&mut self, node: u16) {
        signal(self.procs[usize::from(node)].child.as_ref(), libc::SIGSTOP);
    }

    fn resume(&mut self, node: u16) {
        signal(self.procs[usize::from(node)].child.as_ref(), libc::SIGCONT);
    }

    fn after(&mut self, delay: Duration, then: Later) {
        self.seq += 1;
        let at = self.clock.now() + Dur::from_std(delay);
        self.later.push((at, self.seq, then));
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::is_kept_file;

    fn a_kept_directory_loses_only_the_files_a_run_writes() {
        for name in [
            "cluster.toml",
            "n0.jsonl",
            "n12.jsonl",
            "n3.disk.json",
            "n3.disk.tmp",
            "n3.stderr",
        ] {
            assert!(is_kept_file(name), "{name}");
        }
        for name in [
            "package.json",
            "results.jsonl",
            "n.jsonl",
            "nx.jsonl",
            "n1.json",
            "notes.toml",
            "n1.jsonl.bak",
        ] {
            assert!(!is_kept_file(name), "{name}");
        }
    }

    unit_tests![a_kept_directory_loses_only_the_files_a_run_writes,];
}
