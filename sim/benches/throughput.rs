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
use vigil_sim::{check, scenario, world};

fn load(path: &str) -> scenario::Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    scenario::load(&root.join(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn quickstart(seeds: u64) {
    let s = load("scenarios/quickstart.toml");
    let cfg = world::engine_config(&s);
    let start = Instant::now();
    let mut sent = 0;
    let mut failed = 0;
    for seed in 1..=seeds {
        let out = world::run(&s, seed);
        sent += out.trace.net.sent;
        if check::check(&out, &s, &cfg)
            .iter()
            .any(|c| !c.violations.is_empty())
        {
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
    let cfg = world::engine_config(&s);
    let start = Instant::now();
    let out = world::run(&s, 1);
    let ran = start.elapsed().as_secs_f64();
    let failed: Vec<String> = check::check(&out, &s, &cfg)
        .into_iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| c.name)
        .collect();
    let sim = s.duration.as_secs_f64();
    println!(
        "large: 200 nodes, {sim:.0} s simulated in {ran:.2} s wall ({:.2}x real time), {} packets, failed checks: {failed:?}",
        ran / sim,
        out.trace.net.sent
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
