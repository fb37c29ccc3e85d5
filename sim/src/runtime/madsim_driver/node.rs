//! One simulated node: its engine task, its network tasks, and the jobs it
//! hosts. This module translates between madsim and the engine's
//! `Input`/`Output` enums and makes no membership decisions of its own.
//!
//! Invariant: the engine task is the only owner of the engine; everything
//! reaches it through its inbox, so it handles one input at a time, in
//! simulation order.

use super::super::net::packet_kind;
use super::super::threads::MAIN_INBOX_MAX;
use super::chan::{unbounded, Receiver as UnboundedReceiver, Sender as UnboundedSender};
use super::job;
use super::wires::{EngineIn, EnginePacket, MainMsg, Pending};
use super::world::World;
use crate::trace::{DropCause, PacketKind, TraceEvent};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use madsim::net::Endpoint;
use madsim::rand::Rng;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use vigil_engine::job::{JobMsg, MainInput};
use vigil_engine::{Engine, Input, LocalKey, NodeId, Output, Time};

/// The port every engine listens on, and the tag of its packets.
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

/// The node's boot: runs on the node, again after every restart. It boots
/// the engine and starts the node's jobs before its first await, so a node
/// boots at the instant it starts, as on the event loop (the engine's port
/// is bound by its sender meanwhile).
pub async fn node_main(world: Arc<World>, node: NodeId) {
    let shared = &world.nodes[usize::from(node.0)];
    {
        let mut live = shared.live.lock().expect("live");
        live.jobs.clear();
        live.endpoint = None;
    }
    let engine = boot_engine(&world, node);
    start_wanted(&world, node);
    engine.await;
    // The node lives on when its engine alone crashed (madsim ends a
    // node's tasks when its first task returns).
    std::future::pending::<()>().await;
}

/// A new engine on a node whose engine alone crashed: runs on the node.
/// Each job still running hears it is back (and registers again).
pub async fn engine_main(world: Arc<World>, node: NodeId) {
    let shared = &world.nodes[usize::from(node.0)];
    let engine = boot_engine(&world, node);
    for h in shared.live.lock().expect("live").jobs.values() {
        let _ = h
            .inbox
            .unbounded_send(MainMsg::Signal(MainInput::EngineBack));
    }
    start_wanted(&world, node);
    engine.await;
}

/// The engine's port: the one an old engine's sender still holds, else a
/// new one once it is free (binding costs madsim's 1 ms).
async fn endpoint(world: &World, node: NodeId) -> Arc<Endpoint> {
    let shared = &world.nodes[usize::from(node.0)];
    let kept = shared.live.lock().expect("live").endpoint.clone();
    let ep = match kept.and_then(|ep| ep.upgrade()) {
        Some(ep) => ep,
        None => loop {
            if let Ok(ep) = bind().await {
                break Arc::new(ep);
            }
            madsim::time::sleep(std::time::Duration::from_millis(1)).await;
        },
    };
    shared.live.lock().expect("live").endpoint = Some(Arc::downgrade(&ep));
    ep
}

/// The engine's port.
async fn bind() -> std::io::Result<Endpoint> {
    Endpoint::bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ENGINE_PORT,
    ))
    .await
}

/// Starts the node's wanted jobs that do not run.
fn start_wanted(world: &Arc<World>, node: NodeId) {
    let shared = &world.nodes[usize::from(node.0)];
    let wanted: Vec<String> = shared
        .wanted
        .lock()
        .expect("wanted")
        .iter()
        .cloned()
        .collect();
    for job_name in wanted {
        job::start(world, node, &job_name);
    }
}

