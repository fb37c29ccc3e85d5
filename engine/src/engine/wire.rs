//! The wire: what engines send each other, and how a packet is taken in.
//! Every packet carries its sender's incarnation; what must arrive reliably
//! and in order travels as a [`LinkMsg`] on the peer's [`Link`].

use super::*;

impl<P: Clone> Engine<P> {
    pub(super) fn packet(&self, to: NodeId, body: Body<P>) -> Output<P> {
        Output::Send {
            to,
            packet: Packet {
                from_inc: self.durable.incarnation,
                body,
            },
        }
    }

    pub(super) fn on_packet(
        &mut self,
        now: Time,
        from: NodeId,
        packet: Packet<P>,
        out: &mut Vec<Output<P>>,
    ) {
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
            self.heard.touch(from, now);
        }
        match packet.body {
            Body::Leaving { .. } => {
                if member {
                    self.on_leaving(from);
                }
            }
            Body::Heartbeat { view, ack } => {
                if member {
                    if let (Some(ack), Some(peer)) = (ack, self.links.get_mut(&from)) {
                        peer.link.on_ack(now, ack);
                        self.link_changed(from);
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
                    self.heard.set(from, Time(0));
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
                self.observe(view.id, out);
                let view_id = view.id;
                if self.installing.is_some() && view.id > self.view.id {
                    out.push(Output::Probe(probe::INSTALL_YIELDED));
                }
                if view.id > self.view.id {
                    self.install(now, view, out);
                    self.resubmit(now, out);
                    // What this ack counts of each group. An install acked
                    // again (its packet came twice) keeps what the first
                    // ack recorded: the leader may complete it from that
                    // one, the second lost or late
                    // (one-way-cuts-ordered.toml --swarm, seed 77 on
                    // madsim, with the record rebuilt at every ack: n2
                    // acked from view 30, took view 44 off the link, acked
                    // again, then dropped 44's last messages, and the
                    // flush, from its first ack, brought it only the rest
                    // of 30).
                    //
                    // A drop under an earlier install stands while the node
                    // is still in the view it dropped from: it is as short
                    // of that view's end as it was (ordered-install-
                    // overtook.toml --swarm, seed 1723 on madsim: n2 dropped
                    // the rest of view 7905015 sent before one install, then
                    // took the next; with the drop forgotten, it took view
                    // 15015005, sent before both, short of where its issuer
                    // closed 7905015).
                    let forget = mutated!(self, DropForgottenAtNextInstall);
                    let before = std::mem::take(&mut self.acked_views);
                    self.acked_views = (self.order_logs.iter())
                        .map(|(group, log)| {
                            let dropped = !forget && before.get(group) == Some(&(log.view, true));
                            (group.clone(), (log.view, dropped))
                        })
                        .collect();
                }
                if self.view.id == view_id && self.view.leader() == from {
                    self.leader_heard = now;
                    let state = self.local_state();
                    out.push(self.packet(
                        from,
                        Body::InstallAck {
                            view: self.view.id,
                            state: Box::new(state),
                        },
                    ));
                }
            }
            Body::InstallAck { view, state } => {
                if let Some(inst) = &mut self.installing {
                    if inst.view.id == view && inst.view.has(from, inc) {
                        keep_newest(&mut inst.acks, from, *state);
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
                // (The engine's buffer, put back below; taking a message
                // never takes a packet, so none is nested.)
                let mut msgs = std::mem::take(&mut self.delivered);
                let link = self.link_to(from);
                if let Some(ack) = ack {
                    link.on_ack(now, ack);
                }
                link.on_data(now, data, &mut msgs);
                self.link_changed(from);
                for msg in msgs.drain(..) {
                    self.on_link_msg(now, from, msg, out);
                }
                self.delivered = msgs;
            }
            Body::Ack { to_inc, ack } => {
                if member && to_inc == self.durable.incarnation {
                    if let Some(peer) = self.links.get_mut(&from) {
                        peer.link.on_ack(now, ack);
                        self.link_changed(from);
                    }
                }
            }
        }
    }
}

/// What one node tells its leader about its jobs.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub struct LocalState<P> {
    /// Which of this incarnation's snapshots this is: they grow. A node's
    /// state reaches its leader on two channels, its install acks and its
    /// link, which can overtake each other; the leader keeps the newest.
    pub version: u64,
    pub registrations: BTreeMap<Name, Vec<MemberId>>,
    pub departed: Vec<(Name, MemberId, LeaveReason)>,
    pub installed: BTreeMap<Name, GroupView>,
    /// The node knows every node was once in one view ([`super::Quorum`]).
    #[serde(default)]
    pub quorate_once: bool,
    /// Primary views this node left members of behind, lately
    /// ([`super::LeftPrimary`]): the leader keeps views of their groups
    /// that have none of those members non-primary.
    #[serde(default)]
    pub left_primary: Vec<super::LeftPrimary>,
    /// Majority node views this node left nodes of behind lately
    /// ([`super::LeftMajority`]).
    #[serde(default)]
    pub left_majority: Vec<super::LeftMajority>,
    /// The node restarted lately: its vote counts only in a view of every
    /// node (see `Engine::vote_held_until`).
    #[serde(default)]
    pub vote_held: bool,
    /// The highest view id the node issued or saw ([`super::Durable`]):
    /// a leader issues group views above every one its view's nodes knew,
    /// so a node that lost its disk learns its floor from its peers.
    #[serde(default)]
    pub max_view: super::ViewId,
    /// What it delivered of each group's ordered messages in its current
    /// group view and does not know to be stable: a new leader flushes
    /// from these before it issues new group views.
    pub ordered: BTreeMap<Name, super::OrderLog<P>>,
    /// The highest submission number it delivered from each sender, in
    /// any view: a resubmission of one of them is a message some node took
    /// already.
    pub ordered_high: BTreeMap<MemberId, u64>,
    /// The groups its members have ordered messages pending in (sent, not
    /// delivered back yet): with `ordered_high`, whether a group carries
    /// ordered messages at all.
    #[serde(default)]
    pub submitting: BTreeSet<Name>,
}

/// A message from one member to others, as it crosses a link.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub struct MemberMsg<P> {
    pub from: MemberId,
    /// The sending engine's number for this send (see `Event::Message`).
    pub n: u64,
    pub to: Recipients,
    pub payload: P,
}

/// The members a [`MemberMsg`] is for, all on one node. Most messages are
/// for one member, held inline; several are shared, since a link keeps
/// each message until it is acknowledged and puts a copy in each packet
/// that carries it. Either way it reads as a slice, and goes on the wire
/// as a sequence of members.
#[derive(Clone)]
pub enum Recipients {
    One(MemberId),
    Many(Arc<[MemberId]>),
}

impl Recipients {
    /// `members`, held as the common case is held.
    pub fn of(members: Vec<MemberId>) -> Recipients {
        match <[MemberId; 1]>::try_from(members) {
            Ok([one]) => Recipients::One(one),
            Err(many) => Recipients::Many(many.into()),
        }
    }
}

impl std::ops::Deref for Recipients {
    type Target = [MemberId];
    fn deref(&self) -> &[MemberId] {
        match self {
            Recipients::One(m) => std::slice::from_ref(m),
            Recipients::Many(ms) => ms,
        }
    }
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl std::hash::Hash for Recipients {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state); // as the slice, however it is held
    }
}

