//! Ordered messages (the "ordered message" cluster of US 6,823,512): every
//! member of a group receives the group's ordered messages in one order,
//! and views and ordered messages share that order (view synchrony).
//!
//! How:
//! - **One sequencer.** The leader of the node view, which alone issues
//!   group views, also numbers every group's ordered messages: a member's
//!   engine sends its [`Submission`] to the leader, which gives it the next
//!   number of the group's current view and sends it ([`OrderedMsg`]) to
//!   every node with a member in that view, on the same FIFO links that
//!   carry its group views. So every node takes views and messages in the
//!   leader's one order, and holds a prefix of the same sequence.
//! - **A flush at every leader change.** Each node keeps what it has
//!   delivered in its current group view and not yet known to be stable
//!   ([`OrderLog`]), and its install ack carries it. Before the leader that
//!   completes an install issues any group view, it sends each node the
//!   messages of its view that another node delivered and it did not. So
//!   members that install the same two views in a row delivered the same
//!   messages between them, and a message is only ever delivered in the
//!   view it was numbered in, which holds its sender.
//! - **Resubmission.** A node keeps its own members' submissions until it
//!   delivers them; after every install it sends the ones still pending to
//!   the (new) leader, which drops those it has numbered already (each
//!   engine numbers its submissions, and a leader learns the highest
//!   number of each sender from the messages it numbers or flushes).
//! - **Stability.** Each node tells its leader, once a heartbeat interval,
//!   how far it has delivered; the leader sends the minimum over the view's
//!   nodes with every message, and nodes forget what everybody has.

use super::*;

/// Most senders whose highest delivered submission a node remembers.
pub const ORDERED_SENDERS_KEPT: usize = 4096;

/// Most link messages a node holds that came ahead of their view (see
/// `Engine::hold_early`).
pub const EARLY_LINK_MAX: usize = 4096;

/// Most views a node keeps the undelivered-elsewhere tail of, per group,
/// after it left them (see [`OrderLog::left`]).
pub const ORDERED_TAILS_KEPT: usize = 8;

/// An ordered message, numbered by the sequencer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hash)]
pub struct OrderedMsg<P> {
    pub group: Name,
    /// The group view it was numbered in.
    pub view: ViewId,
    /// Its place in that view: 1, 2, ...
    pub seq: u64,
    pub from: MemberId,
    /// The sender's engine's number for the submission.
    pub id: u64,
    pub payload: P,
}

/// A member's ordered message on its way to the sequencer.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub struct Submission<P> {
    pub group: Name,
    pub from: MemberId,
    pub id: u64,
    pub payload: P,
}

/// What a node delivered of a group's ordered messages in its current
/// group view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hash)]
pub struct OrderLog<P> {
    pub view: ViewId,
    /// The last `seq` delivered (0: none yet).
    pub delivered: u64,
    /// The delivered messages not known to be stable, oldest first.
    pub unstable: Vec<OrderedMsg<P>>,
    /// The same for the group views this node left while messages of
    /// theirs were not known to be stable, oldest first, at most
    /// [`ORDERED_TAILS_KEPT`]. A node behind in such a view may still be
    /// at its end when a new leader's install resets the links: that
    /// leader's flush brings it the rest from here (ordered-random-faults
    /// seed 54: the leader went on to a new group view with the old
    /// view's last messages still in flight to a node under loss; a
    /// restarted node took over, and the behind node took the new view
    /// without them). Dropped once the current view's messages are stable
    /// somewhere past 0: every node with a member in it took it, after
    /// the view before (the leader's FIFO link, or a flush that had these).
    pub left: Vec<OrderTail<P>>,
}

/// What a node delivered of a group view it left, and does not know to be
/// stable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hash)]
pub struct OrderTail<P> {
    pub view: ViewId,
    pub delivered: u64,
    pub unstable: Vec<OrderedMsg<P>>,
}

impl<P> OrderLog<P> {
    /// Its current view and the views it left, as (view, delivered,
    /// unstable).
    fn views(&self) -> impl Iterator<Item = (ViewId, u64, &[OrderedMsg<P>])> {
        std::iter::once((self.view, self.delivered, self.unstable.as_slice())).chain(
            self.left
                .iter()
                .map(|t| (t.view, t.delivered, t.unstable.as_slice())),
        )
    }
}

