//! One node as a process: `vigil node`.
//!
//! Threads, and what each owns:
//! - the **engine thread** (the caller's): the [`Engine`], the socket it
//!   sends on, its timers, the network conditions faults set, and the
//!   jobs' handles. It waits on one channel with a timeout (the engine's
//!   next deadline) and never on anything else;
//! - the **receiver**: takes datagrams off the socket and hands them to the
//!   engine thread;
//! - the **control reader**: takes commands, one a line, and hands them to
//!   the engine thread, which answers each with one JSON line;
//! - per job, a **main thread** ([`MainThread`]): it waits on its inbox
//!   (with a timeout for its timers) and nothing else, as in the
//!   simulation, and routes to its work threads;
//! - per work thread, a **work thread** ([`WorkThread`]): it runs its
//!   protocol's local steps (a panic is caught; a hang is a step that
//!   never returns, which the main thread's watchdog notices on the real
//!   clock) and waits for what the main thread routes to it.
//!
//! Channels never block a sender, so no thread waits on another's progress.

use super::{Clock, NodeEnd, TraceFile};
use crate::protocols::Registry;
use crate::runtime::clock::NodeClock;
use crate::runtime::net::{Net, NetFault};
use crate::runtime::threads::{self, Ran};
use crate::scenario::Scenario;
use crate::trace::{NetStats, TraceEvent};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::io::{BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use vigil_engine::job::{
    FaultKind, JobMsg, MainInput, MainOutput, MainThread, MakeRounds, Queue, StepEnd, WorkInput,
    WorkItem, WorkOutput, WorkThread,
};
use vigil_engine::{
    Dur, Durable, Engine, Event, Input, LocalKey, MemberId, Name, NodeId, Output, Packet, Time,
};

/// The largest datagram a node sends or takes.
const DATAGRAM_MAX: usize = 65_507;

/// The most datagrams a node drops from a socket handed to it (see
/// `handed`).
const DRAIN_MAX: usize = 10_000;

/// How often the receiver looks up from its socket to see if it should stop.
const RECEIVER_POLL: Duration = Duration::from_millis(100);

/// The shortest wait between two ticks of an engine that stays due.
const TIMER_GRANULARITY: Dur = Dur::from_millis(1);

/// What one node process runs.
pub struct NodeSpec {
    /// The cluster file: a scenario with `[cluster] addresses`. Its faults
    /// and expectations are not this process's business.
    pub cluster: Scenario,
    pub node: u16,
    /// The jobs to start (`None`: every job the file places on this node).
    pub jobs: Option<Vec<String>>,
    /// The zero of the trace's clock, in ns since the Unix epoch: shared by
    /// every node of a run, so their traces merge.
    pub epoch_ns: u64,
    /// Where the trace goes, as JSON lines.
    pub trace: Box<dyn Write + Send>,
    /// Where the engine keeps what survives a crash (its incarnation).
    pub disk: Option<PathBuf>,
    /// Print each membership change a member takes to stderr, as it comes.
    pub live: bool,
    pub registry: Registry,
    /// Seeds the node's own draws (simulated loss and delay on its links).
    pub seed: u64,
    /// A socket already bound to the node's address, handed over by
    /// whoever started the node (`vigil run --real` holds every node's
    /// port for the whole run, so no other process can take it between
    /// picking and binding); `None`: bind the address in the cluster file.
    pub socket: Option<UdpSocket>,
}

/// Everything that reaches the engine thread.
enum ToEngine {
    Packet {
        from: NodeId,
        packet: Packet<JobMsg>,
    },
    /// An input from one of the node's jobs.
    Input(Input<JobMsg>),
    /// A job's main thread is gone (it unregistered).
    Gone(LocalKey),
    Command {
        id: Option<serde_json::Value>,
        command: Result<Command, String>,
    },
    /// The control channel closed.
    Closed,
}

/// What a main thread takes from its inbox.
enum MainMsg {
    Engine {
        event: Event<JobMsg>,
        queued_at: Time,
    },
    Signal(MainInput),
    /// The job ends (it was killed, or the node stops).
    Stop,
    /// The node's clock was set: the timers fall anew.
    Clock,
}

/// What a work thread takes.
enum WorkMsg {
    Routed(Queue, WorkItem),
    /// Its next local step faults so, as fault number `index` arms it.
    Arm(FaultKind, Option<usize>),
    Stop,
}

/// A control command, as a line reads: `[@ID] WORD ARGS...`.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Command {
    /// `slow FACTOR`: the node's work steps take FACTOR times as long and
    /// its engine spends FACTOR - 1 ms on each input (1: full speed).
    Slow { factor_milli: u32 },
    /// `clock OFFSET RATE`: the node's clock steps `OFFSET` ahead and runs
    /// at `RATE` times true time from now.
    Clock { offset: Duration, rate_ppm: u32 },
    /// `engine-crash`: the engine dies (its state but the disk file's is
    /// gone); the jobs live on, each told its engine is lost.
    EngineCrash,
    /// `engine-back`: a new engine boots from the disk file; the jobs
    /// still running register with it.
    EngineBack,
    /// `panic|error|hang JOB [THREAD] [fault=N]`: the job's work thread
    /// faults at its next local step.
    Fault {
        job: String,
        thread: u16,
        kind: FaultKind,
        index: Option<usize>,
    },
    /// `kill JOB`: the job ends without unregistering.
    Kill { job: String },
    /// `leave JOB`: the job is asked to leave its group.
    Leave { job: String },
    /// `stop [WITHIN]`: a graceful stop: every job here is asked to leave,
    /// and the engine tells its view it is going once their leaves are
    /// through (within WITHIN, default half the failure timeout); then it
    /// takes no more input (`quit` ends the process).
    Stop { within: Option<Duration> },
    /// `submit JOB TASK [priority]`: the job submits the scenario's task
    /// number TASK to its group.
    Submit {
        job: String,
        task: u32,
        priority: bool,
    },
    /// `join JOB`: the job starts (again).
    Join { job: String },
    /// `running JOB`: whether it runs, and as which member.
    Running { job: String },
    /// `cut nK...`: packets to and from these nodes are dropped;
    /// `cut-to nK...`: only packets to them (`one_way`).
    Cut { peers: Vec<u16>, one_way: bool },
    /// `restore nK...` or `restore all`.
    Restore { peers: Option<Vec<u16>> },
    /// `loss RATE [nK...]`: packets on the links to these nodes (all: none
    /// named) are lost with this probability.
    Loss { rate: f64, peers: Vec<u16> },
    /// `dup RATE [nK...]`: packets on the links to these nodes (all: none
    /// named) are sent twice with this probability.
    Duplicate { rate: f64, peers: Vec<u16> },
    /// `delay MIN MAX [nK...]`: they wait this much longer (`10ms 50ms`).
    Delay {
        lo: Duration,
        hi: Duration,
        peers: Vec<u16>,
    },
    /// `net JSON`: a network fault as the launcher states it.
    Net(NetFault),
    /// `clear`: no loss or delay faults any more.
    Clear,
    /// `status`: the node's jobs and view.
    Status,
    /// `help`: the commands.
    Help,
    /// `quit`: the node stops (as the end of a run, not a crash).
    Quit,
}

