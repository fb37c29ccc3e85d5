//! What the tasks of one run share: the simulated clock's origin, the
//! trace being written, each node (in its [`Hosted`] box, which its task
//! steps and the controller's faults reach into), and the network
//! conditions the controller sets. It imports neither the node task nor
//! the controller.

use super::super::net::Net;
use super::host::Hosted;
use crate::trace::{Trace, TraceEvent};
use madsim::time::Instant;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use vigil_engine::Time;

/// Everything the tasks of one run share.
pub struct World {
    pub scenario: crate::scenario::Scenario,
    pub(super) start: Instant,
    /// How far madsim's clock had run at `start` (see [`RunClock`]).
    pub(super) clock_at_start: Duration,
    pub trace: Mutex<Trace>,
    /// Each node, as its task steps it.
    pub(super) nodes: Vec<Mutex<Hosted>>,
    /// Which nodes are down (the network drops what is sent to them).
    pub(super) down: Vec<AtomicBool>,
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

    /// Node `node`, to step or to act on.
    pub(super) fn node(&self, node: u16) -> MutexGuard<'_, Hosted> {
        // A panic in a task ends the run; the node is not read after it.
        self.nodes[usize::from(node)]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record(&self, event: TraceEvent) {
        self.record_at(self.now(), event);
    }

    pub fn record_at(&self, now: Time, event: TraceEvent) {
        self.trace.lock().expect("trace").push(now, event);
    }

    /// A fresh packet number, in detailed runs.
    pub(crate) fn next_packet_id(&self) -> u64 {
        self.packets.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_down(&self, node: u16) -> bool {
        self.down[usize::from(node)].load(Ordering::Relaxed)
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