/// Leader only: numbering one group's current view.
#[derive(Clone, Debug, Hash)]
pub(super) struct Sequencer<P> {
    view: ViewId,
    next: u64,
    /// How far each node with a member has delivered in this view.
    delivered: BTreeMap<NodeId, u64>,
    /// What it numbered that is not known to be stable, oldest first: a
    /// node that gets the view late gets these too.
    numbered: Vec<OrderedMsg<P>>,
}

impl<P> Sequencer<P> {
    fn new(view: ViewId, next: u64) -> Sequencer<P> {
        Sequencer {
            view,
            next,
            delivered: BTreeMap::new(),
            numbered: Vec::new(),
        }
    }
}

impl<P: Clone> Engine<P> {
    /// A local member sends an ordered message to its group.
    pub(super) fn submit(
        &mut self,
        now: Time,
        key: LocalKey,
        payload: P,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(local) = self.locals.get(&key) else {
            return;
        };
        if local.view.is_none() {
            return;
        }
        self.next_submission += 1;
        let s = Submission {
            group: local.group.clone(),
            from: local.id.clone(),
            id: self.next_submission,
            payload,
        };
        self.pending_submits
            .insert((s.from.clone(), s.id), s.clone());
        self.route_submission(now, s, out);
    }

    /// Sends a submission to the leader, or numbers it if that is us.
    fn route_submission(&mut self, now: Time, s: Submission<P>, out: &mut Vec<Output<P>>) {
        if !matches!(self.phase, Phase::Normal) {
            return; // sent again after the install that ends this
        }
        let leader = self.view.leader();
        if leader == self.me {
            self.on_submission(now, s, out);
        } else {
            self.queue(now, leader, LinkMsg::Submit(s));
        }
    }

    /// After an install: every own submission not delivered yet goes
    /// (again) to the leader.
    pub(super) fn resubmit(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let pending: Vec<Submission<P>> = self.pending_submits.values().cloned().collect();
        for s in pending {
            self.route_submission(now, s, out);
        }
    }

    /// Leader: a submission came over a link.
    pub(super) fn on_submission(&mut self, now: Time, s: Submission<P>, out: &mut Vec<Output<P>>) {
        if self.view.leader() != self.me || !matches!(self.phase, Phase::Normal) {
            return; // its sender sends it again to its new leader
        }
        if self.installing.is_some() {
            self.held_submits.push(s);
        } else {
            self.sequence(now, s, out);
        }
    }

    /// Leader: numbers the submissions held during an install.
    pub(super) fn sequence_held(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        for s in std::mem::take(&mut self.held_submits) {
            self.sequence(now, s, out);
        }
    }