/// Every command, for `help` and for a line that is none.
const USAGE: &str = "commands: panic|error|hang JOB [THREAD] [fault=N], kill JOB, leave JOB, join JOB, running JOB, cut nK..., cut-to nK..., restore nK...|all, stop [WITHIN], clock OFFSET RATE, slow FACTOR, engine-crash, engine-back, loss RATE [nK...], dup RATE [nK...], delay MIN MAX [nK...], clear, status, help, quit";

/// Parses one control line: `(id, command)`. The id (`@7`, `@req-a`) is
/// echoed in the reply: as a number if it is one, else as a string.
pub(super) fn parse_command(line: &str) -> (Option<serde_json::Value>, Result<Command, String>) {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let mut id = None;
    if let Some(first) = words.first() {
        if let Some(n) = first.strip_prefix('@') {
            id = Some(match n.parse::<u64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => serde_json::Value::from(n),
            });
            words.remove(0);
        }
    }
    (id, command(&words, line))
}

fn node_of(word: &str) -> Result<u16, String> {
    word.strip_prefix('n')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("`{word}` is not a node name such as n2"))
}

/// A rate from 0 to 1, the first of `args`.
fn rate(args: &[&str], command: &str) -> Result<f64, String> {
    args.first()
        .and_then(|r| r.parse().ok())
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("`{command}` takes a rate from 0 to 1"))
}

/// The links a network command acts on: to `peers`, or every link.
fn on_links(peers: &[u16]) -> Option<std::collections::BTreeSet<NodeId>> {
    (!peers.is_empty()).then(|| peers.iter().map(|n| NodeId(*n)).collect())
}

fn command(words: &[&str], line: &str) -> Result<Command, String> {
    let usage = USAGE;
    let Some((word, args)) = words.split_first() else {
        return Err(format!("an empty command; {usage}"));
    };
    let job = || -> Result<String, String> {
        match args {
            [job] => Ok(job.to_string()),
            [] => Err(format!("`{word}` needs a job name")),
            _ => Err(format!(
                "`{word}` takes one job name, not `{}`",
                args.join(" ")
            )),
        }
    };
    let alone = |command: Command| -> Result<Command, String> {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(format!(
                "`{word}` takes nothing more, not `{}`",
                args.join(" ")
            ))
        }
    };
    let nodes = |list: &[&str]| {
        list.iter()
            .map(|w| node_of(w))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match *word {
        "panic" | "error" | "hang" => {
            let kind = match *word {
                "panic" => FaultKind::Panic,
                "error" => FaultKind::Error,
                _ => FaultKind::Hang,
            };
            let mut thread = 0;
            let mut index = None;
            for a in args.iter().skip(1) {
                if let Some(n) = a.strip_prefix("fault=") {
                    index = Some(
                        n.parse()
                            .map_err(|_| format!("`{a}`: fault=N takes a number"))?,
                    );
                } else {
                    thread = a
                        .parse()
                        .map_err(|_| format!("`{a}` is not a work thread number"))?;
                }
            }
            let job = args
                .first()
                .filter(|j| !j.contains('='))
                .map(|j| j.to_string())
                .ok_or_else(|| format!("`{word}` needs a job name"))?;
            Command::Fault {
                job,
                thread,
                kind,
                index,
            }
        }
        "kill" => Command::Kill { job: job()? },
        "leave" => Command::Leave { job: job()? },
        "submit" => {
            let task = args
                .get(1)
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or_else(|| "`submit` needs a job and a task number".to_string())?;
            let priority = match args.get(2) {
                None => false,
                Some(&"priority") => true,
                Some(other) => return Err(format!("`submit`: expected `priority`, got `{other}`")),
            };
            Command::Submit {
                job: job()?,
                task,
                priority,
            }
        }
        "join" | "start" => Command::Join { job: job()? },
        "running" => Command::Running { job: job()? },
        "cut" if !args.is_empty() => Command::Cut {
            peers: nodes(args)?,
            one_way: false,
        },
        "cut-to" if !args.is_empty() => Command::Cut {
            peers: nodes(args)?,
            one_way: true,
        },
        "restore" if args == ["all"] => Command::Restore { peers: None },
        "restore" if !args.is_empty() => Command::Restore {
            peers: Some(nodes(args)?),
        },
        "loss" => Command::Loss {
            rate: rate(args, "loss")?,
            peers: nodes(&args[1..])?,
        },
        "dup" => Command::Duplicate {
            rate: rate(args, "dup")?,
            peers: nodes(&args[1..])?,
        },
        "delay" => {
            let d = |w: Option<&&str>| {
                w.and_then(|w| crate::scenario::parse_duration(w).ok())
                    .ok_or("`delay` takes two durations, such as `delay 10ms 50ms`")
            };
            let (lo, hi) = (d(args.first())?, d(args.get(1))?);
            if lo > hi {
                return Err("`delay MIN MAX`: MIN is greater than MAX".into());
            }
            Command::Delay {
                lo,
                hi,
                peers: nodes(args.get(2..).unwrap_or(&[]))?,
            }
        }
        "net" => {
            let json = line.split_once("net").map_or("", |(_, rest)| rest.trim());
            Command::Net(serde_json::from_str(json).map_err(|e| format!("`net`: {e}"))?)
        }
        "clear" => alone(Command::Clear)?,
        "engine-crash" => alone(Command::EngineCrash)?,
        "engine-back" => alone(Command::EngineBack)?,
        "slow" => {
            let max = crate::scenario::SLOW_FACTOR_MAX;
            let bad = || format!("`slow` takes a factor from 1 to {max}, such as `slow 4`");
            let [factor] = args else {
                return Err(bad());
            };
            let factor: f64 = factor.parse().map_err(|_| bad())?;
            if !(1.0..=max).contains(&factor) {
                return Err(bad());
            }
            Command::Slow {
                factor_milli: crate::scenario::slow_milli(factor),
            }
        }
        "clock" => {
            let (lo, hi) = (
                crate::scenario::CLOCK_RATE_MIN,
                crate::scenario::CLOCK_RATE_MAX,
            );
            let bad = || {
                format!(
                    "`clock` takes an offset and a rate from {lo} to {hi}, such as `clock 2s 1.05`"
                )
            };
            let [offset, rate] = args else {
                return Err(bad());
            };
            let offset = crate::scenario::parse_duration(offset).map_err(|_| bad())?;
            let rate: f64 = rate.parse().map_err(|_| bad())?;
            if !(lo..=hi).contains(&rate) {
                return Err(bad());
            }
            Command::Clock {
                offset,
                rate_ppm: crate::scenario::clock_ppm(rate),
            }
        }
        "stop" => Command::Stop {
            within: match args {
                [] => None,
                [w] => Some(
                    crate::scenario::parse_duration(w)
                        .map_err(|_| "`stop` takes a duration, such as `stop 500ms`")?,
                ),
                _ => return Err("`stop` takes at most one duration".into()),
            },
        },
        "status" => alone(Command::Status)?,
        "help" => alone(Command::Help)?,
        "quit" | "exit" => alone(Command::Quit)?,
        _ => return Err(format!("unknown command `{}`; {usage}", words.join(" "))),
    })
}

