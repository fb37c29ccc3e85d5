//! An in-memory group for testing a protocol's state machine without the
//! simulator: thousands of schedules a second.
//!
//! [`Group`] holds one [`RoundDriver`] per member, a FIFO queue per link and
//! a queue of pending membership changes per member, and a test drives it
//! with [`Op`]s: deliver (or duplicate) the next ACK on a link, deliver the
//! next membership change to a member, run a member's local step, make a
//! member leave or a new one join. Like the engine, a member drops ACKs from
//! senders that are not in its current view. [`Group::settle`] then runs the
//! group to quiescence, and [`Group::violations`] checks the properties vigil
//! checks in the simulator: `barrier-order`, `state-agrees` and the
//! protocol's agreement on decisions.
//!
//! ```
//! use vigil_protocols::testkit::{Group, Op};
//! use vigil_protocols::TwoPhaseCommit;
//!
//! let mut g = Group::new(3, |_| TwoPhaseCommit::new(Some(4), 2));
//! for op in [Op::Step(0), Op::Step(1), Op::Leave(2), Op::Deliver(0)] {
//!     g.apply(op);
//! }
//! g.settle();
//! assert_eq!(g.violations(), Vec::<String>::new());
//! ```

use crate::{Completion, Decision, Next, Protocol, RoundDriver};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use vigil_engine::{Incarnation, LeaveReason, MemberId, MembershipChange, Name, NodeId, ViewId};

/// One thing that happens to the group.
#[derive(Clone, Debug)]
pub enum Op {
    /// Deliver the head of the i-th non-empty link (modulo their number).
    Deliver(usize),
    /// Deliver the head of the i-th non-empty link and keep it queued.
    Duplicate(usize),
    /// Deliver the next pending membership change to the i-th member (of
    /// those with one pending).
    Install(usize),
    /// The i-th live member runs its local step, if its round is complete.
    Step(usize),
    /// The i-th live member leaves (a fault); never the last one.
    Leave(usize),
    /// A new member joins.
    Join,
}

struct Member<P: Protocol> {
    driver: RoundDriver<P>,
    view: Vec<MemberId>,
    pending_views: VecDeque<MembershipChange>,
    done: bool,
    /// The highest round it started.
    started: u64,
}

/// The ACKs in flight on one link: (round, payload).
type Queue = VecDeque<(u64, Arc<[u8]>)>;
/// A link: (from, to).
type Link = (MemberId, MemberId);

/// A group of members running protocol `P` in memory.
pub struct Group<P: Protocol> {
    make: Box<dyn Fn(&MemberId) -> P>,
    members: BTreeMap<MemberId, Member<P>>,
    departed: BTreeSet<MemberId>,
    links: BTreeMap<Link, Queue>,
    view: Vec<MemberId>,
    view_id: u64,
    next_node: u16,
    /// Every decision, by member, in the order made.
    pub decisions: Vec<(MemberId, Decision)>,
    /// Every completed round, by member.
    pub completions: Vec<(MemberId, Completion)>,
    /// Order violations seen while running (a round completed before a
    /// member of the view started it).
    order: Vec<String>,
}

fn member(n: u16) -> MemberId {
    MemberId {
        job: Name::new("m"),
        node: NodeId(n),
        node_incarnation: Incarnation(1),
        registration: 1,
    }
}

impl<P: Protocol> Group<P> {
    /// `size` members in one view, each running `make(member)`.
    pub fn new(size: u16, make: impl Fn(&MemberId) -> P + 'static) -> Group<P> {
        let mut g = Group {
            make: Box::new(make),
            members: BTreeMap::new(),
            departed: BTreeSet::new(),
            links: BTreeMap::new(),
            view: Vec::new(),
            view_id: 0,
            next_node: 0,
            decisions: Vec::new(),
            completions: Vec::new(),
            order: Vec::new(),
        };
        let first: Vec<MemberId> = (0..size.max(1)).map(member).collect();
        g.next_node = size.max(1);
        for m in &first {
            g.add_member(m);
        }
        g.change_view(first);
        // Everybody starts from the first view.
        let ids: Vec<MemberId> = g.members.keys().cloned().collect();
        for m in ids {
            g.install(&m);
        }
        g
    }

