//! One simulated node on madsim: a task that steps the node's state
//! machine ([`super::super::node`]) whenever something is due, its packets
//! through madsim's network. This module translates between madsim and
//! the node's events and makes no decisions of its own.
//!
//! Invariants: a node is stepped only with its box locked, by its own
//! task or by the controller's faults, one event at a time; its events
//! are taken in time order (then in the order they were set), at madsim's
//! time when the task runs, never before they are due.

use super::super::net::packet_kind;
use super::super::node::{Host, Kit, Local, Node, Stepper};
use super::world::World;
use crate::trace::{DropCause, PacketKind, TraceEvent};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use madsim::net::Endpoint;
use madsim::rand::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use vigil_engine::job::JobMsg;
use vigil_engine::{NodeId, Packet, Time};

/// The port every node listens on, and the tag of its packets.
const ENGINE_PORT: u16 = 7000;
const TAG: u64 = 0x76_69_67_69_6c; // "vigil"

pub fn node_ip(node: NodeId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        0,
        (node.0 / 250) as u8,
        (node.0 % 250) as u8 + 1,
    ))
}

/// A node and what waits for it: its events to come, what it set off at
/// this instant, the packets it sent that have not left yet, and the
/// waker of its task.
pub(super) struct Hosted {
    pub(super) node: Node,
    kit: Kit,
    /// Its events to come, by time and then in the order set, each in one
    /// life of the node only, if given.
    agenda: BTreeMap<(Time, u64), (Option<u32>, Local)>,
    seq: u64,
    /// What happens at this instant, after what is under way.
    pub(super) ready: VecDeque<Local>,
    outbox: Vec<(NodeId, Packet<JobMsg>)>,
    /// Packets madsim handed over since the task last ran: taken onto the
    /// agenda at the task's time (madsim runs its delivery hook before it
    /// moves its clock to the arrival, so the hook cannot read that time).
    arrived: Vec<Local>,
    waker: Option<Waker>,
}

/// A node's host while it steps: the world's clock and trace, its box's
/// queues.
pub(super) struct MadsimHost<'a> {
    world: &'a World,
    now: Time,
    life: u32,
    agenda: &'a mut BTreeMap<(Time, u64), (Option<u32>, Local)>,
    seq: &'a mut u64,
    ready: &'a mut VecDeque<Local>,
    outbox: &'a mut Vec<(NodeId, Packet<JobMsg>)>,
}

impl Host for MadsimHost<'_> {
    fn now(&self) -> Time {
        self.now
    }
    fn record(&mut self, event: TraceEvent) {
        self.world.record_at(self.now, event);
    }
    fn later(&mut self, at: Time, local: Local) {
        *self.seq += 1;
        self.agenda
            .insert((at, *self.seq), (Some(self.life), local));
    }
    fn soon(&mut self, local: Local) {
        self.ready.push_back(local);
    }
    fn send(&mut self, to: NodeId, packet: Packet<JobMsg>) {
        self.outbox.push((to, packet));
    }
    fn delivered(&mut self) {
        self.world.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

impl Hosted {
    pub(super) fn new(node: Node, kit: Kit) -> Hosted {
        Hosted {
            node,
            kit,
            agenda: BTreeMap::new(),
            seq: 0,
            ready: VecDeque::new(),
            outbox: Vec::new(),
            arrived: Vec::new(),
            waker: None,
        }
    }

    /// The node, ready to step at `now`.
    pub(super) fn on<'a>(&'a mut self, world: &'a World, now: Time) -> Stepper<'a, MadsimHost<'a>> {
        let Hosted {
            node,
            kit,
            agenda,
            seq,
            ready,
            outbox,
            arrived: _,
            waker: _,
        } = self;
        let life = node.life;
        Stepper {
            node,
            kit,
            host: MadsimHost {
                world,
                now,
                life,
                agenda,
                seq,
                ready,
                outbox,
            },
        }
    }

    /// Wakes the node's task: something is due.
    pub(super) fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// A packet arrives (taken by whichever life the node is in).
    fn arrive(&mut self, local: Local) {
        self.arrived.push(local);
        self.wake();
    }

    /// Takes everything due by `now`: what is ready, then the events due,
    /// each followed by what it set off.
    fn step_until(&mut self, world: &World, now: Time) {
        for local in std::mem::take(&mut self.arrived) {
            self.seq += 1;
            self.agenda.insert((now, self.seq), (None, local));
        }
        loop {
            while let Some(local) = self.ready.pop_front() {
                self.on(world, now).local(local);
            }
            let Some(entry) = self.agenda.first_entry() else {
                return;
            };
            if entry.key().0 > now {
                return;
            }
            let (life, local) = entry.remove();
            if let Some(local) = self.node.due(life, local) {
                self.on(world, now).local(local);
            }
        }
    }
}

