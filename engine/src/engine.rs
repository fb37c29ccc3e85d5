//! The cluster engine of one node: node liveness, node views, group views and
//! member messaging, as one sans-IO state machine.
//!
//! How it works, in brief (ARCHITECTURE.md has the longer story):
//! - **Node views.** The lowest node of a view is its leader. Members send
//!   the leader a heartbeat every interval and the leader sends one to each
//!   member: 2(n-1) packets per interval for the cluster. The leader removes
//!   a member it has not heard from for `failure_timeout`; members that lose
//!   the leader *gather*: they exchange `Gather` packets for a short window,
//!   and the lowest node that answered installs a view of those that did.
//!   Leaders probe the nodes outside their view once per probe interval;
//!   when two views meet, the lower leader installs their union (a merge).
//! - **Group views.** Each node reports its local registrations (and the
//!   reasons of recent departures) to its leader; the leader alone issues
//!   group views, so one view id always comes with one member list.
//! - **Messages** between members travel on reliable FIFO links
//!   ([`crate::link`]) and are delivered only to a receiver whose current
//!   group view holds the sender.
//!
//! Invariants kept here, and asserted where they are cheap:
//! - A view id is issued once, by one leader, with one member list
//!   ([`crate::ids::ViewId`] explains why ids never collide).
//! - A local member is only ever handed a group view that contains it, with
//!   an id above the last one it was handed.
//! - No message is delivered to a member whose current view lacks its sender.

use crate::ids::{Dur, Incarnation, LeaveReason, MemberId, Name, NodeId, Time, ViewId};
use crate::link::{Link, LinkAck, LinkData};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most departures a node remembers, so that a leader can tell why a member
/// left after a leader change. Oldest are forgotten first.
pub const DEPARTED_MAX: usize = 1024;
/// How long messages queued on links wait for company before they are sent:
/// everything queued within this window travels in one packet per peer.
pub const FLUSH_DELAY: Dur = Dur(0);

/// Most local registrations one engine serves at once.
pub const LOCAL_MEMBERS_MAX: usize = 4096;

/// The settings every engine of a cluster shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cluster size: the nodes are `n0 .. n{nodes-1}`.
    pub nodes: u16,
    pub heartbeat_interval: Dur,
    pub failure_timeout: Dur,
    /// The longest one-way latency the network normally shows; sets the
    /// retransmission timeout and the gather window.
    pub latency_max: Dur,
}

impl Config {
    /// How long a link waits for an ack before sending again.
    pub fn retransmit_timeout(&self) -> Dur {
        self.ack_delay() + self.latency_max * 2 + Dur::from_millis(10)
    }
    /// How long a receiver waits for reverse traffic (data or a heartbeat)
    /// to carry its ack before it sends the ack alone.
    pub fn ack_delay(&self) -> Dur {
        self.heartbeat_interval * 2
    }
    /// How long gathering nodes listen for each other after losing the leader.
    pub fn gather_window(&self) -> Dur {
        self.heartbeat_interval * 2 + self.latency_max * 2
    }
    /// How often a leader probes the nodes outside its view.
    pub fn probe_interval(&self) -> Dur {
        self.failure_timeout
    }
    /// The longest a surviving member can wait, after a departure, for the
    /// membership change that reports it, when at most one leader (or one
    /// unresponsive member of an install) is lost in the process. This is
    /// the bound of the `notified` check:
    ///
    /// `2 * failure_timeout + gather_window + 4 * heartbeat_interval
    ///  + 8 * latency_max + 2 * retransmit_timeout`
    ///
    /// One `failure_timeout` detects the loss; another covers a new leader
    /// that itself had to be gathered and installed, or an install held up
    /// by a member that never answers; the rest is the gather window, the
    /// install round trip, and the group view's own trip, with two
    /// retransmissions of it when packets are lost.
    pub fn notify_bound(&self) -> Dur {
        self.failure_timeout * 2
            + self.gather_window()
            + self.heartbeat_interval * 4
            + self.latency_max * 8
            + self.retransmit_timeout() * 2
    }
}

/// What an engine keeps across a crash: a real engine writes it to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    pub incarnation: Incarnation,
    /// The highest view id this node has issued or seen.
    pub max_view: ViewId,
}

/// The local handle of a job's registration; chosen by the driver, unique
/// within one engine's life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalKey(pub u64);

/// Where a member's message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// One member, which must be in the sender's current view.
    Member(MemberId),
    /// Every member of the sender's current view, the sender included.
    View,
}

/// Everything that can happen to an engine.
#[derive(Clone, Debug)]
pub enum Input<P> {
    /// Time passed; timers are due (see [`Engine::poll_timeout`]).
    Tick,
    Packet {
        from: NodeId,
        packet: Packet<P>,
    },
    /// A job's main thread joins `group`.
    Register {
        key: LocalKey,
        job: Name,
        group: Name,
    },
    /// A job's main thread leaves its group, gracefully or after a fault.
    Unregister {
        key: LocalKey,
        reason: LeaveReason,
    },
    /// A job's connection closed without an unregister: it died.
    Closed {
        key: LocalKey,
    },
    /// A member sends a message through the engine.
    Send {
        key: LocalKey,
        to: Dest,
        payload: P,
    },
}

/// Everything an engine asks its driver to do or report.
#[derive(Clone, Debug)]
pub enum Output<P> {
    Send {
        to: NodeId,
        packet: Packet<P>,
    },
    Deliver {
        key: LocalKey,
        event: Event<P>,
    },
    /// Write this to stable storage; hand it back to [`Engine::new`] on restart.
    Persist(Durable),
    /// This engine installed a node view (for traces and diagrams).
    NodeView {
        view: ViewId,
        members: Vec<NodeId>,
    },
}

/// What a job's main thread receives from its engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<P> {
    /// The registration was accepted under this identity.
    Registered { me: MemberId },
    /// A membership change: this member installed a new group view.
    View(MembershipChange),
    /// A message from another member (or from itself, for view sends).
    Message { from: MemberId, payload: P },
}

