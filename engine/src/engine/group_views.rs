//! Group views: each node reports its local registrations and recent
//! departures to its leader, and the leader alone issues group views, so
//! one view id always comes with one member list. A local member is only
//! handed a view that contains it, with an id above its last.

use super::*;

impl<P: Clone> Engine<P> {
    /// A snapshot of the local state, newer than every one before it.
    pub(super) fn local_state(&mut self) -> LocalState<P> {
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
            quorate_once: self.quorate_once,
            left_primary: self
                .left_primary
                .values()
                .filter(|l| !l.behind.is_empty())
                .cloned()
                .collect(),
            left_majority: self
                .left_majority
                .values()
                .filter(|l| !l.behind.is_empty())
                .cloned()
                .collect(),
            vote_held: self.vote_held_until.is_some(),
            max_view: self.durable.max_view,
            ordered: self.order_logs.clone(),
            ordered_high: self.current_ordered_high(),
            submitting: self
                .pending_submits
                .values()
                .map(|s| s.group.clone())
                .collect(),
        }
    }

    /// Leader: whether its node view is primary (`None`: no quorum kept).
    fn primary(&mut self) -> Option<bool> {
        let q = self.cfg.quorum.as_ref()?;
        let whole = q.votes_of(self.view.members.keys()) == q.expected();
        let votes = q.votes_of(
            self.view
                .members
                .keys()
                .filter(|n| whole || !self.states.get(n).is_some_and(|s| s.vote_held)),
        );
        if votes == q.expected() || self.states.values().any(|s| s.quorate_once) {
            self.quorate_once = true;
        }
        let primary = votes >= q.needed() && (self.quorate_once || !q.wait_for_all);
        #[cfg(any(test, feature = "mutations"))]
        {
            if primary {
                self.led_primary = true;
            } else if self.led_primary && mutated!(self, MinorityStaysPrimary) {
                return Some(true); // the bug: once primary, primary for good
            }
        }
        Some(primary)
    }

    /// Leader: whether group `group`'s view of `members` is primary, given
    /// that its node view is (`primary`). Not while some node of the view
    /// reports a primary view of the group that it left members of behind
    /// lately (`LeftPrimary`) and that shares no member with this one, or
    /// a majority node view it left nodes of behind (`LeftMajority`) where
    /// this view has no member on the nodes that came along: the
    /// members behind may still hold theirs, primary, and would then have
    /// no member in common with ours. This is how a node's vote moves from
    /// one side of a split to the other without both sides being primary
    /// at once: the side it left learns of the split (a leader silent for
    /// `failure_timeout`, a gather, a new view) within the notification
    /// bound, and the vote counts for a view that excludes them only after
    /// that bound.
    fn primary_for(
        &self,
        primary: Option<bool>,
        group: &Name,
        members: &[MemberId],
    ) -> Option<bool> {
        if primary != Some(true) {
            return primary;
        }
        let behind_us = self
            .states
            .values()
            .flat_map(|s| s.left_primary.iter())
            .filter(|l| l.view.group == *group)
            .any(|l| {
                let disjoint = l
                    .view
                    .members
                    .iter()
                    .all(|m| members.binary_search(m).is_err());
                let away = l
                    .view
                    .members
                    .iter()
                    .any(|m| !self.view.members.contains_key(&m.node));
                disjoint && away
            });
        let majority_behind = self
            .states
            .values()
            .flat_map(|s| s.left_majority.iter())
            .any(|l| {
                let away = l.nodes.iter().any(|n| !self.view.members.contains_key(n));
                let with_us = members
                    .iter()
                    .any(|m| l.nodes.contains(&m.node) && self.view.members.contains_key(&m.node));
                away && !with_us
            });
        Some(!behind_us && !majority_behind)
    }

    /// Keeps `left_primary` and `left_majority` after this node installed
    /// a view: which nodes of each it holds are now outside its node view,
    /// and since when. A node newly behind restarts the clock, since until
    /// now this node's view may have kept that node's view alive. A node
    /// view with a majority is recorded as the last one.
    pub(super) fn track_left_behind(&mut self, now: Time) {
        for left in self.left_primary.values_mut() {
            let behind: BTreeSet<NodeId> = left
                .view
                .members
                .iter()
                .map(|m| m.node)
                .filter(|n| !self.view.members.contains_key(n))
                .collect();
            if !behind.is_subset(&left.behind) {
                left.since = now;
            }
            left.behind = behind;
        }
        let Some(q) = self.cfg.quorum.as_ref() else {
            return;
        };
        for left in self.left_majority.values_mut() {
            let behind: BTreeSet<NodeId> = left
                .nodes
                .iter()
                .copied()
                .filter(|n| !self.view.members.contains_key(n))
                .collect();
            if !behind.is_subset(&left.behind) {
                left.since = now;
            }
            left.behind = behind;
        }
        if q.votes_of(self.view.members.keys()) >= q.needed() {
            self.left_majority.retain(|_, l| !l.behind.is_empty());
            self.left_majority.insert(
                self.view.id,
                LeftMajority {
                    view: self.view.id,
                    nodes: self.view.members.keys().copied().collect(),
                    behind: BTreeSet::new(),
                    since: now,
                },
            );
        }
    }

    /// Forgets the views left behind longer than the notification bound ago
    /// (their members have learned of the split) and a restart that long
    /// ago, and tells the leader, which may now call a view primary that it
    /// held back.
    pub(super) fn expire_left_behind(&mut self, now: Time, out: &mut Vec<Output<P>>) {
        let bound = self.cfg.notify_bound();
        let before = self.left_primary.len() + self.left_majority.len();
        self.left_primary
            .retain(|_, l| l.behind.is_empty() || now < l.since + bound);
        self.left_majority
            .retain(|_, l| l.behind.is_empty() || now < l.since + bound);
        let held = self.vote_held_until.is_some();
        self.vote_held_until = self.vote_held_until.filter(|t| now < *t);
        let floor_unsure = self.floor_unsure_until.is_some();
        self.floor_unsure_until = self.floor_unsure_until.filter(|t| now < *t);
        self.floor_checked(out);
        if self.left_primary.len() + self.left_majority.len() != before
            || held != self.vote_held_until.is_some()
            || floor_unsure != self.floor_unsure_until.is_some()
        {
            self.local_state_changed(now, out);
        }
    }

    /// Once a blank disk's floor of view ids is checked (a view with a
    /// peer) or waited out, the disk says so: a crash before that boots
    /// from it unsure again ([`Durable::floor_unsure`]).
    fn floor_checked(&mut self, out: &mut Vec<Output<P>>) {
        if self.floor_unsure_until.is_none() && self.durable.floor_unsure {
            self.durable.floor_unsure = false;
            out.push(Output::Persist(self.durable));
        }
    }

    /// Leader: issue a new view for every group whose members changed.
    /// After an install, `reported` holds the views the members had, so an
    /// unchanged group keeps its view id instead of getting a new one.
    pub(super) fn recompute_groups(
        &mut self,
        now: Time,
        reported: Option<Vec<GroupView>>,
        out: &mut Vec<Output<P>>,
    ) {
        assert_eq!(self.view.leader(), self.me);
        // Every view id a node of the view knew: the views issued below
        // come after them all.
        if let Some(max) = self.states.values().map(|s| s.max_view).max() {
            self.observe(max, out);
        }
        if self.view.members.len() > 1 {
            self.floor_unsure_until = None;
            self.floor_checked(out);
        } else if self
            .floor_unsure_until
            .is_some_and(|t| now < t && !mutated!(self, BlankBootUnheld))
        {
            // A blank disk's floor, from the clock: hold every view of the
            // node's members until a peer's view ids are known, or none
            // answered for a failure timeout (see `Durable::boot`).
            out.push(Output::Probe(probe::BLANK_BOOT_HELD));
            return;
        }
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
        let node_primary = self.primary();
        for (group, mut members) in computed {
            members.sort();
            members.dedup();
            let primary = self.primary_for(node_primary, &group, &members);
            // The view this one follows: the newest the leader holds or a
            // node reports that shares a member with it (a view of the
            // group's empty side of a partition is no one's to follow).
            let shares =
                |gv: &GroupView| gv.members.iter().any(|m| members.binary_search(m).is_ok());
            let prev = self
                .groups
                .get(&group)
                .into_iter()
                .chain(reported.iter().flatten().filter(|gv| gv.group == group))
                .filter(|gv| shares(gv))
                .map(|gv| gv.id)
                .max();
            let mut renumbers = false;
            // The view each node with a member goes on from, where this
            // leader hands it one now (else: the one it reported).
            let mut handed: BTreeMap<NodeId, ViewId> = BTreeMap::new();
            let current = self.groups.get(&group).map(|cur| cur.id);
            if let Some(cur) = self.groups.get(&group) {
                if *cur.members == members && cur.primary == primary {
                    continue;
                }
            } else if let Some(rep) = &reported {
                // The newest view of the group a node reports: if its
                // members are still the members, it stands, and the nodes
                // that had not got it yet get it now (with its ordered
                // messages), rather than everybody a new id for the same
                // members.
                //
                // Only if every node with members in the group took its
                // messages in it, or in the view it follows and no further
                // than its issuer knew: a node that went on in that one (a
                // one-way cut kept it from the issuer, and another leader,
                // or itself, numbered on there) would take some messages
                // twice. Otherwise it gets a new id, and its holders no
                // membership change.
                //
                // First, a node still in a view that another node saw
                // followed by one of the same members gets that one, with
                // its messages (`catch_up_unchanged`). Off under two older
                // broken variants too: it would heal at this install what
                // each one's own rule prevents, a view hidden from a node,
                // and hide the failure that variant exists to show. It has
                // a broken variant of its own.
                let off = mutated!(self, NoCatchUpOnUnchanged)
                    || mutated!(self, NoCatchUpBeforeNewView)
                    || mutated!(self, StrictGroupViewStamp);
                if !off {
                    handed.extend(self.catch_up_unchanged(&group, rep, now, out));
                }
                let newest = rep
                    .iter()
                    .filter(|gv| gv.group == group)
                    .max_by_key(|gv| gv.id);
                //
                // And a node still in the view it follows is brought to
                // where its issuer numbered to there only if some node of
                // this view holds that far (the flush above took every node
                // to the furthest any holds): else the issuer's flush never
                // reached it, and no one here can give it the rest
                // (ordered-random-faults seed 33, event loop: a partition
                // cut the flush off, and the behind node took the view
                // from a node that had it, short of the last messages of
                // the view before that another member took).
                let short = mutated!(self, JoinShortOfPrevTail);
                let followed = |newest: &GroupView| {
                    let prev_held = newest
                        .prev
                        .is_some_and(|p| short || self.numbered_in(&group, p) >= newest.prev_upto);
                    self.states
                        .values()
                        .filter(|s| s.registrations.get(&group).is_some_and(|r| !r.is_empty()))
                        .all(|s| {
                            s.ordered.get(&group).is_none_or(|l| {
                                l.view == newest.id
                                    || Some(l.view) == newest.prev
                                        && l.delivered <= newest.prev_upto
                                        && prev_held
                            })
                        })
                };
                let forked = mutated!(self, KeepForkedView);
                // And only a view this leader numbers. One another leader
                // issued gets a new id, and its members a membership change
                // naming no one: its issuer may be paused or cut off rather
                // than gone, and number on in it (`flush_ordered`), so the
                // numbering here starts afresh in a view of its own.
                let any_leader = mutated!(self, TakenOverViewNumbered);
                let numbers = |gv: &GroupView| any_leader || self.numbers_in(&group, gv.id);
                let same = |gv: &GroupView| {
                    *gv.members == members && gv.primary == primary && (forked || followed(gv))
                };
                let ordered = |gv: &GroupView| self.carries_ordered(&group, gv);
                renumbers = newest.is_some_and(|gv| same(gv) && !numbers(gv) && ordered(gv));
                if renumbers {
                    out.push(Output::Probe(probe::GROUP_VIEW_TAKEN_OVER));
                }
                if let Some(newest) = newest.filter(|gv| same(gv) && !renumbers) {
                    let newest = newest.clone();
                    out.push(Output::Probe(probe::GROUP_VIEW_KEPT));
                    self.catch_up_on(&newest, now, out);
                    self.groups.insert(group, newest);
                    continue;
                }
                // Its members changed: a new view follows it. The nodes
                // still in the view it follows get it first, with its
                // messages, so that every member goes on to the new view
                // from the same one with the same messages (ordered-random-
                // faults seed 116, event loop: a leader issued a view of the
                // same members and numbered in it, then crashed before one
                // node got it; that node's member, and one that had it, were
                // told of no change between them, and went on to the next
                // view with different messages).
                if let Some(newest) =
                    newest.filter(|gv| followed(gv) && !mutated!(self, NoCatchUpBeforeNewView))
                {
                    let newest = newest.clone();
                    for node in self.catch_up_on(&newest, now, out) {
                        handed.insert(node, newest.id);
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
            let prev_upto = prev.map_or(0, |p| self.numbered_in(&group, p));
            // Where each member comes from, where that is not `prev`: none,
            // if this leader issued `prev` in its node view (each node got
            // it on its link, before this one); else, after an install, what
            // its node reported then or was handed since.
            let held: Vec<(MemberId, Option<ViewId>)> = if current.is_some() && current == prev {
                Vec::new()
            } else {
                (members.iter())
                    .filter_map(|m| {
                        let held = handed.get(&m.node).copied().or_else(|| {
                            let state = self.states.get(&m.node)?;
                            Some(state.installed.get(&group)?.id)
                        });
                        (held != prev).then(|| (m.clone(), held))
                    })
                    .collect()
            };
            let gv = GroupView {
                group: group.clone(),
                id,
                node_view: self.view.id,
                members: Arc::new(members),
                reasons,
                primary,
                prev,
                prev_upto,
                renumbers,
                held,
            };
            // Its numbering is this leader's alone.
            self.issued.insert(group.clone(), id);
            self.groups.insert(group, gv.clone());
            for node in self.peers() {
                self.queue(now, node, LinkMsg::GroupView(gv.clone()));
            }
            self.apply_group_view(gv, now, out);
        }
    }

    /// Hands a group view to the local members it contains.
    pub(super) fn apply_group_view(&mut self, gv: GroupView, now: Time, out: &mut Vec<Output<P>>) {
        if let Some(old) = self.installed.get(&gv.group) {
            if gv.id <= old.id {
                return;
            }
        }
        self.observe(gv.id, out);
        if gv.primary == Some(true) {
            self.quorate_once = true;
            if self.cfg.quorum.is_some() {
                // An older primary view of the group whose members are all
                // in our view is held, if at all, next to us: they get this
                // one too. One that left members behind stays, until they
                // have surely moved on.
                self.left_primary
                    .retain(|(g, _), l| *g != gv.group || !l.behind.is_empty());
                self.left_primary.insert(
                    (gv.group.clone(), gv.id),
                    LeftPrimary {
                        view: gv.clone(),
                        behind: BTreeSet::new(),
                        since: now,
                    },
                );
                self.track_left_behind(now);
            }
        }
        for (key, local) in self.locals.iter_mut() {
            if local.group != gv.group || gv.members.binary_search(&local.id).is_err() {
                continue;
            }
            let me = local.id.clone();
            let prev: Arc<Vec<MemberId>> = local
                .view
                .as_ref()
                .map(|v| v.members.clone())
                .unwrap_or_default();
            let prev_id = local.view.as_ref().map(|v| v.id);
            if let Some(v) = &local.view {
                assert!(gv.id > v.id, "a member's view ids only grow");
            }
            // The same members as the view it follows, which this member
            // holds: no membership change. A member that missed a view in
            // between is told, even if the members are back as they were.
            let unchanged = local.view.as_ref().is_some_and(|v| {
                v.members == gv.members
                    && v.primary == gv.primary
                    && gv.prev == Some(v.id)
                    && !gv.renumbers
            });
            local.view = Some(gv.clone());
            if unchanged {
                // Its ordered messages go on numbering in the view it knows.
                local.offset = local.taken;
                continue;
            }
            local.seen = gv.id;
            local.taken = 0;
            local.offset = 0;
            // The observer's own old identity (after an exclusion) is neither
            // joined nor left: it is the observer.
            let same_member = |m: &MemberId| m.job == me.job && m.node == me.node;
            let joined: Vec<MemberId> = gv
                .members
                .iter()
                .filter(|m| prev.binary_search(m).is_err() && (**m != me || prev.is_empty()))
                .cloned()
                .collect();
            // Members of both views whose node held another view than
            // this member's previous one: apart from it meanwhile.
            let held = |m: &MemberId| {
                (gv.held.binary_search_by(|(h, _)| h.cmp(m))).map_or(gv.prev, |i| gv.held[i].1)
            };
            let rejoined: Vec<MemberId> = gv
                .members
                .iter()
                .filter(|m| **m != me && prev.binary_search(m).is_ok() && held(m) != prev_id)
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
                members: gv.members.to_vec(),
                joined,
                left,
                rejoined,
                primary: gv.primary,
            };
            out.push(Output::Deliver {
                key: *key,
                event: Event::View(Box::new(change)),
            });
        }
        self.new_order_log(&gv.group, gv.id);
        self.installed.insert(gv.group.clone(), gv);
    }

    pub(super) fn on_register(
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
                seen: ViewId(0),
                taken: 0,
                offset: 0,
            },
        );
        self.local_state_changed(now, out);
    }

    pub(super) fn on_departure(
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
        self.pending_submits
            .retain(|(from, _), _| *from != local.id);
        self.departed.push_back((local.group, local.id, reason));
        self.local_state_changed(now, out);
    }

    pub(super) fn local_state_changed(&mut self, now: Time, out: &mut Vec<Output<P>>) {
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
            self.queue(now, leader, LinkMsg::State(Box::new(state)));
        }
    }

    // ----- member messages -----
}

/// Keeps in `states` the newer of its state for `node` and `state`; says
/// whether `state` was kept.
pub(super) fn keep_newest<P>(
    states: &mut BTreeMap<NodeId, LocalState<P>>,
    node: NodeId,
    state: LocalState<P>,
) -> bool {
    if states
        .get(&node)
        .is_some_and(|s| s.version >= state.version)
    {
        return false;
    }
    states.insert(node, state);
    true
}