/// One running job, as the engine thread holds it.
struct JobHandle {
    name: String,
    main: Sender<MainMsg>,
    workers: Vec<Sender<WorkMsg>>,
    seen: Arc<Mutex<Seen>>,
    threads: Vec<JoinHandle<()>>,
}

/// What a job's main thread has taken so far, for `running` and `status`.
#[derive(Default)]
struct Seen {
    member: Option<MemberId>,
    /// Its group view: id and members.
    view: Option<(u64, Vec<MemberId>)>,
}

/// A packet held back by a delay fault.
struct Delayed {
    at: Time,
    to: NodeId,
    bytes: Vec<u8>,
}
impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at) // earliest first out of the max-heap
    }
}

/// What the job threads share: how to make protocols, the trace, the way
/// back to the engine.
struct Shared {
    registry: Registry,
    cluster: Scenario,
    trace: TraceFile,
    /// The node's own clock, over the trace's true one: what the engine and
    /// the main threads read (the `clock` command sets it).
    clock: Mutex<NodeClock>,
    /// How much slower the node runs, in thousandths (`slow`).
    slow: std::sync::atomic::AtomicU32,
    to_engine: Sender<ToEngine>,
    live: bool,
    /// This node.
    me: NodeId,
}

impl Shared {
    /// What the node's clock reads at true time `now`.
    fn local(&self, now: Time) -> Time {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .local(now)
    }

    /// When `local` on the node's clock falls, in true time.
    fn deadline(&self, local: Time, now: Time) -> Time {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .global(local, now)
    }
}

/// The engine thread's state.
struct NodeLoop {
    me: NodeId,
    shared: Arc<Shared>,
    /// `None` while the engine is down (`engine-crash`).
    engine: Option<Engine<JobMsg>>,
    socket: UdpSocket,
    addresses: Vec<SocketAddr>,
    disk: Option<PathBuf>,
    jobs: BTreeMap<LocalKey, JobHandle>,
    names: BTreeMap<String, LocalKey>,
    registered: BTreeSet<LocalKey>,
    next_key: u64,
    /// Faults armed for jobs not started yet.
    armed: BTreeMap<(String, u16), (FaultKind, Option<usize>)>,
    /// Nodes this one sends nothing to.
    cut: BTreeSet<u16>,
    /// Nodes whose packets this one drops (`cut`, not `cut-to`).
    cut_in: BTreeSet<u16>,
    net: Net,
    rng: rand_chacha::ChaCha8Rng,
    delayed: BinaryHeap<Delayed>,
    ticked_at: Option<Time>,
    stats: NetStats,
    out: Vec<Output<JobMsg>>,
    replies: Box<dyn Write + Send>,
}

/// The node's socket, when it binds its address itself (a node run by
/// hand). A port in use is tried again for a second: whoever picks free
/// ports for a cluster file (a script, a test) may hold one a moment while
/// picking, and a node restarted at once may find its port not let go yet.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let mut tries = 0;
    loop {
        match UdpSocket::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            bound => return bound,
        }
    }
}