    /// Leader: gives `s` the next number of its group's view and sends it
    /// to every node with a member in the view.
    fn sequence(&mut self, now: Time, s: Submission<P>, out: &mut Vec<Output<P>>) {
        let Some(gv) = self.groups.get(&s.group) else {
            return;
        };
        if gv.members.binary_search(&s.from).is_err() {
            return; // its sender left: what it sent goes with it
        }
        if self.submit_high.get(&s.from).is_some_and(|h| *h >= s.id) {
            // Numbered already (a resubmission): its sender may forget it.
            if s.from.node == self.me {
                self.pending_submits.remove(&(s.from, s.id));
            } else {
                let node = s.from.node;
                self.queue(
                    now,
                    node,
                    LinkMsg::Numbered {
                        from: s.from,
                        id: s.id,
                    },
                );
            }
            return;
        }
        self.submit_high.insert(s.from.clone(), s.id);
        let view = gv.id;
        // Members sort by job first: a node with two jobs in the group
        // appears twice, apart.
        let mut nodes: Vec<NodeId> = gv.members.iter().map(|m| m.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let sq = self
            .sequencers
            .entry(s.group.clone())
            .or_insert_with(|| Sequencer::new(view, 1));
        if sq.view != view {
            *sq = Sequencer::new(view, 1);
        }
        let msg = OrderedMsg {
            group: s.group,
            view,
            seq: sq.next,
            from: s.from,
            id: s.id,
            payload: s.payload,
        };
        sq.next += 1;
        sq.numbered.push(msg.clone());
        let stable = self.stable(&msg.group, &nodes);
        if let Some(sq) = self.sequencers.get_mut(&msg.group) {
            let done = sq.numbered.partition_point(|m| m.seq <= stable);
            sq.numbered.drain(..done);
        }
        for node in nodes {
            if node == self.me {
                self.deliver_ordered(msg.clone(), stable, out);
            } else {
                self.queue_ordered(now, node, msg.clone(), stable);
            }
        }
    }

    /// Leader: the last `seq` every node of `nodes` has delivered.
    fn stable(&self, group: &Name, nodes: &[NodeId]) -> u64 {
        let Some(sq) = self.sequencers.get(group) else {
            return 0;
        };
        nodes
            .iter()
            .map(|n| {
                if *n == self.me {
                    self.order_logs
                        .get(group)
                        .filter(|l| l.view == sq.view)
                        .map_or(0, |l| l.delivered)
                } else {
                    sq.delivered.get(n).copied().unwrap_or(0)
                }
            })
            .min()
            .unwrap_or(0)
    }

    /// An ordered message from the leader.
    pub(super) fn on_ordered(
        &mut self,
        from: NodeId,
        msg: OrderedMsg<P>,
        stable: u64,
        sent_in: ViewId,
        out: &mut Vec<Output<P>>,
    ) {
        // Sent before another leader's install came between, in a lead
        // that is over for this node: what it needs of that view came
        // with the install (the new leader's flush), and the rest went on
        // in a view after it, which this node may take yet
        // (ordered-taken-over.toml, seed 954 on the event loop: n0, cut
        // off from sending, numbered on in view 55 while n1 issued view 61
        // after it; once db@n2 was in n0's view again, n0's link brought
        // it the rest of 55, and n0's catch-up then gave it 61 too). As
        // for group views (`issued_late_in_this_lead`).
        if sent_in < self.same_leader_since && !mutated!(self, TakenOverViewNumbered) {
            out.push(Output::Probe(probe::ORDERED_FROM_AN_EARLIER_LEAD));
            return;
        }
        // Sent by this same leader before the install this node took part
        // in, in the group view the node acked that install from (its
        // install packet overtook the link): the state it acked with did
        // not count it, and the install's flush, computed from those
        // states, brings each node what it should have of that view and
        // no more. Taken from the link too, it could go past where the
        // flush ends the view for others (ordered-taken-over.toml
        // --swarm, seed 205 on madsim: n0 numbered view 60 to 168 before
        // a pause; another leader closed 60 at 56; n0, back, flushed
        // db@n4 to 66, which some node had, while its link still brought
        // db@n1 the rest, to 168). The messages of a view the node took
        // after its ack are taken as they come (which leaves a gap open:
        // see ARCHITECTURE.md, ordered messages).
        let acked = (self.acked_views.get_mut(&msg.group)).filter(|(v, _)| *v == msg.view);
        if let Some((_, dropped)) = acked.filter(|_| {
            sent_in < self.view.id
                && !mutated!(self, OrderedAcrossAnInstall)
                && !mutated!(self, TakenOverViewNumbered)
                && !mutated!(self, StrictGroupViewStamp)
        }) {
            *dropped = true;
            out.push(Output::Probe(probe::ORDERED_FROM_BEFORE_AN_INSTALL));
            return;
        }
        // Numbered in a group view this node does not hold yet: its
        // leader sent that view first, on this link, but ahead of the
        // install of the node view it belongs to, so it waits too.
        let ahead = self
            .order_logs
            .get(&msg.group)
            .is_none_or(|log| log.view < msg.view);
        if ahead {
            if !mutated!(self, StrictGroupViewStamp) {
                out.push(Output::Probe(probe::HELD_AHEAD_OF_ITS_VIEW));
                self.hold_early(
                    from,
                    LinkMsg::Ordered {
                        msg,
                        stable,
                        sent_in,
                    },
                );
            }
        } else if from == self.view.leader() {
            self.deliver_ordered(msg, stable, out);
        }
    }

    /// Queues ordered message `msg` to `node`, stamped with the node view
    /// it is sent in (see `on_ordered`).
    fn queue_ordered(&mut self, now: Time, node: NodeId, msg: OrderedMsg<P>, stable: u64) {
        let sent_in = self.view.id;
        self.queue(
            now,
            node,
            LinkMsg::Ordered {
                msg,
                stable,
                sent_in,
            },
        );
    }

    /// Leader: how far ordered messages of `group` were numbered in its
    /// view `view`, as far as this node knows (its own numbering, its own
    /// log and the logs its members reported).
    pub(super) fn numbered_in(&self, group: &Name, view: ViewId) -> u64 {
        let own = self
            .sequencers
            .get(group)
            .filter(|sq| sq.view == view)
            .map_or(0, |sq| sq.next - 1);
        self.states
            .values()
            .filter_map(|s| s.ordered.get(group))
            .chain(self.order_logs.get(group))
            .flat_map(OrderLog::views)
            .filter(|(v, _, _)| *v == view)
            .map(|(_, delivered, _)| delivered)
            .fold(own, u64::max)
    }

    /// Leader: whether it numbers `group`'s view `view`: it issued it, or
    /// numbered in it, and has led since.
    pub(super) fn numbers_in(&self, group: &Name, view: ViewId) -> bool {
        self.issued.get(group) == Some(&view)
            || self.sequencers.get(group).is_some_and(|sq| sq.view == view)
    }

    /// Leader: whether `group`, in its view `gv`, carries ordered messages:
    /// some were numbered in `gv`, one of its members had one delivered
    /// in any view, or a node has one pending for it.
    pub(super) fn carries_ordered(&self, group: &Name, gv: &GroupView) -> bool {
        self.numbered_in(group, gv.id) > 0
            || self.states.values().any(|s| {
                s.submitting.contains(group)
                    || gv.members.iter().any(|m| s.ordered_high.contains_key(m))
            })
    }

    /// Whether this node went on in `gv`'s predecessor past what `gv`'s
    /// issuer knew of it: then `gv`'s messages must not reach it.
    pub(super) fn went_on_past(&self, gv: &GroupView) -> bool {
        self.order_logs
            .get(&gv.group)
            .is_some_and(|l| Some(l.view) == gv.prev && l.delivered > gv.prev_upto)
    }

    /// Whether `gv`, stamped with an earlier node view than this node's,
    /// still counts: its leader, the one of this node view, issued it in
    /// a node view it has led ever since this node was in it. After another
    /// leader's install, what this node took there supersedes it (a one-way
    /// cut kept the view from a node, which went on in another node view,
    /// then took it and its ordered messages on the link's retransmission
    /// and delivered its own messages twice).
    ///
    /// Nor does a view newer than the one this node acked its last install
    /// from, once a message of that one sent before the install was not
    /// taken (`on_ordered`): the node may be short of where the newer
    /// view's issuer knew the old one to end, and the install's
    /// completion brings it the rest and the view to go on to
    /// (ordered-leader-crash.toml on the event loop, in a first version
    /// that did not wait for a drop: db@n3 acked from view 26, did not
    /// take the rest of 26, then took view 40 off the link, short of where
    /// the others left 26).
    pub(super) fn issued_late_in_this_lead(&self, gv: &GroupView) -> bool {
        gv.node_view < self.view.id
            && (gv.node_view >= self.same_leader_since
                && !self.went_on_past(gv)
                && !self.follows_acked_view(gv)
                || mutated!(self, LateGroupViewFromAnyLead))
    }

    /// Whether `gv` is newer than the group view this node acked its last
    /// install from, of which it did not take a message (see
    /// `on_ordered`).
    fn follows_acked_view(&self, gv: &GroupView) -> bool {
        (self.acked_views.get(&gv.group)).is_some_and(|(a, dropped)| *dropped && gv.id > *a)
    }

    /// Keeps a link message that came ahead of the view it belongs to: a
    /// group view stamped with a node view this node has not installed
    /// (the leader's install packet and its links race), or an ordered
    /// message numbered in a group view this node does not hold yet
    /// (ordered-random-faults.toml seed 28 on the event loop: the group
    /// view came late, and the messages numbered in it were dropped).
    pub(super) fn hold_early(&mut self, from: NodeId, msg: LinkMsg<P>) {
        if self.early.len() < EARLY_LINK_MAX {
            self.early.push((from, msg));
        }
    }

    /// Takes again, in the order they came, the held messages: after a
    /// node view or a group view is installed, some may now belong.
    pub(super) fn replay_early(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        if self.early.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.early);
        let before = held.len();
        for (from, msg) in held {
            match msg {
                LinkMsg::GroupView(gv) => {
                    if from == self.view.leader()
                        && (gv.node_view == self.view.id || self.issued_late_in_this_lead(&gv))
                    {
                        self.apply_group_view(gv, now, out);
                    } else if gv.node_view > self.view.id {
                        self.hold_early(from, LinkMsg::GroupView(gv));
                    }
                }
                LinkMsg::Ordered {
                    msg,
                    stable,
                    sent_in,
                } => {
                    // Older than the group view held now: its view is over.
                    let over = self
                        .order_logs
                        .get(&msg.group)
                        .is_none_or(|log| log.view > msg.view);
                    if !over {
                        self.on_ordered(from, msg, stable, sent_in, out);
                    }
                }
                _ => {}
            }
        }
        // A group view applied above may let held messages in: once more,
        // while that makes progress.
        if self.early.len() < before && !self.early.is_empty() {
            self.replay_early(now, out);
        }
    }

