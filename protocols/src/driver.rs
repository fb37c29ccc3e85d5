//! [`RoundDriver`]: the ACK-round bookkeeping around one protocol instance.

use crate::{OnViewChange, Protocol, Step, StepCtx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use vigil_engine::job::{Completion, Decision, Next, Rounds, Vote};
use vigil_engine::{probe, MemberId, MembershipChange, ViewId};

/// How many rounds ahead of its own a member buffers ACKs for. A peer
/// further ahead than this is not waiting for us, so its ACKs can go.
pub const ROUNDS_AHEAD_MAX: u64 = 1024;

/// How many of its own past ACKs a member keeps, to answer members that
/// ask about a round they missed.
pub const HISTORY_ROUNDS: u64 = 1024;

/// What goes on the wire for one round of one member: its ACK (or `None`:
/// "I never ACKed this round", the answer to a member that asked about a
/// round this one skipped), and its previous ACK with its round. The
/// previous ACK lets a member that missed it still read it, and tells which
/// rounds the sender skipped in between.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
#[serde(bound = "A: Serialize + DeserializeOwned")]
pub struct WireAck<A> {
    pub ack: Sent<A>,
    #[serde(default)]
    pub prev: Option<(u64, A)>,
    /// An answer to a member that asked (or was behind): never answered in
    /// turn, so two members cannot keep answering each other.
    #[serde(default)]
    pub answer: bool,
    /// The round the sender is in (an answer is about an earlier one): a
    /// member that joined catches up to it.
    #[serde(default)]
    pub current: u64,
}

/// What a member sent for a round. (An enum rather than an `Option`: with a
/// unit ACK type, a self-describing format such as JSON could not tell
/// `Some(())` from `None`.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(bound = "A: Serialize + DeserializeOwned")]
pub enum Sent<A> {
    Ack(A),
    /// It never ACKed that round.
    Skipped,
}

impl<A: Serialize + DeserializeOwned> WireAck<A> {
    /// The serialized form: bincode, compact and cheap to decode (every
    /// member of a view decodes each ACK). An ACK type must round-trip
    /// through a format that is not self-describing: plain structs, enums
    /// and collections do; `#[serde(untagged)]`, `flatten` and
    /// `serde_json::Value` do not.
    pub fn encode(&self) -> Arc<[u8]> {
        use bincode::Options;
        wire_options()
            .serialize(self)
            .expect("an ACK serializes")
            .into()
    }

    /// `bytes` read as far as every receiver needs: the ACK, the round of
    /// the ACK before it, and the two flags. The ACK before it is decoded
    /// only if asked for ([`WireView::prev_ack`]): a receiver in step with
    /// the sender holds it already. (A stateful protocol's ACK carries its
    /// state, so decoding both was twice the work: a third of a
    /// group-state run went to decoding ACKs.)
    ///
    /// The encoding is bincode's, as [`WireAck::encode`] writes it: the ACK,
    /// then a byte saying whether a previous ACK follows (and if so its
    /// round, 8 bytes, then the ACK), then `answer` (1 byte) and `current`
    /// (8 bytes) last. `None` if the bytes are not that.
    pub fn view(bytes: &[u8]) -> Option<WireView<'_, A>> {
        let mut front = Front(bytes);
        let mut de = bincode::Deserializer::with_bincode_read(&mut front, wire_options());
        let ack = Sent::<A>::deserialize(&mut de).ok()?;
        let rest = front.0;
        let (prev, flags) = rest.split_at(rest.len().checked_sub(9)?);
        let answer = match flags[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let current = u64::from_le_bytes(flags[1..].try_into().ok()?);
        let prev = match prev.split_first()? {
            (0, []) => None,
            (1, body) if body.len() >= 8 => {
                let (round, ack) = body.split_at(8);
                Some((u64::from_le_bytes(round.try_into().ok()?), ack))
            }
            _ => return None,
        };
        Some(WireView {
            ack,
            prev,
            answer,
            current,
        })
    }
}

/// A byte slice bincode reads from the front, lending it strings and byte
/// strings in place as its own slice reader does; what is left of it
/// after a read is what followed (bincode's reader does not say where it
/// stopped, and cannot be made outside the crate).
struct Front<'a>(&'a [u8]);

impl<'a> Front<'a> {
    fn take(&mut self, length: usize) -> bincode::Result<&'a [u8]> {
        if length > self.0.len() {
            let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(Box::new(bincode::ErrorKind::Io(eof)));
        }
        let (head, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(head)
    }
}

impl std::io::Read for Front<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.read_exact(buf)
    }
}

