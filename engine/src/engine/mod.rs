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
//!   Leaders probe outside their view once per probe interval, a few nodes
//!   a round (see `probe_targets`); when two views meet, the lower leader
//!   installs their union (a merge).
//! - **Group views.** Each node reports its local registrations (and the
//!   reasons of recent departures) to its leader; the leader alone issues
//!   group views, so one view id always comes with one member list.
//! - **Messages** between members travel on reliable FIFO links
//!   ([`crate::link`]) and are delivered only to a receiver whose current
//!   group view holds the sender.
//!
//! By concern: `node_views.rs` (liveness, gathers, installs, merges),
//! `group_views.rs` (registrations, departures, the views the leader
//! issues), `delivery.rs` (member messages and the links), `wire.rs` (the
//! packets and how one is taken in). This file holds the types every
//! driver sees and the one entry point, [`Engine::step`].
//!
//! Invariants kept here, and asserted where they are cheap:
//! - A view id is issued once, by one leader, with one member list
//!   ([`crate::ids::ViewId`] explains why ids never collide).
//! - A local member is only ever handed a group view that contains it, with
//!   an id above the last one it was handed.
//! - No message is delivered to a member whose current view lacks its sender.

use crate::ids::{Dur, Incarnation, LeaveReason, MemberId, Name, NodeId, Time, ViewId};
use crate::link::{Link, LinkAck, LinkData};
use crate::probe;
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

mod delivery;
mod filed;
mod group_views;
mod heard;
mod node_views;
mod ordered;
mod stop;
mod wire;

use group_views::keep_newest;

pub use ordered::{OrderLog, OrderedMsg, Submission};
pub use wire::{Body, LinkMsg, LocalState, MemberMsg, Packet, Recipients};

/// Most departures a node remembers, so that a leader can tell why a member
/// left after a leader change. Oldest are forgotten first.
pub const DEPARTED_MAX: usize = 1024;
/// How long messages queued on links wait for company before they are sent:
/// everything queued within this window travels in one packet per peer.
pub const FLUSH_DELAY: Dur = Dur(0);

/// For how many probe rounds a node that left a probe unanswered is passed
/// over as "the lowest node that answers".
pub const PROBE_SILENCE_KEPT: u32 = 8;

/// Most local registrations one engine serves at once.
pub const LOCAL_MEMBERS_MAX: usize = 4096;

/// The settings every engine of a cluster shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hash)]
pub struct Config {
    /// Cluster size: the nodes are `n0 .. n{nodes-1}`.
    pub nodes: u16,
    pub heartbeat_interval: Dur,
    pub failure_timeout: Dur,
    /// The longest one-way latency the network normally shows; sets the
    /// retransmission timeout and the gather window.
    pub latency_max: Dur,
    /// A primary component (off: `None`). See [`Quorum`].
    #[serde(default)]
    pub quorum: Option<Quorum>,
}

/// A primary component, as Corosync's votequorum keeps one: each node has
/// votes, and a node view is *primary* when its members hold a majority of
/// all the votes configured (`expected`), so at most one side of any
/// partition is primary. The leader that issues a group view says whether
/// its node view is primary ([`GroupView::primary`], handed on in every
/// [`MembershipChange`]); a protocol that must not decide on a minority
/// (two-phase commit) decides only in a primary view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Quorum {
    /// Votes per node, `n0` first.
    pub votes: Vec<u32>,
    /// Votequorum's `wait_for_all`: no view is primary until every node
    /// has been in one view at least once (so two halves that boot apart
    /// do not both start work); a node learns that it happened from the
    /// leader that saw it, or from any node that did, in its install ack.
    pub wait_for_all: bool,
}

impl Quorum {
    /// One vote per node, without `wait_for_all`.
    pub fn majority(nodes: u16) -> Quorum {
        Quorum {
            votes: vec![1; usize::from(nodes)],
            wait_for_all: false,
        }
    }

    /// Every vote configured (votequorum's expected votes).
    pub fn expected(&self) -> u64 {
        self.votes.iter().map(|v| u64::from(*v)).sum()
    }

    /// The votes a primary view needs: more than half of [`Quorum::expected`].
    pub fn needed(&self) -> u64 {
        self.expected() / 2 + 1
    }