    /// Delivers `msg` to the local members in the view it was numbered in,
    /// if it is the next one there.
    fn deliver_ordered(&mut self, msg: OrderedMsg<P>, stable: u64, out: &mut Vec<Output<P>>) {
        let Some(log) = self.order_logs.get_mut(&msg.group) else {
            return;
        };
        if log.view != msg.view || msg.seq != log.delivered + 1 {
            return;
        }
        log.delivered = msg.seq;
        log.unstable.push(msg.clone());
        let keep_from = log.unstable.partition_point(|m| m.seq <= stable);
        log.unstable.drain(..keep_from);
        if stable > 0 && !mutated!(self, ForgetLeftTails) {
            log.left.clear();
        }
        self.pending_submits.remove(&(msg.from.clone(), msg.id));
        let high = self.ordered_high.entry(msg.from.clone()).or_insert(0);
        *high = (*high).max(msg.id);
        for (key, local) in self.locals.iter_mut() {
            if local.group == msg.group && local.view.as_ref().is_some_and(|v| v.id == msg.view) {
                // Numbered as the member knows its view: a view it was not
                // told of (same members) goes on from where it stood.
                local.taken = local.offset + msg.seq;
                out.push(Output::Deliver {
                    key: *key,
                    event: Event::Ordered {
                        from: msg.from.clone(),
                        view: local.seen,
                        seq: local.taken,
                        payload: msg.payload.clone(),
                    },
                });
            }
        }
    }

