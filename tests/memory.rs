//! A sweep runs in constant memory: nothing of a run outlives it. madsim
//! tasks still pending when a run ends hold their own wakers, so unless
//! the run frees them they stay, with everything they hold (the run's
//! world, its engines, its trace), and `vigil explore` grows with every
//! seed. This test runs alone in its binary, so no other run is alive.

use vigil_sim::runtime::{live_worlds, run, RunConfig};
use vigil_tests::load;

#[test]
fn nothing_of_a_run_outlives_it() {
    for name in ["quickstart", "many-faults", "node-pause", "engine-crash"] {
        let scenario = load(name);
        for seed in 0..3 {
            let trace = run(&RunConfig::new(&scenario, seed)).expect("the run");
            assert!(!trace.entries.is_empty());
            assert_eq!(
                live_worlds(),
                0,
                "{name} seed {seed} left its world alive after it returned"
            );
        }
    }
}
