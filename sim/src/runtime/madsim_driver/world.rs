//! What the tasks of one run share: the simulated clock's origin, the
//! trace being written, each node's disk and live state, and the network
//! conditions the controller sets. The tasks (`node`, `job`) and the
//! controller (`faults`) read and write it; it imports none of them.

use super::super::clock::NodeClock;
use super::super::net::Net;
use super::chan::Sender as UnboundedSender;
use super::wires::{EngineIn, JobHandle, Pending};
use crate::mutation::Mutation;
use crate::protocols::Registry;
use crate::scenario::Scenario;
pub use crate::trace::NodeStatus;
use crate::trace::{Trace, TraceEvent};
use madsim::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use vigil_engine::job::FaultKind;
use vigil_engine::{Durable, LocalKey, MemberId, NodeId, Time};

/// What a node keeps across its restarts, and the controller's view of it.
pub struct NodeShared {
    /// The engine's stable storage (`None`: it was lost).
    pub disk: Mutex<Option<Durable>>,
    /// The jobs that run here, and start again after a restart.
    pub wanted: Mutex<BTreeSet<String>>,
    pub live: Mutex<LiveNode>,
    pub status: Mutex<NodeStatus>,
    /// How much slower the node runs, in thousandths (the host's load: it
    /// stays across crashes).
    pub slow: Mutex<u32>,
    /// The machine's clock: it runs on across crashes.
    pub clock: Mutex<NodeClock>,
    /// Whether a fault of the run sets this node's clock (only then do
    /// its main threads' timers listen for a change).
    pub clock_faulted: bool,
    /// Timers waiting on this node's clock, told when it changes.
    pub clock_waiters: Mutex<Vec<futures::channel::oneshot::Sender<()>>>,
}

/// The node's current life: its engine's inbox and its running jobs.
#[derive(Default)]
pub struct LiveNode {
    pub engine_tx: Option<UnboundedSender<EngineIn>>,
    /// Ends the engine task at once (an `engine-crash`).
    pub engine_crash: Option<futures::channel::oneshot::Sender<()>>,
    /// The engine's port, while its sender holds it (a strong reference
    /// here would keep madsim's network, and through its hooks this
    /// world, alive after the run).
    pub endpoint: Option<std::sync::Weak<madsim::net::Endpoint>>,
    /// The engine died and its jobs live on.
    pub engine_down: bool,
    pub jobs: BTreeMap<String, JobHandle>,
    pub next_key: u64,
    /// Work-thread faults that struck before their job started, with the
    /// fault's number: the job's thread takes them at its first local step.
    pub armed: BTreeMap<(String, u16), (FaultKind, usize)>,
    /// The jobs (by registration key: one life of a job) a `job-leave`
    /// asked to leave.
    pub leaving: BTreeSet<LocalKey>,
}

/// Everything the tasks of one run share.
pub struct World {
    pub scenario: Scenario,
    pub registry: Registry,
    pub mutation: Option<Mutation>,
    pub engine_config: vigil_engine::Config,
    pub(super) start: Instant,
    /// How far madsim's clock had run at `start` (see [`RunClock`]).
    pub(super) clock_at_start: Duration,
    pub trace: Mutex<Trace>,
    pub nodes: Vec<NodeShared>,
    /// The network's conditions, as the faults set them.
    pub(super) net: Mutex<Net>,
    /// The clock rates and slowness that overlapping faults set.
    pub(super) layers: Mutex<super::super::faults::Layers>,
    pub(super) madsim_ids: Mutex<Vec<madsim::task::NodeId>>,
    /// Record every packet sent, delivered and dropped (`vigil replay`).
    pub detail: bool,
    pub(super) packets: std::sync::atomic::AtomicU64,
    /// Packets sent and delivered: counted here as they go (no lock), and
    /// added to the trace's counts when the run ends.
    pub(super) sent: std::sync::atomic::AtomicU64,
    pub(super) delivered: std::sync::atomic::AtomicU64,
    /// What faults do later (an end, a restart), due at exact times.
    pub(super) laters: Mutex<Laters>,
    /// Counts this world among the live ones while it lives.
    pub(super) _live: Live,
}

/// The fault ends and restarts to come, each due at the time of the
/// fault or end that set it plus its delay (not at madsim's clock, which a
/// task's wake-up moves on by a few nanoseconds), in the order they were
/// set when due at one time, as on the event loop. Only the controller
/// task sets and takes them.
#[derive(Default)]
pub(super) struct Laters {
    pub due: BTreeMap<(Time, u64), super::super::faults::Later>,
    pub set: u64,
    /// When the fault or end being applied was due.
    pub now: Time,
}

/// How many runs' worlds are alive in this process.
static LIVE_WORLDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A world's place in [`live_worlds`]: counted when made, uncounted when
/// the world is dropped, which happens only once every task of its run
/// is gone.
pub(super) struct Live(());