    /// The highest submission number delivered here from each sender (a
    /// sender cut off from this node may come back with a resubmission of
    /// what this node took), at most [`ORDERED_SENDERS_KEPT`] of them.
    pub(super) fn current_ordered_high(&mut self) -> BTreeMap<MemberId, u64> {
        while self.ordered_high.len() > ORDERED_SENDERS_KEPT {
            self.ordered_high.pop_first();
        }
        self.ordered_high.clone()
    }

    /// A new group view at this node: its ordered messages start over.
    pub(super) fn new_order_log(&mut self, group: &Name, view: ViewId) {
        let mut left = Vec::new();
        if let Some(old) = self.order_logs.remove(group) {
            if !mutated!(self, ForgetLeftTails) {
                left = old.left;
                if !old.unstable.is_empty() {
                    left.push(OrderTail {
                        view: old.view,
                        delivered: old.delivered,
                        unstable: old.unstable,
                    });
                }
                let over = left.len().saturating_sub(ORDERED_TAILS_KEPT);
                left.drain(..over);
            }
        }
        self.order_logs.insert(
            group.clone(),
            OrderLog {
                view,
                delivered: 0,
                unstable: Vec::new(),
                left,
            },
        );
    }

    /// Once a heartbeat interval: tell the leader how far we delivered.
    pub(super) fn report_delivered(&mut self, now: Time) {
        let leader = self.view.leader();
        let changed: Vec<(Name, ViewId, u64)> = self
            .order_logs
            .iter()
            .filter(|(g, l)| {
                l.delivered > 0 && self.delivered_reported.get(*g) != Some(&(l.view, l.delivered))
            })
            .map(|(g, l)| (g.clone(), l.view, l.delivered))
            .collect();
        for (group, view, seq) in changed {
            self.delivered_reported.insert(group.clone(), (view, seq));
            if leader != self.me {
                self.queue(now, leader, LinkMsg::Delivered { group, view, seq });
            }
        }
    }

