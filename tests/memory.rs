//! A sweep runs in constant memory: nothing of a run outlives it. madsim
//! tasks still pending when a run ends hold their own wakers, so unless
//! the run frees them they stay, with everything they hold (the run's
//! world, its engines, its trace), and `vigil explore` grows with every
//! seed. This test runs alone in its binary, so no other run is alive.

use std::sync::Mutex;
use vigil_sim::runtime::{live_worlds, run, RunConfig};
use vigil_tests::load;

/// The tests of this binary run one at a time: each reads what the whole
/// process holds.
static ALONE: Mutex<()> = Mutex::new(());

#[test]
fn nothing_of_a_run_outlives_it() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
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

/// A sweep's peak stays flat only if a run's large blocks (its trace, a
/// few MB) keep coming from their own mappings, given back when freed:
/// glibc otherwise raises its threshold for that at each such free, and
/// later runs' traces come from a heap that does not shrink. Untuned, a
/// 1 MB block after a freed 4 MB one comes from the heap (the regression
/// this test catches); after `tune_allocator` (what a sweep calls first),
/// a block larger than anything the heap holds free (2 MB) comes from a
/// mapping of its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn large_blocks_stay_mapped_once_vigil_tunes_the_allocator() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    // Bytes in blocks served from their own mappings.
    let mapped = || unsafe { libc::mallinfo2() }.hblkhd;
    let after_a_large_free = |size: usize| {
        drop(std::hint::black_box(vec![1u8; 4 << 20]));
        let before = mapped();
        let block = std::hint::black_box(vec![1u8; size]);
        let grew = mapped().saturating_sub(before);
        drop(block);
        grew
    };
    assert_eq!(
        after_a_large_free(1 << 20),
        0,
        "untuned, glibc should serve it from the heap: this test no longer shows the difference"
    );
    vigil_sim::cli::tune_allocator();
    assert!(
        after_a_large_free(2 << 20) >= 2 << 20,
        "after tune_allocator, a 2 MB block must come from its own mapping"
    );
}