    /// The votes of these nodes.
    pub fn votes_of<'a>(&self, nodes: impl IntoIterator<Item = &'a NodeId>) -> u64 {
        nodes
            .into_iter()
            .map(|n| u64::from(self.votes.get(usize::from(n.0)).copied().unwrap_or(0)))
            .sum()
    }
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Durable {
    pub incarnation: Incarnation,
    /// The highest view id this node has issued or seen.
    pub max_view: ViewId,
    /// `max_view` is the clock's guess of a blank disk's boot, not yet
    /// checked against a peer's ids (see `Engine::floor_unsure_until`): a
    /// node that crashes before it learns them boots from this disk holding
    /// its views again, as it did from the blank one. (Absent in a disk
    /// file written before it: sure.)
    #[serde(default)]
    pub floor_unsure: bool,
}

impl Durable {
    /// What a node boots with, from what its disk holds and the time on its
    /// clock.
    ///
    /// A disk that holds nothing (`None`: it was lost, or wiped) cannot say
    /// how many lives the node had or which view ids it saw, so the clock
    /// stands in for it, as Cassandra's gossip takes a node's boot time for
    /// its generation: the incarnation is the boot time in microseconds
    /// (plus one), and the node issues no view id below the boot time in
    /// microseconds times the cluster size. A node's clock runs on across
    /// crashes and never steps back (a machine's clock is not on its data
    /// disk), and a life lasts at least a microsecond, so the incarnation
    /// is above every earlier one; and since every view id a cluster issues
    /// is at most the cluster size above the highest it had issued, the
    /// floor is above every id issued before, unless the cluster issued
    /// more than one view per microsecond since its start, which no
    /// exchange of packets can do, or another node's clock ran ahead of
    /// this one's (its own floor from the clock was higher). For that
    /// case the engine does not hand its members views from this floor
    /// until it knows its peers' ids: see `Engine::floor_unsure_until`.
    /// Still open: ids this node issued alone before it lost its disk,
    /// known to no peer, are above both that floor and its peers' ids when
    /// a clock ran ahead, and it may issue one of them again (README,
    /// `lost-disk-skew.toml --swarm` seed 199).
    /// (A real node started without its disk file boots so, its first
    /// boot included.)
    pub fn boot(disk: Option<Durable>, now: Time, nodes: u16) -> Durable {
        let blank = disk.is_none();
        let last = disk.unwrap_or_else(|| Durable::from_clock(now, nodes));
        Durable {
            incarnation: Incarnation(last.incarnation.0 + 1),
            max_view: last.max_view,
            floor_unsure: blank || last.floor_unsure,
        }
    }

    /// What a clock reading `now` stands in for, on a disk that holds
    /// nothing: the life before this one had an incarnation no higher than
    /// `now` in microseconds, and saw no view id above that times `nodes`
    /// (see [`Durable::boot`]). A real node without its disk file reads
    /// the host's clock since the Unix epoch for it.
    pub fn from_clock(now: Time, nodes: u16) -> Durable {
        let us = now.0 / 1_000;
        Durable {
            incarnation: Incarnation(us),
            max_view: ViewId(us.saturating_mul(u64::from(nodes))),
            floor_unsure: false,
        }
    }
}

/// The local handle of a job's registration; chosen by the driver, unique
/// within one engine's life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalKey(pub u64);

/// Where a member's message goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// One member, which must be in the sender's current view.
    Member(MemberId),
    /// Every member of the sender's current view, the sender included.
    View,
    /// Every member of the sender's group, the sender included, in the
    /// group's one order, shared with its views (see `ordered.rs`): it
    /// arrives as [`Event::Ordered`], in the view it was numbered in.
    Ordered,
}

/// Everything that can happen to an engine.
#[derive(Clone, Debug, Hash)]
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
    /// The node is being stopped (Corosync's `service corosync stop`):
    /// the engine waits, until `by` at the latest, for its jobs to leave
    /// (their unregistrations acknowledged by its leader), then tells
    /// every node of its view it is leaving and takes no more inputs, so
    /// the survivors drop it at once instead of after the failure
    /// timeout. The driver takes the node down after `by`.
    Stop {
        by: Time,
    },
}

/// Everything an engine asks its driver to do or report.
#[derive(Clone, Debug, Hash)]
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
    /// This engine took the rare path named (a [`crate::probe`]).
    Probe(&'static str),
}