    /// A new member running a fresh instance, with no view yet.
    fn add_member(&mut self, m: &MemberId) {
        let driver = RoundDriver::new((self.make)(m), m.clone());
        self.members.insert(
            m.clone(),
            Member {
                driver,
                view: Vec::new(),
                pending_views: VecDeque::new(),
                done: false,
                started: 0,
            },
        );
    }

    fn live(&self) -> Vec<MemberId> {
        self.view.clone()
    }

    /// A new agreed view: queued for every member in it.
    fn change_view(&mut self, members: Vec<MemberId>) {
        self.view_id += 1;
        let prev = self.view.clone();
        self.view = members.clone();
        for m in &members {
            let Some(state) = self.members.get_mut(m) else {
                continue;
            };
            let base = if state.driver.round() == 0 && state.view.is_empty() && !prev.contains(m) {
                Vec::new()
            } else {
                prev.clone()
            };
            state.pending_views.push_back(MembershipChange {
                group: Name::new("g"),
                view: ViewId(self.view_id),
                me: m.clone(),
                members: members.clone(),
                joined: members
                    .iter()
                    .filter(|x| !base.contains(x))
                    .cloned()
                    .collect(),
                left: base
                    .iter()
                    .filter(|x| !members.contains(x))
                    .map(|x| (x.clone(), LeaveReason::Fault))
                    .collect(),
                rejoined: vec![],
                primary: None,
            });
        }
    }

    fn install(&mut self, m: &MemberId) {
        let Some(state) = self.members.get_mut(m) else {
            return;
        };
        let Some(change) = state.pending_views.pop_front() else {
            return;
        };
        state.view = change.members.clone();
        let next = state.driver.on_view(&change);
        self.handle(m, next);
    }

    fn send(&mut self, from: &MemberId, to: Vec<MemberId>, round: u64, payload: Arc<[u8]>) {
        for t in to {
            self.links
                .entry((from.clone(), t))
                .or_default()
                .push_back((round, payload.clone()));
        }
    }

    fn handle(&mut self, m: &MemberId, next: Option<Next>) {
        let Some(next) = next else { return };
        let state = self.members.get_mut(m).expect("live");
        match next {
            Next::Send { round, payload } => {
                state.started = state.started.max(round);
                let to = state.view.clone();
                self.send(m, to, round, payload);
            }
            Next::Restart | Next::Idle => {}
            Next::Done(_) | Next::Fault(_) => state.done = true,
        }
        let state = self.members.get_mut(m).expect("live");
        for d in state.driver.take_decisions() {
            self.decisions.push((m.clone(), d));
        }
    }

    fn deliver(&mut self, index: usize, keep: bool) {
        let busy: Vec<(MemberId, MemberId)> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if busy.is_empty() {
            return;
        }
        let (from, to) = busy[index % busy.len()].clone();
        let q = self
            .links
            .get_mut(&(from.clone(), to.clone()))
            .expect("busy");
        let (round, payload) = if keep {
            q.front().cloned().expect("busy")
        } else {
            q.pop_front().expect("busy")
        };
        let Some(state) = self.members.get_mut(&to) else {
            return;
        };
        // The engine drops messages from senders outside the receiver's view.
        if !state.view.contains(&from) {
            return;
        }
        if let Some((back_to, r, p)) = state.driver.on_ack(from, round, &payload) {
            let me = to.clone();
            self.send(&me, vec![back_to], r, p);
        }
    }

    fn step(&mut self, m: &MemberId) {
        let state = self.members.get_mut(m).expect("live");
        // A work thread steps between rounds, and only once it has a view.
        if state.done
            || state.view.is_empty()
            || (state.driver.round() > 0 && !state.driver.round_complete())
        {
            return;
        }
        let round = state.driver.round();
        let complete = round > 0;
        let next = state.driver.step();
        if let Some(c) = state.driver.take_completion() {
            // barrier-order: everyone in the view started this round.
            if complete {
                for other in &state.view.clone() {
                    let started = self.members.get(other).map_or(u64::MAX, |o| o.started);
                    if started < c.round && !self.departed.contains(other) {
                        self.order.push(format!(
                            "{m} completed round {} while {other} had started only {started}",
                            c.round
                        ));
                    }
                }
            }
            self.completions.push((m.clone(), c));
        }
        self.handle(m, Some(next));
    }

