//! vigil's integration tests, one module per file beside this one, in one
//! test binary: the harness runs them all side by side on every core, and
//! the crate links once rather than a dozen times. Run one file's tests
//! with its module's name as the filter, e.g.
//! `cargo test -p vigil-tests --test suite exhaust::`.
//!
//! Two files keep binaries of their own: `memory.rs` sets the process's
//! allocator, which the other tests' runs would disturb, and `real.rs`
//! times real processes on the wall clock, which a busy neighbour would.

// The allocator the `vigil` binary runs on (glibc's malloc was a twentieth
// of the suite's time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod architecture;
mod checkers;
mod cli;
mod coverage;
mod exhaust;
mod explore;
mod props;
mod regressions;
mod scenarios;
mod schema;
mod snapshots;
mod units;
mod visual;
