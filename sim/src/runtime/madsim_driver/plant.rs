//! The primitives faults are made of ([`faults::Plant`]), carried out
//! through madsim (kill, restart, pause, resume, clogged links) and the
//! shared world (network conditions, armed work-thread faults, jobs). What
//! each fault does is [`faults`]'s to say, not this file's.

use super::super::faults::{self, Later};
use super::super::net::Net;
use super::job;
use super::wires::MainMsg;
use super::world::World;
use crate::trace::{NodeStatus, TraceEvent};
use madsim::runtime::Handle;
use std::sync::Arc;
use std::time::Duration;
use vigil_engine::job::{FaultKind, MainInput};
use vigil_engine::{Dur, MemberId, NodeId, Time};

/// The madsim driver's world, as faults see it.
pub(super) struct Plant<'w>(pub(super) &'w Arc<World>);

impl Plant<'_> {
    fn shared(&self, node: u16) -> &super::world::NodeShared {
        &self.0.nodes[usize::from(node)]
    }
}

impl faults::Plant for Plant<'_> {
    fn now(&self) -> Time {
        self.0.now()
    }

    fn fault_name(&self, index: usize) -> &'static str {
        self.0.scenario.faults[index].kind.name()
    }

    fn record(&mut self, event: TraceEvent) {
        self.0.record(event);
    }

    fn status(&self, node: u16) -> NodeStatus {
        self.0.node_status(node)
    }

    fn set_status(&mut self, node: u16, status: NodeStatus) {
        *self.shared(node).status.lock().expect("status") = status;
    }

    fn net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R {
        f(&mut self.0.net.lock().expect("net"))
    }

    fn links_cut(&mut self, links: &[(u16, u16)]) {
        let net = madsim::net::NetSim::current();
        for (a, b) in links {
            net.clog_link(self.0.madsim_id(*a), self.0.madsim_id(*b));
        }
    }

    fn links_restored(&mut self, links: &[(u16, u16)]) {
        let net = madsim::net::NetSim::current();
        for (a, b) in links {
            net.unclog_link(self.0.madsim_id(*a), self.0.madsim_id(*b));
        }
    }

    fn wanted(&self, node: u16) -> Vec<String> {
        let set = self.shared(node).wanted.lock().expect("wanted");
        set.iter().cloned().collect()
    }

    fn layers<R>(&mut self, f: impl FnOnce(&mut faults::Layers) -> R) -> R {
        f(&mut self.0.layers.lock().expect("layers"))
    }

    fn set_slowness(&mut self, node: u16, factor_milli: u32) {
        *self.shared(node).slow.lock().expect("slow") = factor_milli;
    }

    fn clock(&self, node: u16) -> super::super::clock::NodeClock {
        *self.shared(node).clock.lock().expect("clock")
    }

    fn set_clock(&mut self, node: u16, clock: super::super::clock::NodeClock) {
        let shared = self.shared(node);
        *shared.clock.lock().expect("clock") = clock;
        if let Some(tx) = &shared.live.lock().expect("live").engine_tx {
            let _ = tx.unbounded_send(super::wires::EngineIn::Clock);
        }
        for waiter in shared.clock_waiters.lock().expect("waiters").drain(..) {
            let _ = waiter.send(());
        }
    }

    fn lose_disk(&mut self, node: u16) {
        *self.shared(node).disk.lock().expect("disk") = None;
    }

    fn failure_timeout(&self) -> vigil_engine::Dur {
        vigil_engine::Dur::from_std(self.0.scenario.cluster.failure_timeout)
    }

    fn stop_engine(&mut self, node: u16, by: Time) {
        // `by` on the node's clock.
        let by = self.0.local(NodeId(node)) + by.saturating_sub(self.0.now());
        let live = self.shared(node).live.lock().expect("live");
        if let Some(tx) = &live.engine_tx {
            let _ = tx.unbounded_send(super::wires::EngineIn::Local(vigil_engine::Input::Stop {
                by,
            }));
        }
    }

    fn is_wanted(&self, node: u16, job: &str) -> bool {
        self.shared(node)
            .wanted
            .lock()
            .expect("wanted")
            .contains(job)
    }

    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool) {
        let mut set = self.shared(node).wanted.lock().expect("wanted");
        if wanted {
            set.insert(job.to_string());
        } else {
            set.remove(job);
        }
    }

    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>> {
        let live = self.shared(node).live.lock().expect("live");
        live.jobs
            .get(job)
            .map(|h| h.member.lock().expect("member").clone())
    }

    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        let live = self.shared(node).live.lock().expect("live");
        if let Some(h) = live.jobs.get(job) {
            *h.faults[usize::from(thread)].lock().expect("flag") = Some((kind, index));
        }
    }

    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        let mut live = self.shared(node).live.lock().expect("live");
        live.armed.insert((job.to_string(), thread), (kind, index));
    }

    fn kill_job(&mut self, node: u16, job: &str) {
        let handle = self
            .shared(node)
            .live
            .lock()
            .expect("live")
            .jobs
            .remove(job);
        if let Some(h) = handle {
            if let Some(m) = h.member.lock().expect("member").clone() {
                self.0.record_unread(&m, &h.pending);
            }
            // The main task's close guard tells the engine.
            h.main.abort();
        }
    }

    fn submit(&mut self, node: u16, job: &str, msg: vigil_engine::job::JobMsg) {
        let live = self.shared(node).live.lock().expect("live");
        if let Some(h) = live.jobs.get(job) {
            let _ = h
                .inbox
                .unbounded_send(MainMsg::Signal(MainInput::Submit(msg)));
        }
    }

    fn ask_leave(&mut self, node: u16, job: &str, for_good: bool) {
        let mut live = self.shared(node).live.lock().expect("live");
        if let Some(h) = live.jobs.get(job) {
            let _ = h.inbox.unbounded_send(MainMsg::Signal(MainInput::Leave));
            if for_good {
                let key = h.key;
                live.leaving.insert(key);
            }
        }
    }

    fn start_job(&mut self, node: u16, job: &str) {
        job::start(self.0, NodeId(node), job);
    }

    fn crash(&mut self, node: u16) {
        {
            let mut live = self.shared(node).live.lock().expect("live");
            live.engine_tx = None;
            live.engine_crash = None;
            live.endpoint = None;
            live.engine_down = false;
            for h in std::mem::take(&mut live.jobs).into_values() {
                if let Some(m) = h.member.lock().expect("member").clone() {
                    self.0.record_unread(&m, &h.pending);
                }
            }
        }
        Handle::current().kill(self.0.madsim_id(node));
    }

    fn restart(&mut self, node: u16) {
        Handle::current().restart(self.0.madsim_id(node));
    }

    fn engine_down(&self, node: u16) -> bool {
        self.shared(node).live.lock().expect("live").engine_down
    }

    fn crash_engine(&mut self, node: u16) -> Vec<MemberId> {
        let mut live = self.shared(node).live.lock().expect("live");
        live.engine_down = true;
        live.engine_tx = None;
        if let Some(crash) = live.engine_crash.take() {
            let _ = crash.send(());
        }
        // Each job hears its connection close.
        let mut members = Vec::new();
        for h in live.jobs.values() {
            members.extend(h.member.lock().expect("member").take());
            let _ = h
                .inbox
                .unbounded_send(MainMsg::Signal(MainInput::EngineLost));
        }
        members
    }

    fn restart_engine(&mut self, node: u16) {
        let (w, n) = (self.0.clone(), NodeId(node));
        if let Some(nh) = Handle::current().get_node(self.0.madsim_id(node)) {
            nh.spawn(super::node::engine_main(w, n));
        }
    }

    fn pause(&mut self, node: u16) {
        Handle::current().pause(self.0.madsim_id(node));
    }

    fn resume(&mut self, node: u16) {
        Handle::current().resume(self.0.madsim_id(node));
    }

    fn after(&mut self, delay: Duration, then: Later) {
        let mut laters = self.0.laters.lock().expect("laters");
        let at = laters.now + Dur::from_std(delay);
        let set = laters.set;
        laters.set += 1;
        laters.due.insert((at, set), then);
    }
}
