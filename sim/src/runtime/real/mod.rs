//! The same node on a real network: `vigil node` runs one node of a cluster
//! as a process (its engine over UDP, its jobs' main and work threads as
//! OS threads, the real clock), and `vigil run FILE --real` starts one such
//! process per node on 127.0.0.1, strikes the scenario's faults at their
//! wall-clock times, and checks the merged trace with the simulator's
//! checks.
//!
//! Nothing here decides anything about membership: the engine, the main
//! thread, the work thread and the protocols are the simulator's state
//! machines, line for line; this driver only carries their outputs to real
//! sockets, threads and timers. What a fault does is [`super::faults`]'s,
//! as in the simulator: the launcher is one more [`super::faults::Plant`].
//!
//! - `node.rs`: one node process: the engine thread, the packet receiver,
//!   one thread per main thread and per work thread, the control channel.
//! - `launch.rs`: `vigil run --real`: processes, faults, the merged trace.
//! - here: what both sides share: the clock, the trace file's lines and the
//!   control commands.

mod launch;
mod node;

#[cfg(feature = "unit-tests")]
pub(crate) use launch::tests::ALL as LAUNCH_TESTS;
pub use launch::{inherit, is_kept_file, merge_files, refusal, run_real, RealRun, RealTrace};
pub use node::{run_node, NodeSpec};

use crate::trace::{Entry, NetStats, TraceEvent};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use vigil_engine::{MemberId, Time};

/// A run's clock: nanoseconds since its epoch (a wall-clock instant every
/// node of the run shares), read monotonically.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    /// Where the epoch was when this clock started.
    offset: u64,
}

impl Clock {
    /// A clock whose zero is `epoch_ns` nanoseconds after the Unix epoch.
    pub fn from_epoch(epoch_ns: u64) -> Clock {
        Clock {
            start: Instant::now(),
            offset: unix_ns().saturating_sub(epoch_ns),
        }
    }

    pub fn now(&self) -> Time {
        Time(self.offset + self.start.elapsed().as_nanos() as u64)
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One line of a node's trace file: an entry of the trace, or (last, when
/// the node is stopped rather than killed) how it ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Line {
    End { end: NodeEnd },
    Entry(Entry),
}

/// What one node's trace file holds: its entries, and how its last life
/// ended if it was stopped (not killed).
pub(super) struct NodeTrace {
    pub(super) entries: Vec<Entry>,
    pub(super) end: Option<NodeEnd>,
    /// Every life's packet counts, summed.
    pub(super) net: NetStats,
}

/// What is wrong with a node's trace file, or with the set of them: the
/// file and line it is at, when it is at one, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFileError {
    pub file: Option<std::path::PathBuf>,
    /// From 1.
    pub line: Option<usize>,
    pub message: String,
}

impl TraceFileError {
    fn at(file: &std::path::Path, line: Option<usize>, message: String) -> TraceFileError {
        let file = Some(file.to_path_buf());
        TraceFileError {
            file,
            line,
            message,
        }
    }
}

impl std::fmt::Display for TraceFileError {
    /// `file:line: message`, as much of the place as there is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => {}
        }
        f.write_str(&self.message)
    }
}

/// Reads one node's trace file. A last line cut short (the node was killed
/// while writing it) is left out; any other bad line is an error naming it.
pub(super) fn read_node_trace(path: &std::path::Path) -> Result<NodeTrace, TraceFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TraceFileError::at(path, None, format!("cannot read it: {e}")))?;
    let lines = text.lines().count();
    let mut out = NodeTrace {
        entries: Vec::new(),
        end: None,
        net: NetStats::default(),
    };
    for (k, line) in text.lines().enumerate() {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Entry(e)) => {
                // A node appends to its trace (a restarted node goes on
                // where its last life stopped), in its time order, from
                // its cluster's one epoch: a time that goes back is a
                // second cluster run, started from another epoch.
                if let Some(last) = out.entries.last().filter(|last| e.at < last.at) {
                    let why = format!(
                        "the time goes back ({} ns after {} ns): the file holds lives of the node \
                         counted from different epochs (a node appends to its trace file): start every \
                         node of a run, restarts included, with one --epoch-ns, and each run with new \
                         trace files",
                        e.at.0, last.at.0
                    );
                    return Err(TraceFileError::at(path, Some(k + 1), why));
                }
                // A later life means the earlier end was not the last.
                if matches!(e.event, TraceEvent::NodeBoot { .. }) {
                    out.end = None;
                }
                out.entries.push(e);
            }
            Ok(Line::End { end }) => {
                out.net.sent += end.net.sent;
                out.net.delivered += end.net.delivered;
                out.net.duplicated += end.net.duplicated;
                out.end = Some(end);
            }
            // A torn last line is what a killed node leaves; a file with
            // no good line before it is no node's trace at all.
            Err(e) if k + 1 < lines || (out.entries.is_empty() && out.end.is_none()) => {
                let why = format!("not a line of a node's trace: {e}");
                return Err(TraceFileError::at(path, Some(k + 1), why));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// How one node's life ended, as it wrote it on the way out.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct NodeEnd {
    pub(super) net: NetStats,
    /// Its jobs' members, still running as it stopped.
    pub(super) live_members: Vec<MemberId>,
}

