//! Delivery: member messages out onto the links and in from them, and the
//! links flushed into packets. No message is delivered to a member whose
//! current view lacks its sender.

use super::*;

impl<P: Clone> Engine<P> {
    pub(super) fn on_link_msg(
        &mut self,
        now: Time,
        from: NodeId,
        msg: LinkMsg<P>,
        out: &mut Vec<Output<P>>,
    ) {
        match msg {
            LinkMsg::State(state) => {
                if self.view.leader() != self.me {
                    return;
                }
                let state = *state;
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
                        out.push(Output::Probe(probe::STATE_OVERTOOK_INSTALL_ACK));
                        &mut inst.early
                    };
                    keep_newest(states, from, state);
                    return;
                }
                if keep_newest(&mut self.states, from, state) {
                    self.recompute_groups(now, None, out);
                }
            }
            // The leader's group views come in the order it issued them, on
            // this link: one it issued in an earlier node view it led too
            // still comes before anything newer (ordered-random-faults.toml
            // seed 28 on the event loop: a node installed the next node view
            // before the group view of the last one reached it, dropped it
            // and the 42 ordered messages numbered in it, and went from the
            // view before straight to the next, unlike the others). One
            // stamped with a node view not installed here yet waits for it.
            LinkMsg::GroupView(gv) => {
                let strict = mutated!(self, StrictGroupViewStamp);
                let stamp_ok =
                    gv.node_view == self.view.id || !strict && self.issued_late_in_this_lead(&gv);
                if from == self.view.leader() && stamp_ok {
                    if gv.node_view != self.view.id {
                        out.push(Output::Probe(probe::GROUP_VIEW_TAKEN_LATE));
                    }
                    self.apply_group_view(gv, now, out);
                    self.replay_early(now, out);
                } else if gv.node_view > self.view.id && !strict {
                    out.push(Output::Probe(probe::HELD_AHEAD_OF_ITS_VIEW));
                    self.hold_early(from, LinkMsg::GroupView(gv));
                }
            }
            LinkMsg::Member(m) => self.deliver_member_msg(m, out),
            LinkMsg::Submit(s) => self.on_submission(now, s, out),
            LinkMsg::Ordered {
                msg,
                stable,
                sent_in,
            } => self.on_ordered(from, msg, stable, sent_in, out),
            LinkMsg::Delivered { group, view, seq } => self.on_delivered(from, group, view, seq),
            LinkMsg::Numbered { from: sender, id } => {
                self.pending_submits.remove(&(sender, id));
            }
        }
    }

    // ----- groups -----

    pub(super) fn on_send(
        &mut self,
        now: Time,
        key: LocalKey,
        to: Dest,
        payload: P,
        out: &mut Vec<Output<P>>,
    ) {
        if to == Dest::Ordered {
            return self.submit(now, key, payload, out);
        }
        let Some(local) = self.locals.get(&key) else {
            return;
        };
        let Some(view) = &local.view else { return };
        let members = Arc::clone(&view.members);
        let recipients: &[MemberId] = match &to {
            Dest::Ordered => unreachable!("numbered by the leader, above"),
            Dest::View => &members,
            Dest::Member(m) => match members.binary_search(m) {
                Ok(i) => std::slice::from_ref(&members[i]),
                Err(_) => &[],
            },
        };
        let from = local.id.clone();
        self.member_msgs_sent += 1;
        let n = self.member_msgs_sent;
        let msg = |to: Recipients| MemberMsg {
            from: from.clone(),
            n,
            to,
            payload: payload.clone(),
        };
        // A message per node, in node order. A view's members are sorted
        // by job first: a group of one job (the common case) is in node
        // order already, a member a node.
        if recipients.windows(2).all(|w| w[0].node < w[1].node) {
            for m in recipients {
                self.send_member_msg(now, m.node, msg(Recipients::One(m.clone())), out);
            }
        } else {
            let mut by_node: BTreeMap<NodeId, Vec<MemberId>> = BTreeMap::new();
            for m in recipients {
                by_node.entry(m.node).or_default().push(m.clone());
            }
            for (node, to) in by_node {
                self.send_member_msg(now, node, msg(Recipients::of(to)), out);
            }
        }
    }

    /// `msg` to its recipients on `node`: delivered here, or queued on the
    /// link to a node of the view that holds them.
    fn send_member_msg(
        &mut self,
        now: Time,
        node: NodeId,
        msg: MemberMsg<P>,
        out: &mut Vec<Output<P>>,
    ) {
        if node == self.me {
            self.deliver_member_msg(msg, out);
        } else if self.view.members.get(&node) == Some(&to_inc(&msg)) {
            self.queue(now, node, LinkMsg::Member(msg));
        }
    }

    pub(super) fn deliver_member_msg(&mut self, msg: MemberMsg<P>, out: &mut Vec<Output<P>>) {
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
                        n: msg.n,
                        payload: msg.payload.clone(),
                    },
                });
            } else {
                self.stats.ghost_dropped += 1;
            }
        }
    }

    // ----- links -----

    /// A fresh link session: sessions grow across this node's views and
    /// lives (the view id is folded in).
    pub(super) fn next_link_session(&mut self) -> u64 {
        link_session(&mut self.link_session, self.view.id)
    }

    /// Queues `msg` on the link to `node`; it goes at the next flush.
    pub(super) fn queue(&mut self, now: Time, node: NodeId, msg: LinkMsg<P>) {
        self.link_to(node).push(msg);
        self.link_changed(node);
        self.flush_at.get_or_insert(now + FLUSH_DELAY);
    }

    /// The link to `node`, a member of the view, made on first use.
    pub(super) fn link_to(&mut self, node: NodeId) -> &mut Link<LinkMsg<P>> {
        #[allow(unused_mut, unused_variables)]
        let redeliver = mutated!(self, DuplicatesDelivered);
        match self.links.entry(node) {
            Entry::Occupied(peer) => &mut peer.into_mut().link,
            Entry::Vacant(slot) => {
                // (`next_link_session` on the fields alone: the entry
                // holds the map.)
                let session = link_session(&mut self.link_session, self.view.id);
                // A parked link of another incarnation is of no more use.
                self.parked.remove(&node);
                #[allow(unused_mut)]
                let mut link = Link::new(session);
                #[cfg(any(test, feature = "mutations"))]
                {
                    link.redeliver = redeliver;
                }
                &mut slot.insert(Peer::new(link)).link
            }
        }
    }

    /// Takes the link to `node` away, and its place in the indexes.
    pub(super) fn unlink(&mut self, node: NodeId) -> Option<Link<LinkMsg<P>>> {
        let peer = self.links.remove(&node)?;
        // Its entries in the indexes no longer stand.
        self.drop_fallen_due();
        Some(peer.link)
    }

    pub(super) fn take_ack(&mut self, node: NodeId) -> Option<LinkAck> {
        let link = &mut self.links.get_mut(&node)?.link;
        link.ack_sent();
        let ack = link.ack();
        self.link_changed(node);
        ack
    }

    /// Files link `node` (if there is one) under what it needs next: the
    /// next flush if it holds messages not sent yet, and the time of its
    /// next resend or standalone ack.
    pub(super) fn link_changed(&mut self, node: NodeId) {
        let Some(peer) = self.links.get_mut(&node) else {
            return;
        };
        let link = &peer.link;
        let due = link.due_at(self.cfg.retransmit_timeout(), self.cfg.ack_delay());
        let unsent = link.has_unsent();
        if unsent != peer.unsent {
            peer.unsent = unsent;
            if unsent {
                self.unsent.file(node);
            }
        }
        // Most calls leave the link due when it was: nothing to refile.
        if peer.due == due {
            return;
        }
        peer.due = due;
        if let Some(due) = due {
            self.link_due.file(due, node);
        }
        self.drop_fallen_due();
    }

    /// Drops the due entries at the top of [`Engine::link_due`] that no
    /// longer stand, so that its first entry does; and starts it again
    /// from the links when it holds many more entries than links.
    pub(super) fn drop_fallen_due(&mut self) {
        let links = &self.links;
        let stands = |due: Time, node: NodeId| links.get(&node).is_some_and(|p| p.due == Some(due));
        self.link_due.drop_fallen(stands);
        if self.link_due.len() > 2 * links.len() + 16 {
            let standing = links.iter().filter_map(|(n, p)| p.due.map(|d| (d, *n)));
            self.link_due.rebuild(standing);
        }
    }

    pub(super) fn flush_links(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let rto = self.cfg.retransmit_timeout();
        let ack_delay = self.cfg.ack_delay();
        let from_inc = self.durable.incarnation;
        let flush = self.flush_at.is_some_and(|t| now >= t);
        if flush {
            self.flush_at = None;
        }
        let retransmits_beat = mutated!(self, RetransmitsAsHeartbeats);
        // The links to look at: those with new messages (at a flush) and
        // those due, in node order.
        // Each link taken off an index is told so ([`Peer`]); every one
        // is filed anew below.
        let mut todo = std::mem::take(&mut self.flush_todo.0);
        if flush {
            self.unsent.drain_into(&mut todo);
            let links = &self.links;
            todo.retain(|n| links.get(n).is_some_and(|p| p.unsent));
        }
        // The first due entry stands (`drop_fallen_due`); those after it
        // are looked at as they come first.
        while let Some((due, node)) = self.link_due.peek() {
            if due > now {
                break;
            }
            self.link_due.pop();
            self.links.get_mut(&node).expect("it stands").due = None;
            todo.push(node);
            self.drop_fallen_due();
        }
        todo.sort_unstable();
        todo.dedup();
        for &node in &todo {
            let Some(peer) = self.links.get_mut(&node) else {
                continue;
            };
            if flush {
                peer.unsent = false;
            }
            let link = &mut peer.link;
            let node = &node;
            let Some(to_inc) = self.view.members.get(node).copied() else {
                self.link_changed(*node);
                continue;
            };
            let mut send = |link: &mut Link<LinkMsg<P>>, data| {
                let ack = link.ack();
                link.ack_sent();
                out.push(Output::Send {
                    to: *node,
                    packet: Packet {
                        from_inc,
                        body: Body::Data { to_inc, data, ack },
                    },
                });
            };
            // Everything queued goes at a flush, a packet per
            // `PACKET_MSGS_MAX` messages: what a first packet leaves behind
            // must not wait for the next message to be queued.
            let mut fresh_sent = false;
            if flush {
                while let Some(fresh) = link.take_new(now) {
                    send(link, fresh);
                    fresh_sent = true;
                }
            }
            // Only fresh data stands in for a heartbeat: retransmissions come
            // at the retransmission timeout, slower than heartbeats, and
            // would thin out the very packets that prove we are alive.
            let mut sent = fresh_sent;
            if !fresh_sent {
                if let Some(again) = link.take_retransmit(now, rto) {
                    send(link, again);
                    sent = true;
                }
            }
            if fresh_sent || (retransmits_beat && sent) {
                self.data_sent_at.insert(*node, now);
            }
            if !sent && link.ack_due_at(ack_delay).is_some_and(|t| now >= t) {
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
            self.link_changed(*node);
        }
        todo.clear();
        self.flush_todo.0 = todo;
    }
}

/// Counts a link session and names it: the count with the view id folded in.
fn link_session(count: &mut u64, view: ViewId) -> u64 {
    *count += 1;
    (view.0 << 20) | (*count & 0xF_FFFF)
}

fn to_inc<P>(msg: &MemberMsg<P>) -> Incarnation {
    msg.to[0].node_incarnation
}