/// A membership change as one member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    pub group: Name,
    pub view: ViewId,
    /// The observer, as it is named in this view.
    pub me: MemberId,
    /// Every member of the new view, sorted.
    pub members: Vec<MemberId>,
    /// Members in this view that were not in the observer's previous one.
    pub joined: Vec<MemberId>,
    /// Members of the observer's previous view that are gone, and why.
    pub left: Vec<(MemberId, LeaveReason)>,
}

/// A node view: who is in the cluster, as one leader decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: ViewId,
    pub members: BTreeMap<NodeId, Incarnation>,
}

impl NodeView {
    pub fn leader(&self) -> NodeId {
        *self
            .members
            .keys()
            .next()
            .expect("a node view is never empty")
    }
    fn has(&self, node: NodeId, inc: Incarnation) -> bool {
        self.members.get(&node) == Some(&inc)
    }
}

/// A group view as the leader issues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub group: Name,
    pub id: ViewId,
    /// The node view of the leader that issued it.
    pub node_view: ViewId,
    pub members: Vec<MemberId>,
    /// Why members that the leader knows of left (others: `node-down`).
    pub reasons: Vec<(MemberId, LeaveReason)>,
}

/// What one node tells its leader about its jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// Which of this incarnation's snapshots this is: they grow. A node's
    /// state reaches its leader on two channels, its install acks and its
    /// link, which can overtake each other; the leader keeps the newest.
    pub version: u64,
    pub registrations: BTreeMap<Name, Vec<MemberId>>,
    pub departed: Vec<(Name, MemberId, LeaveReason)>,
    pub installed: BTreeMap<Name, GroupView>,
}

/// A message from one member to others, as it crosses a link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberMsg<P> {
    pub from: MemberId,
    pub to: Vec<MemberId>,
    pub payload: P,
}

/// What travels reliably between two engines.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum LinkMsg<P> {
    State(LocalState),
    GroupView(GroupView),
    Member(MemberMsg<P>),
}

/// Engine-to-engine packets. Each carries the sender's incarnation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Packet<P> {
    pub from_inc: Incarnation,
    pub body: Body<P>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Body<P> {
    Heartbeat {
        view: ViewId,
        ack: Option<LinkAck>,
    },
    /// "You are not in my view `view`."
    NotMember {
        view: ViewId,
    },
    /// A leader shows its view to a node outside it; `reply` marks an
    /// answer to a probe, which is not answered again.
    Probe {
        view: NodeView,
        reply: bool,
    },
    /// A gathering node asks the nodes of `view` which of them are alive;
    /// `reply` marks an answer, which is not answered again.
    Gather {
        view: ViewId,
        suspects: Vec<NodeId>,
        reply: bool,
    },
    Install {
        view: NodeView,
    },
    InstallAck {
        view: ViewId,
        state: LocalState,
    },
    Data {
        to_inc: Incarnation,
        data: LinkData<LinkMsg<P>>,
        ack: Option<LinkAck>,
    },
    Ack {
        to_inc: Incarnation,
        ack: LinkAck,
    },
}

#[derive(Debug)]
enum Phase {
    Normal,
    /// Lost the leader; listening for the others that did.
    Gathering {
        until: Time,
        suspects: BTreeSet<NodeId>,
        heard: BTreeMap<NodeId, Incarnation>,
        /// When to ask again the nodes not heard yet: a lost Gather must not
        /// split the survivors into two views.
        resend_at: Time,
    },
    /// Gathered; waiting for the chosen candidate's install.
    Awaiting {
        candidate: NodeId,
        until: Time,
        suspects: BTreeSet<NodeId>,
    },
}

#[derive(Debug)]
struct Installing {
    view: NodeView,
    acks: BTreeMap<NodeId, LocalState>,
    /// States that came over the link from members that have not acked yet:
    /// newer than an ack they sent before them, which may still arrive.
    early: BTreeMap<NodeId, LocalState>,
    deadline: Time,
    resend_at: Time,
}

#[derive(Debug)]
struct Local {
    id: MemberId,
    group: Name,
    /// The last group view handed to this member.
    view: Option<GroupView>,
}

/// Counters a driver may report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub ghost_dropped: u64,
    pub link_overflow: u64,
}

/// The cluster engine of one node.
#[derive(Debug)]
pub struct Engine<P> {
    cfg: Config,
    me: NodeId,
    durable: Durable,
    view: NodeView,
    phase: Phase,
    leader_heard: Time,
    heard: BTreeMap<NodeId, Time>,
    next_heartbeat: Time,
    next_probe: Time,
    /// A lower leader probed us recently: leave merging to it until then.
    defer_merge_until: Time,
    installing: Option<Installing>,
    merge: BTreeMap<NodeId, Incarnation>,
    merge_at: Option<Time>,
    /// Leader only: the last state each member node reported.
    states: BTreeMap<NodeId, LocalState>,
    /// Leader only: the last view issued (or adopted) per group.
    groups: BTreeMap<Name, GroupView>,
    locals: BTreeMap<LocalKey, Local>,
    registrations: u32,
    /// The version of the last local state snapshot (see [`LocalState`]).
    state_version: u64,
    departed: VecDeque<(Name, MemberId, LeaveReason)>,
    installed: BTreeMap<Name, GroupView>,
    links: BTreeMap<NodeId, Link<LinkMsg<P>>>,
    /// Links of peers outside the view, by the incarnation they had: at
    /// most one per node of the cluster.
    parked: BTreeMap<NodeId, (Incarnation, Link<LinkMsg<P>>)>,
    link_session: u64,
    /// When messages queued on links go out (see [`FLUSH_DELAY`]).
    flush_at: Option<Time>,
    /// When each peer last got fresh link data from us; it doubles as a heartbeat.
    data_sent_at: BTreeMap<NodeId, Time>,
    stats: EngineStats,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
}

impl<P: Clone> Engine<P> {
    /// Boots an engine. `durable` is what it persisted in its previous life
    /// (default on first boot); the engine starts a new incarnation alone in
    /// its own view, and probes the cluster at once.
    pub fn new(
        cfg: Config,
        me: NodeId,
        durable: Durable,
        now: Time,
        out: &mut Vec<Output<P>>,
    ) -> Engine<P> {
        let mut engine = Engine::unbooted(cfg, me, durable, now);
        engine.install_singleton(now, out);
        engine
    }