/// A node's trace file, written a line at a time (a node that is killed
/// loses nothing it recorded) and in its own time order.
pub(super) struct TraceFile {
    clock: Clock,
    out: Mutex<Box<dyn Write + Send>>,
}

impl TraceFile {
    pub(super) fn new(clock: Clock, out: Box<dyn Write + Send>) -> TraceFile {
        TraceFile {
            clock,
            out: Mutex::new(out),
        }
    }

    pub(super) fn now(&self) -> Time {
        self.clock.now()
    }

    /// Records `event` now.
    pub(super) fn record(&self, event: TraceEvent) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // The time is read under the lock, so the file is in time order.
        let line = Line::Entry(Entry {
            at: self.clock.now(),
            event,
        });
        if let Ok(text) = serde_json::to_string(&line) {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    pub(super) fn end(&self, end: NodeEnd) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(text) = serde_json::to_string(&Line::End { end }) {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// The environment variable that makes mimalloc commit an arena's memory
/// as it is used rather than all at once when the arena is made.
pub const LAZY_COMMIT: &str = "MIMALLOC_ARENA_EAGER_COMMIT";

/// For `vigil node`: starts the program again, in place (same process,
/// arguments, descriptors and standard streams), with [`LAZY_COMMIT`] set
/// to 0, unless it is set already (a user's own value stands). Call it
/// first thing in `main`; it returns if there is nothing to do, or if
/// the program could not be started again (the node then runs as it is).
///
/// mimalloc, the `vigil` binary's allocator, commits its first arena when
/// the process starts, before `main` could set the option: a dozen
/// clusters' nodes booting at once on 2 cores stalled their main threads
/// 130 to 470 ms (`main-thread-responsive` failed a third of such runs,
/// none with the variable set). Every node gets it this way: those `vigil
/// run --real` starts, and those started by hand or by a launcher of
/// one's own.
#[cfg(unix)]
pub fn lazy_commit_for_nodes(args: &[String]) {
    use std::os::unix::process::CommandExt;
    if args.get(1).map(String::as_str) != Some("node") || std::env::var_os(LAZY_COMMIT).is_some() {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let mut again = std::process::Command::new(program);
    if let Some(arg0) = args.first() {
        again.arg0(arg0);
    }
    // `exec` returns only if it failed.
    let _ = again.args(&args[1..]).env(LAZY_COMMIT, "0").exec();
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;
    use vigil_engine::NodeId;

    fn line(l: &Line) -> String {
        serde_json::to_string(l).expect("a line") + "\n"
    }

    fn a_node_trace_ends_with_its_last_life() {
        let boot = || {
            line(&Line::Entry(Entry {
                at: Time(1),
                event: TraceEvent::NodeBoot { node: NodeId(1) },
            }))
        };
        let end = line(&Line::End {
            end: NodeEnd::default(),
        });
        let view = line(&Line::Entry(Entry {
            at: Time(2),
            event: TraceEvent::NodeView {
                node: NodeId(1),
                view: vigil_engine::ViewId(3),
                members: vec![NodeId(1)],
            },
        }));
        let dir = tempfile::tempdir().expect("a dir");
        let path = dir.path().join("n1.jsonl");
        let read = |text: String| {
            std::fs::write(&path, text).expect("written");
            read_node_trace(&path)
        };
        // A thread that records after the end does not undo it.
        let t = read(boot() + &end + &view).expect("it reads");
        assert!(t.end.is_some());
        assert_eq!(t.entries.len(), 2);
        // A new life without an end (it was killed) does.
        assert!(read(boot() + &end + &boot())
            .expect("it reads")
            .end
            .is_none());
        // A last line cut short by a kill is left out; one in the middle is an error.
        let cut = &view[..view.len() / 2];
        assert_eq!(read(boot() + cut).expect("it reads").entries.len(), 1);
        let err = read(boot() + cut + "\n" + &end).err().expect("an error");
        assert_eq!((err.file.as_deref(), err.line), (Some(&*path), Some(2)));
        assert!(err.to_string().contains("n1.jsonl:2: not a line"), "{err}");
        // A second run of the cluster, from another epoch, appended to the
        // first: its time goes back, and the file is refused, not merged
        // (its incarnations would read as going back).
        let err = read(boot() + &view + &end + &boot())
            .err()
            .expect("an error");
        assert!(
            err.to_string().contains("n1.jsonl:4: the time goes back"),
            "{err}"
        );
    }

    /// A node binding its own port (run by hand) waits for one held a
    /// moment, while someone picks free ports; one held for good is an
    /// error after a second.
    fn a_node_waits_a_moment_for_its_port() {
        let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port");
        let addr = held.local_addr().expect("bound");
        assert!(
            std::net::UdpSocket::bind(addr).is_err(),
            "a second bind of a held port fails at once"
        );
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        node::bind(addr).expect("bound once the port is free");
        release.join().expect("released");

        let kept = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port");
        let addr = kept.local_addr().expect("bound");
        let err = node::bind(addr).expect_err("held for good");
        drop(kept);
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }

    unit_tests![
        a_node_trace_ends_with_its_last_life,
        a_node_waits_a_moment_for_its_port,
    ];
}
