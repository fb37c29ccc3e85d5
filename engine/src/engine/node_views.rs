//! Node views: heartbeats and failure detection, gathering after the
//! leader is lost, installs (and the acks that carry each node's state),
//! probes and merges, incarnations. The lowest node of a view leads it.

use super::*;

impl<P: Clone> Engine<P> {
    pub(super) fn next_view_id(&mut self, out: &mut Vec<Output<P>>) -> ViewId {
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

    /// Raises the floor of the ids this node issues to `id`, and keeps it
    /// on disk: a node that restarts must not hand its new members a view
    /// id lower than one its old members saw, or a user who keeps the last
    /// view id as a fencing epoch sees it go back.
    pub(super) fn observe(&mut self, id: ViewId, out: &mut Vec<Output<P>>) {
        if id <= self.durable.max_view {
            return;
        }
        self.durable.max_view = id;
        if !mutated!(self, PersistIssuedViewIdsOnly) {
            out.push(Output::Persist(self.durable));
        }
    }

    pub(super) fn install_singleton(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let id = self.next_view_id(out);
        let view = NodeView {
            id,
            members: Arc::new(BTreeMap::from([(self.me, self.durable.incarnation)])),
        };
        self.install(now, view, out);
        self.states = BTreeMap::from([(self.me, self.local_state())]);
        self.groups.clear();
        self.sequencers.clear();
        self.issued.clear();
        self.recompute_groups(now, None, out);
        self.resubmit(now, out);
        self.next_probe = now;
    }

    /// Makes `view` this node's view: links follow its members.
    pub(super) fn install(&mut self, now: Time, view: NodeView, out: &mut Vec<Output<P>>) {
        assert!(
            view.has(self.me, self.durable.incarnation),
            "a node only installs views that hold it"
        );
        assert!(view.id > self.view.id, "node view ids only grow");
        self.observe(view.id, out);
        let old = std::mem::replace(&mut self.view, view);
        if old.members.keys().next() != Some(&self.view.leader()) {
            self.same_leader_since = self.view.id;
        }
        self.track_left_behind(now);
        self.phase = Phase::Normal;
        self.leader_heard = now;
        // A member keeps the silence it had in the old view: a new view is no
        // reason to wait another whole failure timeout for a node that was
        // already silent.
        // Only a leader listens for every member.
        let old_heard = std::mem::take(&mut self.heard);
        let leads = self.view.leader() == self.me;
        for (n, inc) in self.view.members.iter().filter(|_| leads) {
            if *n == self.me {
                continue;
            }
            let kept = if old.members.get(n) == Some(inc) {
                old_heard.get(*n)
            } else {
                None
            };
            self.heard.set(*n, kept.unwrap_or(now));
        }
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
            let link = self.unlink(node).expect("a link");
            if let Some(inc) = old.members.get(&node).filter(|_| park) {
                self.parked.insert(node, (*inc, link));
            }
        }
        // A parked link whose peer is back, as the same incarnation, goes
        // on where it stood; other links are made on first use
        // (`link_to`), so a node keeps links only to the peers it talks to
        // (its leader, its group members), not to every node of the view.
        let back: Vec<NodeId> = self
            .parked
            .iter()
            .filter(|(n, (inc, _))| {
                self.view.members.get(n) == Some(inc) && !self.links.contains_key(n)
            })
            .map(|(n, _)| *n)
            .collect();
        for node in back {
            let session = self.next_link_session();
            let (_, mut link) = self.parked.remove(&node).expect("parked");
            link.restart_send(session);
            self.links.insert(node, Peer::new(link));
            self.link_changed(node);
        }
        let _ = view_id;
        if self.view.leader() != self.me {
            self.installing = None;
            self.merge.clear();
            self.merge_at = None;
            self.states.clear();
            self.groups.clear();
            self.sequencers.clear();
            self.issued.clear();
            self.held_submits.clear();
        }
        out.push(Output::NodeView {
            view: self.view.id,
            members: self.view.members.keys().copied().collect(),
        });
        self.replay_early(now, out);
    }

