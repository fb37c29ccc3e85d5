//! A tiny deterministic network for driving engines in unit tests, with no
//! simulator: an event queue, seeded latencies, crashes and partitions.

use crate::engine::{
    Config, Dest, Durable, Engine, Event, Input, LocalKey, MembershipChange, Output, Packet, Quorum,
};
use crate::ids::{Dur, LeaveReason, Name, NodeId, Time};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

pub type Payload = u32;

enum Ev {
    Packet {
        from: NodeId,
        to: NodeId,
        packet: Box<Packet<Payload>>,
    },
    Tick(NodeId),
}

pub struct Net {
    pub cfg: Config,
    pub now: Time,
    pub engines: BTreeMap<NodeId, Engine<Payload>>,
    durable: BTreeMap<NodeId, Durable>,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    rng: u64,
    pub blocked: BTreeSet<(NodeId, NodeId)>,
    pub loss: f64,
    /// Every event delivered to a local key, with its time.
    pub delivered: Vec<(Time, NodeId, LocalKey, Event<Payload>)>,
    pub packets: u64,
    same_instant: u64,
}

pub fn ms(x: u64) -> Dur {
    Dur::from_millis(x)
}

impl Net {
    pub fn new(nodes: u16, seed: u64) -> Net {
        Net::with_quorum(nodes, seed, None)
    }

    pub fn with_quorum(nodes: u16, seed: u64, quorum: Option<Quorum>) -> Net {
        let cfg = Config {
            nodes,
            heartbeat_interval: ms(100),
            failure_timeout: ms(1000),
            latency_max: ms(10),
            quorum,
        };
        let mut net = Net {
            cfg,
            now: Time(0),
            engines: BTreeMap::new(),
            durable: BTreeMap::new(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            rng: seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
            blocked: BTreeSet::new(),
            loss: 0.0,
            delivered: vec![],
            packets: 0,
            same_instant: 0,
        };
        for k in 0..nodes {
            net.boot(NodeId(k));
        }
        net
    }

    /// A cluster of `nodes` with job `db` (key = node number) in group `g`
    /// on each, settled for 3 s.
    pub fn cluster(nodes: u16, seed: u64) -> Net {
        let mut net = Net::new(nodes, seed);
        for k in 0..nodes {
            net.register(k, u64::from(k), "db", "g");
        }
        net.run_for(ms(3000));
        net
    }

    fn rand(&mut self) -> u64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.rng >> 33
    }

    pub fn boot(&mut self, node: NodeId) {
        let mut out = vec![];
        let durable = self.durable.get(&node).copied().unwrap_or_default();
        let engine = Engine::new(self.cfg.clone(), node, Some(durable), self.now, &mut out);
        self.engines.insert(node, engine);
        self.handle(node, out);
    }

    /// Boots `node` from a blank disk: what it persisted is lost.
    pub fn boot_blank(&mut self, node: NodeId) {
        self.durable.remove(&node);
        let mut out = vec![];
        let engine = Engine::new(self.cfg.clone(), node, None, self.now, &mut out);
        self.engines.insert(node, engine);
        self.handle(node, out);
    }

    pub fn crash(&mut self, node: NodeId) {
        self.engines.remove(&node);
    }

    pub fn partition(&mut self, sides: &[&[u16]]) {
        for (i, a) in sides.iter().enumerate() {
            for (j, b) in sides.iter().enumerate() {
                if i != j {
                    for x in a.iter() {
                        for y in b.iter() {
                            self.blocked.insert((NodeId(*x), NodeId(*y)));
                        }
                    }
                }
            }
        }
    }

    pub fn input(&mut self, node: NodeId, input: Input<Payload>) {
        let mut out = vec![];
        if let Some(e) = self.engines.get_mut(&node) {
            e.step(self.now, input, &mut out);
            e.assert_links_filed();
        }
        self.handle(node, out);
    }

    pub fn register(&mut self, node: u16, key: u64, job: &str, group: &str) {
        self.input(
            NodeId(node),
            Input::Register {
                key: LocalKey(key),
                job: Name::new(job),
                group: Name::new(group),
            },
        );
    }
    pub fn unregister(&mut self, node: u16, key: u64, reason: LeaveReason) {
        self.input(
            NodeId(node),
            Input::Unregister {
                key: LocalKey(key),
                reason,
            },
        );
    }
    pub fn send(&mut self, node: u16, key: u64, payload: Payload) {
        self.input(
            NodeId(node),
            Input::Send {
                key: LocalKey(key),
                to: Dest::View,
                payload,
            },
        );
    }

    /// Member `key` on `node` sends an ordered message to its group.
    pub fn send_ordered(&mut self, node: u16, key: u64, payload: Payload) {
        self.input(
            NodeId(node),
            Input::Send {
                key: LocalKey(key),
                to: Dest::Ordered,
                payload,
            },
        );
    }

    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((at, self.seq)));
    }

    fn handle(&mut self, node: NodeId, out: Vec<Output<Payload>>) {
        for o in out {
            match o {
                Output::Send { to, packet } => {
                    self.packets += 1;
                    let lost =
                        self.loss > 0.0 && (self.rand() % 10_000) as f64 / 10_000.0 < self.loss;
                    if self.blocked.contains(&(node, to)) || lost {
                        continue;
                    }
                    let lat = 1_000_000 + self.rand() % 9_000_000;
                    self.push(
                        self.now + Dur(lat),
                        Ev::Packet {
                            from: node,
                            to,
                            packet: Box::new(packet),
                        },
                    );
                }
                Output::Deliver { key, event } => self.delivered.push((self.now, node, key, event)),
                Output::Persist(d) => {
                    self.durable.insert(node, d);
                }
                Output::NodeView { .. } | Output::Probe(_) => {}
            }
        }
        if let Some(e) = self.engines.get(&node) {
            let at = e.poll_timeout().max(self.now);
            self.push(at, Ev::Tick(node));
        }
    }

    /// Runs until `until`, processing every event in time order.
    pub fn run_until(&mut self, until: Time) {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            if at == self.now {
                self.same_instant += 1;
                assert!(
                    self.same_instant < 100_000,
                    "time stopped at {at:?}: an engine asks for work it never does"
                );
            } else {
                self.same_instant = 0;
            }
            let ev = self.events.remove(&seq).expect("event");
            self.now = at;
            match ev {
                Ev::Packet { from, to, packet } => self.input(
                    to,
                    Input::Packet {
                        from,
                        packet: *packet,
                    },
                ),
                Ev::Tick(node) => {
                    // Only act on ticks that are still due (stale ones are dropped).
                    if self
                        .engines
                        .get(&node)
                        .is_some_and(|e| e.poll_timeout() <= self.now)
                    {
                        self.input(node, Input::Tick);
                    }
                }
            }
        }
        self.now = until;
    }

    pub fn run_for(&mut self, d: Dur) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Every membership change delivered to `(node, key)`, in order.
    pub fn views(&self, node: u16, key: u64) -> Vec<(Time, MembershipChange)> {
        self.delivered
            .iter()
            .filter(|(_, n, k, _)| *n == NodeId(node) && *k == LocalKey(key))
            .filter_map(|(t, _, _, e)| match e {
                Event::View(c) => Some((*t, (**c).clone())),
                _ => None,
            })
            .collect()
    }

    pub fn last_view(&self, node: u16, key: u64) -> Option<MembershipChange> {
        self.views(node, key).last().map(|(_, c)| c.clone())
    }
}
