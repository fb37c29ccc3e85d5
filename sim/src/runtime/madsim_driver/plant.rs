//! The primitives faults are made of ([`faults::Plant`]), carried out on
//! the nodes' boxes (each node's half is [`super::super::node`]'s), the
//! shared world (network conditions) and madsim's network (clogged
//! links). What each fault does is [`faults`]'s to say, not this file's.
//! A node a fault acted on is woken, to take what the fault set off.

use super::super::clock::NodeClock;
use super::super::faults::{self, Later};
use super::super::net::Net;
use super::world::World;
use crate::trace::{NodeStatus, TraceEvent};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use vigil_engine::job::{FaultKind, JobMsg};
use vigil_engine::{Dur, MemberId, Time};

/// The madsim driver's world, as faults see it.
pub(super) struct Plant<'w>(pub(super) &'w Arc<World>);

impl Plant<'_> {
    /// Steps node `node` through `act` now, then wakes its task.
    fn act<R>(
        &mut self,
        node: u16,
        act: impl FnOnce(&mut crate::runtime::node::Stepper<'_, super::host::MadsimHost<'_>>) -> R,
    ) -> R {
        let world = self.0;
        let now = world.now();
        let mut h = world.node(node);
        let r = act(&mut h.on(world, now));
        h.wake();
        r
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
        self.0.node(node).node.status
    }

    fn set_status(&mut self, node: u16, status: NodeStatus) {
        self.0.node(node).node.status = status;
        let down = status == NodeStatus::Crashed;
        self.0.down[usize::from(node)].store(down, Ordering::Relaxed);
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

    fn is_wanted(&self, node: u16, job: &str) -> bool {
        self.0.node(node).node.wanted.contains(job)
    }

    fn wanted(&self, node: u16) -> Vec<String> {
        self.0.node(node).node.wanted.iter().cloned().collect()
    }

    fn failure_timeout(&self) -> Dur {
        Dur::from_std(self.0.scenario.cluster.failure_timeout)
    }

    fn stop_engine(&mut self, node: u16, by: Time) {
        self.act(node, |n| n.stop_engine(by));
    }

    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool) {
        self.0.node(node).node.set_wanted(job, wanted);
    }

    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>> {
        self.0.node(node).node.running(job)
    }

    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        self.0.node(node).node.arm(job, thread, kind, index);
    }

    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize) {
        self.0
            .node(node)
            .node
            .arm_at_start(job, thread, kind, index);
    }

    fn kill_job(&mut self, node: u16, job: &str) {
        self.act(node, |n| n.kill_job(job));
    }

    fn submit(&mut self, node: u16, job: &str, msg: JobMsg) {
        self.act(node, |n| n.submit(job, msg));
    }

    fn ask_leave(&mut self, node: u16, job: &str, for_good: bool) {
        self.act(node, |n| n.ask_leave(job, for_good));
    }

    fn start_job(&mut self, node: u16, job: &str) {
        self.act(node, |n| n.start_job(job));
    }

    fn crash(&mut self, node: u16) {
        self.act(node, |n| n.crash());
        // What it set off at this instant dies with it.
        self.0.node(node).ready.clear();
    }

    fn lose_disk(&mut self, node: u16) {
        self.0.node(node).node.disk = None;
    }

    fn restart(&mut self, node: u16) {
        self.act(node, |n| n.boot());
    }

    fn engine_down(&self, node: u16) -> bool {
        self.0.node(node).node.engine_down()
    }

    fn crash_engine(&mut self, node: u16) -> Vec<MemberId> {
        self.act(node, |n| n.crash_engine())
    }

    fn restart_engine(&mut self, node: u16) {
        self.act(node, |n| n.restart_engine());
    }

    // A paused node's events wait in `parked` (see `Hosted::step_until`).
    fn pause(&mut self, node: u16) {
        // What a fault at the same instant set off on it waits too, first.
        let mut h = self.0.node(node);
        let ready = std::mem::take(&mut h.ready);
        h.node.parked.extend(ready);
    }

    fn resume(&mut self, node: u16) {
        let mut h = self.0.node(node);
        if h.node.status == NodeStatus::Up {
            let parked = std::mem::take(&mut h.node.parked);
            h.ready.extend(parked);
            h.wake();
        }
    }

    fn layers<R>(&mut self, f: impl FnOnce(&mut faults::Layers) -> R) -> R {
        f(&mut self.0.layers.lock().expect("layers"))
    }

    fn set_slowness(&mut self, node: u16, factor_milli: u32) {
        self.0.node(node).node.slow = factor_milli;
    }

    fn clock(&self, node: u16) -> NodeClock {
        self.0.node(node).node.clock
    }

    fn set_clock(&mut self, node: u16, clock: NodeClock) {
        self.act(node, |n| n.set_clock(clock));
    }

    fn after(&mut self, delay: Duration, then: Later) {
        let mut laters = self.0.laters.lock().expect("laters");
        let at = laters.now + Dur::from_std(delay);
        let set = laters.set;
        laters.set += 1;
        laters.due.insert((at, set), then);
    }
}