impl<'a> bincode::BincodeRead<'a> for &mut Front<'a> {
    fn forward_read_str<V: serde::de::Visitor<'a>>(
        &mut self,
        length: usize,
        visitor: V,
    ) -> bincode::Result<V::Value> {
        let text = std::str::from_utf8(self.take(length)?)
            .map_err(|e| Box::new(bincode::ErrorKind::InvalidUtf8Encoding(e)))?;
        visitor.visit_borrowed_str(text)
    }
    fn get_byte_buffer(&mut self, length: usize) -> bincode::Result<Vec<u8>> {
        self.take(length).map(<[u8]>::to_vec)
    }
    fn forward_read_bytes<V: serde::de::Visitor<'a>>(
        &mut self,
        length: usize,
        visitor: V,
    ) -> bincode::Result<V::Value> {
        visitor.visit_borrowed_bytes(self.take(length)?)
    }
}

/// bincode's options for wire ACKs, both ways (those `bincode::serialize`
/// uses: fixed-width integers, little-endian).
fn wire_options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

/// A [`WireAck`] as [`WireAck::view`] reads it: the previous ACK still
/// encoded.
pub struct WireView<'a, A> {
    pub ack: Sent<A>,
    /// The previous ACK's round, and the ACK as it was encoded.
    pub prev: Option<(u64, &'a [u8])>,
    pub answer: bool,
    pub current: u64,
}

impl<A: DeserializeOwned> WireView<'_, A> {
    /// The previous ACK, decoded (`None` if there is none, or if it does
    /// not decode).
    pub fn prev_ack(&self) -> Option<(u64, A)> {
        use bincode::Options;
        let (round, bytes) = self.prev?;
        let ack = wire_options()
            .reject_trailing_bytes()
            .deserialize(bytes)
            .ok()?;
        Some((round, ack))
    }
}

/// The answer of a member that never took part in an instance (it skipped
/// a task the group finished without it): "I never ACKed this round", in
/// the wire form of every ACK type (bincode writes no ACK for
/// [`Sent::Skipped`] and none for a `prev` of `None`).
pub fn skipped_answer() -> Arc<[u8]> {
    WireAck::<()> {
        ack: Sent::Skipped,
        prev: None,
        answer: true,
        current: 0,
    }
    .encode()
}

/// A short, stable digest of a group state (64-bit FNV-1a of its JSON, in
/// hex). JSON objects are ordered by key, so equal states digest equally.
pub fn digest(state: &serde_json::Value) -> String {
    digest_of(state)
}