/// What a job's main thread receives from its engine.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Event<P> {
    /// The registration was accepted under this identity.
    Registered { me: MemberId },
    /// A membership change: this member installed a new group view. Boxed:
    /// it is large and rare, and an event moves through queues.
    View(Box<MembershipChange>),
    /// A message from another member (or from itself, for view sends).
    /// `n` is the sending engine's number for the send: a member takes
    /// each `(from, n)` at most once, whatever the network duplicates.
    Message { from: MemberId, n: u64, payload: P },
    /// An ordered message of the group: every member of view `view` takes
    /// the view's messages in the same order, `seq` 1, 2, ..., and members
    /// that install the same next view took the same ones before it.
    /// `view` is the member's view as it was told of it: a new view id
    /// with the same members (which brings no membership change) goes on
    /// with its numbers.
    Ordered {
        from: MemberId,
        view: ViewId,
        seq: u64,
        payload: P,
    },
}

/// A membership change as one member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
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
    /// Members of the observer's previous view and of this one that came
    /// to this one from another view of the group (as far as the leader
    /// that issued it knew): they were apart from the observer meanwhile
    /// (a side of a partition of their own, or a view it missed), so what
    /// it sent in its previous view may never have reached them, as for a
    /// member that joined. Sorted; left out of the encoding when empty, so
    /// that a run without any encodes as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejoined: Vec<MemberId>,
    /// Whether this view is primary ([`Quorum`]): `None` when the cluster
    /// keeps no quorum. A member whose view stops being primary gets a
    /// change that says so, even if no member joined or left.
    #[serde(default)]
    pub primary: Option<bool>,
}

/// A node view: who is in the cluster, as one leader decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct NodeView {
    pub id: ViewId,
    /// Shared, not copied: a view goes to every member in its install and
    /// is kept by each, and a cluster of n nodes must not pay n² for that.
    pub members: Arc<BTreeMap<NodeId, Incarnation>>,
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

/// A primary group view a node installed, and the nodes of its members
/// that the node's current node view no longer holds. Members there may
/// still hold that view, primary, until they learn of the split (within
/// [`Config::notify_bound`]); until then a leader must not call a view of
/// the group primary that has none of its members, or the two sides of a
/// partition both hold a primary view. See `Engine::primary_for`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct LeftPrimary {
    pub view: GroupView,
    /// The nodes of `view`'s members outside this node's view.
    pub behind: BTreeSet<NodeId>,
    /// When the last of `behind` fell out of this node's view.
    pub since: Time,
}

/// A node view with a majority of the votes that a node was in, and the
/// nodes of it that the node's current view no longer holds. Its leader may
/// have issued primary group views in it that this node never got (it
/// moved on first), so [`LeftPrimary`] alone does not cover it: a leader
/// keeps a group view non-primary while a node reports one of these and
/// the view has no member on the nodes the two views share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct LeftMajority {
    pub view: ViewId,
    pub nodes: BTreeSet<NodeId>,
    pub behind: BTreeSet<NodeId>,
    pub since: Time,
}

/// A group view as the leader issues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct GroupView {
    pub group: Name,
    pub id: ViewId,
    /// The node view of the leader that issued it.
    pub node_view: ViewId,
    /// Sorted; shared, since every member's engine keeps the view and
    /// every message sent to the view reads it.
    pub members: Arc<Vec<MemberId>>,
    /// Why members that the leader knows of left (others: `node-down`).
    pub reasons: Vec<(MemberId, LeaveReason)>,
    /// Whether the leader's node view was primary when it issued this
    /// ([`Quorum`]); `None` without a quorum.
    #[serde(default)]
    pub primary: Option<bool>,
    /// The view of the group this one follows at the leader that issued
    /// it (`None`: the first). A member that holds it and finds the same
    /// members here gets no membership change.
    #[serde(default)]
    pub prev: Option<ViewId>,
    /// How far ordered messages in `prev` were numbered as far as its
    /// issuer knew: a node that holds `prev` and took more than that went
    /// on in it after this view was issued, and must not take this one's
    /// messages too.
    #[serde(default)]
    pub prev_upto: u64,
    /// Issued by a leader that took the view it follows over from the
    /// leader that issued that one: its ordered messages are numbered
    /// afresh, so a member is told of it (a membership change naming no
    /// one) even if its members are those of the view it follows.
    #[serde(default)]
    pub renumbers: bool,
    /// The members whose node held, as far as the issuer knew, a view of
    /// the group other than `prev` (`None`: no view of it), sorted: a
    /// member that held another view than its own previous one is told
    /// they `rejoined` ([`MembershipChange::rejoined`]).
    #[serde(default)]
    pub held: Vec<(MemberId, Option<ViewId>)>,
}