/// Boots the node's engine from its disk, with its receiver and sender;
/// the engine runs in the future returned, until it ends or crashes.
fn boot_engine(world: &Arc<World>, node: NodeId) -> impl std::future::Future<Output = ()> {
    let (engine_tx, engine_rx) = unbounded::<EngineIn>();
    let (send_tx, send_rx) = unbounded::<(NodeId, EnginePacket)>();
    let (crash_tx, crash_rx) = futures::channel::oneshot::channel::<()>();
    let now = world.local(node);
    world.record(TraceEvent::NodeBoot { node });
    let shared = &world.nodes[usize::from(node.0)];
    let durable = *shared.disk.lock().expect("disk");
    let mut out = Vec::new();
    let cfg = world.engine_config.clone();
    #[cfg(feature = "mutations")]
    let engine = match world.mutation.and_then(|m| m.engine()) {
        Some(m) => Engine::new_mutated(cfg, node, durable, now, &mut out, m),
        None => Engine::new(cfg, node, durable, now, &mut out),
    };
    #[cfg(not(feature = "mutations"))]
    let engine = Engine::new(cfg, node, durable, now, &mut out);
    {
        let mut live = shared.live.lock().expect("live");
        live.engine_tx = Some(engine_tx.clone());
        live.engine_crash = Some(crash_tx);
        live.engine_down = false;
    }
    install_receiver(world, node, engine_tx);
    madsim::task::spawn(sender(world.clone(), node, send_rx));
    let task = engine_task(world.clone(), node, engine, out, engine_rx, send_tx);
    async move {
        // A crash drops the engine where it stands.
        futures::future::select(crash_rx, Box::pin(task)).await;
    }
}

/// A packet as it crosses madsim's network. The `Mutex` lets the receiving
/// hook take the packet out of the shared reference madsim hands it.
pub struct Wire {
    from: NodeId,
    /// The packet's number and kind, in detailed runs.
    detail: Option<(u64, PacketKind)>,
    packet: Mutex<Option<EnginePacket>>,
}

/// Receives this node's packets the moment madsim delivers them.
///
/// madsim charges every receive through an `Endpoint` 1 ms of simulated time
/// on the receiving task, and reorders a socket's queued messages; a leader
/// of a few hundred nodes gets more packets than one receiver can take at
/// that price. madsim's delivery hook (public, meant for intercepting RPC
/// responses) runs when a packet arrives, at its arrival time; it hands the
/// packet straight to the engine's inbox and tells madsim not to queue it.
/// Clogged links and lost packets never reach the hook, and a paused node's
/// engine finds its inbox full when it resumes, as with a socket.
fn install_receiver(world: &Arc<World>, node: NodeId, engine_tx: UnboundedSender<EngineIn>) {
    let w = world.clone();
    madsim::net::NetSim::current().hook_rpc_rsp::<Wire>(world.madsim_id(node.0), move |wire| {
        let packet = wire.packet.lock().expect("wire").take();
        if let Some(packet) = packet {
            w.delivered.fetch_add(1, Ordering::Relaxed);
            if let Some((id, what)) = &wire.detail {
                w.record(TraceEvent::Deliver {
                    from: wire.from,
                    to: node,
                    id: *id,
                    what: what.clone(),
                });
            }
            let _ = engine_tx.unbounded_send(EngineIn::Packet {
                from: wire.from,
                packet,
            });
        }
        false
    });
}

/// Sends the engine's packets, applying the scenario's loss and extra
/// delay. Sends run concurrently, each costing madsim's 1 ms, so a leader's
/// heartbeats to every member leave together instead of in a queue.
async fn sender(world: Arc<World>, me: NodeId, mut rx: UnboundedReceiver<(NodeId, EnginePacket)>) {
    let ep = endpoint(&world, me).await;
    let mut sending = FuturesUnordered::new();
    loop {
        let (to, packet) = futures::select_biased! {
            next = rx.next() => match next {
                Some(next) => next,
                None => return,
            },
            () = sending.select_next_some() => continue,
        };
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
            continue;
        }
        if world.detail {
            // madsim drops these itself; say so in the trace.
            if world.net.lock().expect("net").is_clogged(me.0, to.0) {
                dropped(DropCause::Partition);
            } else if world.node_status(to.0) == super::world::NodeStatus::Crashed {
                dropped(DropCause::NodeDown);
            }
        }
        // A duplicate travels on its own latency: it may come first.
        let twice =
            net.duplicate > 0.0 && madsim::rand::thread_rng().gen_bool(net.duplicate.min(1.0));
        if twice {
            world.trace.lock().expect("trace").net.duplicated += 1;
            sending.push(send_one(
                &ep,
                me,
                to,
                net.delay,
                packet.clone(),
                detail.clone(),
            ));
        }
        sending.push(send_one(&ep, me, to, net.delay, packet, detail));
    }
}