/// A socket handed over to node `me`, checked to be bound to its address
/// `addr`, and emptied: what was sent to the port while no process of
/// this node read it (before it started, while it was crashed) is dropped,
/// as it would be had the node bound the port itself just now.
fn handed(socket: UdpSocket, me: u16, addr: SocketAddr) -> Result<UdpSocket, String> {
    let bound = socket.local_addr().ok();
    if bound != Some(addr) {
        return Err(format!(
            "the socket handed to n{me} is bound to {}, not to n{me}'s address {addr} in the cluster file",
            bound.map_or_else(|| "nothing".to_string(), |b| b.to_string())
        ));
    }
    // At most what a socket's buffer holds: a peer that keeps sending
    // cannot hold the node's start up.
    let drain = || -> std::io::Result<()> {
        socket.set_nonblocking(true)?;
        let mut buf = vec![0u8; DATAGRAM_MAX];
        for _ in 0..DRAIN_MAX {
            match socket.recv_from(&mut buf) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // An ICMP error a send drew, reported and consumed.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
        socket.set_nonblocking(false)
    };
    drain().map_err(|e| format!("cannot read the socket handed to n{me}: {e}"))?;
    Ok(socket)
}

/// Runs one node until its control channel says `quit` or closes:
/// commands come from `control`, one a line, and each is answered on
/// `replies` with one JSON line.
pub fn run_node(
    spec: NodeSpec,
    control: impl BufRead + Send + 'static,
    replies: Box<dyn Write + Send>,
) -> Result<(), String> {
    crate::runtime::quiet_injected_panics();
    let addresses = spec.cluster.cluster.addresses.clone();
    let me = spec.node;
    let Some(addr) = addresses.get(usize::from(me)).copied() else {
        return Err(format!(
            "the cluster file gives no address for n{me}: its [cluster] needs `addresses`, one per node"
        ));
    };
    let socket = match spec.socket {
        Some(socket) => handed(socket, me, addr)?,
        None => bind(addr).map_err(|e| format!("cannot bind n{me} to {addr}: {e}"))?,
    };
    let disk = spec.disk.clone();
    let durable = load_durable(&disk, spec.cluster.cluster.nodes)?;
    let clock = Clock::from_epoch(spec.epoch_ns);
    let (to_engine, from_all) = channel();
    let shared = Arc::new(Shared {
        registry: spec.registry.clone(),
        cluster: spec.cluster.clone(),
        trace: TraceFile::new(clock, spec.trace),
        clock: Mutex::new(NodeClock::TRUE),
        slow: std::sync::atomic::AtomicU32::new(1000),
        to_engine: to_engine.clone(),
        live: spec.live,
        me: NodeId(me),
    });
    // Every name this node uses comes from its cluster file: made now, the
    // only ones a packet may carry (a datagram must not grow the table of
    // names, which lives as long as the process).
    for job in &spec.cluster.jobs {
        Name::new(&job.name);
        Name::new(&job.group);
    }
    Name::refuse_unknown_input();
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = spawn_receiver(&socket, &addresses, to_engine.clone(), stop.clone())?;
    spawn_control(control, to_engine);

    shared
        .trace
        .record(TraceEvent::NodeBoot { node: NodeId(me) });
    let mut out = Vec::new();
    let now = shared.local(shared.trace.now());
    let engine = Engine::new(
        spec.cluster.engine_config(),
        NodeId(me),
        durable,
        now,
        &mut out,
    );
    let mut node = NodeLoop {
        me: NodeId(me),
        shared,
        engine: Some(engine),
        socket,
        addresses,
        disk,
        jobs: BTreeMap::new(),
        names: BTreeMap::new(),
        registered: BTreeSet::new(),
        next_key: 0,
        armed: BTreeMap::new(),
        cut: BTreeSet::new(),
        cut_in: BTreeSet::new(),
        net: Net::new(spec.cluster.cluster.loss),
        rng: rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed ^ u64::from(me)),
        delayed: BinaryHeap::new(),
        ticked_at: None,
        stats: NetStats::default(),
        out,
        replies,
    };
    node.outputs(now);
    let jobs: Vec<String> = match spec.jobs {
        Some(jobs) => jobs,
        None => spec
            .cluster
            .jobs
            .iter()
            .filter(|j| j.nodes.contains(&me))
            .map(|j| j.name.clone())
            .collect(),
    };
    for job in jobs {
        node.start_job(&job)?;
    }
    node.run(&from_all);
    node.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = receiver.join();
    Ok(())
}

/// What the node's disk file holds. No disk file (a new node, a lost
/// disk, or none given): the engine takes its incarnation and view-id
/// floor from the host's clock, in time since the Unix epoch (the run's own
/// clock starts at each process's `--epoch-ns`, which need not grow across
/// restarts).
fn load_durable(disk: &Option<PathBuf>, nodes: u16) -> Result<Option<Durable>, String> {
    Ok(match disk {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        _ => Some(Durable::from_clock(Time(super::unix_ns()), nodes)),
    })
}

fn spawn_receiver(
    socket: &UdpSocket,
    addresses: &[SocketAddr],
    to_engine: Sender<ToEngine>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let socket = socket.try_clone().map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(RECEIVER_POLL))
        .map_err(|e| e.to_string())?;
    let nodes = addresses.len();
    Ok(std::thread::spawn(move || {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, _)) = socket.recv_from(&mut buf) else {
                continue;
            };
            // A datagram is its sender's node number and its packet; one
            // that does not decode, or names no node of the cluster, is noise.
            let Ok((from, packet)) = bincode::deserialize::<(u16, Packet<JobMsg>)>(&buf[..len])
            else {
                continue;
            };
            if usize::from(from) >= nodes {
                continue;
            }
            let from = NodeId(from);
            if to_engine.send(ToEngine::Packet { from, packet }).is_err() {
                return;
            }
        }
    }))
}

fn spawn_control(control: impl BufRead + Send + 'static, to_engine: Sender<ToEngine>) {
    std::thread::spawn(move || {
        for line in control.lines() {
            let Ok(line) = line else { break };
            let (id, command) = parse_command(&line);
            let quit = matches!(command, Ok(Command::Quit));
            if to_engine.send(ToEngine::Command { id, command }).is_err() || quit {
                return;
            }
        }
        let _ = to_engine.send(ToEngine::Closed);
    });
}

impl NodeLoop {
    /// Takes what comes until `quit`, or until the control channel closes.
    fn run(&mut self, from_all: &Receiver<ToEngine>) {
        loop {
            let now = self.shared.trace.now();
            self.send_delayed(now);
            let floor = if self.ticked_at == Some(now) {
                now + TIMER_GRANULARITY
            } else {
                now
            };
            let mut deadline = self.shared.deadline(self.poll_timeout(), now).max(floor);
            if let Some(d) = self.delayed.peek() {
                deadline = deadline.min(d.at);
            }
            let wait = Duration::from_nanos(deadline.0.saturating_sub(now.0));
            let msg = match from_all.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let now = self.shared.trace.now();
            match msg {
                None => {}
                Some(ToEngine::Packet { from, packet }) => {
                    if self.cut_in.contains(&from.0) {
                        continue;
                    }
                    self.stats.delivered += 1;
                    self.step(now, Input::Packet { from, packet });
                }
                Some(ToEngine::Input(input)) => self.step(now, input),
                Some(ToEngine::Gone(key)) => self.gone(key),
                Some(ToEngine::Command { id, command }) => {
                    let quit = matches!(command, Ok(Command::Quit));
                    let reply = match command {
                        Ok(command) => self.command(now, command),
                        Err(error) => serde_json::json!({"ok": false, "error": error}),
                    };
                    self.reply(id, reply);
                    if quit {
                        return;
                    }
                }
                Some(ToEngine::Closed) => return,
            }
            let now = self.shared.trace.now();
            if self.shared.local(now) >= self.poll_timeout() && self.ticked_at != Some(now) {
                self.ticked_at = Some(now);
                self.step(now, Input::Tick);
            }
        }
    }