/// A packet as it crosses madsim's network. The `Mutex` lets the receiving
/// hook take the packet out of the shared reference madsim hands it.
pub struct Wire {
    from: NodeId,
    /// The packet's number and kind, in detailed runs.
    detail: Option<(u64, PacketKind)>,
    packet: Mutex<Option<Packet<JobMsg>>>,
}

/// Receives this node's packets the moment madsim delivers them.
///
/// madsim charges every receive through an `Endpoint` 1 ms of simulated time
/// on the receiving task, and reorders a socket's queued messages; a leader
/// of a few hundred nodes gets more packets than one receiver can take at
/// that price. madsim's delivery hook (public, meant for intercepting RPC
/// responses) runs when a packet arrives, at its arrival time; it hands the
/// packet to the node, whose task puts it on its agenda at that time, and
/// tells madsim not to queue it.
/// Clogged links and lost packets never reach the hook; a node that is
/// down drops what does.
pub(super) fn install_receiver(world: &Arc<World>, node: NodeId) {
    let w = world.clone();
    madsim::net::NetSim::current().hook_rpc_rsp::<Wire>(world.madsim_id(node.0), move |wire| {
        let packet = wire.packet.lock().expect("wire").take();
        // A node that is down drops what reaches it, as on the event loop
        // (its next life does not take a packet sent to its last).
        if let Some(packet) = packet.filter(|_| !w.is_down(node.0)) {
            // Counted and traced as delivered when the node takes it.
            let local = Local::Packet {
                from: wire.from,
                packet: Box::new(packet),
                detail: wire.detail.clone(),
            };
            w.node(node.0).arrive(local);
        }
        false
    });
}

/// The node's task: steps the node whenever something is due (its next
/// event's time, a packet, a fault) and sends what it sent. It steps the
/// node from its first poll, at the instant the node boots; its packets
/// wait until its port is bound (which costs madsim's 1 ms).
pub(super) fn node_main(world: Arc<World>, node: NodeId) -> impl Future<Output = ()> {
    let start = world.instant(Time(0));
    NodeTask {
        world,
        node,
        bind: Some(Box::pin(bind())),
        ep: None,
        held: Vec::new(),
        sending: FuturesUnordered::new(),
        alarm: Alarm::new(start),
        alarm_at: None,
    }
}

