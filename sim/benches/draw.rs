//! Drawing speed in figures (not a timed test): a 50-node, 60-second run
//! (`sim/benches/draw-50.toml`, a barrier job on every node and four
//! faults) replayed with every packet recorded, then drawn as the whole
//! run and as a 2-second window, in SVG and in the Trace Event Format.
//! The simulation is timed apart from the drawing.
//!
//! ```text
//! cargo bench -p vigil-sim --bench draw
//! ```

use std::time::Instant;
use vigil_engine::Time;
use vigil_sim::protocols::Registry;
use vigil_sim::run::{self, Request};
use vigil_sim::tools::visual::{perfetto, svg, Story};

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed().as_secs_f64())
}

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/draw-50.toml");
    let scenario = vigil_sim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (e, simulate) = timed(|| {
        run::execute(Request {
            registry: Registry::builtin_ref(),
            scenario: &scenario,
            seed: 1,
            mutation: None,
            swarm: false,
            detail: true,
            driver: Default::default(),
        })
    });
    let events = e.out.as_ref().map_or(0, |o| o.entries.len());
    println!(
        "simulate: 50 nodes, 60 s simulated, every packet recorded: {simulate:.2} s wall, {events} trace events, {} violations",
        e.violations.len()
    );
    let (story, read) = timed(|| Story::of_execution("50 nodes", &e).expect("a whole run"));
    println!(
        "read the trace: {read:.2} s ({} packets, {} ACKs, {} rounds, {} marks)",
        story.packets.len(),
        story.acks.len(),
        story.rounds.len(),
        story.marks.len()
    );
    let window = svg::Options {
        from: Some(Time(44_000_000_000)),
        to: Some(Time(46_000_000_000)),
        heartbeats: None,
        max_height: None,
    };
    for (what, opts) in [("whole run", svg::Options::default()), ("44-46 s", window)] {
        let (d, t) = timed(|| svg::draw(&story, opts));
        println!(
            "svg, {what}: {t:.2} s, {} lanes, {} arrows, {} marks, {:.1} MB{}",
            d.lanes,
            d.arrows,
            d.marks,
            d.svg.len() as f64 / 1e6,
            if d.left_out.is_empty() {
                String::new()
            } else {
                format!(" (left out: {})", d.left_out.join("; "))
            }
        );
        let (p, t) = timed(|| {
            perfetto::export(
                &story,
                perfetto::Options {
                    from: opts.from.unwrap_or(Time(0)),
                    to: opts.to.unwrap_or(story.end),
                    heartbeats: false,
                },
            )
        });
        println!(
            "perfetto, {what}: {t:.2} s, {} events, {:.1} MB",
            p.events,
            p.json.len() as f64 / 1e6
        );
    }
}