    /// Leader: a node says how far it delivered.
    pub(super) fn on_delivered(&mut self, from: NodeId, group: Name, view: ViewId, seq: u64) {
        if let Some(sq) = self.sequencers.get_mut(&group) {
            if sq.view == view {
                let d = sq.delivered.entry(from).or_insert(0);
                *d = (*d).max(seq);
            }
        }
    }

    /// Leader, completing an install, before it issues group views: each
    /// node gets the messages of its group view that another node
    /// delivered and it did not; a view kept unchanged goes on numbering
    /// after the last of them.
    pub(super) fn flush_ordered(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        if mutated!(self, NoOrderedFlush) {
            self.sequencers.clear();
            return;
        }
        // Per (group, view): every unstable message some node reported, or
        // this leader numbered (it may not have reached anyone yet).
        let mut known: BTreeMap<(Name, ViewId), BTreeMap<u64, OrderedMsg<P>>> = BTreeMap::new();
        let mut reach: BTreeMap<(Name, ViewId), u64> = BTreeMap::new();
        let numbering = std::mem::take(&mut self.sequencers);
        for (group, sq) in &numbering {
            let msgs = known.entry((group.clone(), sq.view)).or_default();
            for m in &sq.numbered {
                msgs.entry(m.seq).or_insert_with(|| m.clone());
            }
        }
        // And how far any node took each view, and how far a node with a
        // member of the group did (see the cap below).
        let mut members_reach: BTreeMap<(Name, ViewId), u64> = BTreeMap::new();
        for state in self.states.values() {
            for (group, log) in &state.ordered {
                let member = (state.registrations.get(group)).is_some_and(|r| !r.is_empty());
                for (view, delivered, unstable) in log.views() {
                    let key = (group.clone(), view);
                    let msgs = known.entry(key.clone()).or_default();
                    for m in unstable {
                        msgs.entry(m.seq).or_insert_with(|| m.clone());
                    }
                    if member {
                        let r = members_reach.entry(key.clone()).or_insert(0);
                        *r = (*r).max(delivered);
                    }
                    let r = reach.entry(key).or_insert(0);
                    *r = (*r).max(delivered);
                }
            }
        }
        for msgs in known.values() {
            for m in msgs.values() {
                let h = self.submit_high.entry(m.from.clone()).or_insert(0);
                *h = (*h).max(m.id);
            }
        }
        // What any node took, in any view: a resubmission of it is not
        // numbered again.
        for state in self.states.values() {
            for (from, id) in &state.ordered_high {
                let h = self.submit_high.entry(from.clone()).or_insert(0);
                *h = (*h).max(*id);
            }
        }
        let any_leader = mutated!(self, TakenOverViewNumbered);
        let behind: Vec<(NodeId, Name, ViewId, u64)> = self
            .states
            .iter()
            .flat_map(|(node, state)| {
                state
                    .ordered
                    .iter()
                    .map(move |(group, log)| (*node, group.clone(), log.view, log.delivered))
            })
            .collect();
        // A view of ours that a node here reports a view after, issued by
        // another leader: its issuer knew ours as far as `prev_upto`, and
        // a node we took further than that (and than any node here took)
        // could take neither that view nor, in it, what its issuer
        // numbered of our messages again (ordered-taken-over.toml, seed
        // 954 on the event loop: n0, cut off from sending, numbered on in
        // view 55 while n1 issued view 61 after it at 280; n0's flush took
        // db@n2 to 430, and its catch-up then gave db@n2 view 61 too).
        let closed_at = |group: &Name, view: ViewId| {
            self.states
                .values()
                .flat_map(|s| s.installed.values())
                .filter(|gv| gv.group == *group && gv.prev == Some(view))
                .map(|gv| gv.prev_upto)
                .min()
        };
        //
        // The same cap holds for what a node without a member of the group
        // took (its members left): its issuer numbered on alone, and only
        // a node with a member that went further counts then
        // (ordered-install-overtook.toml --swarm, seed 1454 on the event
        // loop: n0 numbered view 50 to 118 while cut off, and its member
        // left; n1, leading [n1, n4], closed 50 at 109 and issued 86 after
        // it. Back as leader, n0 flushed db@n4 to 118, what n0 itself
        // held, then handed it 86: db@n1 took 109 there, db@n4 118). Under
        // the cap, what such a node took still counts: it may be where the
        // view after says the view ends (ordered-flush-cut.toml --swarm,
        // seed 1160 on the event loop, in a first version that left such
        // nodes out altogether: db@n4 took view 85 to 2794 and went on to
        // 95, then left; n2, behind at 2646, was handed 95 short).
        let cap_memberless = !mutated!(self, FlushToAMemberlessNode);
        let behind: Vec<(NodeId, Name, ViewId, u64, u64)> = behind
            .into_iter()
            .map(|(node, group, view, delivered)| {
                let own = numbering
                    .get(&group)
                    .filter(|sq| sq.view == view)
                    .map_or(0, |sq| sq.next - 1);
                let key = (group.clone(), view);
                let any = reach[&key];
                let members = members_reach.get(&key).copied().unwrap_or(0);
                let upto = match closed_at(&group, view).filter(|_| !any_leader) {
                    None => own.max(any),
                    Some(at) if cap_memberless => own.max(any).min(at).max(members),
                    Some(at) => own.min(at).max(any),
                };
                (node, group, view, delivered, upto)
            })
            .collect();
        for (node, group, view, delivered, upto) in behind {
            let key = (group.clone(), view);
            if upto > delivered {
                out.push(Output::Probe(probe::ORDERED_FLUSHED));
            }
            for seq in delivered + 1..=upto {
                let Some(msg) = known[&key].get(&seq).cloned() else {
                    break; // cannot happen: a node behind holds the rest unstable
                };
                if node == self.me {
                    self.deliver_ordered(msg, 0, out);
                } else {
                    self.queue_ordered(now, node, msg, 0);
                }
            }
        }
        // A view this leader numbered goes on from the last number anyone
        // delivered, or it gave. One another leader numbered does not go
        // on here: that leader may be paused or cut off rather than gone,
        // and number on in it too (ordered-random-faults seed 1581 on the
        // event loop: n0 paused while it numbered view 25; n1 took the
        // view over and numbered its own messages where n0's went, and
        // once n0 was back the others took n0's). The leader issues such
        // a group a new view instead (`recompute_groups`).
        self.sequencers.clear();
        for ((group, view), upto) in reach {
            if !any_leader && numbering.get(&group).is_none_or(|own| own.view != view) {
                continue;
            }
            // What each node had before the flush: a node must not forget a
            // message that the flush may not have brought to another yet.
            let delivered = self
                .states
                .iter()
                .filter_map(|(n, s)| {
                    s.ordered
                        .get(&group)
                        .filter(|l| l.view == view)
                        .map(|l| (*n, l.delivered))
                })
                .collect();
            let mut sq = Sequencer::new(view, upto + 1);
            sq.delivered = delivered;
            sq.numbered = known
                .get(&(group.clone(), view))
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            if let Some(own) = numbering.get(&group).filter(|o| o.view == view) {
                sq.next = sq.next.max(own.next);
            }
            match self.sequencers.get(&group) {
                Some(old) if old.view > view => {}
                _ => {
                    self.sequencers.insert(group, sq);
                }
            }
        }
        for (group, own) in numbering {
            self.sequencers.entry(group).or_insert(own);
        }
    }
}

