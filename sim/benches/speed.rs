//! How fast vigil is against the runtime it is built on, in figures printed
//! by one run (not a timed test). Every figure is a ratio measured in the
//! same run, so the machine's swings cancel out.
//!
//! ```text
//! cargo bench -p vigil-sim --bench speed             # seeds, jobs, barrier, scale, large
//! cargo bench -p vigil-sim --bench speed -- seeds    # one section
//! cargo bench -p vigil-sim --bench speed -- memory   # explore's peak memory, 100 vs 10,000 seeds (minutes)
//! ```
//!
//! - `seeds`: `vigil explore scenarios/quickstart.toml --jobs 1` on each
//!   driver (in this process, its output captured; without `--json`,
//!   which also writes each run's record and hashes its trace), in seeds
//!   per wall second, against a bare madsim program: 5 nodes heartbeating
//!   all-to-all every 100 ms for 60 simulated seconds, timed warm, before
//!   vigil and after, both timings pooled; and a bare event loop moving
//!   the same packets (the floor: no engine, no jobs, no trace). Then the
//!   same per delivered packet (vigil's packets counted in runs of their
//!   own: a quickstart seed delivers fewer than the bare program's), and
//!   the madsim driver's floor: madsim's network alone as the driver uses
//!   it (sender futures, the delivery hook), plus the event loop's whole
//!   cost a packet; the rest of the madsim driver's cost is its own glue.
//! - `barrier`: a barrier group on all of 100 nodes for 10 simulated
//!   seconds, wall time per delivered packet, against bare madsim moving
//!   as many packets (within one 100 ms round) all-to-all among 100 nodes,
//!   in a child process like vigil's runs, before vigil and after; bare
//!   madsim on mimalloc (vigil's allocator, and this benchmark's) and on
//!   glibc's malloc (a plain program's).
//! - `scale`: heartbeats only (a 10-member group, a panic, a crash) on 100
//!   to 800 nodes for 10 simulated seconds, on each driver: wall time (the
//!   median of five runs, the sizes taking turns), packets, peak memory,
//!   and the 800/400 ratios, beside bare madsim's own (a ring of 400 and
//!   of 800 nodes moving as many packets an interval); then 1,000 nodes
//!   for 60 seconds and 5,000 nodes for 10, on each driver.
//! - `large`: `sim/benches/large-200.toml` (200 nodes with heartbeats for
//!   60 simulated seconds, two groups on 30 of them, a panic, a crash with
//!   restart, a pause) on each driver: wall time against simulated time.
//! - `jobs`: `vigil explore scenarios/quickstart.toml` over 200 seeds with
//!   `--jobs 2` against `--jobs 1`, on each driver: how much a second core
//!   buys.
//! - `memory`: the peak memory of `vigil explore scenarios/quickstart.toml
//!   --json` over 100 seeds and over 10,000 (each run's record written
//!   out as it ends).
//!
//! Runs whose memory is reported run in a child process of this benchmark
//! (the peak of a process is its `VmHWM`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator: mimalloc, the `vigil` binary's, for vigil's runs here
/// and the bare programs' alike; glibc's malloc in a child started with
/// `VIGIL_BENCH_ALLOC=system`, for a bare program as a user would build it.
struct Chosen;

#[global_allocator]
static ALLOC: Chosen = Chosen;

/// 0 not read yet, 1 mimalloc, 2 the system's.
static CHOICE: AtomicU8 = AtomicU8::new(0);

fn system_malloc() -> bool {
    let mut c = CHOICE.load(Ordering::Relaxed);
    if c == 0 {
        // SAFETY: getenv reads the environment, which this program never
        // changes, and allocates nothing.
        let system = unsafe {
            let v = libc::getenv(c"VIGIL_BENCH_ALLOC".as_ptr());
            !v.is_null() && std::ffi::CStr::from_ptr(v) == c"system"
        };
        c = if system { 2 } else { 1 };
        CHOICE.store(c, Ordering::Relaxed);
    }
    c == 2
}

/// The allocator this process chose.
fn chosen() -> &'static dyn GlobalAlloc {
    if system_malloc() {
        &System
    } else {
        &mimalloc::MiMalloc
    }
}