/// [`digest`] of what `state` serializes to as JSON: the same digest as of
/// the JSON value it would make, without making it (the text goes
/// straight into the hash).
pub fn digest_of(state: &impl Serialize) -> String {
    struct Fnv(u64);
    impl std::io::Write for Fnv {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    serde_json::to_writer(&mut h, state).expect("a group state writes as JSON");
    format!("{:016x}", h.0)
}

/// The ACKs one step read: the round, those of the view, those of members
/// that left.
type Read<A> = (u64, BTreeMap<MemberId, A>, BTreeMap<MemberId, A>);

/// What a member's ACKs said of it (see [`RoundDriver::on_ack`]).
#[derive(Clone, Copy, Debug, Default, Hash)]
struct Heard {
    /// The highest round it said it was in.
    reported: u64,
    /// The highest round it has ACKed.
    latest: u64,
    /// The rounds its latest ACK says it skipped: the open interval
    /// between its previous ACK's round and its latest.
    gap: Option<(u64, u64)>,
}

/// Runs one protocol instance in ACK rounds.
#[derive(Clone, Debug, Hash)]
pub struct RoundDriver<P: Protocol> {
    protocol: P,
    me: MemberId,
    view: Vec<MemberId>,
    view_id: ViewId,
    /// Whether the current view is primary (`None`: no quorum).
    primary: Option<bool>,
    /// The view of the previous step.
    stepped_in: Option<ViewId>,
    /// The round this member is in (0 before the first step).
    round: u64,
    /// Our own ACKs of the last [`HISTORY_ROUNDS`] rounds, by round.
    history: BTreeMap<u64, P::Ack>,
    acks: BTreeMap<u64, BTreeMap<MemberId, P::Ack>>,
    /// The ACKs the last step read, for a restarted round.
    last_read: Read<P::Ack>,
    /// What each member's ACKs said of it, in one map, so that an ACK
    /// looks its sender up once.
    heard: BTreeMap<MemberId, Heard>,
    /// Members that answered, about a round, that they never ACKed it.
    skipped: BTreeMap<u64, BTreeSet<MemberId>>,
    completed: u64,
    malformed: u64,
    restarting: bool,
    /// The protocol is done: it will not send another ACK, so it answers
    /// members in its last round too.
    finished: bool,
    /// Members that joined our view and have not heard from us since: our
    /// ACK may have reached them before their view held us, and been
    /// dropped. Their first ACK for our round is answered with ours.
    joined_recently: BTreeSet<MemberId>,
    /// How many members of the view have not settled `round`
    /// ([`Self::settled`]): counted afresh by a view or a step, and kept by
    /// each ACK, which can only change its sender's standing, so that the
    /// work thread, which asks after every message whether the round is
    /// complete, gets its answer for the same cost in a group of five and
    /// of five hundred.
    unsettled: usize,
    /// Whether each member of the view (by its place in `view`) has
    /// settled `round`, kept with `unsettled`: an ACK reads its sender's
    /// standing before it from here rather than asking the maps again.
    settled_now: Vec<bool>,
    decisions: Vec<Decision>,
    votes: Vec<Vote>,
    probes: Vec<&'static str>,
    completion: Option<Completion>,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
}

impl<P: Protocol> RoundDriver<P> {
    pub fn new(protocol: P, me: MemberId) -> RoundDriver<P> {
        RoundDriver {
            protocol,
            me,
            view: Vec::new(),
            view_id: ViewId(0),
            primary: None,
            stepped_in: None,
            round: 0,
            history: BTreeMap::new(),
            acks: BTreeMap::new(),
            last_read: (0, BTreeMap::new(), BTreeMap::new()),
            heard: BTreeMap::new(),
            skipped: BTreeMap::new(),
            completed: 0,
            malformed: 0,
            restarting: false,
            finished: false,
            joined_recently: BTreeSet::new(),
            unsettled: 0,
            settled_now: Vec::new(),
            decisions: Vec::new(),
            votes: Vec::new(),
            probes: Vec::new(),
            completion: None,
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
        }
    }

    /// Runs a deliberately broken variant of the round machinery or of
    /// the protocol (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn mutate(&mut self, mutation: crate::Mutation) {
        use crate::Mutation::{ApartUnpoked, CatchUpWithSlowest, GuessSkippedAcks};
        self.protocol.mutate(mutation);
        if matches!(
            mutation,
            ApartUnpoked | CatchUpWithSlowest | GuessSkippedAcks
        ) {
            self.mutation = Some(mutation);
        }
    }

    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// A membership change: the view this member now waits on.
    pub fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        let next = self.on_view_inner(change);
        self.refresh();
        next
    }

    fn on_view_inner(&mut self, change: &MembershipChange) -> Option<Next> {
        assert!(
            change.members.contains(&change.me),
            "a view holds its observer"
        );
        debug_assert!(change.members.is_sorted(), "a view's members are sorted");
        self.me = change.me.clone();
        self.view = change.members.clone();
        self.view_id = change.view;
        self.primary = change.primary;
        // And members that were apart from us meanwhile, for the same
        // reason.
        let apart = (change.rejoined.iter()).filter(|_| !mutated!(self, ApartUnpoked));
        let joined = change.joined.iter().chain(apart);
        self.joined_recently
            .extend(joined.filter(|m| **m != change.me).cloned());
        self.joined_recently.retain(|m| change.members.contains(m));
        if self.round == 0 {
            return None;
        }
        match self.protocol.on_view_change(change) {
            OnViewChange::Continue => {
                // Our current ACK again, sent in the new view: members that
                // just joined never saw it, and members behind us may only
                // skip rounds on the word of an ACK sent in their view.
                let wire = self.current_wire()?;
                Some(Next::Send {
                    round: self.round,
                    payload: wire,
                })
            }
            OnViewChange::RestartRound => {
                self.probes.push(probe::ROUND_RESTARTED);
                self.round -= 1;
                self.restarting = true;
                Some(Next::Restart)
            }
            OnViewChange::Abort(outcome) => {
                self.finished = true;
                Some(Next::Done(outcome))
            }
        }
    }

    /// An ACK arrived (the member's own included). The answer, if any, goes
    /// to the sender alone:
    /// - to a member of the view that is behind us, our ACK for *its* round
    ///   (or word that we skipped it): it may have missed it while its view
    ///   did not hold us, and it cannot finish its round without it;
    /// - to a member of the view that is ahead of us while we still lack its
    ///   ACK for our round, our current ACK, which it answers in turn.
    ///
    /// So a missing ACK is always fetched, never guessed: every member that
    /// completes a round reads, for each member of its view, that member's
    /// ACK if it sent one.
    pub fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        // Only the sender's standing can change (see `unsettled`).
        let place = self.view.binary_search(&from).ok();
        let mut acked_now = false;
        let reply = self.on_ack_inner(
            from.clone(),
            place.is_some(),
            round,
            payload,
            &mut acked_now,
        );
        if let Some(i) = place {
            // Its ACK for our round settles it (the common case: no need
            // to ask the maps).
            let now = acked_now || self.settled(&from);
            match (std::mem::replace(&mut self.settled_now[i], now), now) {
                (false, true) => self.unsettled -= 1,
                (true, false) => self.unsettled += 1,
                _ => {}
            }
        }
        reply
    }

    /// `on_ack`, `in_view` saying whether `from` is in the view; sets
    /// `acked_now` if it took `from`'s ACK for our round.
    fn on_ack_inner(
        &mut self,
        from: MemberId,
        in_view: bool,
        round: u64,
        payload: &[u8],
        acked_now: &mut bool,
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        let Some(wire) = WireAck::<P::Ack>::view(payload) else {
            self.malformed += 1;
            return None;
        };
        // Answers are never answered: two members cannot keep answering
        // each other.
        let peer = from != self.me && in_view && !wire.answer;
        let heard = self.heard.entry(from.clone()).or_default();
        heard.reported = heard.reported.max(wire.current).max(round);
        if round < self.round {
            let answer = peer && !self.history.is_empty();
            if answer {
                self.probes.push(probe::ACK_ANSWERED_TO_BEHIND);
            }
            return answer.then(|| (from, round, self.wire_for(round)));
        }
        if round > self.round + ROUNDS_AHEAD_MAX {
            return None;
        }
        if round >= heard.latest {
            heard.latest = round;
            let prev_round = wire.prev.as_ref().map_or(0, |(r, _)| *r);
            heard.gap = Some((prev_round, round));
        }
        if let Some((prev_round, _)) = wire.prev {
            let held = (self.acks.get(&prev_round)).is_some_and(|acks| acks.contains_key(&from));
            if prev_round >= self.round && prev_round < round && !held {
                match wire.prev_ack() {
                    Some((_, prev)) => {
                        let acks = self.acks.entry(prev_round).or_default();
                        acks.insert(from.clone(), prev);
                    }
                    None => self.malformed += 1,
                }
            }
        }
        match wire.ack {
            Sent::Ack(ack) => {
                self.acks
                    .entry(round)
                    .or_default()
                    .insert(from.clone(), ack);
                *acked_now = round == self.round;
            }
            Sent::Skipped => {
                self.skipped.entry(round).or_default().insert(from.clone());
            }
        }
        // A member that just joined, in our round: it may have dropped our
        // ACK before its view held us.
        if peer && round == self.round && self.joined_recently.remove(&from) {
            return (!self.history.is_empty()).then(|| (from, round, self.wire_for(round)));
        }
        // Ahead of us, and we still lack its ACK for our round: ask.
        let ask = peer && round > self.round && self.round > 0 && !self.settled(&from);
        if ask {
            self.probes.push(probe::ACK_FETCHED_FROM_AHEAD);
        }
        ask.then(|| (from, self.round, self.wire(self.round, false)))
    }

    /// Our answer about `round`: our ACK for it (or word that we skipped it).
    fn wire_for(&self, round: u64) -> Arc<[u8]> {
        self.wire(round, true)
    }

    /// Our ACK for `round` as it goes on the wire (or word that we skipped
    /// it), with the ACK before it.
    fn wire(&self, round: u64, answer: bool) -> Arc<[u8]> {
        WireAck {
            ack: self
                .history
                .get(&round)
                .cloned()
                .map_or(Sent::Skipped, Sent::Ack),
            prev: self
                .history
                .range(..round)
                .next_back()
                .map(|(r, a)| (*r, a.clone())),
            answer,
            current: self.round,
        }
        .encode()
    }

    /// Our current ACK as it goes on the wire now.
    fn current_wire(&self) -> Option<Arc<[u8]>> {
        (!self.history.is_empty()).then(|| self.wire(self.round, false))
    }

    /// Runs the local step that opens the next round.
    pub fn step(&mut self) -> Next {
        let next = self.step_inner();
        self.refresh();
        next
    }

    /// Every member of the current view has ACKed this round (or skipped it).
    pub fn round_complete(&self) -> bool {
        self.round > 0 && self.unsettled == 0
    }

    /// Whether `member` no longer owes us an ACK for our round: we hold it,
    /// or we know it skipped the round (its answer says so, or its latest
    /// ACK's previous one is from before our round).
    fn settled(&self, member: &MemberId) -> bool {
        let r = self.round;
        let heard = self.heard.get(member);
        if mutated!(self, GuessSkippedAcks) && heard.is_some_and(|h| h.latest > r) {
            return true; // the bug: a later ACK taken for word that it skipped ours
        }
        self.acks.get(&r).is_some_and(|a| a.contains_key(member))
            || self.skipped.get(&r).is_some_and(|s| s.contains(member))
            || heard
                .and_then(|h| h.gap)
                .is_some_and(|(prev, last)| prev < r && r < last)
    }

    /// Counts the members that have not settled this round.
    fn refresh(&mut self) {
        let mut now = std::mem::take(&mut self.settled_now);
        now.clear();
        now.extend(self.view.iter().map(|m| self.settled(m)));
        self.unsettled = now.iter().filter(|settled| !**settled).count();
        self.settled_now = now;
    }

    /// Whether `member` is in the view (which is sorted).
    fn in_view(&self, member: &MemberId) -> bool {
        self.view.binary_search(member).is_ok()
    }

    /// The members of the view whose ACK for this round is still missing.
    pub fn missing(&self) -> Vec<MemberId> {
        if self.round == 0 {
            return self.view.clone();
        }
        self.view
            .iter()
            .filter(|m| !self.settled(m))
            .cloned()
            .collect()
    }

    pub fn round(&self) -> u64 {
        self.round
    }
    /// The view this member is in, as the driver knows it.
    pub fn view_id(&self) -> ViewId {
        self.view_id
    }
    pub fn rounds_completed(&self) -> u64 {
        self.completed
    }
    /// ACKs that did not decode.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
    /// The decisions the protocol made since the last call.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }
    /// The votes this member cast since the last call.
    pub fn take_votes(&mut self) -> Vec<Vote> {
        std::mem::take(&mut self.votes)
    }
    /// The round the last step completed, if it completed one.
    pub fn take_completion(&mut self) -> Option<Completion> {
        self.completion.take()
    }

    fn step_inner(&mut self) -> Next {
        let restarting = std::mem::take(&mut self.restarting);
        let mut completed = None;
        if !restarting && self.round > 0 && self.round_complete() {
            self.completed = self.round;
            completed = Some(self.round);
        }
        let mut next = self.round + 1;
        if self.protocol.catch_up() {
            let others = self
                .view
                .iter()
                .filter(|m| **m != self.me)
                .filter_map(|m| self.heard.get(m).map(|h| &h.reported));
            // Catch up with the most advanced member: members that rejoin
            // together (a crash of several nodes) would otherwise each
            // wait for the other, crawling one round at a time from round
            // 1 while the survivors wait in theirs (random-faults seed 88).
            let target = if mutated!(self, CatchUpWithSlowest) {
                others.min()
            } else {
                others.max()
            };
            if let Some(target) = target {
                if *target > next {
                    self.probes.push(probe::ROUNDS_SKIPPED_TO_CATCH_UP);
                }
                next = next.max(*target);
            }
        }
        if !restarting {
            let acks = self.acks.remove(&self.round).unwrap_or_default();
            // Most rounds hold no ACK from a member that left: keep the map.
            let (read, left): (BTreeMap<MemberId, P::Ack>, BTreeMap<MemberId, P::Ack>) =
                if acks.keys().all(|m| self.in_view(m)) {
                    (acks, BTreeMap::new())
                } else {
                    acks.into_iter().partition(|(m, _)| self.in_view(m))
                };
            if !left.is_empty() {
                self.probes.push(probe::LEFT_ACKS_READ);
            }
            self.last_read = (self.round, read, left);
        }
        self.acks = self.acks.split_off(&next);
        self.skipped = self.skipped.split_off(&next);
        let view_changed = self.stepped_in.is_some_and(|v| v != self.view_id);
        self.stepped_in = Some(self.view_id);
        let step = self.protocol.step(StepCtx {
            round: next,
            me: &self.me,
            view: &self.view,
            view_id: self.view_id,
            acks: &self.last_read.1,
            left_acks: &self.last_read.2,
            acks_round: self.last_read.0,
            view_changed,
            primary: self.primary,
            decisions: &mut self.decisions,
            votes: &mut self.votes,
            probes: &mut self.probes,
        });
        if let Some(round) = completed {
            self.completion = Some(Completion {
                round,
                view: self.view_id,
                state: self.protocol.state_digest(),
            });
        }
        match step {
            Step::Ack(ack) => {
                self.history.insert(next, ack);
                if let Some(floor) = next.checked_sub(HISTORY_ROUNDS) {
                    self.history = self.history.split_off(&floor);
                }
                self.round = next;
                let wire = self.wire(next, false);
                Next::Send {
                    round: next,
                    payload: wire,
                }
            }
            Step::Done(outcome) => {
                self.finished = true;
                Next::Done(outcome)
            }
            Step::Fault(err) => Next::Fault(err),
        }
    }
}