impl<P: Clone> Engine<P> {
    /// Leader, completing an install that keeps group view `gv`: each node
    /// with a member in it that had not got it yet gets it now, then every
    /// ordered message numbered in it so far (some node still holds them:
    /// a node that never reported the view kept them from being stable).
    /// Returns the nodes it handed the view to.
    pub(super) fn catch_up_on(
        &mut self,
        gv: &GroupView,
        now: Time,
        out: &mut Vec<Output<P>>,
    ) -> Vec<NodeId> {
        let behind: Vec<NodeId> = self
            .states
            .iter()
            .filter(|(_, s)| s.installed.get(&gv.group).is_none_or(|v| v.id < gv.id))
            .map(|(n, _)| *n)
            .filter(|n| gv.members.iter().any(|m| m.node == *n))
            .collect();
        self.hand_on(gv, behind.clone(), now, out);
        behind
    }

    /// Leader, completing an install: a node still in a group view that
    /// another node saw followed by one of the same members gets that one
    /// first, with its messages, before any view this install issues. Its
    /// members were told of no change there and took that view's messages
    /// on from the one before; without them, members going on from "the
    /// same" view would have taken different messages (tasks-random-faults
    /// seed 4766 on the event loop: n1 issued view 91 of the members of 81
    /// while n2 moved to another leader's node view; n1's member took four
    /// more messages "in 81" than n2's, and both went on to view 105).
    /// Only a node no further in the view than the issuer of the one after
    /// it knew, and only if no node here went further and some holds that
    /// far (the flush took every node there). Returns the nodes it handed
    /// a view to, with the last.
    pub(super) fn catch_up_unchanged(
        &mut self,
        group: &Name,
        reported: &[GroupView],
        now: Time,
        out: &mut Vec<Output<P>>,
    ) -> BTreeMap<NodeId, ViewId> {
        let mut handed = BTreeMap::new();
        let mut views: Vec<&GroupView> = reported.iter().filter(|gv| gv.group == *group).collect();
        views.sort_by_key(|gv| gv.id);
        views.dedup_by_key(|gv| gv.id);
        // Where each node with a member stands: its view, and how far it
        // took that view's messages.
        let mut at: BTreeMap<NodeId, (ViewId, u64)> = self
            .states
            .iter()
            .filter_map(|(n, s)| {
                let v = s.installed.get(group)?.id;
                let delivered = s.ordered.get(group).filter(|l| l.view == v);
                Some((*n, (v, delivered.map_or(0, |l| l.delivered))))
            })
            .collect();
        for (i, next) in views.iter().enumerate() {
            let Some(prev) = views[..i].iter().find(|gv| Some(gv.id) == next.prev) else {
                continue;
            };
            let same = prev.members == next.members && prev.primary == next.primary;
            if !same || next.renumbers || self.numbered_in(group, prev.id) != next.prev_upto {
                continue;
            }
            let behind: Vec<NodeId> = (at.iter())
                .filter(|(_, (v, delivered))| *v == prev.id && *delivered <= next.prev_upto)
                .map(|(n, _)| *n)
                .collect();
            if behind.is_empty() {
                continue;
            }
            let upto = self.numbered_in(group, next.id);
            for n in &behind {
                at.insert(*n, (next.id, upto));
                handed.insert(*n, next.id);
            }
            self.hand_on(next, behind, now, out);
        }
        handed
    }