    /// Applies one operation.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Deliver(i) => self.deliver(i, false),
            Op::Duplicate(i) => self.deliver(i, true),
            Op::Install(i) => {
                let waiting: Vec<MemberId> = self
                    .members
                    .iter()
                    .filter(|(_, s)| !s.pending_views.is_empty())
                    .map(|(m, _)| m.clone())
                    .collect();
                if !waiting.is_empty() {
                    let m = waiting[i % waiting.len()].clone();
                    self.install(&m);
                }
            }
            Op::Step(i) => {
                let live = self.live();
                let m = live[i % live.len()].clone();
                self.step(&m);
            }
            Op::Leave(i) => {
                let live = self.live();
                if live.len() > 1 {
                    let m = live[i % live.len()].clone();
                    self.members.remove(&m);
                    self.departed.insert(m.clone());
                    self.links.retain(|(_, to), _| *to != m);
                    let rest: Vec<MemberId> = live.into_iter().filter(|x| *x != m).collect();
                    self.change_view(rest);
                }
            }
            Op::Join => {
                let m = member(self.next_node);
                self.next_node += 1;
                self.add_member(&m);
                let mut members = self.live();
                members.push(m);
                members.sort();
                self.change_view(members);
            }
        }
    }

    /// Delivers everything and steps every member until nothing moves (or
    /// `limit` steps ran): every pending view, every queued ACK, every step
    /// whose round is complete.
    pub fn settle_for(&mut self, limit: usize) {
        for _ in 0..limit {
            let ids: Vec<MemberId> = self.members.keys().cloned().collect();
            for m in &ids {
                while self
                    .members
                    .get(m)
                    .is_some_and(|s| !s.pending_views.is_empty())
                {
                    self.install(m);
                }
            }
            while self.links.values().any(|q| !q.is_empty()) {
                self.deliver(0, false);
            }
            let before = self.completions.len();
            for m in &ids {
                if self.members.contains_key(m) {
                    self.step(m);
                }
            }
            if self.completions.len() == before && self.links.values().all(VecDeque::is_empty) {
                return;
            }
        }
    }

    /// [`Group::settle_for`] with a bound of 200 rounds.
    pub fn settle(&mut self) {
        self.settle_for(200);
    }

    /// The live members.
    pub fn members(&self) -> Vec<MemberId> {
        self.live()
    }

    /// A live member's driver.
    pub fn driver(&self, m: &MemberId) -> Option<&RoundDriver<P>> {
        self.members.get(m).map(|s| &s.driver)
    }

    /// Whether every live member finished its protocol.
    pub fn all_done(&self) -> bool {
        self.members.values().all(|s| s.done)
    }

    /// Every violation of `barrier-order`, `state-agrees` and the protocol's
    /// agreement, as readable lines.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.order.clone();
        let mut states: BTreeMap<(u64, ViewId), (MemberId, String)> = BTreeMap::new();
        for (m, c) in &self.completions {
            let Some(state) = &c.state else { continue };
            match states.get(&(c.round, c.view)) {
                Some((first, s)) if s != state => v.push(format!(
                    "state-agrees: after round {} in view {}, {first} holds {s} but {m} holds {state}",
                    c.round, c.view
                )),
                Some(_) => {}
                None => {
                    states.insert((c.round, c.view), (m.clone(), state.clone()));
                }
            }
        }
        let agreement = self
            .members
            .values()
            .next()
            .and_then(|s| s.driver.protocol().agreement());
        if let Some(name) = agreement {
            let mut first: BTreeMap<(u64, Option<crate::Proposal>), (MemberId, String)> =
                BTreeMap::new();
            for (m, d) in &self.decisions {
                if !d.binding {
                    continue;
                }
                let key = (d.instance, d.proposal.clone());
                match first.get(&key) {
                    Some((who, o)) if *o != d.outcome => v.push(format!(
                        "{name}: instance {} decided {o} by {who} but {} by {m}",
                        d.instance, d.outcome
                    )),
                    Some(_) => {}
                    None => {
                        first.insert(key, (m.clone(), d.outcome.clone()));
                    }
                }
            }
        }
        v
    }
}

impl<P: Protocol> Group<P> {
    /// A readable dump of every live member's driver state, for debugging.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for (m, st) in &self.members {
            s.push_str(&format!(
                "{m}: round {} complete {} done {} view {:?} missing {:?} pending views {}\n",
                st.driver.round(),
                st.driver.round_complete(),
                st.done,
                st.view.iter().map(ToString::to_string).collect::<Vec<_>>(),
                st.driver
                    .missing()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                st.pending_views.len()
            ));
        }
        s
    }
}