/// The work thread reaches any protocol through the engine's [`Rounds`]
/// trait, with the protocol's types erased.
impl<P: Protocol> Rounds for RoundDriver<P> {
    fn clone_box(&self) -> Box<dyn Rounds> {
        Box::new(self.clone())
    }
    fn hash_state(&self, mut state: &mut dyn std::hash::Hasher) {
        std::hash::Hash::hash(self, &mut state);
    }
    fn protocol_name(&self) -> &'static str {
        self.protocol.name()
    }
    fn agreement(&self) -> Option<&'static str> {
        self.protocol.agreement()
    }
    fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        RoundDriver::on_view(self, change)
    }
    fn answer(&self, round: u64) -> Option<Arc<[u8]>> {
        (self.finished && !self.history.is_empty()).then(|| self.wire_for(round))
    }
    fn is_answer(&self, payload: &[u8]) -> bool {
        WireAck::<P::Ack>::view(payload).is_some_and(|w| w.answer)
    }
    fn ack_for(&self, round: u64) -> Option<Arc<[u8]>> {
        self.history
            .contains_key(&round)
            .then(|| self.wire_for(round))
    }
    fn current_ack(&self) -> Option<(u64, Arc<[u8]>)> {
        (!self.finished && self.round > 0)
            .then(|| self.current_wire())
            .flatten()
            .map(|wire| (self.round, wire))
    }
    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        RoundDriver::on_ack(self, from, round, payload)
    }
    fn round_complete(&self) -> bool {
        RoundDriver::round_complete(self)
    }
    fn missing(&self) -> Vec<MemberId> {
        RoundDriver::missing(self)
    }
    fn round(&self) -> u64 {
        RoundDriver::round(self)
    }
    fn rounds_completed(&self) -> u64 {
        RoundDriver::rounds_completed(self)
    }
    fn view_id(&self) -> ViewId {
        RoundDriver::view_id(self)
    }
    fn step(&mut self) -> Next {
        RoundDriver::step(self)
    }
    fn take_decisions(&mut self) -> Vec<Decision> {
        RoundDriver::take_decisions(self)
    }
    fn take_votes(&mut self) -> Vec<Vote> {
        RoundDriver::take_votes(self)
    }
    fn take_completion(&mut self) -> Option<Completion> {
        RoundDriver::take_completion(self)
    }
    fn take_probes(&mut self) -> Vec<&'static str> {
        std::mem::take(&mut self.probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OnViewChange;
    use vigil_engine::{Incarnation, LeaveReason, Name, NodeId};

    fn m(n: u16) -> MemberId {
        MemberId {
            job: Name::new("db"),
            node: NodeId(n),
            node_incarnation: Incarnation(1),
            registration: 1,
        }
    }
    /// What `WireAck::view` reads is what was encoded, for every shape:
    /// with and without a previous ACK, a skipped round, either flag, and
    /// ACK types from the unit to maps of strings; and bytes that are not
    /// a wire ACK (cut short, a flag that is not 0 or 1, a bad tag) are
    /// refused.
    #[test]
    fn a_wire_view_reads_what_was_encoded() {
        fn same<A>(wire: WireAck<A>)
        where
            A: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug,
        {
            let bytes = wire.encode();
            let v = WireAck::<A>::view(&bytes).expect("it reads");
            assert_eq!(v.ack, wire.ack);
            assert_eq!(v.answer, wire.answer);
            assert_eq!(v.current, wire.current);
            assert_eq!(v.prev.map(|(r, _)| r), wire.prev.as_ref().map(|(r, _)| *r));
            assert_eq!(v.prev_ack(), wire.prev.clone());
            for cut in 1..bytes.len().min(12) {
                assert!(
                    WireAck::<A>::view(&bytes[..bytes.len() - cut])
                        .is_none_or(|v| v.prev_ack().is_none() && wire.prev.is_some()),
                    "{wire:?} cut by {cut}"
                );
            }
        }
        let state = |n: u64| {
            let mut m = BTreeMap::new();
            for k in 0..n {
                m.insert(format!("k{k}"), format!("v{k}:{n}"));
            }
            m
        };
        for answer in [false, true] {
            same(WireAck::<()> {
                ack: Sent::Ack(()),
                prev: Some((4, ())),
                answer,
                current: 5,
            });
            same(WireAck::<()> {
                ack: Sent::Skipped,
                prev: None,
                answer,
                current: 0,
            });
            same(WireAck::<u64> {
                ack: Sent::Ack(11),
                prev: None,
                answer,
                current: u64::MAX,
            });
            same(WireAck::<BTreeMap<String, String>> {
                ack: Sent::Ack(state(3)),
                prev: Some((9, state(2))),
                answer,
                current: 10,
            });
            same(WireAck::<BTreeMap<String, String>> {
                ack: Sent::Skipped,
                prev: Some((2, state(0))),
                answer,
                current: 3,
            });
        }
        let mut bytes = WireAck::<u64> {
            ack: Sent::Ack(1),
            prev: None,
            answer: true,
            current: 2,
        }
        .encode()
        .to_vec();
        let flag = bytes.len() - 9;
        bytes[flag] = 2;
        assert!(WireAck::<u64>::view(&bytes).is_none(), "a flag of 2");
        bytes[flag] = 1;
        bytes[flag - 1] = 7;
        assert!(
            WireAck::<u64>::view(&bytes).is_none(),
            "a previous-ACK tag of 7"
        );
        assert!(WireAck::<u64>::view(&[]).is_none());
    }

    fn view(id: u64, members: &[u16], left: &[u16]) -> MembershipChange {
        MembershipChange {
            group: Name::new("g"),
            view: ViewId(id),
            me: m(0),
            members: members.iter().map(|n| m(*n)).collect(),
            joined: if id == 1 {
                members.iter().map(|n| m(*n)).collect()
            } else {
                vec![]
            },
            left: left.iter().map(|n| (m(*n), LeaveReason::Fault)).collect(),
            rejoined: vec![],
            primary: None,
        }
    }
    fn wire(v: u64, prev: Option<(u64, u64)>) -> Vec<u8> {
        WireAck {
            ack: Sent::Ack(v),
            prev,
            answer: false,
            current: 0,
        }
        .encode()
        .to_vec()
    }

    /// Records what each step saw; restarts or aborts on a view change.
    #[derive(Clone, Debug, Hash)]
    struct Probe {
        on_change: OnViewChange,
        seen: Vec<(u64, Vec<u64>, Vec<u64>, bool)>,
    }
    impl Protocol for Probe {
        type Ack = u64;
        fn name(&self) -> &'static str {
            "probe"
        }
        fn step(&mut self, ctx: StepCtx<'_, u64>) -> Step<u64> {
            let acks = ctx.acks.values().copied().collect();
            let left = ctx.left_acks.values().copied().collect();
            self.seen.push((ctx.round, acks, left, ctx.view_changed));
            Step::Ack(ctx.round * 10 + u64::from(ctx.me.node.0))
        }
        fn on_view_change(&mut self, _: &MembershipChange) -> OnViewChange {
            self.on_change.clone()
        }
        fn group_state(&self) -> Option<serde_json::Value> {
            Some(self.seen.len().into())
        }
    }

    fn probe(on_change: OnViewChange) -> RoundDriver<Probe> {
        let mut d = RoundDriver::new(
            Probe {
                on_change,
                seen: vec![],
            },
            m(0),
        );
        d.on_view(&view(1, &[0, 1, 2], &[]));
        d
    }

    #[test]
    fn a_restarted_round_runs_the_step_again_with_the_same_acks() {
        let mut d = probe(OnViewChange::RestartRound);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        let _ = d.on_ack(m(2), 1, &wire(12, None));
        assert!(d.round_complete());
        assert!(matches!(d.step(), Next::Send { round: 2, .. }));
        assert_eq!(d.take_completion().map(|c| c.round), Some(1));
        // db@n2 leaves in the middle of round 2: the protocol restarts it.
        assert_eq!(d.on_view(&view(2, &[0, 1], &[2])), Some(Next::Restart));
        assert!(matches!(d.step(), Next::Send { round: 2, .. }));
        assert_eq!(d.take_completion(), None, "a restart completes nothing");
        let seen = &d.protocol().seen;
        assert_eq!(seen[1].0, 2);
        assert_eq!(seen[2].0, 2, "round 2 again");
        assert_eq!(
            (&seen[2].1, &seen[2].2),
            (&seen[1].1, &seen[1].2),
            "with the same ACKs"
        );
        assert!(seen[2].3, "and it knows the view changed");
    }

    #[test]
    fn an_abort_ends_the_protocol_with_its_outcome() {
        let mut d = probe(OnViewChange::Abort("gave up".into()));
        let _ = d.step();
        assert_eq!(
            d.on_view(&view(2, &[0, 1], &[2])),
            Some(Next::Done("gave up".into()))
        );
    }

    #[test]
    fn acks_of_members_that_left_are_read_apart() {
        let mut d = probe(OnViewChange::Continue);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        let _ = d.on_ack(m(2), 1, &wire(12, None));
        assert!(
            matches!(
                d.on_view(&view(2, &[0, 1], &[2])),
                Some(Next::Send { round: 1, .. })
            ),
            "our ACK again, in the new view"
        );
        let _ = d.step();
        let seen = &d.protocol().seen[1];
        assert_eq!(seen.1, vec![10, 11], "the view's ACKs");
        assert_eq!(seen.2, vec![12], "db@n2's, apart");
        let c = d.take_completion().expect("round 1 completed");
        assert_eq!((c.round, c.view), (1, ViewId(2)));
        assert!(c.state.is_some());
    }

    #[test]
    fn a_missed_ack_is_read_from_the_next_one() {
        let mut d = probe(OnViewChange::Continue);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        // db@n2's round-1 ACK was lost; its round-2 ACK carries it.
        let _ = d.on_ack(m(2), 2, &wire(22, Some((1, 12))));
        assert!(d.round_complete());
        let _ = d.step();
        assert_eq!(d.protocol().seen[1].1, vec![10, 11, 12]);
    }

    #[test]
    fn a_member_ahead_is_asked_for_the_ack_we_lack_and_answers() {
        // db@n0 is in round 1 and lost db@n2's round-1 ACK.
        let mut d = probe(OnViewChange::Continue);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        // db@n2 is three rounds ahead (it ran on while we were not in its
        // view); its ACK says nothing about round 1: ask it.
        let ask = d.on_ack(m(2), 4, &wire(42, Some((3, 32))));
        assert!(
            matches!(ask, Some((ref to, 1, _)) if *to == m(2)),
            "{ask:?}"
        );
        assert!(!d.round_complete(), "not guessed");
        // Its answer: its round-1 ACK from its history.
        let mut n2 = RoundDriver::new(
            Probe {
                on_change: OnViewChange::Continue,
                seen: vec![],
            },
            m(2),
        );
        n2.on_view(&MembershipChange {
            me: m(2),
            ..view(1, &[0, 1, 2], &[])
        });
        for r in 1..=4 {
            let Next::Send { payload, .. } = n2.step() else {
                panic!()
            };
            for who in [0, 1, 2] {
                let _ = n2.on_ack(m(who), r, &payload);
            }
        }
        let (_, round, answer) = n2
            .on_ack(m(0), 1, &ask.expect("asked").2)
            .expect("an answer");
        assert_eq!(round, 1);
        assert_eq!(d.on_ack(m(2), round, &answer), None);
        assert!(d.round_complete());
        let _ = d.step();
        assert_eq!(d.protocol().seen[1].1, vec![10, 11, 12], "its real ACK");
    }

    #[test]
    fn a_member_that_skipped_our_round_says_so() {
        let mut d = probe(OnViewChange::Continue);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        let answer = WireAck::<u64> {
            ack: Sent::Skipped,
            prev: None,
            answer: true,
            current: 0,
        }
        .encode();
        let _ = d.on_ack(m(2), 1, &answer);
        assert!(d.round_complete());
        let _ = d.step();
        assert_eq!(d.protocol().seen[1].1, vec![10, 11], "nothing from db@n2");
    }

    #[test]
    fn a_member_that_skipped_our_round_is_not_waited_for() {
        let mut d = probe(OnViewChange::Continue);
        let Next::Send { payload, .. } = d.step() else {
            panic!()
        };
        let _ = d.on_ack(m(0), 1, &payload);
        let _ = d.on_ack(m(1), 1, &wire(11, None));
        assert!(!d.round_complete());
        // db@n2 caught up from round 0 straight to round 2.
        let _ = d.on_ack(m(2), 2, &wire(22, None));
        assert!(d.round_complete());
        assert_eq!(d.missing(), Vec::<MemberId>::new());
    }

    /// `round_complete` is kept by counting, ACK by ACK (`unsettled`):
    /// after any input it must say what asking every member of the view
    /// says. Thousands of random ACKs (members in and out of the view,
    /// rounds behind, current and ahead, skips, answers, missed ACKs
    /// carried by later ones), steps and view changes.
    #[test]
    fn round_complete_is_what_every_member_settled_says() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut d = probe(OnViewChange::Continue);
        let mut view_id = 1;
        let mut members: Vec<u16> = vec![0, 1, 2, 3, 4, 5];
        d.on_view(&view(view_id, &members, &[]));
        for _ in 0..20_000 {
            match next(40) {
                0 => {
                    let _ = d.step();
                }
                1 => {
                    // A member other than us leaves or comes back.
                    let n = 1 + next(6) as u16;
                    let left: Vec<u16> = if let Some(i) = members.iter().position(|m| *m == n) {
                        members.remove(i);
                        vec![n]
                    } else {
                        members.push(n);
                        members.sort();
                        vec![]
                    };
                    view_id += 1;
                    d.on_view(&view(view_id, &members, &left));
                }
                _ => {
                    let from = m(next(8) as u16);
                    let round = (d.round() + next(4)).saturating_sub(1);
                    let prev = (next(2) == 0 && round > 1).then(|| (round - 1 - next(2), 7));
                    let ack = if next(6) == 0 {
                        Sent::Skipped
                    } else {
                        Sent::Ack(round)
                    };
                    let payload = WireAck {
                        ack,
                        prev,
                        answer: next(3) == 0,
                        current: round + next(2),
                    }
                    .encode();
                    let _ = d.on_ack(from, round, &payload);
                }
            }
            let asked = d.round > 0 && d.view.iter().all(|m| d.settled(m));
            assert_eq!(
                d.round_complete(),
                asked,
                "round {} view {:?}",
                d.round,
                d.view
            );
        }
    }
}