impl Serialize for Recipients {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Recipients {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Recipients, D::Error> {
        Vec::<MemberId>::deserialize(deserializer).map(Recipients::of)
    }
}

/// What travels reliably between two engines.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub enum LinkMsg<P> {
    /// Boxed, as in [`Body::InstallAck`]: links keep and move their
    /// messages.
    State(Box<LocalState<P>>),
    GroupView(GroupView),
    Member(MemberMsg<P>),
    /// A member's ordered message, to the sequencer (the leader).
    Submit(super::Submission<P>),
    /// A numbered ordered message, from the leader, with the last number
    /// every node of the view has delivered.
    Ordered {
        msg: super::OrderedMsg<P>,
        stable: u64,
        /// The node view the leader sent it in: one sent before another
        /// leader's install that its receiver took part in is not taken
        /// (see `Engine::on_ordered`).
        #[serde(default)]
        sent_in: ViewId,
    },
    /// To a sender's node: its submission `id` was numbered already (it
    /// came again after a view change), so it may forget it.
    Numbered {
        from: MemberId,
        id: u64,
    },
    /// How far a node delivered a group's view, to the leader.
    Delivered {
        group: Name,
        view: ViewId,
        seq: u64,
    },
}

/// Engine-to-engine packets. Each carries the sender's incarnation.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub struct Packet<P> {
    pub from_inc: Incarnation,
    pub body: Body<P>,
}

#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
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
    /// The state is boxed: it is large and rare, and a packet moves
    /// several times on its way.
    InstallAck {
        view: ViewId,
        state: Box<LocalState<P>>,
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
    /// "I am stopping: drop me now." Sent once to every node of the
    /// sender's view as its engine stops ([`super::Input::Stop`]).
    Leaving {
        view: ViewId,
    },
}