    fn reply(&mut self, id: Option<serde_json::Value>, mut reply: serde_json::Value) {
        if let Some(id) = id {
            reply["id"] = id;
        }
        let _ = writeln!(self.replies, "{reply}");
        let _ = self.replies.flush();
    }

    /// When the engine is next due (never, while it is down).
    fn poll_timeout(&self) -> Time {
        self.engine
            .as_ref()
            .map_or(Time(u64::MAX), |e| e.poll_timeout())
    }

    fn step(&mut self, now: Time, input: Input<JobMsg>) {
        let Some(engine) = self.engine.as_mut() else {
            return; // no engine: what reaches it is lost
        };
        match &input {
            Input::Register { key, .. } => {
                self.registered.insert(*key);
            }
            Input::Unregister { key, .. } | Input::Closed { key } => {
                self.registered.remove(key);
            }
            _ => {}
        }
        let local = self.shared.local(now);
        engine.step(local, input, &mut self.out);
        self.outputs(now);
        // A slow node's engine is busy a while with each input.
        let cost = threads::engine_cost(self.shared.slow.load(Ordering::Relaxed));
        if !cost.is_zero() {
            std::thread::sleep(cost);
        }
    }

    /// Carries out what the engine asked.
    fn outputs(&mut self, now: Time) {
        let out = std::mem::take(&mut self.out);
        for o in out {
            match o {
                Output::Send { to, packet } => self.send(now, to, packet),
                Output::Deliver { key, event } => {
                    if !self.registered.contains(&key) {
                        continue;
                    }
                    if let Some(job) = self.jobs.get(&key) {
                        let _ = job.main.send(MainMsg::Engine {
                            event,
                            queued_at: now,
                        });
                    }
                }
                Output::Persist(durable) => self.persist(durable),
                Output::NodeView { view, members } => {
                    self.shared.trace.record(TraceEvent::NodeView {
                        node: self.me,
                        view,
                        members,
                    })
                }
                Output::Probe(name) => self.shared.trace.record(TraceEvent::Probe {
                    node: self.me,
                    name,
                }),
            }
        }
    }

