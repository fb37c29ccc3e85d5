//! vigil's simulator: runs the cluster engine and jobs of `vigil-engine` and
//! the protocols of `vigil-protocols` on madsim's seeded network and clock,
//! applies a scenario's faults, and checks what every member saw.
//!
//! - [`scenario`]: the scenario file format (a contract).
//! - [`protocols`]: the protocols scenarios can name, and their options.
//! - [`world`]: one run: madsim runtime, nodes, the fault controller.
//! - `node`, `job`: a node's engine task and network; a job's main and work threads.
//! - [`trace`]: what a run recorded, and its hash.
//! - [`check`]: the checkers, and the scenario's expectations.
//! - [`report`]: human and JSON output.
//! - [`visual`]: diagrams of a run (SVG, Perfetto) and the HTML report of a sweep.

pub mod check;
pub mod cli;
pub mod draw;
pub mod explore;
mod job;
#[macro_use]
pub mod mutation;
mod node;
pub mod protocols;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod shrink;
pub mod trace;
pub mod visual;
pub mod world;