/// One packet on its way: the extra delay a fault adds, then madsim's
/// network.
fn send_one(
    ep: &Arc<Endpoint>,
    me: NodeId,
    to: NodeId,
    delay: Option<(u64, u64)>,
    packet: EnginePacket,
    detail: Option<(u64, PacketKind)>,
) -> impl std::future::Future<Output = ()> {
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

async fn engine_task(
    world: Arc<World>,
    node: NodeId,
    mut engine: Engine<JobMsg>,
    mut out: Vec<Output<JobMsg>>,
    mut inbox: UnboundedReceiver<EngineIn>,
    send_tx: UnboundedSender<(NodeId, EnginePacket)>,
) {
    let mut inboxes: BTreeMap<LocalKey, (UnboundedSender<MainMsg>, Pending)> = BTreeMap::new();
    // One alarm, set again only when the engine's deadline moves: most
    // inputs leave it where it was.
    let mut deadline = world.deadline(node, engine.poll_timeout());
    let mut alarm = Alarm::new(deadline);
    let mut took = false;
    // madsim's clock stands still while a task runs: the time of a step
    // is the time of its outputs.
    let mut stepped = world.now();
    loop {
        handle_outputs(&world, stepped, node, &mut out, &mut inboxes, &send_tx);
        // A slow node's engine is busy `factor - 1` ms with each input it
        // took; what arrives meanwhile waits in its inbox.
        let cost = super::super::threads::engine_cost(world.slow(node));
        if took && !cost.is_zero() {
            madsim::time::sleep(cost).await;
        }
        took = true;
        let next = world.deadline(node, engine.poll_timeout());
        if next != deadline {
            deadline = next;
            alarm.set(deadline);
        }
        let input = futures::select_biased! {
            msg = inbox.next() => match msg {
                Some(msg) => Some(msg),
                None => return,
            },
            () = futures::future::poll_fn(|cx| alarm.poll(world.instant(world.now()), cx)).fuse() => {
                // Re-arm at the next deadline after this tick.
                deadline = world.instant(Time(0));
                None
            }
        };
        stepped = world.now();
        let now = world.local_at(node, stepped);
        let input = match input {
            Some(EngineIn::Clock) => {
                took = false;
                continue;
            }
            None => Input::Tick,
            Some(EngineIn::Packet { from, packet }) => Input::Packet { from, packet },
            Some(EngineIn::Register {
                input,
                inbox,
                pending,
            }) => {
                if let Input::Register { key, .. } = &input {
                    inboxes.insert(*key, (inbox, pending));
                }
                input
            }
            Some(EngineIn::Local(input)) => {
                if let Input::Unregister { key, .. } | Input::Closed { key } = &input {
                    inboxes.remove(key);
                }
                input
            }
        };
        engine.step(now, input, &mut out);
    }
}

/// The engine's timer. madsim keeps every timer it was asked for until it
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

fn handle_outputs(
    world: &World,
    now: Time,
    node: NodeId,
    out: &mut Vec<Output<JobMsg>>,
    inboxes: &mut BTreeMap<LocalKey, (UnboundedSender<MainMsg>, Pending)>,
    send_tx: &UnboundedSender<(NodeId, EnginePacket)>,
) {
    for o in out.drain(..) {
        match o {
            Output::Send { to, packet } => {
                let _ = send_tx.unbounded_send((to, packet));
            }
            Output::Deliver { key, event } => {
                let Some((inbox, pending)) = inboxes.get(&key) else {
                    continue;
                };
                if inbox
                    .unbounded_send(MainMsg::Engine {
                        event,
                        queued_at: now,
                    })
                    .is_ok()
                {
                    let mut pending = pending.lock().expect("pending");
                    assert!(
                        pending.len() < MAIN_INBOX_MAX,
                        "the main thread of {key:?} left {MAIN_INBOX_MAX} engine events unread (MAIN_INBOX_MAX)"
                    );
                    pending.push_back(now);
                }
            }
            Output::Persist(d) => {
                *world.nodes[usize::from(node.0)].disk.lock().expect("disk") = Some(d)
            }
            Output::NodeView { view, members } => world.record(TraceEvent::NodeView {
                node,
                view,
                members,
            }),
            Output::Probe(name) => world.record(TraceEvent::Probe { node, name }),
        }
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::super::chan::tests::counter;
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