    fn persist(&self, durable: Durable) {
        let Some(path) = &self.disk else { return };
        let tmp = path.with_extension("tmp");
        if let Ok(text) = serde_json::to_string(&durable) {
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }

    fn send(&mut self, now: Time, to: NodeId, packet: Packet<JobMsg>) {
        self.stats.sent += 1;
        if self.cut.contains(&to.0) {
            return;
        }
        let net = self.net.conditions(now, self.me, to);
        if net.loss > 0.0 && self.rng.gen_bool(net.loss.min(1.0)) {
            return;
        }
        let Ok(bytes) = bincode::serialize(&(self.me.0, &packet)) else {
            return;
        };
        if net.duplicate > 0.0 && self.rng.gen_bool(net.duplicate.min(1.0)) {
            self.stats.duplicated += 1;
            self.send_bytes(now, to, bytes.clone(), net.delay);
        }
        self.send_bytes(now, to, bytes, net.delay);
    }

    /// Sends now, or after the extra delay a fault adds.
    fn send_bytes(&mut self, now: Time, to: NodeId, bytes: Vec<u8>, delay: Option<(u64, u64)>) {
        match delay {
            Some((lo, hi)) => {
                let extra = if hi > lo {
                    self.rng.gen_range(lo..=hi)
                } else {
                    lo
                };
                self.delayed.push(Delayed {
                    at: Time(now.0 + extra),
                    to,
                    bytes,
                });
            }
            None => self.transmit(to, &bytes),
        }
    }

    fn transmit(&self, to: NodeId, bytes: &[u8]) {
        if let Some(addr) = self.addresses.get(usize::from(to.0)) {
            // A full buffer or an unreachable peer loses the packet, as a
            // network may; the links retransmit what matters.
            let _ = self.socket.send_to(bytes, addr);
        }
    }

    fn send_delayed(&mut self, now: Time) {
        while self.delayed.peek().is_some_and(|d| d.at <= now) {
            let d = self.delayed.pop().expect("peeked");
            if !self.cut.contains(&d.to.0) {
                self.transmit(d.to, &d.bytes);
            }
        }
    }

    /// Starts `name` (a job of the cluster file), unless it runs already.
    fn start_job(&mut self, name: &str) -> Result<(), String> {
        if self.names.contains_key(name) {
            return Ok(());
        }
        let spec = self
            .shared
            .cluster
            .job(name)
            .ok_or_else(|| format!("the cluster file has no job `{name}`"))?
            .clone();
        self.next_key += 1;
        let key = LocalKey(self.next_key);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (main_tx, main_rx) = channel();
        let mut workers = Vec::new();
        let mut threads_ = Vec::new();
        for t in 0..spec.work_threads {
            let (tx, rx) = channel();
            if let Some((kind, index)) = self.armed.remove(&(name.to_string(), t)) {
                let _ = tx.send(WorkMsg::Arm(kind, index));
            }
            workers.push(tx);
            let (shared, job, main) = (self.shared.clone(), Name::new(&spec.name), main_tx.clone());
            let step_time = spec.step_time;
            threads_.push(std::thread::spawn(move || {
                work_thread(&shared, key, job, t, step_time, &rx, &main)
            }));
        }
        let main = MainLoop {
            key,
            shared: self.shared.clone(),
            job: Name::new(&spec.name),
            group: Name::new(&spec.group),
            machine: super::super::threads::main_machine(&spec),
            workers: workers.clone(),
            seen: seen.clone(),
            timers: BTreeMap::new(),
            next_timer: 0,
        };
        threads_.push(std::thread::spawn(move || main.run(&main_rx)));
        self.names.insert(name.to_string(), key);
        self.jobs.insert(
            key,
            JobHandle {
                name: name.to_string(),
                main: main_tx,
                workers,
                seen,
                threads: threads_,
            },
        );
        if self.engine.is_none() {
            // No engine to register with: the job waits for the next one.
            if let Some(h) = self.jobs.get(&key) {
                let _ = h.main.send(MainMsg::Signal(MainInput::EngineLost));
            }
            return Ok(());
        }
        let now = self.shared.trace.now();
        let register = Input::Register {
            key,
            job: Name::new(&spec.name),
            group: Name::new(&spec.group),
        };
        self.step(now, register);
        Ok(())
    }

    /// A job's main thread unregistered and ended.
    fn gone(&mut self, key: LocalKey) {
        if let Some(job) = self.jobs.remove(&key) {
            self.names.remove(&job.name);
            for w in &job.workers {
                let _ = w.send(WorkMsg::Stop);
            }
        }
    }

    fn running(&self, job: &str) -> Option<&JobHandle> {
        self.names.get(job).and_then(|k| self.jobs.get(k))
    }

    fn member_of(job: &JobHandle) -> Option<MemberId> {
        job.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .member
            .clone()
    }

    /// What is wrong with `command` on this node, if anything: a job the
    /// cluster file does not have, a node it does not have (or this one).
    fn problem(&self, command: &Command) -> Option<String> {
        let job = match command {
            Command::Fault { job, .. }
            | Command::Kill { job }
            | Command::Leave { job }
            | Command::Submit { job, .. }
            | Command::Join { job }
            | Command::Running { job } => Some(job),
            _ => None,
        };
        if let Some(job) = job {
            if self.shared.cluster.job(job).is_none() {
                return Some(format!("the cluster file has no job `{job}`"));
            }
        }
        let peers: &[u16] = match command {
            Command::Cut { peers, .. }
            | Command::Loss { peers, .. }
            | Command::Duplicate { peers, .. }
            | Command::Delay { peers, .. } => peers,
            Command::Restore { peers: Some(peers) } => peers,
            _ => &[],
        };
        let nodes = self.shared.cluster.cluster.nodes;
        peers.iter().find_map(|&n| {
            if n >= nodes {
                Some(format!(
                    "the cluster has nodes n0..n{}, not n{n}",
                    nodes - 1
                ))
            } else if n == self.me.0 {
                Some(format!("n{n} is this node: name its peers"))
            } else {
                None
            }
        })
    }

    fn command(&mut self, now: Time, command: Command) -> serde_json::Value {
        use serde_json::json;
        if let Some(problem) = self.problem(&command) {
            return json!({"ok": false, "error": problem});
        }
        let not_running =
            |job: &str| json!({"ok": false, "error": format!("job `{job}` is not running here")});
        match command {
            Command::Fault {
                job,
                thread,
                kind,
                index,
            } => {
                let threads_ = self.shared.cluster.job(&job).map(|j| j.work_threads);
                match threads_ {
                    None => {
                        json!({"ok": false, "error": format!("the cluster file has no job `{job}`")})
                    }
                    Some(n) if thread >= n => {
                        json!({"ok": false, "error": format!("job `{job}` has {n} work thread(s): no thread {thread}")})
                    }
                    Some(_) => match self.running(&job) {
                        Some(h) => {
                            let _ = h.workers[usize::from(thread)].send(WorkMsg::Arm(kind, index));
                            json!({"ok": true, "armed": "next-step"})
                        }
                        None => {
                            self.armed.insert((job, thread), (kind, index));
                            json!({"ok": true, "armed": "at-start"})
                        }
                    },
                }
            }
            Command::Kill { job } => {
                let Some(key) = self.names.remove(&job) else {
                    return not_running(&job);
                };
                if let Some(h) = self.jobs.remove(&key) {
                    let _ = h.main.send(MainMsg::Stop);
                    for w in &h.workers {
                        let _ = w.send(WorkMsg::Stop);
                    }
                }
                // Its connection closes, as a process's would.
                self.step(now, Input::Closed { key });
                json!({"ok": true})
            }
            Command::Slow { factor_milli } => {
                self.shared.slow.store(factor_milli, Ordering::Relaxed);
                json!({"ok": true})
            }
            Command::Clock { offset, rate_ppm } => {
                self.shared
                    .clock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(now, Dur::from_std(offset), rate_ppm);
                for h in self.jobs.values() {
                    let _ = h.main.send(MainMsg::Clock);
                }
                json!({"ok": true})
            }
            Command::Stop { within } => {
                for h in self.jobs.values() {
                    let _ = h.main.send(MainMsg::Signal(MainInput::Leave));
                }
                let ft = self.shared.cluster.cluster.failure_timeout;
                let within = within.map_or(
                    super::super::faults::stop_grace(Dur::from_std(ft)),
                    Dur::from_std,
                );
                let by = self.shared.local(now) + within;
                self.step(now, Input::Stop { by });
                json!({"ok": true})
            }
            Command::Leave { job } => match self.running(&job) {
                Some(h) => {
                    let _ = h.main.send(MainMsg::Signal(MainInput::Leave));
                    json!({"ok": true})
                }
                None => not_running(&job),
            },
            Command::Submit {
                job,
                task,
                priority,
            } => match self.running(&job) {
                Some(h) => {
                    let msg = vigil_protocols::TaskMsg::submission(task, priority);
                    let _ = h.main.send(MainMsg::Signal(MainInput::Submit(msg)));
                    json!({"ok": true})
                }
                None => not_running(&job),
            },
            Command::Join { job } => match self.start_job(&job) {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            Command::Running { job } => match self.running(&job) {
                Some(h) => {
                    let member = Self::member_of(h);
                    json!({"ok": true, "running": true, "member": member.as_ref().map(|m| m.to_string()), "member_id": member})
                }
                None => json!({"ok": true, "running": false}),
            },
            Command::Cut { peers, one_way } => {
                self.cut.extend(peers.iter().copied());
                if !one_way {
                    self.cut_in.extend(peers);
                }
                json!({"ok": true, "cut": self.cut.iter().map(|n| format!("n{n}")).collect::<Vec<_>>()})
            }
            Command::Restore { peers } => {
                match peers {
                    None => {
                        self.cut.clear();
                        self.cut_in.clear();
                    }
                    Some(p) => p.iter().for_each(|n| {
                        self.cut.remove(n);
                        self.cut_in.remove(n);
                    }),
                }
                json!({"ok": true, "cut": self.cut.iter().map(|n| format!("n{n}")).collect::<Vec<_>>()})
            }
            Command::Loss { rate, peers } => {
                self.net.degrade(NetFault {
                    nodes: on_links(&peers),
                    ..NetFault::loss(rate)
                });
                json!({"ok": true})
            }
            Command::Duplicate { rate, peers } => {
                self.net.degrade(NetFault {
                    nodes: on_links(&peers),
                    ..NetFault::duplicate(rate)
                });
                json!({"ok": true})
            }
            Command::Delay { lo, hi, peers } => {
                self.net.degrade(NetFault {
                    nodes: on_links(&peers),
                    ..NetFault::delay((lo.as_nanos() as u64, hi.as_nanos() as u64))
                });
                json!({"ok": true})
            }
            Command::Net(fault) => {
                self.net.degrade(fault);
                json!({"ok": true})
            }
            Command::EngineCrash => {
                if self.engine.take().is_none() {
                    return json!({"ok": false, "error": "the engine is down already"});
                }
                self.registered.clear();
                // Each job hears its connection close.
                for h in self.jobs.values() {
                    h.seen.lock().unwrap_or_else(|e| e.into_inner()).member = None;
                    let _ = h.main.send(MainMsg::Signal(MainInput::EngineLost));
                }
                json!({"ok": true})
            }
            Command::EngineBack => {
                if self.engine.is_some() {
                    return json!({"ok": false, "error": "the engine is up"});
                }
                let durable = match load_durable(&self.disk, self.shared.cluster.cluster.nodes) {
                    Ok(d) => d,
                    Err(e) => return json!({"ok": false, "error": e}),
                };
                self.shared
                    .trace
                    .record(TraceEvent::NodeBoot { node: self.me });
                let local = self.shared.local(now);
                let cfg = self.shared.cluster.engine_config();
                self.engine = Some(Engine::new(cfg, self.me, durable, local, &mut self.out));
                self.outputs(now);
                for h in self.jobs.values() {
                    let _ = h.main.send(MainMsg::Signal(MainInput::EngineBack));
                }
                json!({"ok": true})
            }
            Command::Clear => {
                self.net = Net::new(self.shared.cluster.cluster.loss);
                json!({"ok": true})
            }
            Command::Status => {
                let jobs: Vec<serde_json::Value> = self
                    .jobs
                    .values()
                    .map(|h| {
                        let seen = h.seen.lock().unwrap_or_else(|e| e.into_inner());
                        let (view, members) = match &seen.view {
                            Some((id, m)) => (Some(*id), m.iter().map(|m| m.to_string()).collect()),
                            None => (None, Vec::new()),
                        };
                        json!({"job": h.name, "member": seen.member.as_ref().map(|m| m.to_string()),
                               "view": view, "members": members})
                    })
                    .collect();
                let (view_id, nodes) = match &self.engine {
                    Some(engine) => {
                        let view = engine.node_view();
                        let nodes: Vec<String> =
                            view.members.keys().map(|n| format!("n{}", n.0)).collect();
                        (Some(view.id.0), nodes)
                    }
                    None => (None, Vec::new()),
                };
                json!({"ok": true, "node": format!("n{}", self.me.0), "at_ms": now.0 as f64 / 1e6,
                       "node_view": view_id, "nodes": nodes, "engine": self.engine.is_some(),
                       "cut": self.cut.iter().map(|n| format!("n{n}")).collect::<Vec<_>>(),
                       "jobs": jobs, "sent": self.stats.sent, "delivered": self.stats.delivered})
            }
            Command::Help => json!({"ok": true, "help": USAGE}),
            Command::Quit => json!({"ok": true}),
        }
    }

    /// The node stops: its jobs end, and then its trace says how (so that
    /// nothing of this life follows the end).
    fn stop(&mut self) {
        let live_members: Vec<MemberId> = self.jobs.values().filter_map(Self::member_of).collect();
        for (_, job) in std::mem::take(&mut self.jobs) {
            let _ = job.main.send(MainMsg::Stop);
            for w in &job.workers {
                let _ = w.send(WorkMsg::Stop);
            }
            for t in job.threads {
                let _ = t.join();
            }
        }
        self.shared.trace.end(NodeEnd {
            net: self.stats,
            live_members,
        });
    }
}

/// A job's main thread, on its own OS thread.
struct MainLoop {
    key: LocalKey,
    shared: Arc<Shared>,
    job: Name,
    group: Name,
    machine: MainThread,
    workers: Vec<Sender<WorkMsg>>,
    seen: Arc<Mutex<Seen>>,
    /// Armed timers (watchdogs, the next ordered message), by when they fire.
    timers: BTreeMap<(Time, u64), MainInput>,
    next_timer: u64,
}

impl MainLoop {
    fn run(mut self, inbox: &Receiver<MainMsg>) {
        loop {
            let now = self.shared.trace.now();
            let local = self.shared.local(now);
            // Watchdogs that are due fire first.
            while let Some(entry) = self.timers.first_entry() {
                if entry.key().0 > local {
                    break;
                }
                let input = entry.remove();
                if self.take(now, input) {
                    return;
                }
            }
            let wait = self.timers.keys().next().map(|(at, _)| {
                Duration::from_nanos(self.shared.deadline(*at, now).0.saturating_sub(now.0))
            });
            let msg = match wait {
                Some(wait) => match inbox.recv_timeout(wait) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match inbox.recv() {
                    Ok(msg) => msg,
                    Err(_) => return,
                },
            };
            let now = self.shared.trace.now();
            let input = match msg {
                MainMsg::Stop => return,
                MainMsg::Clock => continue,
                MainMsg::Signal(input) => input,
                MainMsg::Engine { event, queued_at } => {
                    let me = self.machine.me().cloned();
                    let (record, member) = threads::taken(&event, me.as_ref(), &self.group);
                    {
                        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(member) = member {
                            seen.member = Some(member);
                        }
                        if let TraceEvent::View { change } = &record {
                            seen.view = Some((change.view.0, change.members.clone()));
                        }
                    }
                    if self.shared.live {
                        if let TraceEvent::View { change } = &record {
                            live_line(now, change);
                        }
                    }
                    self.shared.trace.record(record);
                    if let Some(lag) =
                        threads::inbox_lag(now, queued_at, self.machine.me().cloned().or(me))
                    {
                        self.shared.trace.record(lag);
                    }
                    MainInput::Engine(event)
                }
            };
            if self.take(now, input) {
                return;
            }
        }
    }

    /// The machine takes `input`; whether the job is gone.
    fn take(&mut self, now: Time, input: MainInput) -> bool {
        let mut out = Vec::new();
        let local = self.shared.local(now);
        self.machine.step(local, input, &mut out);
        for o in out {
            match o {
                MainOutput::Route {
                    thread,
                    queue,
                    item,
                } => {
                    let _ = self.workers[usize::from(thread)].send(WorkMsg::Routed(queue, item));
                }
                MainOutput::Probe(name) => {
                    if let Some(member) = self.machine.me() {
                        let node = member.node;
                        self.shared.trace.record(TraceEvent::Probe { node, name });
                    }
                }
                MainOutput::Timer { at, input } => {
                    self.next_timer += 1;
                    self.timers.insert((at, self.next_timer), input);
                }
                MainOutput::Send { to, msg } => {
                    let _ = self.shared.to_engine.send(ToEngine::Input(Input::Send {
                        key: self.key,
                        to,
                        payload: msg,
                    }));
                }
                MainOutput::Register => {
                    let _ = self.shared.to_engine.send(ToEngine::Input(Input::Register {
                        key: self.key,
                        job: self.job.clone(),
                        group: self.group.clone(),
                    }));
                }
                MainOutput::Unregister { reason, fault } => {
                    let to_engine = &self.shared.to_engine;
                    let _ = to_engine.send(ToEngine::Input(Input::Unregister {
                        key: self.key,
                        reason,
                    }));
                    let node = self.shared.me;
                    if let Some(record) =
                        threads::unregistered(&self.machine, node, &self.job, reason, fault)
                    {
                        self.shared.trace.record(record);
                    }
                }
            }
        }
        if self.machine.is_gone() {
            let _ = self.shared.to_engine.send(ToEngine::Gone(self.key));
            return true;
        }
        false
    }
}

/// A membership change as `vigil node --live` prints it.
fn live_line(now: Time, change: &vigil_engine::MembershipChange) {
    let joined: Vec<String> = change.joined.iter().map(|m| m.to_string()).collect();
    let left: Vec<String> = change
        .left
        .iter()
        .map(|(m, r)| format!("{m} ({})", r.as_str()))
        .collect();
    let mut line = format!(
        "{:>9.3}s  {} view {}: {} member(s)",
        now.0 as f64 / 1e9,
        change.me,
        change.view.0,
        change.members.len()
    );
    if !joined.is_empty() {
        line.push_str(&format!("; joined {}", joined.join(", ")));
    }
    if !left.is_empty() {
        line.push_str(&format!("; left {}", left.join(", ")));
    }
    // One write of the whole line: the cluster's node processes share the
    // terminal, and `eprintln!` writes the text and its newline apart
    // (stderr is unbuffered), so two nodes' lines could run into one.
    line.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

/// A work thread takes `msg`; whether it goes on.
fn take_work(
    msg: WorkMsg,
    machine: &mut WorkThread,
    out: &mut Vec<WorkOutput>,
    armed: &mut Option<(FaultKind, Option<usize>)>,
) -> bool {
    match msg {
        WorkMsg::Routed(queue, item) => {
            machine.step(WorkInput::Routed { queue, item }, out);
            true
        }
        WorkMsg::Arm(kind, index) => {
            *armed = Some((kind, index));
            true
        }
        WorkMsg::Stop => false,
    }
}

/// A work thread, on its own OS thread: takes what is routed to it, runs
/// its local steps (each lasting `step_time`), and reports.
fn work_thread(
    shared: &Shared,
    key: LocalKey,
    job: Name,
    thread: u16,
    step_time: Duration,
    rx: &Receiver<WorkMsg>,
    main: &Sender<MainMsg>,
) {
    let make: MakeRounds = {
        let (registry, cluster, job) = (shared.registry.clone(), shared.cluster.clone(), job);
        std::sync::Arc::new(move |me| {
            threads::protocol(&registry, &cluster, None, &job, thread, me)
        })
    };
    let mut machine = WorkThread::new(thread, make);
    let mut armed: Option<(FaultKind, Option<usize>)> = None;
    let mut out = Vec::new();
    let carry = |out: &mut Vec<WorkOutput>| {
        for o in out.drain(..) {
            match o {
                WorkOutput::Signal(input) => {
                    let _ = main.send(MainMsg::Signal(input));
                }
                WorkOutput::Send { to, msg } => {
                    let send = Input::Send {
                        key,
                        to,
                        payload: msg,
                    };
                    let _ = shared.to_engine.send(ToEngine::Input(send));
                }
                WorkOutput::StartStep { .. } => unreachable!("taken out before"),
                o => {
                    if let Some(record) = threads::record(thread, o, false) {
                        shared.trace.record(record);
                    }
                }
            }
        }
    };
    loop {
        let Ok(msg) = rx.recv() else { return };
        if !take_work(msg, &mut machine, &mut out, &mut armed) {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            if !take_work(msg, &mut machine, &mut out, &mut armed) {
                return;
            }
        }
        // Steps run one after another while the thread has them.
        loop {
            machine.poll(&mut out);
            let start = out
                .iter()
                .position(|o| matches!(o, WorkOutput::StartStep { .. }));
            let step = start.map(|i| match out.remove(i) {
                WorkOutput::StartStep { step } => step,
                _ => unreachable!(),
            });
            carry(&mut out);
            let Some(step) = step else { break };
            if machine.has_faulted() {
                break;
            }
            let injected = armed.take();
            if let Some((kind, index)) = injected {
                // A fault armed by hand names no fault of a scenario.
                let index = index.unwrap_or(usize::MAX);
                shared
                    .trace
                    .record(threads::step_fault(&machine, thread, step, kind, index));
            }
            match threads::run_step(&mut machine, step, injected.map(|(k, _)| k)) {
                Ran::Hung => {
                    // The step never returns: the thread takes nothing more
                    // until its job ends.
                    while let Ok(msg) = rx.recv() {
                        if matches!(msg, WorkMsg::Stop) {
                            return;
                        }
                    }
                    return;
                }
                Ran::Ended(end, mut body) => {
                    carry(&mut body);
                    let slow = shared.slow.load(Ordering::Relaxed);
                    std::thread::sleep(threads::slowed(step_time, slow));
                    let mut keep = true;
                    while let Ok(msg) = rx.try_recv() {
                        keep &= take_work(msg, &mut machine, &mut out, &mut armed);
                    }
                    if !keep {
                        return;
                    }
                    machine.step(WorkInput::StepEnded { step, end }, &mut out);
                    if end != StepEnd::Ran {
                        carry(&mut out);
                    }
                }
            }
        }
        if machine.has_faulted() {
            carry(&mut out);
        }
    }
}
