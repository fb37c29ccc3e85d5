//! How fast vigil simulates, in figures (not a timed test):
//!
//! ```text
//! cargo bench -p vigil-sim --bench throughput            # both figures
//! cargo bench -p vigil-sim --bench throughput -- quick   # quickstart only
//! ```
//!
//! - quickstart: `scenarios/quickstart.toml` (5 nodes, 60 simulated seconds)
//!   over many seeds on one core, in seeds per wall second;
//! - large: `sim/benches/large-200.toml` (200 nodes, 60 simulated seconds),
//!   wall time against simulated time.

use std::path::Path;
use std::time::Instant;
use vigil_sim::protocols::Registry;
use vigil_sim::run::{self, Request};
use vigil_sim::scenario;

fn execute(s: &scenario::Scenario, seed: u64) -> run::Execution {
    run::execute(Request {
        registry: Registry::builtin_ref(),
        scenario: s,
        seed,
        mutation: None,
        swarm: false,
        detail: false,
    })
}

fn load(path: &str) -> scenario::Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    scenario::load(&root.join(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn quickstart(seeds: u64) {
    let s = load("scenarios/quickstart.toml");
    let start = Instant::now();
    let mut sent = 0;
    let mut failed = 0;
    for seed in 1..=seeds {
        let e = execute(&s, seed);
        sent += e.out.as_ref().map_or(0, |o| o.net.sent);
        if !e.passed() {
            failed += 1;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "quickstart: {seeds} seeds (5 nodes, 60 s simulated each, checked) in {wall:.2} s wall: {:.1} seeds/s, {:.0} packets/s, {failed} failed",
        seeds as f64 / wall,
        sent as f64 / wall
    );
}

fn large() {
    let s = load("sim/benches/large-200.toml");
    let start = Instant::now();
    let e = execute(&s, 1);
    let ran = start.elapsed().as_secs_f64();
    let failed: Vec<String> = e
        .checks
        .iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| c.name.clone())
        .collect();
    let out = e.out.expect("the large run does not panic");
    let sim = s.duration.as_secs_f64();
    println!(
        "large: 200 nodes, {sim:.0} s simulated in {ran:.2} s wall ({:.2}x real time), {} packets, failed checks: {failed:?}",
        ran / sim,
        out.net.sent
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seeds = std::env::var("VIGIL_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    if args.is_empty() || args.iter().any(|a| a == "quick") {
        quickstart(seeds);
    }
    if args.is_empty() || args.iter().any(|a| a == "large") {
        large();
    }
}