    /// Group view `gv` to each of `behind`, then every ordered message
    /// numbered in it that this leader knows of.
    fn hand_on(
        &mut self,
        gv: &GroupView,
        behind: Vec<NodeId>,
        now: Time,
        out: &mut Vec<Output<P>>,
    ) {
        let mut msgs: BTreeMap<u64, OrderedMsg<P>> = BTreeMap::new();
        if let Some(sq) = self.sequencers.get(&gv.group).filter(|sq| sq.view == gv.id) {
            for m in &sq.numbered {
                msgs.entry(m.seq).or_insert_with(|| m.clone());
            }
        }
        for state in self.states.values() {
            if let Some(log) = state.ordered.get(&gv.group).filter(|l| l.view == gv.id) {
                for m in &log.unstable {
                    msgs.entry(m.seq).or_insert_with(|| m.clone());
                }
            }
        }
        // Stamped with the node view it is handed on in, which a node
        // takes group views from.
        let gv = GroupView {
            node_view: self.view.id,
            ..gv.clone()
        };
        let gv = &gv;
        if !behind.is_empty() {
            out.push(Output::Probe(probe::GROUP_VIEW_CAUGHT_UP));
        }
        for node in behind {
            if node == self.me {
                self.apply_group_view(gv.clone(), now, out);
                for m in msgs.values() {
                    self.deliver_ordered(m.clone(), 0, out);
                }
            } else {
                self.queue(now, node, LinkMsg::GroupView(gv.clone()));
                for m in msgs.values() {
                    self.queue_ordered(now, node, m.clone(), 0);
                }
            }
        }
    }
}