impl Live {
    pub(super) fn new() -> Live {
        LIVE_WORLDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Live(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_WORLDS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How many runs' worlds are still alive: after every run has returned,
/// zero, or a run left tasks behind (and a sweep's memory would grow with
/// every seed).
pub fn live_worlds() -> usize {
    LIVE_WORLDS.load(std::sync::atomic::Ordering::SeqCst)
}

impl World {
    pub fn now(&self) -> Time {
        let since = match CLOCK.with(|c| c.borrow().as_ref().map(|clock| clock.elapsed())) {
            Some(elapsed) => {
                let since = elapsed.saturating_sub(self.clock_at_start);
                // The shortcut reads the clock `Instant::now()` reads: in
                // test builds, every reading is checked against it.
                debug_assert_eq!(
                    since,
                    self.start.elapsed(),
                    "the run's clock and madsim's agree"
                );
                since
            }
            None => self.start.elapsed(),
        };
        Time(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn instant(&self, t: Time) -> Instant {
        self.start + Duration::from_nanos(t.0)
    }

    /// How much slower `node` runs, in thousandths (1000: full speed).
    pub fn slow(&self, node: NodeId) -> u32 {
        *self.nodes[usize::from(node.0)].slow.lock().expect("slow")
    }

    /// What `node`'s clock reads now.
    pub fn local(&self, node: NodeId) -> Time {
        self.local_at(node, self.now())
    }

    /// What `node`'s clock reads when the run's clock reads `now`.
    pub fn local_at(&self, node: NodeId, now: Time) -> Time {
        let clock = *self.nodes[usize::from(node.0)].clock.lock().expect("clock");
        clock.local(now)
    }

    /// When `local` on `node`'s clock falls, as madsim's instant.
    pub fn deadline(&self, node: NodeId, local: Time) -> Instant {
        if local.0 == u64::MAX {
            return self.instant(local);
        }
        // Not clamped to now: madsim fires a timer set in the past as it
        // always did.
        let clock = *self.nodes[usize::from(node.0)].clock.lock().expect("clock");
        self.instant(clock.global(local, Time(0)))
    }

    /// Resolves when `node`'s clock is set again.
    pub fn clock_changed(&self, node: NodeId) -> futures::channel::oneshot::Receiver<()> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut waiters = self.nodes[usize::from(node.0)]
            .clock_waiters
            .lock()
            .expect("waiters");
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        rx
    }

    /// Records the engine events `member`'s main thread never took, if
    /// any: its job is ending.
    pub fn record_unread(&self, member: &MemberId, pending: &Pending) {
        let pending = pending.lock().expect("pending");
        if let Some(oldest) = pending.front() {
            self.record(TraceEvent::InboxUnread {
                member: member.clone(),
                count: pending.len() as u64,
                oldest: *oldest,
            });
        }
    }

    pub fn record(&self, event: TraceEvent) {
        let now = self.now();
        self.trace.lock().expect("trace").push(now, event);
    }

    /// The main thread of `job` on `node` (registration `key`) unregistered:
    /// the job no longer runs there. Whether a `job-leave` had asked it
    /// to, if this was the job's running registration (for
    /// [`super::super::faults::job_ended`]).
    pub fn job_gone(&self, node: NodeId, job: &str, key: LocalKey) -> Option<bool> {
        let mut live = self.nodes[usize::from(node.0)].live.lock().expect("live");
        if live.jobs.get(job).is_none_or(|h| h.key != key) {
            return None;
        }
        live.jobs.remove(job);
        Some(live.leaving.remove(&key))
    }

    /// Hands `msg` to `node`'s engine, if it has one now.
    pub fn to_engine(&self, node: NodeId, msg: EngineIn) {
        let live = self.nodes[usize::from(node.0)].live.lock().expect("live");
        if let Some(tx) = &live.engine_tx {
            let _ = tx.unbounded_send(msg);
        }
    }

    /// A fresh packet number, in detailed runs.
    pub(crate) fn next_packet_id(&self) -> u64 {
        self.packets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn node_status(&self, node: u16) -> NodeStatus {
        *self.nodes[usize::from(node)].status.lock().expect("status")
    }

    pub(crate) fn madsim_id(&self, node: u16) -> madsim::task::NodeId {
        self.madsim_ids.lock().expect("ids")[usize::from(node)]
    }
}

thread_local! {
    /// The clock of the madsim run on this thread, while it runs.
    static CLOCK: std::cell::RefCell<Option<madsim::time::TimeHandle>> =
        const { std::cell::RefCell::new(None) };
}

/// madsim's clock, read directly by [`World::now`] while a run lasts.
/// `Instant::now()` reaches the same clock through madsim's
/// `clock_gettime` hook, which looks the runtime up again on every call (a
/// few percent of a run). The handle is kept beside the world, not in it:
/// a world holding it would hold madsim's timers, whose pending callbacks
/// hold the world, and no run would ever be freed (`tests/memory.rs`).
pub(super) struct RunClock;

impl RunClock {
    /// Keeps the current runtime's clock until dropped (inside the runtime).
    pub(super) fn set() -> RunClock {
        CLOCK.with(|c| *c.borrow_mut() = Some(madsim::time::TimeHandle::current()));
        RunClock
    }
}

impl Drop for RunClock {
    fn drop(&mut self) {
        CLOCK.with(|c| c.borrow_mut().take());
    }
}
