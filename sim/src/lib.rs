//! vigil's simulator: runs the cluster engine and jobs of `vigil-engine` and
//! the protocols of `vigil-protocols` on madsim's seeded network and clock,
//! applies a scenario's faults, and checks what every member saw.
//!
//! The crate is in wings, each a folder, each importing only the ones
//! before it in this list:
//!
//! - [`mutation`]: the deliberately broken variants tests use (empty in
//!   shipped builds).
//! - [`protocols`]: the protocols scenarios can name, and their options.
//! - [`scenario`]: the scenario file format (a contract), its faults, and
//!   the seeded draw of random faults. No madsim.
//! - [`trace`]: what a run recorded: the only record that checks, reports
//!   and pictures read.
//! - [`runtime`]: the madsim driver: one run, its nodes, its jobs, and the
//!   controller that applies faults.
//! - [`check`]: the checks and the scenario's expectations, from the trace.
//! - [`run`]: one checked run as every command needs it (draw, run,
//!   check), failure fingerprints, the determinism check.
//! - [`tools`]: what works over runs: `explore` and `merge`, `shrink`,
//!   the report, the pictures, the property-test harness.
//! - [`cli`]: the command line, a file per command.

/// A module's tests, from the names of its test functions. They reach the
/// module's private items, so they live beside it; they compile into the
/// library with the `unit-tests` feature only, and vigil-tests runs them
/// (`cargo test -p vigil-tests --test suite units::`). Kept out of a
/// `--cfg test` build, they spare every test build a second compilation
/// of this crate, which took a fifth of a fresh clone's build. Each test
/// module denies dead code, so a function left out of its list fails the
/// build, and tests/architecture.rs forbids `#[test]` here (it would never
/// run).
#[cfg(feature = "unit-tests")]
macro_rules! unit_tests {
    ($($test:ident),* $(,)?) => {
        pub(crate) const ALL: &[(&str, fn())] = &[$((stringify!($test), $test)),*];
    };
}

pub mod check;
pub mod cli;
pub mod mutation;
pub mod protocols;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod tools;
pub mod trace;

/// A module's unit tests: each function's name and the function.
#[cfg(feature = "unit-tests")]
#[doc(hidden)]
pub type UnitTests = &'static [(&'static str, fn())];

/// Every module's unit tests (see `unit_tests!`), by module.
#[cfg(feature = "unit-tests")]
#[doc(hidden)]
pub fn unit_tests() -> Vec<(&'static str, UnitTests)> {
    let mut all = vec![
        ("check", check::tests::ALL),
        ("check::bounds", check::bounds::tests::ALL),
        ("run", run::tests::ALL),
        ("scenario::draw", scenario::draw::tests::ALL),
        ("scenario::schema", scenario::schema::tests::ALL),
        ("tools::explore", tools::explore::tests::ALL),
        ("tools::props", tools::props::tests::ALL),
        ("tools::visual::svg", tools::visual::svg::tests::ALL),
        ("trace", trace::tests::ALL),
        ("trace::entries", trace::entries::tests::ALL),
    ];
    all.extend(runtime::UNIT_TESTS);
    all.extend(scenario::UNIT_TESTS);
    all
}