#[derive(Clone, Debug, Hash)]
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

#[derive(Clone, Debug, Hash)]
struct Installing<P> {
    view: NodeView,
    acks: BTreeMap<NodeId, LocalState<P>>,
    /// States that came over the link from members that have not acked yet:
    /// newer than an ack they sent before them, which may still arrive.
    early: BTreeMap<NodeId, LocalState<P>>,
    deadline: Time,
    resend_at: Time,
}

#[derive(Clone, Debug, Hash)]
struct Local {
    id: MemberId,
    group: Name,
    /// The last group view handed to this member.
    view: Option<GroupView>,
    /// The last view it was told of as a membership change (a new view
    /// with the same members and primacy is not one), and the ordered
    /// messages it took there: the numbers it sees run on across views it
    /// was not told of (see `ordered.rs`).
    seen: ViewId,
    taken: u64,
    /// Where the current view's numbers start in `seen`'s.
    offset: u64,
}

/// Counters a driver may report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EngineStats {
    pub ghost_dropped: u64,
    pub link_overflow: u64,
}

/// A link to a peer, and where the engine has it filed: in
/// [`Engine::unsent`] and at which time in [`Engine::link_due`] (the
/// entries of those indexes that stand, see [`filed`]). Kept with the link
/// so that refiling it looks up one map, not three.
#[derive(Clone, Debug, Hash)]
struct Peer<P> {
    link: Link<LinkMsg<P>>,
    unsent: bool,
    due: Option<Time>,
}

impl<P> Peer<P> {
    /// A link not filed anywhere yet (see [`Engine::link_changed`]).
    fn new(link: Link<LinkMsg<P>>) -> Self {
        Peer {
            link,
            unsent: false,
            due: None,
        }
    }
}