    /// Leader: propose `members` as the next view.
    pub(super) fn start_install(
        &mut self,
        now: Time,
        members: BTreeMap<NodeId, Incarnation>,
        out: &mut Vec<Output<P>>,
    ) {
        assert_eq!(members.get(&self.me), Some(&self.durable.incarnation));
        let id = self.next_view_id(out);
        let view = NodeView {
            id,
            members: Arc::new(members),
        };
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

    pub(super) fn send_install(&mut self, out: &mut Vec<Output<P>>, all: bool) {
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

    pub(super) fn try_complete_install(&mut self, now: Time, out: &mut Vec<Output<P>>) {
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
            self.observe(gv.id, out);
        }
        self.flush_ordered(now, out);
        self.recompute_groups(now, Some(reported), out);
        self.resubmit(now, out);
        self.sequence_held(now, out);
        self.next_probe = self.next_probe.min(now + self.cfg.heartbeat_interval);
    }

    pub(super) fn start_gather(
        &mut self,
        now: Time,
        suspects: BTreeSet<NodeId>,
        out: &mut Vec<Output<P>>,
    ) {
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

    pub(super) fn gather_resend(&self) -> Dur {
        Dur(self.cfg.heartbeat_interval.0 / 2)
    }

    pub(super) fn become_excluded(&mut self, now: Time, out: &mut Vec<Output<P>>) {
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
        self.unsent.clear();
        self.link_due.clear();
        self.parked.clear();
        self.install_singleton(now, out);
    }

    /// A step long after the last one means this node was away: paused,
    /// its clock jumped ahead, its host starved it. A running engine steps
    /// at least every heartbeat interval (its own heartbeat timer), so a gap
    /// of half a failure timeout is no scheduling jitter. The time it was
    /// away is not its peers' silence: every silence it measures and every
    /// deadline it set moves on by that much, so a leader whose clock jumps
    /// past the failure timeout drops nobody (broken variant
    /// `absence-as-silence`; `scenarios/clock.toml`), and a peer that did
    /// go silent meanwhile is found as late, in true time, as if nothing
    /// had happened here. Deadlines that guard safety rather than
    /// liveness (a vote held, a view left behind) run on: they may end
    /// early, never late, which only delays a primary view.
    pub(super) fn was_away(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let gap = now.saturating_sub(self.last_step);
        self.last_step = now;
        if gap.0 <= self.cfg.failure_timeout.0 / 2 || mutated!(self, AbsenceAsSilence) {
            return;
        }
        // It was due at least once a heartbeat interval; the rest is away.
        let away = Dur(gap.0 - self.cfg.heartbeat_interval.0.min(gap.0));
        let on = |t: &mut Time| *t = (*t + away).min(now);
        self.heard.shift(away, now);
        on(&mut self.leader_heard);
        match &mut self.phase {
            Phase::Normal => {}
            Phase::Gathering {
                until, resend_at, ..
            } => {
                on(until);
                on(resend_at);
            }
            Phase::Awaiting { until, .. } => on(until),
        }
        if let Some(inst) = &mut self.installing {
            on(&mut inst.deadline);
            on(&mut inst.resend_at);
        }
        out.push(Output::Probe(crate::probe::ENGINE_WAS_AWAY));
    }

    pub(super) fn on_timers(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        enum Action {
            None,
            Install(BTreeMap<NodeId, Incarnation>),
            Await(NodeId, BTreeSet<NodeId>),
            Gather(BTreeSet<NodeId>),
            Leader,
        }
        self.expire_left_behind(now, out);
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
                if !missing.is_empty() {
                    out.push(Output::Probe(probe::GATHER_ASKED_AGAIN));
                }
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
                self.report_delivered(now);
                let leader = self.view.leader();
                let targets: Vec<NodeId> = if leader == self.me {
                    self.peers()
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

    pub(super) fn on_leader_timers(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let timeout = self.cfg.failure_timeout;
        let dead: Vec<NodeId> = self.heard.silent(now, timeout);
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
                out.push(Output::Probe(probe::INSTALL_RESTARTED));
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
            let mut members = (*self.view.members).clone();
            for node in &dead {
                members.remove(node);
            }
            if self.merge.len() >= 2 && self.view.members.len() >= 2 {
                out.push(Output::Probe(probe::VIEWS_MERGED));
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
            for node in self.probe_targets(now) {
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

    /// Whom a leader probes this round: at most three nodes outside its
    /// view, so that probing costs a cluster O(n) packets a round, not
    /// O(n²) (n singletons at boot would otherwise probe each other).
    ///
    /// - The lowest node outside the view: it leads the lowest other view
    ///   if it is alive (a lower member of that view would be lower still),
    ///   and whichever of the two leaders is lower absorbs the other. After
    ///   a partition heals, this is the probe that merges.
    /// - The lowest outside node that has not left a probe unanswered in
    ///   the last [`PROBE_SILENCE_KEPT`] rounds: while the lowest ones are
    ///   down, the next that answers.
    /// - One more, walking all outside nodes in turn: views whose leaders
    ///   are not the lowest still meet.
    fn probe_targets(&mut self, now: Time) -> BTreeSet<NodeId> {
        for node in std::mem::take(&mut self.probed) {
            self.probe_silent.insert(node, now);
        }
        let kept = self.cfg.probe_interval() * u64::from(PROBE_SILENCE_KEPT);
        self.probe_silent
            .retain(|_, since| now.saturating_sub(*since) < kept);
        let outside: Vec<NodeId> = (0..self.cfg.nodes)
            .map(NodeId)
            .filter(|n| !self.view.members.contains_key(n))
            .collect();
        let mut targets = BTreeSet::new();
        if let Some(lowest) = outside.first() {
            targets.insert(*lowest);
            if let Some(answers) = outside.iter().find(|n| !self.probe_silent.contains_key(n)) {
                targets.insert(*answers);
            }
            self.probe_cursor = (self.probe_cursor + 1) % outside.len();
            targets.insert(outside[self.probe_cursor]);
        }
        self.probed = targets.clone();
        targets
    }

    // ----- packets -----

    /// A packet from a newer incarnation of `node` than the one in our view:
    /// incarnations only grow, and a node starts a new one only once the old
    /// one is over (it crashed, or learned it was excluded). So the one in
    /// our view is gone for good and will never answer: waiting a whole
    /// failure timeout for its silence would only hold up the view (and an
    /// install, and the group views behind it) that must drop it.
    pub(super) fn on_reincarnated(&mut self, now: Time, node: NodeId, out: &mut Vec<Output<P>>) {
        assert_ne!(node, self.me, "only this engine speaks for this node");
        out.push(Output::Probe(probe::PEER_REINCARNATED));
        if self.view.leader() == self.me {
            // Silent since forever: the next leader timer removes it (or
            // restarts an install that waits for its ack); a probe from the
            // new incarnation merges that one back in.
            self.heard.touch(node, Time(0));
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

    pub(super) fn on_probe(
        &mut self,
        now: Time,
        from: NodeId,
        view: NodeView,
        reply: bool,
        out: &mut Vec<Output<P>>,
    ) {
        self.observe(view.id, out);
        // It answers probes (or probes us): not silent.
        self.probed.remove(&from);
        self.probe_silent.remove(&from);
        // Our leader probes us as an outsider: it went on without us (we
        // could not reach it for a while, as under a one-way cut) and now
        // asks us to merge. Its probes must not pass for its heartbeats, or
        // we stay in a view it left for as long as it probes: we are out,
        // as on its `NotMember` (ordered-random-faults.toml seed 254 on the
        // event loop: a node kept its old view 4.8 s after the cut healed).
        if from == self.view.leader()
            && from != self.me
            && view.id > self.view.id
            && !view.members.contains_key(&self.me)
            && matches!(self.phase, Phase::Normal)
            && !mutated!(self, ProbeAsHeartbeat)
        {
            out.push(Output::Probe(probe::DROPPED_LEARNED_FROM_PROBE));
            self.become_excluded(now, out);
            return;
        }
        if !self.is_leader() || view.members.contains_key(&self.me) || view.leader() != from {
            return;
        }
        if self.me < from && now >= self.defer_merge_until {
            for (&node, &inc) in view.members.iter() {
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
}
