//! `vigil explore` speed in figures (not a timed test): every example
//! scenario under a range of seeds with 1 worker and with 2, in runs per
//! wall second, and the speed-up.
//!
//! ```text
//! cargo bench -p vigil-sim --bench explore            # seeds 0..10 of every example
//! VIGIL_BENCH_SEEDS=40 cargo bench -p vigil-sim --bench explore
//! ```

use std::time::Instant;

fn explore(seeds: u64, jobs: usize) -> (u64, f64) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let args: Vec<String> = [
        "vigil".to_string(),
        "explore".into(),
        root.display().to_string(),
        "--seeds".into(),
        format!("0..{seeds}"),
        "--jobs".into(),
        jobs.to_string(),
        "--json".into(),
    ]
    .to_vec();
    let start = Instant::now();
    let c = vigil_sim::cli::capture(&args, vigil_sim::protocols::Registry::builtin_ref());
    let wall = start.elapsed().as_secs_f64();
    assert!(c.code <= 1, "{}", c.stderr);
    let runs = c
        .stdout
        .lines()
        .filter(|l| l.contains("\"type\":\"run\""))
        .count() as u64;
    (runs, wall)
}

fn main() {
    let seeds: u64 = std::env::var("VIGIL_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (runs1, wall1) = explore(seeds, 1);
    println!(
        "explore scenarios/ --seeds 0..{seeds} --jobs 1: {runs1} runs in {wall1:.2}s, {:.1} runs/s",
        runs1 as f64 / wall1
    );
    let (runs2, wall2) = explore(seeds, 2);
    println!(
        "explore scenarios/ --seeds 0..{seeds} --jobs 2: {runs2} runs in {wall2:.2}s, {:.1} runs/s",
        runs2 as f64 / wall2
    );
    println!(
        "speed-up with 2 workers: {:.2}x (machine has {cores} cores)",
        wall1 / wall2
    );
}