/// The cluster engine of one node.
#[derive(Clone, Debug, Hash)]
pub struct Engine<P> {
    cfg: Config,
    me: NodeId,
    durable: Durable,
    view: NodeView,
    phase: Phase,
    leader_heard: Time,
    heard: heard::Heard,
    /// When the engine last stepped: a step long after it means this node
    /// was away (see `was_away`).
    last_step: Time,
    next_heartbeat: Time,
    next_probe: Time,
    /// Who was probed in the last round and has not answered yet.
    probed: BTreeSet<NodeId>,
    /// Who left a probe unanswered, and when that was noticed (forgotten
    /// after [`PROBE_SILENCE_KEPT`] rounds).
    probe_silent: BTreeMap<NodeId, Time>,
    /// Walks the nodes outside the view, one a round.
    probe_cursor: usize,
    /// A lower leader probed us recently: leave merging to it until then.
    defer_merge_until: Time,
    installing: Option<Installing<P>>,
    merge: BTreeMap<NodeId, Incarnation>,
    merge_at: Option<Time>,
    /// Leader only: the last state each member node reported.
    states: BTreeMap<NodeId, LocalState<P>>,
    /// Leader only: the last view issued (or adopted) per group.
    groups: BTreeMap<Name, GroupView>,
    locals: BTreeMap<LocalKey, Local>,
    registrations: u32,
    /// The version of the last local state snapshot (see [`LocalState`]).
    state_version: u64,
    departed: VecDeque<(Name, MemberId, LeaveReason)>,
    installed: BTreeMap<Name, GroupView>,
    links: BTreeMap<NodeId, Peer<P>>,
    /// The links with messages not sent yet: they go at the next flush.
    unsent: filed::Unsent,
    /// When each link next needs a resend or a standalone ack, earliest
    /// first: a step looks only at the links due, so that neither it nor
    /// [`Engine::poll_timeout`] grows with the number of peers. Kept by
    /// [`Engine::link_changed`] after whatever changes a link; each link
    /// knows where it is filed ([`Peer`]).
    link_due: filed::Due,
    /// The links a flush works through (empty between steps).
    flush_todo: filed::Scratch,
    /// Links of peers outside the view, by the incarnation they had: at
    /// most one per node of the cluster.
    parked: BTreeMap<NodeId, (Incarnation, Link<LinkMsg<P>>)>,
    link_session: u64,
    /// When messages queued on links go out (see [`FLUSH_DELAY`]).
    flush_at: Option<Time>,
    /// When each peer last got fresh link data from us; it doubles as a heartbeat.
    data_sent_at: BTreeMap<NodeId, Time>,
    /// This node knows that every node was once in one view (or quorum
    /// does not wait for that): see [`Quorum::wait_for_all`].
    quorate_once: bool,
    /// What this node delivered of each group's ordered messages in its
    /// current group view (see `ordered.rs`).
    order_logs: BTreeMap<Name, OrderLog<P>>,
    /// How far it last told its leader it delivered, by group.
    delivered_reported: BTreeMap<Name, (ViewId, u64)>,
    /// Its own members' ordered messages not delivered back yet.
    pending_submits: BTreeMap<(MemberId, u64), Submission<P>>,
    /// The highest submission number delivered here from each sender.
    ordered_high: BTreeMap<MemberId, u64>,
    next_submission: u64,
    /// [`Input::Stop`]: stop by then.
    stopping: Option<Time>,
    /// It stopped: it takes no more inputs.
    stopped: bool,
    /// How many member messages this engine sent: each send's number.
    member_msgs_sent: u64,
    /// A buffer for the messages a data packet makes deliverable, reused.
    delivered: Vec<LinkMsg<P>>,
    /// Leader only: submissions that came during an install.
    held_submits: Vec<Submission<P>>,
    /// Group views and ordered messages that came over a link ahead of
    /// the node view or group view they belong to (see
    /// `Engine::hold_early`), at most [`ordered::EARLY_LINK_MAX`].
    early: Vec<(NodeId, LinkMsg<P>)>,
    /// The first of the node views this node installed in a row under its
    /// current node view's leader: a group view that leader issued in one
    /// of them may still come late and be taken; one from before it may
    /// not (another leader's install came between, and what this node
    /// took then superseded it).
    same_leader_since: ViewId,
    /// The group view of each group this node's log was in when it last
    /// took an install from its leader (the state it acked with counted
    /// what it took of them), and whether a message of it sent before an
    /// install was dropped since it entered that view (a drop stands at
    /// the next install while the node is still in the view): the
    /// install's flush brings the rest of those views, so such a message
    /// is not taken, and then neither is a newer view sent before the
    /// install (see `Engine::on_ordered`).
    acked_views: BTreeMap<Name, (ViewId, bool)>,
    /// Leader only: numbering each group's current view.
    sequencers: BTreeMap<Name, ordered::Sequencer<P>>,
    /// Leader only: the last view of each group it issued, which it alone
    /// numbers in. A view another leader issued is not kept across an
    /// install (see `recompute_groups`).
    issued: BTreeMap<Name, ViewId>,
    /// Leader only: the highest submission number taken from each sender.
    submit_high: BTreeMap<MemberId, u64>,
    /// The last primary view of each group this node installed, and the
    /// older ones it left members of behind lately (see [`LeftPrimary`]).
    /// Its size: one entry per group, plus one per primary view left
    /// behind within the last notification bound (`expire_left_behind`
    /// drops the rest); only a view change adds one, so it stays small
    /// (a test in `engine/src/tests.rs` holds it to that under churn).
    left_primary: BTreeMap<(Name, ViewId), LeftPrimary>,
    /// The last node view with a majority of the votes this node was in,
    /// and older ones it left nodes of behind lately (see [`LeftMajority`]).
    /// Bounded like `left_primary`: one current entry, plus one per
    /// majority view left within the last notification bound.
    left_majority: BTreeMap<ViewId, LeftMajority>,
    /// Restarted: until then its vote makes no view primary that lacks a
    /// node. Its old life may have been in a majority view whose other
    /// members still hold it (they learn of the crash within
    /// [`Config::notify_bound`]), and what it knew of that view is lost.
    vote_held_until: Option<Time>,
    /// Booted from a blank disk: until a view with a peer, or this time,
    /// the node's floor of view ids is its clock's guess, and it issues
    /// its members no group view.
    floor_unsure_until: Option<Time>,
    /// Leader only: it issued a primary view (for a broken variant).
    #[cfg(any(test, feature = "mutations"))]
    led_primary: bool,
    stats: EngineStats,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
}