// SAFETY: every call goes to one allocator for the whole process (the
// choice is made at the first allocation and never changes).
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { chosen().alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { chosen().alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { chosen().dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { chosen().realloc(ptr, layout, new_size) }
    }
}

/// `vigil` with `args`, in this process; returns the wall time.
fn vigil(args: &[&str]) -> f64 {
    let mut argv = vec!["vigil".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let start = Instant::now();
    let c = vigil_sim::cli::capture(&argv, vigil_sim::protocols::Registry::builtin_ref());
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(
        c.code,
        0,
        "vigil {}: {}{}",
        args.join(" "),
        c.stdout,
        c.stderr
    );
    wall
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A bare madsim program: `nodes` nodes, each sending a small packet to
/// every other every 100 ms for `span` of simulated time. Returns the
/// packets delivered.
fn bare_madsim(seed: u64, nodes: u16, span: Duration) -> u64 {
    bare_madsim_to(seed, nodes, span, |k, nodes| {
        (0..nodes).filter(|j| *j != k).collect()
    })
}

/// A bare madsim program with as many packets an interval as a cluster's
/// liveness traffic: `nodes` nodes in a ring, each sending a small packet
/// to both neighbours every 100 ms for `span` of simulated time (2n
/// packets an interval; vigil's heartbeats cost 2(n-1), to and from a
/// leader, but one madsim receiver takes a packet a millisecond, so a
/// leader could not). Returns the packets delivered.
fn bare_madsim_ring(seed: u64, nodes: u16, span: Duration) -> u64 {
    bare_madsim_to(seed, nodes, span, |k, nodes| {
        vec![(k + 1) % nodes, (k + nodes - 1) % nodes]
    })
}

/// `nodes` madsim nodes, node `k` sending a small packet to each of
/// `peers(k, nodes)` every 100 ms for `span` of simulated time, a task a
/// send; returns the packets delivered.
fn bare_madsim_to(seed: u64, nodes: u16, span: Duration, peers: fn(u16, u16) -> Vec<u16>) -> u64 {
    bare_run(seed, span, move |count| {
        let handle = madsim::runtime::Handle::current();
        for k in 0..nodes {
            let count = count.clone();
            handle
                .create_node()
                .ip(ip(k).into())
                .init(move || {
                    let count = count.clone();
                    async move {
                        let ep = Arc::new(
                            madsim::net::Endpoint::bind("0.0.0.0:7000")
                                .await
                                .expect("bind"),
                        );
                        let rx = ep.clone();
                        madsim::task::spawn(async move {
                            let mut buf = [0u8; 64];
                            while rx.recv_from(1, &mut buf).await.is_ok() {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        let peers = peers(k, nodes);
                        loop {
                            for &j in &peers {
                                let to = std::net::SocketAddr::new(ip(j).into(), 7000);
                                let ep = ep.clone();
                                madsim::task::spawn(async move {
                                    let _ = ep.send_to(to, 1, b"heartbeat").await;
                                });
                            }
                            madsim::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                })
                .build();
        }
    })
}

/// A bare program's run: `start` makes its nodes (given the counter of
/// packets delivered) in a madsim runtime seeded by `seed`, which then runs
/// for `span` of simulated time. Returns the packets delivered.
fn bare_run(seed: u64, span: Duration, start: impl FnOnce(Arc<AtomicU64>)) -> u64 {
    let delivered = Arc::new(AtomicU64::new(0));
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let count = delivered.clone();
    rt.block_on(async move {
        start(count);
        madsim::time::sleep(span).await;
    });
    delivered.load(Ordering::Relaxed)
}

/// Node `k`'s address in the bare programs.
fn ip(k: u16) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(10, 0, (k / 250) as u8, (k % 250) as u8 + 1)
}

/// What madsim's network costs vigil's madsim driver at the least: the
/// packets of [`bare_madsim`] (5 nodes all-to-all every 100 ms), sent as
/// the driver sends them (one sender task a node, each send a future of
/// its own beside the others, through `Endpoint::send_to_raw`) and taken
/// as it takes them (madsim's delivery hook, at the arrival time, with no
/// receiving task). No engine, no jobs, no trace: a driver on madsim's
/// network pays this for every packet and its own work on top. Returns
/// the packets delivered.
fn bare_madsim_hooked(seed: u64, nodes: u16, span: Duration) -> u64 {
    use futures::{FutureExt, StreamExt};
    struct Wire(#[allow(dead_code)] u16);
    bare_run(seed, span, move |count| {
        let handle = madsim::runtime::Handle::current();
        for k in 0..nodes {
            let count = count.clone();
            let node = handle
                .create_node()
                .ip(ip(k).into())
                .init(move || async move {
                    let ep = Arc::new(
                        madsim::net::Endpoint::bind("0.0.0.0:7000")
                            .await
                            .expect("bind"),
                    );
                    let mut sending = futures::stream::FuturesUnordered::new();
                    let mut tick = madsim::time::interval(Duration::from_millis(100));
                    loop {
                        futures::select_biased! {
                            _ = tick.tick().fuse() => {
                                for j in (0..nodes).filter(|j| *j != k) {
                                    let to = std::net::SocketAddr::new(ip(j).into(), 7000);
                                    let ep = ep.clone();
                                    sending.push(async move {
                                        let wire = Box::new((Wire(k), bytes::Bytes::new()));
                                        let _ = ep.send_to_raw(to, 1, wire).await;
                                    });
                                }
                            }
                            () = sending.select_next_some() => {}
                        }
                    }
                })
                .build();
            madsim::net::NetSim::current().hook_rpc_rsp::<Wire>(node.id(), move |_| {
                count.fetch_add(1, Ordering::Relaxed);
                false
            });
        }
    })
}

/// A bare event loop doing what [`bare_madsim`] does: `nodes` nodes, each
/// sending a small packet to every other every 100 ms for `span`, over a
/// seeded latency of 1 to 10 ms, events in a heap by time. No engine, no
/// jobs, no trace: the floor of any simulation of these packets. Returns
/// the packets delivered.
fn bare_event_loop(seed: u64, nodes: u16, span: Duration) -> u64 {
    use rand::{Rng, SeedableRng};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let end = span.as_nanos() as u64;
    // (time, sequence, node, kind): kind u16::MAX is a node's tick, any
    // other a packet from that node.
    let mut agenda = BinaryHeap::new();
    let mut seq = 0u64;
    for k in 0..nodes {
        agenda.push(Reverse((0u64, seq, k, u16::MAX)));
        seq += 1;
    }
    let mut delivered = 0;
    while let Some(Reverse((at, _, node, kind))) = agenda.pop() {
        if at >= end {
            break;
        }
        if kind != u16::MAX {
            delivered += 1;
            continue;
        }
        for to in (0..nodes).filter(|to| *to != node) {
            let latency = rng.gen_range(1_000_000..10_000_000u64);
            agenda.push(Reverse((at + latency, seq, to, node)));
            seq += 1;
        }
        agenda.push(Reverse((at + 100_000_000, seq, node, u16::MAX)));
        seq += 1;
    }
    delivered
}

fn seeds() {
    let quickstart = root().join("scenarios/quickstart.toml");
    let file = quickstart.to_str().expect("utf-8");
    // The bare program is timed before vigil and after (timed once, cold,
    // first in the process, it read 54 to 75 seeds a second from one run
    // of this section to the next), after a few seeds that warm the heap.
    let bare_seeds = 50;
    for seed in 0..5 {
        bare_madsim(seed, 5, Duration::from_secs(60));
    }
    let bare_packets = std::cell::Cell::new(0);
    let bare_wall = || {
        let start = Instant::now();
        for seed in 0..bare_seeds {
            bare_packets.set(bare_packets.get() + bare_madsim(seed, 5, Duration::from_secs(60)));
        }
        start.elapsed().as_secs_f64()
    };
    let before = bare_wall();
    let hooked_start = Instant::now();
    let mut hooked_packets = 0;
    for seed in 0..bare_seeds {
        hooked_packets += bare_madsim_hooked(seed, 5, Duration::from_secs(60));
    }
    let hooked_ns = hooked_start.elapsed().as_secs_f64() * 1e9 / hooked_packets as f64;
    let loop_seeds = 2000;
    let start = Instant::now();
    let mut loop_packets = 0;
    for seed in 0..loop_seeds {
        loop_packets += bare_event_loop(seed, 5, Duration::from_secs(60));
    }
    let loop_wall = start.elapsed().as_secs_f64();
    let bare_loop = loop_seeds as f64 / loop_wall;
    let loop_ns = loop_wall * 1e9 / loop_packets as f64;
    let run = |driver: &str, seeds: u64| {
        let range = format!("0..{seeds}");
        let wall = vigil(&[
            "explore", file, "--seeds", &range, "--jobs", "1", "--driver", driver,
        ]);
        seeds as f64 / wall
    };
    let madsim = run("madsim", 100);
    let event_loop = run("event-loop", 500);
    let after = bare_wall();
    // The packets those seeds delivered (counted in runs of their own,
    // untimed), for the cost a delivered packet.
    let scenario = vigil_sim::scenario::load(&quickstart).expect("the quickstart loads");
    let packets = |driver: &str, seeds: u64| {
        let driver = vigil_sim::runtime::Driver::parse(driver).expect("a driver");
        (0..seeds)
            .map(|seed| {
                let e = vigil_sim::run::execute(vigil_sim::run::Request {
                    registry: vigil_sim::protocols::Registry::builtin_ref(),
                    scenario: &scenario,
                    seed,
                    mutation: None,
                    swarm: false,
                    detail: false,
                    driver,
                });
                e.out.map_or(0, |t| t.net.delivered)
            })
            .sum::<u64>() as f64
            / seeds as f64
    };
    let (madsim_packets, event_loop_packets) = (packets("madsim", 100), packets("event-loop", 500));
    let (bare_before, bare_after) = (bare_seeds as f64 / before, bare_seeds as f64 / after);
    // Both timings pooled: the seeds over the time they took.
    let bare = 2.0 * bare_seeds as f64 / (before + after);
    println!("seeds: one core, seeds per wall second");
    println!(
        "  bare madsim, 5 nodes heartbeating all-to-all, 60 s: {bare:8.1}  ({bare_before:.1} before vigil, {bare_after:.1} after)"
    );
    println!(
        "  bare event loop, the same packets:                 {bare_loop:8.1}  ({loop_ns:.0} ns a packet)"
    );
    println!(
        "  vigil explore quickstart --jobs 1 (madsim):       {madsim:8.1}  ({:.2}x bare madsim)",
        madsim / bare
    );
    println!(
        "  vigil explore quickstart --jobs 1 --driver event-loop: {event_loop:8.1}  ({:.2}x bare madsim, {:.2}x the madsim driver)",
        event_loop / bare,
        event_loop / madsim
    );
    // Per delivered packet.
    let bare_packets = bare_packets.get() as f64 / (2 * bare_seeds) as f64;
    let per = |rate: f64, packets: f64| 1e9 / (rate * packets);
    let bare_ns = per(bare, bare_packets);
    println!(
        "  per delivered packet: bare madsim {bare_ns:.0} ns ({bare_packets:.0} packets a seed)"
    );
    let mut vigil_ns = Vec::new();
    for (driver, rate, packets) in [
        ("madsim", madsim, madsim_packets),
        ("event-loop", event_loop, event_loop_packets),
    ] {
        let ns = per(rate, packets);
        vigil_ns.push(ns);
        println!(
            "    vigil ({driver}): {ns:.0} ns ({packets:.0} packets a seed), {:.2}x bare madsim",
            ns / bare_ns
        );
    }
    // The floor of the madsim driver: madsim's network as the driver uses
    // it, plus vigil's own work a packet (all of the event loop's: its
    // network model is part of it, so this floor is generous).
    println!(
        "  madsim's network as the madsim driver uses it (sender futures, delivery hook): {hooked_ns:.0} ns a packet ({:.2}x bare madsim)",
        hooked_ns / bare_ns
    );
    println!(
        "    with vigil's work a packet on the event loop: {:.0} ns, {:.2}x bare madsim; the madsim driver's own glue: {:.0} ns a packet",
        hooked_ns + vigil_ns[1],
        (hooked_ns + vigil_ns[1]) / bare_ns,
        vigil_ns[0] - hooked_ns - vigil_ns[1]
    );
}

/// `--jobs 2` against `--jobs 1` on the quickstart, each driver.
fn jobs() {
    let quickstart = root().join("scenarios/quickstart.toml");
    let file = quickstart.to_str().expect("utf-8");
    println!("jobs: vigil explore quickstart --seeds 0..200, wall seconds");
    for driver in ["madsim", "event-loop"] {
        let wall = |jobs: &str| {
            vigil(&[
                "explore", file, "--seeds", "0..200", "--jobs", jobs, "--driver", driver,
            ])
        };
        let one = wall("1");
        let two = wall("2");
        println!(
            "  {driver:<10}  --jobs 1: {one:6.2}   --jobs 2: {two:6.2}   ({:.2}x)",
            one / two
        );
    }
}

/// The text of a scenario: `nodes` nodes for `secs` simulated seconds, a
/// job `db` of group `g` on `members` of them (all if `None`), and faults.
fn scenario(nodes: u16, secs: u64, members: Option<u16>, faults: &str) -> String {
    let on = members.map_or(String::new(), |m| {
        let names: Vec<String> = (0..m).map(|k| format!("\"n{k}\"")).collect();
        format!("nodes = [{}]\n", names.join(", "))
    });
    format!(
        "name = \"{nodes} nodes\"\nduration = \"{secs}s\"\n[cluster]\nnodes = {nodes}\n[[job]]\nname = \"db\"\ngroup = \"g\"\n{on}{faults}"
    )
}

/// Heartbeats on every node, a 10-member group, a panic and a crash.
fn heartbeats(nodes: u16, secs: u64) -> String {
    let faults = format!(
        "[[fault]]\nat = \"3s\"\nkind = \"work-thread-panic\"\nnode = \"n3\"\njob = \"db\"\n[[fault]]\nat = \"5s\"\nkind = \"node-crash\"\nnode = \"n{}\"\n",
        nodes - 1
    );
    scenario(nodes, secs, Some(10), &faults)
}

/// What one run in a child process reports.
struct Child {
    wall: f64,
    packets: u64,
    peak_mb: f64,
}

/// Runs `text` as a scenario on `driver` in a child process.
fn child(text: &str, driver: &str) -> Child {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).expect("write");
    child_file(&path, driver)
}

/// Runs the scenario file `path` on `driver` in a child process.
fn child_file(path: &std::path::Path, driver: &str) -> Child {
    child_with(&["one", path.to_str().expect("utf-8"), driver])
}

/// This benchmark run as a child process with `args`: what it reports.
fn child_with(args: &[&str]) -> Child {
    child_on(args, "mimalloc")
}

/// [`child_with`], the child allocating with `alloc` (`mimalloc` or
/// `system`).
fn child_on(args: &[&str], alloc: &str) -> Child {
    let out = Command::new(std::env::current_exe().expect("this benchmark"))
        .args(args)
        .env("VIGIL_BENCH_ALLOC", alloc)
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        fields.len() == 3,
        "child: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Child {
        wall: fields[0],
        packets: fields[1] as u64,
        peak_mb: fields[2],
    }
}

/// This process's peak resident memory, in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The child's side: run one scenario file, print wall, packets and peak.
fn one(file: &str, driver: &str) {
    let scenario = vigil_sim::scenario::load(std::path::Path::new(file)).expect("a scenario");
    let start = Instant::now();
    let e = vigil_sim::run::execute(vigil_sim::run::Request {
        registry: vigil_sim::protocols::Registry::builtin_ref(),
        scenario: &scenario,
        seed: 1,
        mutation: None,
        swarm: false,
        detail: false,
        driver: vigil_sim::runtime::Driver::parse(driver).expect("a driver"),
    });
    let wall = start.elapsed().as_secs_f64();
    assert!(e.passed(), "{file} on {driver}: {:?}", e.violations);
    let delivered = e.out.map_or(0, |t| t.net.delivered);
    println!("{wall:.3} {delivered} {:.1}", peak_mb());
}

/// The child's side of a bare madsim run: `nodes` all-to-all for `span_ms`
/// of simulated time; prints wall, packets and peak.
fn bare_child(nodes: &str, span_ms: &str, ring: bool) {
    let nodes = nodes.parse().expect("a node count");
    let span = Duration::from_millis(span_ms.parse().expect("milliseconds"));
    let start = Instant::now();
    let packets = if ring {
        bare_madsim_ring(1, nodes, span)
    } else {
        bare_madsim(1, nodes, span)
    };
    let wall = start.elapsed().as_secs_f64();
    println!("{wall:.3} {packets} {:.1}", peak_mb());
}

fn barrier() {
    const NODES: u16 = 100;
    println!("barrier: a barrier group on all of {NODES} nodes, 10 simulated seconds");
    let text = scenario(NODES, 10, None, "");
    // The bare program moves as many packets as vigil delivers (893,933
    // on madsim: 90 rounds): all-to-all every 100 ms, for as many rounds.
    // Like vigil, it runs in a fresh child process; and it runs before
    // vigil and after, their mean the yardstick, so that the machine's
    // drift during the run weighs on both sides alike.
    let per_round = u64::from(NODES) * u64::from(NODES - 1);
    let span_ms = (100 * (893_933 / per_round)).to_string();
    // Bare madsim twice over: on mimalloc, as vigil runs, and on glibc's
    // malloc, as a plain madsim program runs unless its author changes it
    // (which slows a run this large: a fifth of it in malloc).
    let bare_run = |alloc| child_on(&["bare", &NODES.to_string(), &span_ms], alloc);
    let per_packet = |c: &Child| c.wall * 1e9 / c.packets as f64;
    let before = [bare_run("mimalloc"), bare_run("system")];
    let runs: Vec<(&str, Child)> = ["madsim", "event-loop"]
        .into_iter()
        .map(|driver| (driver, child(&text, driver)))
        .collect();
    let after = [bare_run("mimalloc"), bare_run("system")];
    let mut bare = [0.0; 2];
    for (k, alloc) in ["mimalloc", "glibc malloc"].into_iter().enumerate() {
        bare[k] = (per_packet(&before[k]) + per_packet(&after[k])) / 2.0;
        println!(
            "  bare madsim on {alloc}, {NODES} nodes all-to-all for {span_ms} ms: {} packets, {:.0} ns a packet ({:.0} before vigil, {:.0} after)",
            before[k].packets,
            bare[k],
            per_packet(&before[k]),
            per_packet(&after[k])
        );
    }
    for (driver, c) in &runs {
        let per = c.wall * 1e9 / c.packets as f64;
        println!(
            "  vigil ({driver}): {} packets delivered in {:.2} s, {per:.0} ns a packet ({:.2}x bare madsim on mimalloc, {:.2}x on glibc malloc), peak {:.0} MB",
            c.packets,
            c.wall,
            per / bare[0],
            per / bare[1],
            c.peak_mb
        );
    }
}

fn scale() {
    // Runs this short (a fifth of a second at 400 nodes on the event loop)
    // swing with whatever else the machine does: each size runs `TRIES`
    // times, the sizes taking turns, and the median wall time counts.
    const TRIES: usize = 5;
    println!(
        "scale: heartbeats only (a 10-member group, a panic, a crash), 10 simulated seconds; median wall of {TRIES} runs, the sizes taking turns"
    );
    let sizes = [100u16, 200, 400, 800];
    for driver in ["madsim", "event-loop"] {
        let texts: Vec<String> = sizes.iter().map(|n| heartbeats(*n, 10)).collect();
        let mut runs: Vec<Vec<Child>> = sizes.iter().map(|_| Vec::new()).collect();
        for _ in 0..TRIES {
            for (k, text) in texts.iter().enumerate() {
                runs[k].push(child(text, driver));
            }
        }
        let mut by_nodes = Vec::new();
        for (nodes, mut tries) in sizes.iter().zip(runs) {
            tries.sort_by(|a, b| a.wall.total_cmp(&b.wall));
            let (lo, hi) = (tries[0].wall, tries[TRIES - 1].wall);
            let c = tries.swap_remove(TRIES / 2);
            println!(
                "  {driver:>10} {nodes:>5} nodes: {:7.2} s wall ({lo:.2} to {hi:.2}), {:>9} packets, peak {:6.0} MB",
                c.wall, c.packets, c.peak_mb
            );
            by_nodes.push(c);
        }
        let (a, b) = (&by_nodes[2], &by_nodes[3]);
        println!(
            "  {driver:>10} 800/400: wall {:.2}, packets {:.2}, memory {:.2}",
            b.wall / a.wall,
            b.packets as f64 / a.packets as f64,
            b.peak_mb / a.peak_mb
        );
    }
    // madsim's own growth: bare madsim moving 2n packets an interval on 400
    // and 800 nodes, the same way (medians, the sizes taking turns).
    let mut bare: [Vec<Child>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..TRIES {
        for (k, nodes) in ["400", "800"].into_iter().enumerate() {
            bare[k].push(child_with(&["bare-ring", nodes, "10000"]));
        }
    }
    let [a, b] = bare.map(|mut tries| {
        tries.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        tries.swap_remove(TRIES / 2)
    });
    println!(
        "  bare madsim, a ring of 400 and 800 nodes (2n packets an interval): {:.2} s and {:.2} s wall, {} and {} packets; 800/400: wall {:.2}, packets {:.2}",
        a.wall,
        b.wall,
        a.packets,
        b.packets,
        b.wall / a.wall,
        b.packets as f64 / a.packets as f64
    );
    for (nodes, secs, driver) in [
        (1000u16, 60u64, "madsim"),
        (1000, 60, "event-loop"),
        (5000, 10, "madsim"),
        (5000, 10, "event-loop"),
    ] {
        let c = child(&heartbeats(nodes, secs), driver);
        println!(
            "  {driver:>10} {nodes} nodes, {secs} s: {:.2} s wall ({:.2}x real time), {} packets, peak {:.0} MB",
            c.wall,
            c.wall / secs as f64,
            c.packets,
            c.peak_mb
        );
    }
}

fn large() {
    let file = root().join("sim/benches/large-200.toml");
    println!("large: sim/benches/large-200.toml, 200 nodes, 60 simulated seconds");
    for driver in ["madsim", "event-loop"] {
        let c = child_file(&file, driver);
        println!(
            "  {driver:>10}: {:.2} s wall ({:.3}x real time), {} packets, peak {:.0} MB, every check passing",
            c.wall,
            c.wall / 60.0,
            c.packets,
            c.peak_mb
        );
    }
}

/// The child's side of `memory`: explore the quickstart over `seeds` seeds.
fn explore_peak(seeds: &str) {
    let quickstart = root().join("scenarios/quickstart.toml");
    let argv: Vec<String> = [
        "vigil",
        "explore",
        quickstart.to_str().expect("utf-8"),
        "--seeds",
        &format!("0..{seeds}"),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    // Its output goes where a terminal's would: out of this process.
    let start = Instant::now();
    let code = vigil_sim::cli::main_with(
        &argv,
        &mut vigil_sim::cli::Io {
            stdout: &mut std::io::sink(),
            stderr: &mut std::io::sink(),
            color_stdout: false,
            color_stderr: false,
        },
    );
    assert_eq!(code, 0);
    let wall = start.elapsed().as_secs_f64();
    println!("{wall:.3} {seeds} {:.1}", peak_mb());
}

fn memory() {
    println!(
        "memory: peak of vigil explore scenarios/quickstart.toml (default driver, every core)"
    );
    let mut peaks = Vec::new();
    for seeds in ["100", "10000"] {
        let out = Command::new(std::env::current_exe().expect("this benchmark"))
            .args(["explore-peak", seeds])
            .env("VIGIL_BENCH_ALLOC", "mimalloc")
            .output()
            .expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let f: Vec<f64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(f.len(), 3, "{text}{}", String::from_utf8_lossy(&out.stderr));
        println!("  {seeds:>6} seeds: peak {:.1} MB ({:.0} s)", f[2], f[0]);
        peaks.push(f[2]);
    }
    println!("  10,000 / 100: {:.2}", peaks[1] / peaks[0]);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("one") => return one(&args[1], &args[2]),
        Some("bare") => return bare_child(&args[1], &args[2], false),
        Some("bare-ring") => return bare_child(&args[1], &args[2], true),
        Some("explore-peak") => return explore_peak(&args[1]),
        _ => {}
    }
    let all = args.is_empty();
    let wants = |s: &str| all || args.iter().any(|a| a == s);
    if wants("seeds") {
        seeds();
    }
    if wants("jobs") {
        jobs();
    }
    if wants("barrier") {
        barrier();
    }
    if wants("scale") {
        scale();
    }
    if wants("large") {
        large();
    }
    if args.iter().any(|a| a == "memory") {
        memory();
    }
}