    /// [`Engine::new`], running a deliberately broken variant from its
    /// boot on (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn new_mutated(
        cfg: Config,
        me: NodeId,
        durable: Durable,
        now: Time,
        out: &mut Vec<Output<P>>,
        mutation: crate::Mutation,
    ) -> Engine<P> {
        let mut engine = Engine::unbooted(cfg, me, durable, now);
        engine.mutation = Some(mutation);
        engine.install_singleton(now, out);
        engine
    }

    fn unbooted(cfg: Config, me: NodeId, durable: Durable, now: Time) -> Engine<P> {
        assert!(
            cfg.nodes > 0 && me.0 < cfg.nodes,
            "node {me} outside a cluster of {}",
            cfg.nodes
        );
        assert!(cfg.failure_timeout > cfg.heartbeat_interval);
        let durable = Durable {
            incarnation: Incarnation(durable.incarnation.0 + 1),
            max_view: durable.max_view,
        };
        Engine {
            me,
            durable,
            view: NodeView {
                id: ViewId(0),
                members: BTreeMap::new(),
            },
            phase: Phase::Normal,
            leader_heard: now,
            heard: BTreeMap::new(),
            next_heartbeat: now,
            next_probe: now,
            defer_merge_until: now,
            installing: None,
            merge: BTreeMap::new(),
            merge_at: None,
            states: BTreeMap::new(),
            groups: BTreeMap::new(),
            locals: BTreeMap::new(),
            registrations: 0,
            state_version: 0,
            departed: VecDeque::new(),
            installed: BTreeMap::new(),
            links: BTreeMap::new(),
            parked: BTreeMap::new(),
            link_session: 0,
            flush_at: None,
            data_sent_at: BTreeMap::new(),
            stats: EngineStats::default(),
            cfg,
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
        }
    }

    pub fn me(&self) -> NodeId {
        self.me
    }
    pub fn node_view(&self) -> &NodeView {
        &self.view
    }
    pub fn incarnation(&self) -> Incarnation {
        self.durable.incarnation
    }
    pub fn is_leader(&self) -> bool {
        self.view.leader() == self.me && matches!(self.phase, Phase::Normal)
    }
    pub fn stats(&self) -> EngineStats {
        let overflow = self.links.values().map(|l| l.dropped_overflow).sum();
        EngineStats {
            link_overflow: overflow,
            ..self.stats
        }
    }

    /// The one entry point: feed an input, collect outputs.
    pub fn step(&mut self, now: Time, input: Input<P>, out: &mut Vec<Output<P>>) {
        match input {
            Input::Tick => {}
            Input::Packet { from, packet } => self.on_packet(now, from, packet, out),
            Input::Register { key, job, group } => self.on_register(now, key, job, group, out),
            Input::Unregister { key, reason } => self.on_departure(now, key, reason, out),
            Input::Closed { key } => self.on_departure(now, key, LeaveReason::JobLost, out),
            Input::Send { key, to, payload } => self.on_send(now, key, to, payload, out),
        }
        self.on_timers(now, out);
        self.flush_links(now, out);
        if mutated!(self, NoMerge) && now > Time(2_000_000_000) {
            out.retain(|o| {
                !matches!(o, Output::Send { packet, .. } if matches!(packet.body, Body::Probe { .. }))
            });
        }
    }

    /// The earliest time at which [`Input::Tick`] has work to do.
    pub fn poll_timeout(&self) -> Time {
        let mut t = self.next_heartbeat;
        let mut at = |x: Time| t = t.min(x);
        match &self.phase {
            Phase::Gathering {
                until, resend_at, ..
            } => {
                at(*until);
                at(*resend_at);
            }
            Phase::Awaiting { until, .. } => at(*until),
            Phase::Normal => {
                if self.view.leader() == self.me {
                    if let Some(inst) = &self.installing {
                        at(inst.deadline);
                        at(inst.resend_at);
                        for (n, h) in &self.heard {
                            if !inst.acks.contains_key(n) {
                                at(*h + self.cfg.failure_timeout + Dur(1));
                            }
                        }
                    } else {
                        at(self.next_probe);
                        for h in self.heard.values() {
                            at(*h + self.cfg.failure_timeout + Dur(1));
                        }
                        if let Some(m) = self.merge_at {
                            at(m);
                        }
                    }
                } else {
                    at(self.leader_heard + self.cfg.failure_timeout + Dur(1));
                }
            }
        }
        if let Some(f) = self.flush_at {
            at(f);
        }
        let rto = self.cfg.retransmit_timeout();
        for link in self.links.values() {
            if let Some(r) = link.retransmit_at(rto) {
                at(r);
            }
            if let Some(a) = link.ack_due_at(self.cfg.ack_delay()) {
                at(a);
            }
        }
        t
    }

    // ----- node views -----

    fn next_view_id(&mut self, out: &mut Vec<Output<P>>) -> ViewId {
        let n = u64::from(self.cfg.nodes);
        let me = u64::from(self.me.0);
        let floor = self.durable.max_view.0 + 1;
        let id = if mutated!(self, PlainCounterViewIds) {
            floor // the pitfall: no room left for the other leaders' ids
        } else {
            let id = floor + (me + n - floor % n) % n;
            assert!(id >= floor);
            assert_eq!(id % n, me, "a leader issues only its own ids");
            id
        };
        self.durable.max_view = ViewId(id);
        out.push(Output::Persist(self.durable));
        ViewId(id)
    }

    fn observe(&mut self, id: ViewId) {
        self.durable.max_view = self.durable.max_view.max(id);
    }

    fn install_singleton(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let id = self.next_view_id(out);
        let view = NodeView {
            id,
            members: BTreeMap::from([(self.me, self.durable.incarnation)]),
        };
        self.install(now, view, out);
        self.states = BTreeMap::from([(self.me, self.local_state())]);
        self.groups.clear();
        self.recompute_groups(now, None, out);
        self.next_probe = now;
    }

    /// Makes `view` this node's view: links follow its members.
    fn install(&mut self, now: Time, view: NodeView, out: &mut Vec<Output<P>>) {
        assert!(
            view.has(self.me, self.durable.incarnation),
            "a node only installs views that hold it"
        );
        assert!(view.id > self.view.id, "node view ids only grow");
        self.observe(view.id);
        let old = std::mem::replace(&mut self.view, view);
        self.phase = Phase::Normal;
        self.leader_heard = now;
        // A member keeps the silence it had in the old view: a new view is no
        // reason to wait another whole failure timeout for a node that was
        // already silent.
        let old_heard = std::mem::take(&mut self.heard);
        self.heard = self
            .view
            .members
            .iter()
            .filter(|(n, _)| **n != self.me)
            .map(|(n, inc)| {
                let kept = if old.members.get(n) == Some(inc) {
                    old_heard.get(n).copied()
                } else {
                    None
                };
                (*n, kept.unwrap_or(now))
            })
            .collect();
        self.next_heartbeat = now;
        let view_id = self.view.id;
        // Links to peers that left (or came back as a new incarnation) are
        // parked: if the same incarnation returns, its sender may never have
        // seen us drop it and goes on with its session, so our receiving
        // half must remember where that session stood.
        let gone: Vec<NodeId> = self
            .links
            .keys()
            .copied()
            .filter(|n| old.members.get(n) != self.view.members.get(n))
            .collect();
        let park = !mutated!(self, DropDepartedLinks);
        for node in gone {
            let link = self.links.remove(&node).expect("a link");
            if let Some(inc) = old.members.get(&node).filter(|_| park) {
                self.parked.insert(node, (*inc, link));
            }
        }
        let new_peers: Vec<NodeId> = self
            .view
            .members
            .keys()
            .copied()
            .filter(|n| *n != self.me && !self.links.contains_key(n))
            .collect();
        for node in new_peers {
            self.link_session += 1;
            // Sessions must grow across this node's lives too: fold in the view id.
            let session = (view_id.0 << 20) | (self.link_session & 0xF_FFFF);
            let inc = self.view.members[&node];
            let link = match self.parked.remove(&node) {
                Some((parked_inc, mut link)) if parked_inc == inc => {
                    link.restart_send(session);
                    link
                }
                _ => Link::new(session),
            };
            self.links.insert(node, link);
        }
        if self.view.leader() != self.me {
            self.installing = None;
            self.merge.clear();
            self.merge_at = None;
            self.states.clear();
            self.groups.clear();
        }
        out.push(Output::NodeView {
            view: self.view.id,
            members: self.view.members.keys().copied().collect(),
        });
    }

    /// Leader: propose `members` as the next view.
    fn start_install(
        &mut self,
        now: Time,
        members: BTreeMap<NodeId, Incarnation>,
        out: &mut Vec<Output<P>>,
    ) {
        assert_eq!(members.get(&self.me), Some(&self.durable.incarnation));
        let id = self.next_view_id(out);
        let view = NodeView { id, members };
        assert_eq!(
            view.leader(),
            self.me,
            "only the lowest node installs a view"
        );
        self.install(now, view.clone(), out);
        let acks = BTreeMap::from([(self.me, self.local_state())]);
        self.installing = Some(Installing {
            view,
            acks,
            early: BTreeMap::new(),
            deadline: now + self.cfg.failure_timeout,
            resend_at: now + self.cfg.retransmit_timeout(),
        });
        self.send_install(out, true);
        self.try_complete_install(now, out);
    }

    fn send_install(&mut self, out: &mut Vec<Output<P>>, all: bool) {
        let inst = self.installing.as_ref().expect("installing");
        for node in inst.view.members.keys() {
            if *node != self.me && (all || !inst.acks.contains_key(node)) {
                out.push(Output::Send {
                    to: *node,
                    packet: Packet {
                        from_inc: self.durable.incarnation,
                        body: Body::Install {
                            view: inst.view.clone(),
                        },
                    },
                });
            }
        }
    }

    fn try_complete_install(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let done = match &self.installing {
            Some(inst) => inst.view.members.keys().all(|n| inst.acks.contains_key(n)),
            None => false,
        };
        if !done {
            return;
        }
        let inst = self.installing.take().expect("installing");
        assert_eq!(inst.view.id, self.view.id);
        self.states = inst.acks;
        self.groups.clear();
        let reported: Vec<GroupView> = self
            .states
            .values()
            .flat_map(|s| s.installed.values().cloned())
            .collect();
        for gv in &reported {
            self.observe(gv.id);
        }
        self.recompute_groups(now, Some(reported), out);
        self.next_probe = self.next_probe.min(now + self.cfg.heartbeat_interval);
    }

    fn start_gather(&mut self, now: Time, suspects: BTreeSet<NodeId>, out: &mut Vec<Output<P>>) {
        let heard = BTreeMap::from([(self.me, self.durable.incarnation)]);
        for node in self.view.members.keys() {
            if *node != self.me && !suspects.contains(node) {
                out.push(self.packet(
                    *node,
                    Body::Gather {
                        view: self.view.id,
                        suspects: suspects.iter().copied().collect(),
                        reply: false,
                    },
                ));
            }
        }
        self.phase = Phase::Gathering {
            until: now + self.cfg.gather_window(),
            suspects,
            heard,
            resend_at: now + self.gather_resend(),
        };
    }

    fn gather_resend(&self) -> Dur {
        Dur(self.cfg.heartbeat_interval.0 / 2)
    }

    fn become_excluded(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        // A new incarnation: everything sent in the old life is now stale,
        // and local members come back under new ids.
        self.durable.incarnation = Incarnation(self.durable.incarnation.0 + 1);
        out.push(Output::Persist(self.durable));
        for local in self.locals.values_mut() {
            self.registrations += 1;
            local.id = MemberId {
                job: local.id.job.clone(),
                node: self.me,
                node_incarnation: self.durable.incarnation,
                registration: self.registrations,
            };
        }
        self.links.clear();
        self.parked.clear();
        self.install_singleton(now, out);
    }

    fn on_timers(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        enum Action {
            None,
            Install(BTreeMap<NodeId, Incarnation>),
            Await(NodeId, BTreeSet<NodeId>),
            Gather(BTreeSet<NodeId>),
            Leader,
        }
        let sent_once = mutated!(self, GatherSentOnce);
        let suspects_in_view = mutated!(self, SuspectsInView);
        let action = match &mut self.phase {
            Phase::Gathering {
                until,
                suspects,
                heard,
                ..
            } if now >= *until => {
                let candidate = *heard
                    .keys()
                    .find(|n| !suspects.contains(n))
                    .expect("self is heard");
                if candidate == self.me {
                    // Every node heard below us is a suspect (we are the
                    // lowest that is not): it stays out of the view, or it
                    // would be its leader. It comes back as a new
                    // incarnation if it is alive.
                    let mut members = std::mem::take(heard);
                    if !suspects_in_view {
                        members.retain(|n, _| !suspects.contains(n));
                    }
                    Action::Install(members)
                } else {
                    Action::Await(candidate, std::mem::take(suspects))
                }
            }
            Phase::Gathering {
                suspects,
                heard,
                resend_at,
                ..
            } if now >= *resend_at && !sent_once => {
                *resend_at = now + Dur(self.cfg.heartbeat_interval.0 / 2);
                let missing: Vec<NodeId> = self
                    .view
                    .members
                    .keys()
                    .copied()
                    .filter(|n| !heard.contains_key(n) && !suspects.contains(n))
                    .collect();
                let suspects: Vec<NodeId> = suspects.iter().copied().collect();
                for node in missing {
                    let body = Body::Gather {
                        view: self.view.id,
                        suspects: suspects.clone(),
                        reply: false,
                    };
                    out.push(Output::Send {
                        to: node,
                        packet: Packet {
                            from_inc: self.durable.incarnation,
                            body,
                        },
                    });
                }
                Action::None
            }
            Phase::Awaiting {
                candidate,
                until,
                suspects,
            } if now >= *until => {
                let mut suspects = std::mem::take(suspects);
                suspects.insert(*candidate);
                Action::Gather(suspects)
            }
            Phase::Normal if self.view.leader() != self.me => {
                if now.saturating_sub(self.leader_heard) > self.cfg.failure_timeout {
                    Action::Gather(BTreeSet::from([self.view.leader()]))
                } else {
                    Action::None
                }
            }
            Phase::Normal => Action::Leader,
            _ => Action::None,
        };
        match action {
            Action::None => {}
            Action::Install(members) => self.start_install(now, members, out),
            Action::Await(candidate, suspects) => {
                self.phase = Phase::Awaiting {
                    candidate,
                    until: now + self.cfg.failure_timeout,
                    suspects,
                };
            }
            Action::Gather(suspects) => self.start_gather(now, suspects, out),
            Action::Leader => self.on_leader_timers(now, out),
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.cfg.heartbeat_interval;
            if matches!(self.phase, Phase::Normal) {
                let leader = self.view.leader();
                let targets: Vec<NodeId> = if leader == self.me {
                    self.view
                        .members
                        .keys()
                        .copied()
                        .filter(|n| *n != self.me)
                        .collect()
                } else {
                    vec![leader]
                };
                for node in targets {
                    // Any packet is a heartbeat: skip peers that just got one.
                    let recent = self
                        .data_sent_at
                        .get(&node)
                        .is_some_and(|t| now.saturating_sub(*t) < self.cfg.heartbeat_interval);
                    if recent {
                        continue;
                    }
                    let ack = self.take_ack(node);
                    out.push(self.packet(
                        node,
                        Body::Heartbeat {
                            view: self.view.id,
                            ack,
                        },
                    ));
                }
            }
        }
    }

    fn on_leader_timers(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let timeout = self.cfg.failure_timeout;
        let dead: Vec<NodeId> = self
            .heard
            .iter()
            .filter(|(_, t)| now.saturating_sub(**t) > timeout)
            .map(|(n, _)| *n)
            .collect();
        if let Some(inst) = &mut self.installing {
            let silent = dead.iter().any(|n| !inst.acks.contains_key(n));
            if now >= inst.deadline || silent {
                // Install again without those that neither acknowledged nor
                // were heard from (at the deadline: all that did not ack).
                let members: BTreeMap<NodeId, Incarnation> = inst
                    .view
                    .members
                    .iter()
                    .filter(|(n, _)| {
                        inst.acks.contains_key(n) || (now < inst.deadline && !dead.contains(n))
                    })
                    .map(|(n, i)| (*n, *i))
                    .collect();
                self.start_install(now, members, out);
                return;
            }
            if now >= inst.resend_at {
                inst.resend_at = now + self.cfg.retransmit_timeout();
                self.send_install(out, false);
            }
            return;
        }
        if !dead.is_empty() || self.merge_at.is_some_and(|t| now >= t) {
            let mut members = self.view.members.clone();
            for node in &dead {
                members.remove(node);
            }
            for (node, inc) in std::mem::take(&mut self.merge) {
                let e = members.entry(node).or_insert(inc);
                *e = (*e).max(inc);
            }
            self.merge_at = None;
            if members.keys().next() == Some(&self.me) {
                self.start_install(now, members, out);
            }
            return;
        }
        if now >= self.next_probe {
            self.next_probe = now + self.cfg.probe_interval();
            for k in 0..self.cfg.nodes {
                let node = NodeId(k);
                if !self.view.members.contains_key(&node) {
                    out.push(self.packet(
                        node,
                        Body::Probe {
                            view: self.view.clone(),
                            reply: false,
                        },
                    ));
                }
            }
        }
    }

    // ----- packets -----

    fn packet(&self, to: NodeId, body: Body<P>) -> Output<P> {
        Output::Send {
            to,
            packet: Packet {
                from_inc: self.durable.incarnation,
                body,
            },
        }
    }

    fn on_packet(&mut self, now: Time, from: NodeId, packet: Packet<P>, out: &mut Vec<Output<P>>) {
        let inc = packet.from_inc;
        let member = self.view.has(from, inc);
        if self.view.members.get(&from).is_some_and(|old| *old < inc)
            && !mutated!(self, IncarnationWaitsOut)
        {
            self.on_reincarnated(now, from, out);
        }
        if member {
            if from == self.view.leader() {
                self.leader_heard = now;
            }
            if let Some(h) = self.heard.get_mut(&from) {
                *h = now;
            }
        }
        match packet.body {
            Body::Heartbeat { view, ack } => {
                if member {
                    if let (Some(ack), Some(link)) = (ack, self.links.get_mut(&from)) {
                        link.on_ack(ack);
                    }
                } else if view < self.view.id {
                    out.push(self.packet(from, Body::NotMember { view: self.view.id }));
                }
            }
            Body::NotMember { view } => {
                if !member || view <= self.view.id {
                    return;
                }
                if from == self.view.leader() && matches!(self.phase, Phase::Normal) {
                    self.become_excluded(now, out);
                } else if self.view.leader() == self.me {
                    // A member moved on to a newer view: stop waiting for it.
                    self.heard.insert(from, Time(0));
                }
            }
            Body::Probe { view, reply } => self.on_probe(now, from, view, reply, out),
            Body::Gather { view, reply, .. } => {
                if view != self.view.id || !self.view.members.contains_key(&from) {
                    return;
                }
                // Every ask is answered, also by a node that heard the asker
                // already: the asker asks again only because it has not
                // heard *us* (our answer was lost), and a node it never
                // hears is left out of the view it installs. Answers are
                // never answered, so two nodes cannot keep answering each
                // other.
                let answer = Body::Gather {
                    view,
                    suspects: Vec::new(),
                    reply: true,
                };
                let answered_once = mutated!(self, GatherAnsweredOnce);
                match &mut self.phase {
                    Phase::Gathering { heard, .. } => {
                        let first = heard.insert(from, inc).is_none();
                        if !reply && (first || !answered_once) {
                            out.push(self.packet(from, answer));
                        }
                    }
                    Phase::Awaiting { .. } if !reply => {
                        out.push(self.packet(from, answer));
                    }
                    Phase::Awaiting { .. } | Phase::Normal => {}
                }
            }
            Body::Install { view } => {
                if view.id < self.view.id
                    || !view.has(self.me, self.durable.incarnation)
                    || view.leader() != from
                {
                    return;
                }
                // Merges are led by the lower leader, so while our leader
                // lives, an install from a higher one is a rival's race to
                // absorb us (its probe crossed ours): stay.
                let leader = self.view.leader();
                if matches!(self.phase, Phase::Normal) && from != leader && from > leader {
                    return;
                }
                self.observe(view.id);
                let view_id = view.id;
                if view.id > self.view.id {
                    self.install(now, view, out);
                }
                if self.view.id == view_id && self.view.leader() == from {
                    self.leader_heard = now;
                    let state = self.local_state();
                    out.push(self.packet(
                        from,
                        Body::InstallAck {
                            view: self.view.id,
                            state,
                        },
                    ));
                }
            }
            Body::InstallAck { view, state } => {
                if let Some(inst) = &mut self.installing {
                    if inst.view.id == view && inst.view.has(from, inc) {
                        keep_newest(&mut inst.acks, from, state);
                        if let Some(early) = inst.early.remove(&from) {
                            keep_newest(&mut inst.acks, from, early);
                        }
                        self.try_complete_install(now, out);
                    }
                }
            }
            Body::Data { to_inc, data, ack } => {
                if !member || to_inc != self.durable.incarnation {
                    return;
                }
                let mut msgs = Vec::new();
                let link = self.links.get_mut(&from).expect("a link to every member");
                if let Some(ack) = ack {
                    link.on_ack(ack);
                }
                link.on_data(now, data, &mut msgs);
                for msg in msgs {
                    self.on_link_msg(now, from, msg, out);
                }
            }
            Body::Ack { to_inc, ack } => {
                if member && to_inc == self.durable.incarnation {
                    if let Some(link) = self.links.get_mut(&from) {
                        link.on_ack(ack);
                    }
                }
            }
        }
    }

    /// A packet from a newer incarnation of `node` than the one in our view:
    /// incarnations only grow, and a node starts a new one only once the old
    /// one is over (it crashed, or learned it was excluded). So the one in
    /// our view is gone for good and will never answer: waiting a whole
    /// failure timeout for its silence would only hold up the view (and an
    /// install, and the group views behind it) that must drop it.
    fn on_reincarnated(&mut self, now: Time, node: NodeId, out: &mut Vec<Output<P>>) {
        assert_ne!(node, self.me, "only this engine speaks for this node");
        if self.view.leader() == self.me {
            // Silent since forever: the next leader timer removes it (or
            // restarts an install that waits for its ack); a probe from the
            // new incarnation merges that one back in.
            if let Some(h) = self.heard.get_mut(&node) {
                *h = Time(0);
            }
            return;
        }
        match &mut self.phase {
            Phase::Normal if node == self.view.leader() => {
                // Our leader is gone: gather now.
                self.start_gather(now, BTreeSet::from([node]), out);
            }
            Phase::Awaiting {
                candidate, until, ..
            } if *candidate == node => {
                // The candidate we wait for will never install: move on.
                *until = (*until).min(now);
            }
            _ => {}
        }
    }

    fn on_probe(
        &mut self,
        now: Time,
        from: NodeId,
        view: NodeView,
        reply: bool,
        out: &mut Vec<Output<P>>,
    ) {
        self.observe(view.id);
        if !self.is_leader() || view.members.contains_key(&self.me) || view.leader() != from {
            return;
        }
        if self.me < from && now >= self.defer_merge_until {
            for (node, inc) in view.members {
                let e = self.merge.entry(node).or_insert(inc);
                *e = (*e).max(inc);
            }
            self.merge_at.get_or_insert(now + self.cfg.gather_window());
            if !reply {
                // Tell the higher leader about us, so that it leaves the
                // merge to us instead of racing us for the same nodes.
                let probe = Body::Probe {
                    view: self.view.clone(),
                    reply: true,
                };
                out.push(self.packet(from, probe));
            }
        } else if from < self.me {
            // The lower leader absorbs us; answer so it knows our view.
            self.defer_merge_until = now + self.cfg.probe_interval();
            self.merge.clear();
            self.merge_at = None;
            if !reply {
                let probe = Body::Probe {
                    view: self.view.clone(),
                    reply: true,
                };
                out.push(self.packet(from, probe));
            }
        }
    }

    fn on_link_msg(&mut self, now: Time, from: NodeId, msg: LinkMsg<P>, out: &mut Vec<Output<P>>) {
        match msg {
            LinkMsg::State(state) => {
                if self.view.leader() != self.me {
                    return;
                }
                let drop_early = mutated!(self, EarlyStateDropped);
                if let Some(inst) = &mut self.installing {
                    // Not yet acked: its ack may still bring an older state
                    // (install acks and links race), so the newer one is
                    // kept aside until then rather than dropped: dropped,
                    // the change it reports (a departure) would never
                    // reach a group view.
                    let acked = inst.acks.contains_key(&from);
                    if !acked && drop_early {
                        return;
                    }
                    let states = if acked {
                        &mut inst.acks
                    } else {
                        &mut inst.early
                    };
                    keep_newest(states, from, state);
                    return;
                }
                if keep_newest(&mut self.states, from, state) {
                    self.recompute_groups(now, None, out);
                }
            }
            LinkMsg::GroupView(gv) => {
                if from == self.view.leader() && gv.node_view == self.view.id {
                    self.apply_group_view(gv, out);
                }
            }
            LinkMsg::Member(m) => self.deliver_member_msg(m, out),
        }
    }

    // ----- groups -----

    /// A snapshot of the local state, newer than every one before it.
    fn local_state(&mut self) -> LocalState {
        self.state_version += 1;
        let mut registrations: BTreeMap<Name, Vec<MemberId>> = BTreeMap::new();
        for local in self.locals.values() {
            registrations
                .entry(local.group.clone())
                .or_default()
                .push(local.id.clone());
        }
        for ids in registrations.values_mut() {
            ids.sort();
        }
        LocalState {
            version: self.state_version,
            registrations,
            departed: self.departed.iter().cloned().collect(),
            installed: self.installed.clone(),
        }
    }

    /// Leader: issue a new view for every group whose members changed.
    /// After an install, `reported` holds the views the members had, so an
    /// unchanged group keeps its view id instead of getting a new one.
    fn recompute_groups(
        &mut self,
        now: Time,
        reported: Option<Vec<GroupView>>,
        out: &mut Vec<Output<P>>,
    ) {
        assert_eq!(self.view.leader(), self.me);
        let mut computed: BTreeMap<Name, Vec<MemberId>> = BTreeMap::new();
        for (node, state) in &self.states {
            assert!(self.view.members.contains_key(node));
            for (group, ids) in &state.registrations {
                computed
                    .entry(group.clone())
                    .or_default()
                    .extend(ids.iter().cloned());
            }
        }
        for group in self.groups.keys() {
            computed.entry(group.clone()).or_default();
        }
        if let Some(rep) = &reported {
            for gv in rep {
                computed.entry(gv.group.clone()).or_default();
            }
        }
        for (group, mut members) in computed {
            members.sort();
            members.dedup();
            if let Some(cur) = self.groups.get(&group) {
                if cur.members == members {
                    continue;
                }
            } else if let Some(rep) = &reported {
                let mut views = rep.iter().filter(|gv| gv.group == group);
                if let Some(first) = views.next() {
                    if first.members == members && views.all(|gv| gv == first) {
                        self.groups.insert(group, first.clone());
                        continue;
                    }
                }
            }
            if members.is_empty() && !self.groups.contains_key(&group) && reported.is_none() {
                continue;
            }
            let forget = mutated!(self, ForgetReasons);
            let reasons: Vec<(MemberId, LeaveReason)> = self
                .states
                .values()
                .flat_map(|s| s.departed.iter())
                .filter(|(g, m, _)| *g == group && members.binary_search(m).is_err())
                .map(|(_, m, r)| (m.clone(), *r))
                .collect();
            let reasons = if forget { Vec::new() } else { reasons };
            let id = self.next_view_id(out);
            let gv = GroupView {
                group: group.clone(),
                id,
                node_view: self.view.id,
                members,
                reasons,
            };
            self.groups.insert(group, gv.clone());
            let peers: Vec<NodeId> = self
                .view
                .members
                .keys()
                .copied()
                .filter(|n| *n != self.me)
                .collect();
            for node in peers {
                self.links
                    .get_mut(&node)
                    .expect("a link to every member")
                    .push(LinkMsg::GroupView(gv.clone()));
                self.flush_at.get_or_insert(now + FLUSH_DELAY);
            }
            self.apply_group_view(gv, out);
        }
    }

    /// Hands a group view to the local members it contains.
    fn apply_group_view(&mut self, gv: GroupView, out: &mut Vec<Output<P>>) {
        if let Some(old) = self.installed.get(&gv.group) {
            if gv.id <= old.id {
                return;
            }
        }
        self.observe(gv.id);
        for (key, local) in self.locals.iter_mut() {
            if local.group != gv.group || gv.members.binary_search(&local.id).is_err() {
                continue;
            }
            let me = local.id.clone();
            let prev: Vec<MemberId> = local
                .view
                .as_ref()
                .map(|v| v.members.clone())
                .unwrap_or_default();
            if let Some(v) = &local.view {
                assert!(gv.id > v.id, "a member's view ids only grow");
            }
            let unchanged = local.view.as_ref().is_some_and(|v| v.members == gv.members);
            local.view = Some(gv.clone());
            if unchanged {
                continue;
            }
            // The observer's own old identity (after an exclusion) is neither
            // joined nor left: it is the observer.
            let same_member = |m: &MemberId| m.job == me.job && m.node == me.node;
            let joined: Vec<MemberId> = gv
                .members
                .iter()
                .filter(|m| prev.binary_search(m).is_err() && (**m != me || prev.is_empty()))
                .cloned()
                .collect();
            let left: Vec<(MemberId, LeaveReason)> = prev
                .iter()
                .filter(|m| gv.members.binary_search(m).is_err() && !same_member(m))
                .map(|m| {
                    let reason = gv
                        .reasons
                        .iter()
                        .find(|(id, _)| id == m)
                        .map_or(LeaveReason::NodeDown, |(_, r)| *r);
                    (m.clone(), reason)
                })
                .collect();
            assert!(
                gv.members.contains(&me),
                "every view a member installs contains itself"
            );
            let change = MembershipChange {
                group: gv.group.clone(),
                view: gv.id,
                me,
                members: gv.members.clone(),
                joined,
                left,
            };
            out.push(Output::Deliver {
                key: *key,
                event: Event::View(change),
            });
        }
        self.installed.insert(gv.group.clone(), gv);
    }

    fn on_register(
        &mut self,
        now: Time,
        key: LocalKey,
        job: Name,
        group: Name,
        out: &mut Vec<Output<P>>,
    ) {
        assert!(
            !self.locals.contains_key(&key),
            "a local key registers once"
        );
        assert!(self.locals.len() < LOCAL_MEMBERS_MAX);
        self.registrations += 1;
        let id = MemberId {
            job,
            node: self.me,
            node_incarnation: self.durable.incarnation,
            registration: self.registrations,
        };
        out.push(Output::Deliver {
            key,
            event: Event::Registered { me: id.clone() },
        });
        self.locals.insert(
            key,
            Local {
                id,
                group,
                view: None,
            },
        );
        self.local_state_changed(now, out);
    }

    fn on_departure(
        &mut self,
        now: Time,
        key: LocalKey,
        reason: LeaveReason,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(local) = self.locals.remove(&key) else {
            return;
        };
        if self.departed.len() >= DEPARTED_MAX {
            self.departed.pop_front();
        }
        self.departed.push_back((local.group, local.id, reason));
        self.local_state_changed(now, out);
    }

    fn local_state_changed(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        if !matches!(self.phase, Phase::Normal) {
            return; // the install that ends the gather carries our state
        }
        let state = self.local_state();
        let leader = self.view.leader();
        if leader == self.me {
            if let Some(inst) = &mut self.installing {
                inst.acks.insert(self.me, state);
            } else {
                self.states.insert(self.me, state);
                self.recompute_groups(now, None, out);
            }
        } else {
            self.links
                .get_mut(&leader)
                .expect("a link to the leader")
                .push(LinkMsg::State(state));
            self.flush_at.get_or_insert(now + FLUSH_DELAY);
        }
    }

    // ----- member messages -----

    fn on_send(
        &mut self,
        now: Time,
        key: LocalKey,
        to: Dest,
        payload: P,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(local) = self.locals.get(&key) else {
            return;
        };
        let Some(view) = &local.view else { return };
        let recipients: Vec<MemberId> = match to {
            Dest::View => view.members.clone(),
            Dest::Member(m) => {
                if view.members.binary_search(&m).is_ok() {
                    vec![m]
                } else {
                    vec![]
                }
            }
        };
        let from = local.id.clone();
        let mut by_node: BTreeMap<NodeId, Vec<MemberId>> = BTreeMap::new();
        for m in recipients {
            by_node.entry(m.node).or_default().push(m);
        }
        for (node, to) in by_node {
            let msg = MemberMsg {
                from: from.clone(),
                to,
                payload: payload.clone(),
            };
            if node == self.me {
                self.deliver_member_msg(msg, out);
            } else if let Some(link) = self.links.get_mut(&node) {
                if self.view.members.get(&node) == Some(&to_inc(&msg)) {
                    link.push(LinkMsg::Member(msg));
                    self.flush_at.get_or_insert(now + FLUSH_DELAY);
                }
            }
        }
    }

    fn deliver_member_msg(&mut self, msg: MemberMsg<P>, out: &mut Vec<Output<P>>) {
        for (key, local) in &self.locals {
            if !msg.to.contains(&local.id) {
                continue;
            }
            let knows_sender = mutated!(self, SkipGhostFilter)
                || local
                    .view
                    .as_ref()
                    .is_some_and(|v| v.members.binary_search(&msg.from).is_ok());
            if knows_sender {
                out.push(Output::Deliver {
                    key: *key,
                    event: Event::Message {
                        from: msg.from.clone(),
                        payload: msg.payload.clone(),
                    },
                });
            } else {
                self.stats.ghost_dropped += 1;
            }
        }
    }

    // ----- links -----

    fn take_ack(&mut self, node: NodeId) -> Option<LinkAck> {
        let link = self.links.get_mut(&node)?;
        link.ack_sent();
        link.ack()
    }

    fn flush_links(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let rto = self.cfg.retransmit_timeout();
        let ack_delay = self.cfg.ack_delay();
        let from_inc = self.durable.incarnation;
        let flush = self.flush_at.is_some_and(|t| now >= t);
        if flush {
            self.flush_at = None;
        }
        let retransmits_beat = mutated!(self, RetransmitsAsHeartbeats);
        for (node, link) in self.links.iter_mut() {
            let Some(to_inc) = self.view.members.get(node).copied() else {
                continue;
            };
            let fresh = if flush { link.take_new(now) } else { None };
            // Only fresh data stands in for a heartbeat: retransmissions come
            // at the retransmission timeout, slower than heartbeats, and
            // would thin out the very packets that prove we are alive.
            let fresh_sent = fresh.is_some();
            let data = fresh.or_else(|| link.take_retransmit(now, rto));
            if fresh_sent || (retransmits_beat && data.is_some()) {
                self.data_sent_at.insert(*node, now);
            }
            if let Some(data) = data {
                let ack = link.ack();
                link.ack_sent();
                out.push(Output::Send {
                    to: *node,
                    packet: Packet {
                        from_inc,
                        body: Body::Data { to_inc, data, ack },
                    },
                });
            } else if link.ack_due_at(ack_delay).is_some_and(|t| now >= t) {
                if let Some(ack) = link.ack() {
                    out.push(Output::Send {
                        to: *node,
                        packet: Packet {
                            from_inc,
                            body: Body::Ack { to_inc, ack },
                        },
                    });
                }
                link.ack_sent();
            }
        }
    }
}

/// Keeps in `states` the newer of its state for `node` and `state`; says
/// whether `state` was kept.
fn keep_newest(states: &mut BTreeMap<NodeId, LocalState>, node: NodeId, state: LocalState) -> bool {
    if states
        .get(&node)
        .is_some_and(|s| s.version >= state.version)
    {
        return false;
    }
    states.insert(node, state);
    true
}

fn to_inc<P>(msg: &MemberMsg<P>) -> Incarnation {
    msg.to[0].node_incarnation
}