/// The node's port (binding it again if it is taken a moment).
async fn bind() -> Arc<Endpoint> {
    loop {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ENGINE_PORT);
        if let Ok(ep) = Endpoint::bind(any).await {
            return Arc::new(ep);
        }
        madsim::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

struct NodeTask {
    world: Arc<World>,
    node: NodeId,
    /// The port being bound, then the port.
    bind: Option<Pin<Box<dyn Future<Output = Arc<Endpoint>>>>>,
    ep: Option<Arc<Endpoint>>,
    /// What the node sent before its port was bound.
    held: Vec<(NodeId, Packet<JobMsg>)>,
    sending: FuturesUnordered<Pin<Box<dyn Future<Output = ()>>>>,
    alarm: Alarm,
    /// The time of the event the alarm is set for.
    alarm_at: Option<Time>,
}

impl Future for NodeTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            // madsim's clock stands still while a task runs.
            let now = this.world.now();
            super::super::reached(now);
            let (sends, next) = {
                let mut h = this.world.node(this.node.0);
                if !h.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    h.waker = Some(cx.waker().clone());
                }
                h.step_until(&this.world, now);
                let next = h.agenda.keys().next().map(|k| k.0);
                (std::mem::take(&mut h.outbox), next)
            };
            this.held.extend(sends);
            if let Some(bind) = &mut this.bind {
                if let Poll::Ready(ep) = bind.as_mut().poll(cx) {
                    this.ep = Some(ep);
                    this.bind = None;
                }
            }
            if let Some(ep) = this.ep.clone() {
                for (to, packet) in std::mem::take(&mut this.held) {
                    this.send(&ep, to, packet);
                }
            }
            while let Poll::Ready(Some(())) = this.sending.poll_next_unpin(cx) {}
            if next != this.alarm_at {
                this.alarm_at = next;
                if let Some(at) = next {
                    this.alarm.set(this.world.instant(at));
                }
            }
            if this.alarm_at.is_some() && this.alarm.poll(this.world.instant(now), cx).is_ready() {
                this.alarm_at = None;
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl NodeTask {
    /// A packet leaves: lost, cut off, or on its way (once or twice, after
    /// any extra delay a fault adds).
    fn send(&mut self, ep: &Arc<Endpoint>, to: NodeId, packet: Packet<JobMsg>) {
        let (world, me) = (&self.world, self.node);
        world.sent.fetch_add(1, Ordering::Relaxed);
        let detail = world.detail.then(|| {
            let id = world.next_packet_id();
            let what = packet_kind(&packet.body);
            world.record(TraceEvent::Send {
                from: me,
                to,
                id,
                what: what.clone(),
            });
            (id, what)
        });
        let dropped = |cause: DropCause| {
            if let Some((id, what)) = &detail {
                world.record(TraceEvent::Drop {
                    from: me,
                    to,
                    id: *id,
                    what: what.clone(),
                    cause,
                });
            }
        };
        let net = world
            .net
            .lock()
            .expect("net")
            .conditions(world.now(), me, to);
        if net.loss > 0.0 && madsim::rand::thread_rng().gen_bool(net.loss.min(1.0)) {
            dropped(DropCause::Loss);
            return;
        }
        // Whether the link is cut matters only to the record: madsim drops
        // such packets itself. What is sent must not depend on it, or a
        // detailed run (`vigil replay`) would draw from madsim's generator
        // where the plain run did not, and be another run.
        let cut = world.detail && world.net.lock().expect("net").is_clogged(me.0, to.0);
        if world.is_down(to.0) {
            // As on the event loop: lost, even if the node is back before
            // it would arrive (a cut link's drop is named first, as there).
            dropped(if cut {
                DropCause::Partition
            } else {
                DropCause::NodeDown
            });
            return;
        }
        if cut {
            dropped(DropCause::Partition);
        }
        // A duplicate travels on its own latency: it may come first.
        let twice =
            net.duplicate > 0.0 && madsim::rand::thread_rng().gen_bool(net.duplicate.min(1.0));
        if twice {
            world.trace.lock().expect("trace").net.duplicated += 1;
            let copy = send_one(ep, me, to, net.delay, packet.clone(), detail.clone());
            self.sending.push(Box::pin(copy));
        }
        let one = send_one(ep, me, to, net.delay, packet, detail);
        self.sending.push(Box::pin(one));
    }
}

/// One packet on its way: the extra delay a fault adds, then madsim's
/// network.
fn send_one(
    ep: &Arc<Endpoint>,
    me: NodeId,
    to: NodeId,
    delay: Option<(u64, u64)>,
    packet: Packet<JobMsg>,
    detail: Option<(u64, PacketKind)>,
) -> impl Future<Output = ()> {
    let addr = SocketAddr::new(node_ip(to), ENGINE_PORT);
    let extra = match delay {
        Some((lo, hi)) if hi > lo => madsim::rand::thread_rng().gen_range(lo..=hi),
        Some((lo, _)) => lo,
        None => 0,
    };
    let ep = ep.clone();
    async move {
        if extra > 0 {
            madsim::time::sleep(std::time::Duration::from_nanos(extra)).await;
        }
        let wire = Wire {
            from: me,
            detail,
            packet: Mutex::new(Some(packet)),
        };
        let _ = ep
            .send_to_raw(addr, TAG, Box::new((wire, bytes::Bytes::new())))
            .await;
    }
}

/// A node's timer. madsim keeps every timer it was asked for until it
/// is due (it cannot cancel one), and a `Sleep` asks for another each time
/// it is polled: polled on every input of a busy engine, one left
/// thousands behind, each waking the engine for nothing when it fell due.
/// An alarm is a sleep polled only when no timer it asked for is still to
/// come at or before its deadline: once per deadline, and once more after
/// a wake-up that came early because the deadline moved later. Its
/// deadline is the sleep's, which madsim puts at least 1 ms after the
/// moment it was set.
struct Alarm {
    sleep: madsim::time::Sleep,
    /// Rung since it was last set: it stays quiet until set again.
    rung: bool,
    /// When the timer this alarm asked for last falls.
    asked: Option<madsim::time::Instant>,
}

impl Alarm {
    fn new(deadline: madsim::time::Instant) -> Alarm {
        Alarm {
            sleep: madsim::time::sleep_until(deadline),
            rung: false,
            asked: None,
        }
    }

    fn set(&mut self, deadline: madsim::time::Instant) {
        self.sleep = madsim::time::sleep_until(deadline);
        self.rung = false;
    }

    /// Ready once the deadline has come, `now` being madsim's clock.
    fn poll(
        &mut self,
        now: madsim::time::Instant,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.rung {
            return std::task::Poll::Pending;
        }
        let due = self.sleep.deadline();
        if now >= due {
            self.rung = true;
            return std::task::Poll::Ready(());
        }
        if !self.asked.is_some_and(|at| now < at && at <= due) {
            // The sleep asks for its timer, which wakes this task.
            let first = std::future::Future::poll(std::pin::Pin::new(&mut self.sleep), cx);
            debug_assert!(first.is_pending(), "the deadline is still to come");
            self.asked = Some(due);
        }
        std::task::Poll::Pending
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// Counts the wake-ups a task gets.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    /// A waker that counts its wake-ups, and the count.
    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }
    use super::Alarm;
    use madsim::time::Instant;
    use std::sync::atomic::Ordering;
    use std::task::Context;
    use std::time::Duration;

    /// An engine's alarm is polled on every input it takes; madsim cannot
    /// cancel a timer, so each timer asked for is a wake-up when it falls
    /// due. Polled a hundred times, moved later before it rang, the alarm
    /// wakes its task twice: once early (at the deadline it had asked
    /// for) and once at its deadline. A sleep polled as often asks for a
    /// hundred timers.
    fn an_alarm_polled_often_wakes_its_task_once_per_deadline() {
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        rt.block_on(async {
            let (count, waker) = counter();
            let mut cx = Context::from_waker(&waker);
            let start = Instant::now();
            let mut alarm = Alarm::new(start + Duration::from_millis(10));
            for _ in 0..50 {
                assert!(alarm.poll(Instant::now(), &mut cx).is_pending());
            }
            alarm.set(start + Duration::from_millis(20));
            for _ in 0..50 {
                assert!(alarm.poll(Instant::now(), &mut cx).is_pending());
            }
            madsim::time::sleep_until(start + Duration::from_millis(15)).await;
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken at 10 ms");
            assert!(alarm.poll(Instant::now(), &mut cx).is_pending());
            madsim::time::sleep_until(start + Duration::from_millis(25)).await;
            assert_eq!(count.0.load(Ordering::SeqCst), 2, "and at 20 ms");
            assert!(alarm.poll(Instant::now(), &mut cx).is_ready());
            assert!(
                alarm.poll(Instant::now(), &mut cx).is_pending(),
                "rung once"
            );
            // A deadline earlier than the one asked for is asked for anew.
            let now = Instant::now();
            alarm.set(now + Duration::from_millis(30));
            assert!(alarm.poll(now, &mut cx).is_pending());
            alarm.set(now + Duration::from_millis(5));
            assert!(alarm.poll(now, &mut cx).is_pending());
            madsim::time::sleep_until(now + Duration::from_millis(6)).await;
            assert_eq!(count.0.load(Ordering::SeqCst), 3, "at the earlier deadline");
            assert!(alarm.poll(Instant::now(), &mut cx).is_ready());
        });
    }

    unit_tests![an_alarm_polled_often_wakes_its_task_once_per_deadline];
}