impl<P: Clone> Engine<P> {
    /// Boots an engine. `disk` is what it persisted in its previous life
    /// (`Some(Durable::default())` on the first boot of a new cluster's
    /// node, as etcd's `initial-cluster-state=new`), or `None` when its
    /// disk holds nothing, lost with its data (see [`Durable::boot`]); the
    /// engine starts a new incarnation alone in its own view, and probes
    /// the cluster at once.
    pub fn new(
        cfg: Config,
        me: NodeId,
        disk: Option<Durable>,
        now: Time,
        out: &mut Vec<Output<P>>,
    ) -> Engine<P> {
        let mut engine = Engine::unbooted(cfg, me, disk, now);
        engine.install_singleton(now, out);
        engine
    }

    /// [`Engine::new`], running a deliberately broken variant from its
    /// boot on (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn new_mutated(
        cfg: Config,
        me: NodeId,
        disk: Option<Durable>,
        now: Time,
        out: &mut Vec<Output<P>>,
        mutation: crate::Mutation,
    ) -> Engine<P> {
        let nodes = cfg.nodes;
        let mut engine = Engine::unbooted(cfg, me, disk, now);
        engine.mutation = Some(mutation);
        if mutation == crate::Mutation::BlankHoldForgotten && disk.is_some() {
            // The bug: only a blank disk holds; a disk written during a
            // hold is trusted.
            engine.durable.floor_unsure = false;
            engine.floor_unsure_until = None;
        }
        if mutation == crate::Mutation::BlankDiskTrusted {
            // A lost disk counts from zero again, as a new node's.
            engine.durable = Durable::boot(disk.or(Some(Durable::default())), now, nodes);
            engine.floor_unsure_until = None;
        }
        engine.install_singleton(now, out);
        engine
    }

    fn unbooted(cfg: Config, me: NodeId, disk: Option<Durable>, now: Time) -> Engine<P> {
        assert!(
            cfg.nodes > 0 && me.0 < cfg.nodes,
            "node {me} outside a cluster of {}",
            cfg.nodes
        );
        assert!(cfg.failure_timeout > cfg.heartbeat_interval);
        let durable = Durable::boot(disk, now, cfg.nodes);
        Engine {
            me,
            durable,
            view: NodeView {
                id: ViewId(0),
                members: Arc::default(),
            },
            phase: Phase::Normal,
            leader_heard: now,
            heard: heard::Heard::default(),
            last_step: now,
            next_heartbeat: now,
            next_probe: now,
            probed: BTreeSet::new(),
            probe_silent: BTreeMap::new(),
            probe_cursor: 0,
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
            unsent: filed::Unsent::default(),
            link_due: filed::Due::default(),
            flush_todo: filed::Scratch::default(),
            parked: BTreeMap::new(),
            link_session: 0,
            flush_at: None,
            data_sent_at: BTreeMap::new(),
            quorate_once: false,
            order_logs: BTreeMap::new(),
            delivered_reported: BTreeMap::new(),
            pending_submits: BTreeMap::new(),
            ordered_high: BTreeMap::new(),
            next_submission: 0,
            stopping: None,
            stopped: false,
            member_msgs_sent: 0,
            delivered: Vec::new(),
            held_submits: Vec::new(),
            early: Vec::new(),
            same_leader_since: ViewId(0),
            acked_views: BTreeMap::new(),
            sequencers: BTreeMap::new(),
            issued: BTreeMap::new(),
            submit_high: BTreeMap::new(),
            left_primary: BTreeMap::new(),
            left_majority: BTreeMap::new(),
            floor_unsure_until: durable.floor_unsure.then(|| now + cfg.failure_timeout),
            vote_held_until: (durable.incarnation.0 > 0 && cfg.quorum.is_some())
                .then(|| now + cfg.notify_bound()),
            #[cfg(any(test, feature = "mutations"))]
            led_primary: false,
            stats: EngineStats::default(),
            cfg,
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
        }
    }

    /// Runs a deliberately broken variant from now on (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn mutate(&mut self, mutation: crate::Mutation) {
        self.mutation = Some(mutation);
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

    /// How many views `left_primary` and `left_majority` hold (a test of
    /// their bound).
    #[cfg(test)]
    pub(crate) fn left_behind_len(&self) -> (usize, usize) {
        (self.left_primary.len(), self.left_majority.len())
    }

    /// The other nodes of this node's view.
    pub(super) fn peers(&self) -> Vec<NodeId> {
        self.view
            .members
            .keys()
            .copied()
            .filter(|n| *n != self.me)
            .collect()
    }

    pub fn is_leader(&self) -> bool {
        self.view.leader() == self.me && matches!(self.phase, Phase::Normal)
    }

    /// Panics unless every link is filed where it says it is, and where
    /// what it holds calls for: in [`Engine::unsent`] exactly when it has
    /// messages not sent yet, in [`Engine::link_due`] at its next resend or
    /// standalone ack, and no index names a node without a link. Holds
    /// between steps; the engine tests check it after every step.
    #[cfg(test)]
    pub(crate) fn assert_links_filed(&self) {
        let (rto, ack_delay) = (self.cfg.retransmit_timeout(), self.cfg.ack_delay());
        for (node, peer) in &self.links {
            let link = &peer.link;
            assert_eq!(
                (peer.unsent, peer.due),
                (link.has_unsent(), link.due_at(rto, ack_delay)),
                "{}: the link to {node} is filed under what it no longer holds",
                self.me
            );
            if peer.unsent {
                assert!(self.unsent.names(*node), "{}: unsent {node}", self.me);
            }
            if let Some(due) = peer.due {
                assert!(self.link_due.names(due, *node), "{}: due {node}", self.me);
            }
        }
        if let Some((due, node)) = self.link_due.peek() {
            assert_eq!(
                self.links.get(&node).and_then(|p| p.due),
                Some(due),
                "{}: the first due entry does not stand",
                self.me
            );
        }
    }

    pub fn stats(&self) -> EngineStats {
        let overflow = self.links.values().map(|p| p.link.dropped_overflow).sum();
        EngineStats {
            link_overflow: overflow,
            ..self.stats
        }
    }

    /// The one entry point: feed an input, collect outputs.
    pub fn step(&mut self, now: Time, input: Input<P>, out: &mut Vec<Output<P>>) {
        if self.stopped {
            return;
        }
        self.was_away(now, out);
        match input {
            Input::Tick => {}
            Input::Packet { from, packet } => self.on_packet(now, from, packet, out),
            Input::Register { key, job, group } => self.on_register(now, key, job, group, out),
            Input::Unregister { key, reason } => self.on_departure(now, key, reason, out),
            Input::Closed { key } => self.on_departure(now, key, LeaveReason::JobLost, out),
            Input::Send { key, to, payload } => self.on_send(now, key, to, payload, out),
            Input::Stop { by } => self.stopping = Some(self.stopping.map_or(by, |b| b.min(by))),
        }
        if self.try_stop(now, out) {
            return;
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
        if self.stopped {
            return Time(u64::MAX);
        }
        let mut t = self.next_heartbeat;
        if let Some(by) = self.stopping {
            t = t.min(by);
        }
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
                        // The longest silent of those that have not acked.
                        if let Some((h, _)) = self
                            .heard
                            .by_time()
                            .find(|(_, n)| !inst.acks.contains_key(n))
                        {
                            at(h + self.cfg.failure_timeout + Dur(1));
                        }
                    } else {
                        at(self.next_probe);
                        if let Some((h, _)) = self.heard.by_time().next() {
                            at(h + self.cfg.failure_timeout + Dur(1));
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
        for left in self.left_primary.values().filter(|l| !l.behind.is_empty()) {
            at(left.since + self.cfg.notify_bound());
        }
        for left in self.left_majority.values().filter(|l| !l.behind.is_empty()) {
            at(left.since + self.cfg.notify_bound());
        }
        if let Some(until) = self.vote_held_until {
            at(until);
        }
        if let Some(until) = self.floor_unsure_until {
            at(until);
        }
        if let Some(f) = self.flush_at {
            at(f);
        }
        if let Some((due, _)) = self.link_due.peek() {
            at(due);
        }
        t
    }

    // ----- node views -----
}
