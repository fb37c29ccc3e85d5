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

pub mod check;
pub mod cli;
pub mod mutation;
pub mod protocols;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod tools;
pub mod trace;
